/*
 * A seeded random permutation of [0, n) evaluated on the fly.
 *
 * An epoch must visit rows in a fresh random order. Materialising the order
 * (Fisher-Yates over an index array) costs one cache miss per row for the
 * swap, which on data larger than the cache is a quarter of an epoch. Here
 * row(p) is a keyed bijection of the position instead: a few rounds of
 * invertible mixing steps (xor-shift, multiply by an odd constant, add a key)
 * on m-bit integers, 2^m >= n, with cycle walking to stay below n. Each step
 * is a bijection on [0, 2^m), so their composition is one, and cycle walking
 * restricts a bijection of [0, 2^m) to a bijection of [0, n). No memory is
 * read, so threads can own disjoint ranges of positions.
 */
#ifndef FM_PERMUTATION_H
#define FM_PERMUTATION_H

#include <stdint.h>
#include "rng.h"

#define FM_PERM_ROUNDS 4

typedef struct {
    uint64_t n, mask;
    unsigned shift;
    uint64_t mul[FM_PERM_ROUNDS];
    uint64_t add[FM_PERM_ROUNDS];
} fm_permutation;

static inline void fm_permutation_init(fm_permutation *perm, uint64_t n, uint64_t seed)
{
    unsigned bits = 1;
    fm_rng rng;
    rng.state = seed;
    while (bits < 63 && ((uint64_t)1 << bits) < n)
        bits++;
    perm->n = n;
    perm->mask = ((uint64_t)1 << bits) - 1;
    perm->shift = (bits + 1) / 2;
    for (int r = 0; r < FM_PERM_ROUNDS; r++) {
        perm->mul[r] = (fm_rng_next(&rng) | 1) & perm->mask; /* odd: invertible mod 2^bits */
        if (perm->mul[r] == 1 && perm->mask > 1)
            perm->mul[r] = 5 & perm->mask;
        perm->add[r] = fm_rng_next(&rng) & perm->mask;
    }
}

static inline uint64_t fm_permutation_mix(const fm_permutation *perm, uint64_t x)
{
    for (int r = 0; r < FM_PERM_ROUNDS; r++) {
        x ^= x >> perm->shift;
        x = (x * perm->mul[r]) & perm->mask;
        x = (x + perm->add[r]) & perm->mask;
    }
    return x;
}

/* The row visited at position p, for p in [0, n). */
static inline uint64_t fm_permutation_at(const fm_permutation *perm, uint64_t p)
{
    uint64_t x = fm_permutation_mix(perm, p);
    while (x >= perm->n) /* cycle walking: expected fewer than 2 extra steps */
        x = fm_permutation_mix(perm, x);
    return x;
}

#endif
