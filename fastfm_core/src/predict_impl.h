/* Batch prediction (template: REAL, IDX, FM_NAME; see instantiate.h). */
#include "model_row_impl.h"

static int FM_NAME(fm_predict_impl)(const fm_model *m, const fm_csr *X, double *out, int n_threads)
{
    const int64_t *indptr = X->indptr;
    const IDX *indices = (const IDX *)X->indices;
    const REAL *data = (const REAL *)X->data;
    /* the row maths takes writable pointers (the solvers share it); nothing is written here */
    REAL *w = (REAL *)m->w;
    REAL *V = (REAL *)m->V;
    const int k = m->n_factors;
    const int64_t n_rows = X->n_rows;
    int failed = 0;
    (void)n_threads; /* unused in a serial build */

    if (n_rows <= 1024)
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
#pragma omp for schedule(dynamic, 1024)
#endif
        for (int64_t i = 0; i < n_rows; i++) {
            if (!scratch)
                continue;
            {
                const int64_t b = (int64_t)indptr[i];
                const int64_t nnz = (int64_t)indptr[i + 1] - b;
                if (data)
                    out[i] = FM_NAME(fm_predict_row)(m->w0, w, V, k, indices + b, data + b, nnz,
                                                     scratch, scratch + k + 1, 0, NULL, 0);
                else
                    out[i] = FM_NAME(fm_predict_row)(m->w0, w, V, k, indices + b, NULL, nnz,
                                                     scratch, scratch + k + 1, 1, NULL, 0);
            }
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
 * order. */
static int FM_NAME(fm_predict_dense_one_impl)(const fm_model *m, const REAL *x, double *out,
                                              int64_t *position)
{
    const int64_t n = m->n_features;
    int64_t nnz = 0;
    int finite = 1;
    IDX *idx;
    REAL *val;
    int status;
    /* one pass without early exits, so that it vectorises: x - x is 0 unless x is
     * NaN or infinite; the column at fault is looked for only when there is one */
    for (int64_t j = 0; j < n; j++) {
        finite &= (x[j] - x[j]) == 0;
        nnz += x[j] != 0;
    }
    if (!finite) {
        for (int64_t j = 0; j < n; j++)
            if (!isfinite((double)x[j])) {
                *position = j;
                return FM_ERR_NONFINITE;
            }
    }
    idx = (IDX *)malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(IDX));
    val = (REAL *)malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(REAL));
    if (!idx || !val) {
        free(idx);
        free(val);
        return FM_ERR_NOMEM;
    }
    nnz = 0;
    for (int64_t j = 0; j < n; j++)
        if (x[j] != 0) {
            idx[nnz] = (IDX)j;
            val[nnz++] = x[j];
        }
    status = FM_NAME(fm_predict_one_impl)(m, idx, val, nnz, out, position);
    free(idx);
    free(val);
    return status;
}
