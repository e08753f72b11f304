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
#include "compiler.h"
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

/*
 * The visit order of an epoch: the rows cut into blocks of `block`
 * consecutive rows (the last may be shorter), the blocks visited in a random
 * order and the rows of each block in a random order of its own. With one
 * block this is the permutation above over all rows, keyed by the seed.
 *
 * Why blocks: a row at a random place costs a few misses to memory (row
 * pointer, target, entries). When the rows of a block fit in the cache, each
 * line is fetched once for the several rows it holds; the training data are
 * then read from memory nearly once per epoch, in large pieces. Over a copy
 * of the data made once in a random order (the estimators' shuffle="copy"),
 * every block is a random sample of rows, so the order is still a fresh
 * random one each epoch for SGD's purposes.
 */
typedef struct {
    uint64_t n, block, n_blocks;
    fm_permutation blocks;  /* order of the blocks */
    uint64_t seed;
    uint64_t last_slot;     /* where in the block order the last (maybe shorter) block is */
    uint64_t last_len;      /* its length, in [1, block] */
} fm_visit_order;

/* Blocks of at most this many rows (the estimators' cache-sized blocks of a
 * shuffled copy) get their inner order as a table, drawn by Fisher-Yates when
 * a cursor enters the block: about 10 instructions per row against some 80
 * for evaluating the keyed bijection above at every position, which at a few
 * nonzeros per row was a fifth of an SGD epoch's instructions. Longer blocks
 * (one block of all rows: shuffle="epoch") keep the bijection, whose cost
 * hides behind the cache misses of rows read at random. */
#define FM_VISIT_TABLE 4096

/* A reader of the order that walks positions one after another (each thread
 * keeps one): it keys a block's order once, on entering the block. */
typedef struct {
    uint64_t next;          /* the position expected next; anything else is a seek */
    uint64_t block_pos;     /* the current block's place in the block order */
    uint64_t offset;        /* the next position's offset in that block */
    uint64_t first, len;    /* the block's first row and its length */
    fm_permutation inner;   /* the order within a block longer than FM_VISIT_TABLE */
    uint16_t table[FM_VISIT_TABLE]; /* the order within a shorter block, drawn on entry */
} fm_visit_cursor;

/* block 0, or >= n: a single block (one permutation of all rows). */
static inline void fm_visit_order_init(fm_visit_order *o, uint64_t n, uint64_t block,
                                       uint64_t seed)
{
    if (block == 0 || block > n)
        block = n > 0 ? n : 1;
    o->n = n;
    o->block = block;
    o->n_blocks = n > 0 ? (n + block - 1) / block : 0;
    o->seed = seed;
    fm_permutation_init(&o->blocks, o->n_blocks, seed ^ 0xD1B54A32D192ED03ULL);
    /* positions run through the blocks in visit order, so a position's block
     * depends on whether the shorter last block comes before it: find its slot
     * (n_blocks evaluations, once per epoch) */
    o->last_len = n > 0 ? n - (o->n_blocks - 1) * block : 0;
    o->last_slot = 0;
    for (uint64_t slot = 0; o->n_blocks > 1 && slot < o->n_blocks; slot++)
        if (fm_permutation_at(&o->blocks, slot) == o->n_blocks - 1) {
            o->last_slot = slot;
            break;
        }
}

static inline void fm_visit_cursor_init(fm_visit_cursor *cur)
{
    cur->next = UINT64_MAX; /* the first call seeks */
}

static inline void fm_visit_enter_block(const fm_visit_order *o, fm_visit_cursor *cur)
{
    const uint64_t b = o->n_blocks == 1 ? 0 : fm_permutation_at(&o->blocks, cur->block_pos);
    uint64_t key = o->seed;
    cur->first = b * o->block;
    cur->len = o->n - cur->first < o->block ? o->n - cur->first : o->block;
    if (o->n_blocks > 1) { /* a key per block; one block keeps the plain seed */
        fm_rng rng;
        rng.state = o->seed ^ (b * 0x9E3779B97F4A7C15ULL);
        key = fm_rng_next(&rng);
    }
    if (cur->len <= FM_VISIT_TABLE) {
        /* Fisher-Yates keyed by the block: a uniform order of the block's rows,
         * the same whichever thread enters it and wherever in it it starts */
        fm_rng rng;
        uint64_t bits = 0;
        int spare = 0; /* each 64-bit draw serves two swaps */
        rng.state = key;
        for (uint64_t i = 0; i < cur->len; i++)
            cur->table[i] = (uint16_t)i;
        for (uint64_t i = cur->len; i > 1; i--) {
            /* a 32-bit draw scaled to [0, i) (Lemire): bias below 2^-20 at these sizes */
            uint64_t draw, j;
            uint16_t t;
            if (spare) {
                draw = bits >> 32;
            } else {
                bits = fm_rng_next(&rng);
                draw = bits & 0xFFFFFFFFu;
            }
            spare = !spare;
            j = (draw * i) >> 32;
            t = cur->table[i - 1];
            cur->table[i - 1] = cur->table[j];
            cur->table[j] = t;
        }
    } else {
        fm_permutation_init(&cur->inner, cur->len, key);
    }
}

/* fm_visit_row's way on a seek, at a block's end, or in a long block. */
static FM_NOINLINE uint64_t fm_visit_row_slow(const fm_visit_order *o, fm_visit_cursor *cur,
                                              uint64_t p)
{
    if (p != cur->next) {
        const uint64_t before_last = o->last_slot * o->block; /* positions before it */
        if (p < before_last) {
            cur->block_pos = p / o->block;
            cur->offset = p - cur->block_pos * o->block;
        } else if (p < before_last + o->last_len) {
            cur->block_pos = o->last_slot;
            cur->offset = p - before_last;
        } else {
            const uint64_t q = p - before_last - o->last_len;
            cur->block_pos = o->last_slot + 1 + q / o->block;
            cur->offset = q % o->block;
        }
        fm_visit_enter_block(o, cur);
    } else if (cur->offset == cur->len) {
        cur->block_pos++;
        cur->offset = 0;
        fm_visit_enter_block(o, cur);
    }
    cur->next = p + 1;
    if (cur->len <= FM_VISIT_TABLE)
        return cur->first + cur->table[cur->offset++];
    return cur->first + fm_permutation_at(&cur->inner, cur->offset++);
}

/* The row visited at position p, for p in [0, n). Cheapest when p is the
 * position after the previous call's: inside a tabled block that is a few
 * instructions, inlined into the epoch's row loop. */
static FM_INLINE uint64_t fm_visit_row(const fm_visit_order *o, fm_visit_cursor *cur, uint64_t p)
{
    if (p == cur->next && cur->offset < cur->len && cur->len <= FM_VISIT_TABLE) {
        cur->next = p + 1;
        return cur->first + cur->table[cur->offset++];
    }
    return fm_visit_row_slow(o, cur, p);
}

#endif
