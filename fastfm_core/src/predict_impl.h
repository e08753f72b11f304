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

#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
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
