/* Batch prediction (template: REAL, IDX, FM_NAME; see instantiate.h). */
#include "model_row_impl.h"

#ifndef FM_PREDICT_CHUNK
#define FM_PREDICT_CHUNK ((int64_t)1024) /* rows a thread claims at a time */
#endif

/* Rows [begin, end) with k and the value layout fixed at compile time at the
 * common k (the explicit vectors of model_row_impl.h, as the SGD epoch uses).
 * No prefetching of the w and V entries ahead, unlike the epoch and FFM predict:
 * the rows are independent and short, so the out-of-order core already has the
 * next rows' loads in flight; the epoch's prefetch, tried here, measured no gain
 * on a model of 2M features and a loss on 40-nonzero rows (bench/README). */
static FM_INLINE void FM_NAME(fm_predict_rows)(const fm_model *m, const int64_t *indptr,
                                               const IDX *indices, const REAL *data,
                                               double *out, int64_t begin, int64_t end,
                                               const int k, const int binary, REAL *scratch)
{
    REAL *w = (REAL *)m->w; /* the row maths takes writable pointers; nothing is written */
    REAL *V = (REAL *)m->V;
#ifdef FM_HAVE_VEC
    const int use_vec = k % FM_VW == 0 && k <= FM_K_STACK;
    FM_NAME(fm_vec) qv[FM_K_STACK / FM_VW];
#endif
    for (int64_t i = begin; i < end; i++) {
        const int64_t b = (int64_t)indptr[i];
        const int64_t nnz = (int64_t)indptr[i + 1] - b;
        const REAL *val = binary ? NULL : data + b;
#ifdef FM_HAVE_VEC
        if (use_vec) {
            out[i] = FM_NAME(fm_predict_row_vec)(m->w0, w, V, k, indices + b, val, nnz, qv,
                                                 binary, NULL, 0);
            continue;
        }
#endif
        out[i] = FM_NAME(fm_predict_row)(m->w0, w, V, k, indices + b, val, nnz, scratch,
                                         scratch + k + 1, binary, NULL, 0);
    }
}

static void FM_NAME(fm_predict_rows_k)(const fm_model *m, const int64_t *indptr,
                                       const IDX *indices, const REAL *data, double *out,
                                       int64_t begin, int64_t end, REAL *scratch)
{
    const int k = m->n_factors;
#define FM_PREDICT_K(binary)                                                                  \
    switch (k) {                                                                              \
    case 4: FM_NAME(fm_predict_rows)(m, indptr, indices, data, out, begin, end, 4, binary,    \
                                     scratch); break;                                        \
    case 8: FM_NAME(fm_predict_rows)(m, indptr, indices, data, out, begin, end, 8, binary,    \
                                     scratch); break;                                        \
    case 16: FM_NAME(fm_predict_rows)(m, indptr, indices, data, out, begin, end, 16, binary,  \
                                      scratch); break;                                       \
    case 32: FM_NAME(fm_predict_rows)(m, indptr, indices, data, out, begin, end, 32, binary,  \
                                      scratch); break;                                       \
    default: FM_NAME(fm_predict_rows)(m, indptr, indices, data, out, begin, end, k, binary,   \
                                      scratch); break;                                       \
    }
    if (data) {
        FM_PREDICT_K(0)
    } else {
        FM_PREDICT_K(1)
    }
#undef FM_PREDICT_K
}

static int FM_NAME(fm_predict_impl)(const fm_model *m, const fm_csr *X, double *out, int n_threads)
{
    const int64_t *indptr = X->indptr;
    const IDX *indices = (const IDX *)X->indices;
    const REAL *data = (const REAL *)X->data;
    const int k = m->n_factors;
    const int64_t n_rows = X->n_rows;
    int failed = 0;
    (void)n_threads; /* unused in a serial build */

    if (n_rows <= FM_PREDICT_CHUNK)
        n_threads = 1; /* one chunk: starting a team would cost more than the rows */
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(| : failed) if (n_threads > 1)
#endif
    {
        REAL *scratch = (REAL *)malloc(2 * ((size_t)k + 1) * sizeof(REAL));
        if (!scratch) {
            failed = 1;
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t c = 0; c < (n_rows + FM_PREDICT_CHUNK - 1) / FM_PREDICT_CHUNK; c++) {
            const int64_t begin = c * FM_PREDICT_CHUNK;
            const int64_t end = begin + FM_PREDICT_CHUNK < n_rows ? begin + FM_PREDICT_CHUNK
                                                                  : n_rows;
            if (scratch)
                FM_NAME(fm_predict_rows_k)(m, indptr, indices, data, out, begin, end, scratch);
        }
        free(scratch);
    }
    return failed ? FM_ERR_NOMEM : FM_OK;
}

