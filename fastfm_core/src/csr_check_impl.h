/* CSR validation (template: REAL, IDX, FM_NAME; see instantiate.h). */

static int FM_NAME(fm_check_csr_impl)(const fm_csr *X, int64_t nnz_capacity, fm_csr_error *err)
{
    const int64_t *indptr = X->indptr;
    const IDX *indices = (const IDX *)X->indices;
    const REAL *data = (const REAL *)X->data;
    const int64_t n_cols = X->n_cols;

    err->row = -1;
    err->position = -1;
    err->column = -1;
    if ((int64_t)indptr[0] != 0) {
        err->row = 0;
        return FM_ERR_INDPTR;
    }
    for (int64_t i = 0; i < X->n_rows; i++) {
        const int64_t b = (int64_t)indptr[i], e = (int64_t)indptr[i + 1];
        int64_t prev = -1;
        if (e < b || e > nnz_capacity) {
            err->row = i;
            return FM_ERR_INDPTR;
        }
        for (int64_t p = b; p < e; p++) {
            const int64_t j = (int64_t)indices[p];
            if (j < 0 || j >= n_cols) {
                err->row = i;
                err->position = p;
                err->column = j;
                return FM_ERR_INDEX_RANGE;
            }
            if (j <= prev) {
                err->row = i;
                err->position = p;
                err->column = j;
                return j == prev ? FM_ERR_DUPLICATE : FM_ERR_UNSORTED;
            }
            if (data && !isfinite((double)data[p])) {
                err->row = i;
                err->position = p;
                err->column = j;
                return FM_ERR_NONFINITE;
            }
            prev = j;
        }
    }
    return FM_OK;
}
