/*
 * Row gather: a copy of chosen rows of a CSR matrix, in the order given.
 *
 * The estimators copy the training rows once in a random order (shuffle =
 * "copy"), so that epochs can then read the copy block by block instead of
 * one row at a random place at a time (permutation.h). The copy reads the
 * source rows at random once; reads a few rows ahead are prefetched so that
 * their misses overlap, and the output is written in sequence.
 */
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "parallel.h"

#define FM_GATHER_AHEAD 16 /* rows ahead whose row pointers are prefetched */

static size_t index_bytes(int index_type) { return index_type == FM_INDEX64 ? 8 : 4; }
static size_t value_bytes(int real_type) { return real_type == FM_FLOAT64 ? 8 : 4; }

int fm_csr_gather_rows(const fm_csr *X, const int64_t *rows, int64_t n_out,
                       const int64_t *out_indptr, void *out_indices, void *out_data,
                       int n_threads)
{
    const size_t ib = index_bytes(X ? X->index_type : 0);
    const size_t vb = value_bytes(X ? X->real_type : 0);
    if (!X || (n_out > 0 && (!rows || !out_indptr)))
        return FM_ERR_NULL;
    if (X->index_type != FM_INDEX32 && X->index_type != FM_INDEX64)
        return FM_ERR_DTYPE;
    if (X->real_type != FM_FLOAT32 && X->real_type != FM_FLOAT64)
        return FM_ERR_DTYPE;
    if (n_threads < 1 || n_out < 0)
        return FM_ERR_PARAM;
    if (n_out == 0)
        return FM_OK;
    if (!X->indptr || (out_indptr[n_out] > out_indptr[0] &&
                       (!X->indices || !out_indices || (X->data && !out_data))))
        return FM_ERR_NULL;
    /* every row id in range, and the output row pointers agree with the rows'
     * lengths: checked first, so that nothing is written out of bounds */
    for (int64_t i = 0; i < n_out; i++) {
        const int64_t r = rows[i];
        if (r < 0 || r >= X->n_rows)
            return FM_ERR_INDEX_RANGE;
        if (out_indptr[i + 1] - out_indptr[i] != X->indptr[r + 1] - X->indptr[r] ||
            out_indptr[i] < out_indptr[0])
            return FM_ERR_INDPTR;
    }
    n_threads = fm_clamp_threads(n_threads);
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static)
#endif
    for (int64_t i = 0; i < n_out; i++) {
        const int64_t r = rows[i];
        const int64_t src = X->indptr[r], len = X->indptr[r + 1] - src;
        const int64_t dst = out_indptr[i] - out_indptr[0];
        if (i + FM_GATHER_AHEAD < n_out) {
            const int64_t ahead = rows[i + FM_GATHER_AHEAD];
            FM_PREFETCH_READ(X->indptr + ahead);
        }
        if (i + FM_GATHER_AHEAD / 2 < n_out) {
            const int64_t at = X->indptr[rows[i + FM_GATHER_AHEAD / 2]];
            FM_PREFETCH_READ((const char *)X->indices + (size_t)at * ib);
            if (X->data)
                FM_PREFETCH_READ((const char *)X->data + (size_t)at * vb);
        }
        if (len > 0) {
            memcpy((char *)out_indices + (size_t)dst * ib,
                   (const char *)X->indices + (size_t)src * ib, (size_t)len * ib);
            if (X->data)
                memcpy((char *)out_data + (size_t)dst * vb,
                       (const char *)X->data + (size_t)src * vb, (size_t)len * vb);
        }
    }
    return FM_OK;
}
