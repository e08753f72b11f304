/*
 * Small, fast, seedable random numbers for the solvers.
 *
 * Each thread owns one fm_rng seeded from (epoch seed, thread id), so a
 * parallel epoch never shares generator state between cores and a 1-thread
 * run is reproducible bit for bit. splitmix64 passes BigCrush and costs a few
 * cycles, which matters because the shuffle draws once per visited row.
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

static inline fm_rng fm_rng_for_thread(uint64_t seed, int thread)
{
    fm_rng rng;
    rng.state = seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(thread + 1));
    /* one scrambling step so that nearby seeds give unrelated streams */
    rng.state = fm_rng_next(&rng);
    return rng;
}

/* Uniform integer in [0, bound), bound >= 1, by multiply-high (Lemire);
 * the bias is below bound / 2^64, far under anything a shuffle can show. */
static inline uint64_t fm_rng_below(fm_rng *rng, uint64_t bound)
{
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 fm_u128;
    return (uint64_t)(((fm_u128)fm_rng_next(rng) * bound) >> 64);
#else
    return fm_rng_next(rng) % bound;
#endif
}

#endif
