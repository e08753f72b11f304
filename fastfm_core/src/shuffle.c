/*
 * A seeded uniform random permutation of an id array (the order of the
 * estimators' shuffled copy of the rows).
 *
 * Fisher-Yates over a million ids swaps at random places of an 8 MB array:
 * a cache miss per id. Rao and Sandelius' method draws the same distribution
 * with the misses gone: every id goes to one of B buckets chosen uniformly at
 * random (the buckets are filled in sequence), and each bucket, a few
 * thousand ids that stay in cache, is then shuffled by Fisher-Yates. Bucket
 * sizes are random, so bucket b's ids are a uniform random subset and, after
 * its shuffle, in uniform random order: the concatenation is a uniform random
 * permutation of the input.
 */
#include <stdlib.h>
#include <string.h>

#include "fastfm.h"
#include "rng.h"

#define FM_SHUFFLE_BUCKET 4096   /* ids per bucket on average: 32 KB, in cache */
#define FM_SHUFFLE_MAX_BITS 16   /* at most 2^16 buckets: a uint16 label per id */

/* A uniform integer in [0, range), 0 < range <= 2^32: Lemire's multiply and
 * shift, with the rejection that makes it exact. */
static uint64_t uniform_below(fm_rng *rng, uint64_t range)
{
    uint64_t m = (fm_rng_next(rng) >> 32) * range;
    if ((uint32_t)m < range) {
        const uint32_t floor = (uint32_t)((((uint64_t)1 << 32) - range) % range);
        while ((uint32_t)m < floor)
            m = (fm_rng_next(rng) >> 32) * range;
    }
    return m >> 32;
}

static void fisher_yates(int64_t *ids, int64_t n, fm_rng *rng)
{
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)uniform_below(rng, (uint64_t)i + 1);
        const int64_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
}

int fm_shuffle_ids(uint64_t seed, const int64_t *ids, int64_t n, int64_t *out)
{
    if (n < 0)
        return FM_ERR_PARAM;
    if (n == 0)
        return FM_OK;
    if (!ids || !out)
        return FM_ERR_NULL;
    if (out < ids + n && ids < out + n)
        return FM_ERR_PARAM; /* the buckets are filled from ids into out */
    fm_rng rng;
    rng.state = seed;
    unsigned bits = 0;
    while (bits < FM_SHUFFLE_MAX_BITS && ((int64_t)FM_SHUFFLE_BUCKET << bits) < n)
        bits++;
    if (bits == 0) {
        memcpy(out, ids, (size_t)n * sizeof(int64_t));
        fisher_yates(out, n, &rng);
        return FM_OK;
    }
    const int64_t n_buckets = (int64_t)1 << bits;
    uint16_t *bucket = malloc((size_t)n * sizeof(uint16_t));
    int64_t *next = calloc((size_t)n_buckets + 1, sizeof(int64_t));
    if (!bucket || !next) {
        free(bucket);
        free(next);
        return FM_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        const uint16_t b = (uint16_t)(fm_rng_next(&rng) >> (64 - bits));
        bucket[i] = b;
        next[b + 1]++;
    }
    int status = FM_OK;
    for (int64_t b = 0; b < n_buckets; b++) {
        /* uniform_below takes ranges up to 2^32 */
        if (next[b + 1] > ((int64_t)1 << 32))
            status = FM_ERR_PARAM;
        next[b + 1] += next[b];
    }
    if (status == FM_OK) {
        for (int64_t i = 0; i < n; i++)
            out[next[bucket[i]]++] = ids[i];
        /* next[b] is now the end of bucket b, the start of bucket b + 1 */
        for (int64_t b = 0, start = 0; b < n_buckets; start = next[b], b++)
            fisher_yates(out + start, next[b] - start, &rng);
    }
    free(bucket);
    free(next);
    return status;
}
