/*
 * Row gather: a copy of chosen rows of a CSR matrix, in the order given.
 *
 * The estimators copy the training rows once in a random order (shuffle =
 * "copy"), so that epochs can then read the copy block by block instead of
 * one row at a random place at a time (permutation.h). The copy reads the
 * source rows at random once, in two passes: the row pointers with the
 * targets and weights (fm_csr_gather_row_pointers), then the entries
 * (fm_csr_gather_rows). Each pass prefetches the rows a few positions ahead
 * so that their misses overlap, and writes its output in sequence. A row of
 * a click log holds a handful of entries, so they are copied by a loop, not
 * by a call to memcpy per row.
 */
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "parallel.h"

#define FM_GATHER_AHEAD 16 /* rows ahead whose row pointers are prefetched */
#define FM_GATHER_SHORT 16 /* entries up to which a row is copied by a loop */

static size_t index_bytes(int index_type) { return index_type == FM_INDEX64 ? 8 : 4; }
static size_t value_bytes(int real_type) { return real_type == FM_FLOAT64 ? 8 : 4; }

int fm_csr_gather_row_pointers(const fm_csr *X, const int64_t *rows, int64_t n_out,
                               int64_t *out_indptr, const double *y, double *out_y,
                               const double *sample_weight, double *out_sample_weight)
{
    if (!X || !out_indptr || (n_out > 0 && (!rows || !X->indptr)) || (y && !out_y) ||
        (sample_weight && !out_sample_weight))
        return FM_ERR_NULL;
    if (n_out < 0)
        return FM_ERR_PARAM;
    const int64_t *const indptr = X->indptr;
    const int64_t n_rows = X->n_rows;
    int64_t at = 0;
    out_indptr[0] = 0;
    for (int64_t i = 0; i < n_out; i++) {
        if (i + FM_GATHER_AHEAD < n_out) {
            const int64_t ahead = rows[i + FM_GATHER_AHEAD];
            /* an id out of range is caught when its turn comes; none is read */
            if (ahead >= 0 && ahead < n_rows) {
                FM_PREFETCH_READ(indptr + ahead);
                if (y)
                    FM_PREFETCH_READ(y + ahead);
                if (sample_weight)
                    FM_PREFETCH_READ(sample_weight + ahead);
            }
        }
        const int64_t r = rows[i];
        if (FM_UNLIKELY(r < 0 || r >= n_rows))
            return FM_ERR_INDEX_RANGE;
        const int64_t len = indptr[r + 1] - indptr[r];
        if (FM_UNLIKELY(len < 0))
            return FM_ERR_INDPTR;
        at += len;
        out_indptr[i + 1] = at;
        if (y)
            out_y[i] = y[r];
        if (sample_weight)
            out_sample_weight[i] = sample_weight[r];
    }
    return FM_OK;
}

/* Copies n elements of `size` bytes (4 or 8). */
static FM_INLINE void copy_entries(char *dst, const char *src, int64_t n, size_t size)
{
    if (n > FM_GATHER_SHORT) {
        memcpy(dst, src, (size_t)n * size);
    } else if (size == 4) {
        for (int64_t e = 0; e < n; e++)
            memcpy(dst + 4 * e, src + 4 * e, 4); /* one 4-byte move, no call */
    } else {
        for (int64_t e = 0; e < n; e++)
            memcpy(dst + 8 * e, src + 8 * e, 8);
    }
}

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
    const int64_t first = out_indptr[0], total = out_indptr[n_out] - first;
    if (!X->indptr || total < 0)
        return X->indptr ? FM_ERR_INDPTR : FM_ERR_NULL;
    if (total > 0 && (!X->indices || !out_indices || (X->data && !out_data)))
        return FM_ERR_NULL;
    const int64_t *const indptr = X->indptr;
    const char *const indices = (const char *)X->indices, *const data = (const char *)X->data;
    char *const to_indices = (char *)out_indices, *const to_data = (char *)out_data;
    int status = FM_OK;
    n_threads = fm_clamp_threads(n_threads);
    /* each row is checked where it is copied (id in range, output slot of the
     * row's length inside the output): a faulty row is skipped, so nothing is
     * written out of bounds, and the call returns its fault */
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static)
#endif
    for (int64_t i = 0; i < n_out; i++) {
        if (i + FM_GATHER_AHEAD < n_out) {
            const int64_t ahead = rows[i + FM_GATHER_AHEAD];
            if (ahead >= 0 && ahead < X->n_rows)
                FM_PREFETCH_READ(indptr + ahead);
        }
        if (i + FM_GATHER_AHEAD / 2 < n_out) {
            const int64_t ahead = rows[i + FM_GATHER_AHEAD / 2];
            if (ahead >= 0 && ahead < X->n_rows) {
                const int64_t at = indptr[ahead];
                FM_PREFETCH_READ(indices + (size_t)at * ib);
                if (data)
                    FM_PREFETCH_READ(data + (size_t)at * vb);
            }
        }
        const int64_t r = rows[i];
        if (FM_UNLIKELY(r < 0 || r >= X->n_rows)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            status = FM_ERR_INDEX_RANGE;
            continue;
        }
        const int64_t src = indptr[r], len = indptr[r + 1] - src;
        const int64_t dst = out_indptr[i] - first;
        if (FM_UNLIKELY(len < 0 || out_indptr[i + 1] - out_indptr[i] != len || dst < 0 ||
                        dst > total - len)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            status = FM_ERR_INDPTR;
            continue;
        }
        copy_entries(to_indices + (size_t)dst * ib, indices + (size_t)src * ib, len, ib);
        if (data)
            copy_entries(to_data + (size_t)dst * vb, data + (size_t)src * vb, len, vb);
    }
    return status;
}
