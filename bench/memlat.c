/*
 * Random-access memory cost, for the roofline context of bench/microbench.py.
 *
 * Builds one random cyclic permutation (Sattolo's algorithm) over the 64-byte
 * lines of a buffer much larger than the last-level cache, each line holding
 * the index of the next, and follows it:
 *   - with 1 chain, every load depends on the previous one: the time per step
 *     is the load-to-use latency of a random line (DRAM + TLB miss);
 *   - with C independent chains interleaved, up to C misses can be in flight:
 *     the time per step shows how much memory-level parallelism one core gets.
 * The buffer is advised as transparent huge pages by default (HUGE=1), as
 * numpy does for its large arrays (where rapidfm's model lives).
 *
 *   memlat MIB HUGE STEPS CHAINS...
 *   -> one line per chain count: "chains C ns_per_access T"
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "harness_util.h"

#define LINE 64
#define MAX_CHAINS 64

typedef struct {
    uint64_t next;
    char pad[LINE - sizeof(uint64_t)];
} line_t;

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng_next(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    size_t mib, n, bytes;
    int huge;
    long long steps;
    line_t *buf;
    uint64_t *order;
    if (argc < 5) {
        fprintf(stderr, "usage: memlat MIB HUGE STEPS CHAINS...\n");
        return 2;
    }
    mib = (size_t)atoll(argv[1]);
    huge = atoi(argv[2]);
    steps = atoll(argv[3]);
    n = mib * ((size_t)1 << 20) / LINE;
    bytes = n * LINE;
    if (n < 2 || steps < 1) {
        fprintf(stderr, "memlat: MIB and STEPS must be positive\n");
        return 2;
    }
    if (posix_memalign((void **)&buf, (size_t)2 << 20, bytes) != 0) {
        fprintf(stderr, "memlat: cannot allocate %zu MiB\n", mib);
        return 1;
    }
#ifdef MADV_HUGEPAGE
    if (huge)
        madvise(buf, bytes, MADV_HUGEPAGE);
#endif
#ifdef MADV_NOHUGEPAGE
    if (!huge)
        madvise(buf, bytes, MADV_NOHUGEPAGE);
#endif
    memset(buf, 0, bytes);
    /* Sattolo: a uniformly random permutation with a single cycle */
    order = malloc(n * sizeof *order);
    if (!order) {
        fprintf(stderr, "memlat: cannot allocate the permutation\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        const size_t j = (size_t)(rng_next() % i); /* j < i: one cycle */
        const uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        buf[order[i]].next = order[(i + 1) % n];
    free(order);

    for (int a = 4; a < argc; a++) {
        int chains = atoi(argv[a]);
        uint64_t cur[MAX_CHAINS];
        uint64_t sink = 0;
        long long per_chain;
        double t0, dt;
        if (chains < 1 || chains > MAX_CHAINS) {
            fprintf(stderr, "memlat: chains must be in 1..%d\n", MAX_CHAINS);
            return 2;
        }
        per_chain = steps / chains;
        /* chains start at distinct random lines of the one cycle and all move
         * one step per round, so they never meet */
        for (int c = 0; c < chains; c++)
            cur[c] = rng_next() % n;
        /* warm-up: a short walk (page-table entries, branch predictors) */
        for (long long s = 0; s < 1000; s++)
            for (int c = 0; c < chains; c++)
                cur[c] = buf[cur[c]].next;
        t0 = now();
        for (long long s = 0; s < per_chain; s++)
            for (int c = 0; c < chains; c++)
                cur[c] = buf[cur[c]].next;
        dt = now() - t0;
        for (int c = 0; c < chains; c++)
            sink ^= cur[c];
        printf("chains %d ns_per_access %.3f sink %llu\n", chains,
               1e9 * dt / (double)(per_chain * chains), (unsigned long long)(sink & 1));
        fflush(stdout);
    }
    free(buf);
    return 0;
}