/* One sparse row, checked then computed (fm_predict_one). */
static int FM_NAME(fm_predict_one_impl)(const fm_model *m, const IDX *idx, const REAL *val,
                                        int64_t nnz, double *out, int64_t *position)
{
    REAL q[FM_K_STACK + 1], s2[FM_K_STACK + 1];
    REAL *scratch = NULL;
    const int k = m->n_factors;
    for (int64_t p = 0; p < nnz; p++) {
        *position = p;
        if ((int64_t)idx[p] < 0 || (int64_t)idx[p] >= m->n_features)
            return FM_ERR_INDEX_RANGE;
        if (p > 0 && idx[p] <= idx[p - 1])
            return idx[p] == idx[p - 1] ? FM_ERR_DUPLICATE : FM_ERR_UNSORTED;
        if (val && !isfinite((double)val[p]))
            return FM_ERR_NONFINITE;
    }
    if (k > FM_K_STACK) {
        scratch = (REAL *)malloc(2 * ((size_t)k + 1) * sizeof(REAL));
        if (!scratch)
            return FM_ERR_NOMEM;
    }
    *out = FM_NAME(fm_predict_row)(m->w0, (REAL *)m->w, (REAL *)m->V, k, idx, val, nnz,
                                   scratch ? scratch : q, scratch ? scratch + k + 1 : s2,
                                   val == NULL, NULL, 0);
    free(scratch);
    return FM_OK;
}

/* One dense row (fm_predict_dense_one): its nonzeros gathered into an index
 * list, then the sparse row's maths, so both give the same sums in the same
 * order. One pass over x: each run of FM_DENSE_RUN columns is first tested as
 * a whole (a vectorised OR of x != 0), and only a run holding a nonzero, NaN
 * or infinity (both compare unequal to 0) is looked at column by column. The
 * list lives on the stack up to FM_DENSE_STACK nonzeros. */
#ifndef FM_DENSE_RUN
#define FM_DENSE_RUN 32
#define FM_DENSE_STACK 512
#endif
static int FM_NAME(fm_predict_dense_one_impl)(const fm_model *m, const REAL *x, double *out,
                                              int64_t *position)
{
    const int64_t n = m->n_features;
    IDX idx_stack[FM_DENSE_STACK];
    REAL val_stack[FM_DENSE_STACK];
    IDX *idx = idx_stack;
    REAL *val = val_stack;
    int64_t nnz = 0, capacity = FM_DENSE_STACK;
    int status = FM_OK;
    for (int64_t start = 0; start < n && status == FM_OK; start += FM_DENSE_RUN) {
        const int64_t stop = start + FM_DENSE_RUN < n ? start + FM_DENSE_RUN : n;
        int any = 0;
        for (int64_t j = start; j < stop; j++)
            any |= x[j] != 0;
        if (FM_LIKELY(!any))
            continue;
        for (int64_t j = start; j < stop; j++) {
            if (x[j] == 0)
                continue;
            if (!isfinite((double)x[j])) {
                *position = j;
                status = FM_ERR_NONFINITE;
                break;
            }
            if (nnz == capacity) {
                /* more nonzeros than the stack holds: room for the rest of the row */
                const int64_t grown = n - j + nnz;
                IDX *more_idx = (IDX *)malloc((size_t)grown * sizeof(IDX));
                REAL *more_val = (REAL *)malloc((size_t)grown * sizeof(REAL));
                if (!more_idx || !more_val) {
                    free(more_idx);
                    free(more_val);
                    status = FM_ERR_NOMEM;
                    break;
                }
                memcpy(more_idx, idx, (size_t)nnz * sizeof(IDX));
                memcpy(more_val, val, (size_t)nnz * sizeof(REAL));
                if (idx != idx_stack) {
                    free(idx);
                    free(val);
                }
                idx = more_idx;
                val = more_val;
                capacity = grown;
            }
            idx[nnz] = (IDX)j;
            val[nnz++] = x[j];
        }
    }
    if (status == FM_OK)
        status = FM_NAME(fm_predict_one_impl)(m, idx, val, nnz, out, position);
    if (idx != idx_stack) {
        free(idx);
        free(val);
    }
    return status;
}
