/*
 * The hot set of the hybrid parallel mode: the few features that appear in a
 * large share of rows (click logs: the most common value of each field).
 * Shared-model (hogwild) updates of these make their cache lines bounce
 * between cores on almost every row; the hybrid mode gives each thread a
 * private copy of just these rows and updates the long tail in place.
 */
#ifndef FM_HOTSET_H
#define FM_HOTSET_H

#include <stdint.h>
#include <stdlib.h>

#define FM_HOT_MAX 2048         /* at most this many hot features */
#define FM_HOT_SAMPLE 16384     /* rows sampled to count feature frequencies */
#ifndef FM_HOT_MIN_SHARE
#define FM_HOT_MIN_SHARE 200    /* hot: in at least 1/200 of the sampled rows */
#endif

typedef struct {
    int64_t n_hot;
    int64_t *ids;               /* slot -> feature */
    uint64_t *bitmap;           /* bit j: feature j is hot */
    int64_t *keys;              /* open-addressing table: feature, -1 when empty */
    int32_t *slots;             /* slot of keys[i] */
    uint64_t mask;              /* table size - 1 */
} fm_hotset;

static inline void fm_hotset_free(fm_hotset *hs)
{
    free(hs->ids);
    free(hs->bitmap);
    free(hs->keys);
    free(hs->slots);
    hs->ids = NULL;
    hs->bitmap = NULL;
    hs->keys = NULL;
    hs->slots = NULL;
    hs->n_hot = 0;
}

typedef struct {
    uint32_t count;
    int64_t feature;
} fm_hot_candidate;

static inline int fm_hot_candidate_cmp(const void *a, const void *b)
{
    const fm_hot_candidate *x = (const fm_hot_candidate *)a, *y = (const fm_hot_candidate *)b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1; /* most frequent first */
    return x->feature < y->feature ? -1 : (x->feature > y->feature);
}

/* Fills the lookup structures for the features in hs->ids[0..n_hot).
 * Returns 0, or -1 when out of memory. */
static inline int fm_hotset_index(fm_hotset *hs, int64_t n_features)
{
    uint64_t size = 1;
    while (size < 2 * (uint64_t)hs->n_hot)
        size <<= 1;
    hs->mask = size - 1;
    hs->bitmap = (uint64_t *)calloc((size_t)(n_features + 63) / 64, sizeof(uint64_t));
    hs->keys = (int64_t *)malloc((size_t)size * sizeof(int64_t));
    hs->slots = (int32_t *)malloc((size_t)size * sizeof(int32_t));
    if (!hs->bitmap || !hs->keys || !hs->slots)
        return -1;
    for (uint64_t i = 0; i < size; i++)
        hs->keys[i] = -1;
    for (int64_t s = 0; s < hs->n_hot; s++) {
        const int64_t j = hs->ids[s];
        uint64_t at = ((uint64_t)j * 0x9E3779B97F4A7C15ULL) & hs->mask;
        hs->bitmap[j >> 6] |= (uint64_t)1 << (j & 63);
        while (hs->keys[at] != -1)
            at = (at + 1) & hs->mask;
        hs->keys[at] = j;
        hs->slots[at] = (int32_t)s;
    }
    return 0;
}

#endif
