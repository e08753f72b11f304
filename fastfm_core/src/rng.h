/*
 * splitmix64: a small, fast, seedable generator (it passes BigCrush).
 *
 * The solvers draw no random numbers per row: an epoch's visit order is a
 * keyed permutation (permutation.h) whose keys come from this generator,
 * seeded with the epoch's seed, so a run is reproducible bit for bit and no
 * generator state is shared between threads.
 */
#ifndef FM_RNG_H
#define FM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} fm_rng;

static inline uint64_t fm_rng_next(fm_rng *rng)
{
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#endif
