/* Template (REAL, IDX): CSR -> CSC by one counting pass (the caller's colptr)
 * and one scatter pass; rows come out increasing within each column. */
static int FM_NAME(fm_csr_to_csc_impl)(const fm_csr *X, const int64_t *colptr, void *rows_out,
                                       void *data_out)
{
    const IDX *cols = (const IDX *)X->indices;
    const REAL *vals = (const REAL *)X->data;
    IDX *rows = (IDX *)rows_out;
    REAL *out = (REAL *)data_out;
    int64_t *next = (int64_t *)malloc((size_t)(X->n_cols + 1) * sizeof(int64_t));
    if (!next)
        return FM_ERR_NOMEM;
    memcpy(next, colptr, (size_t)(X->n_cols + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < X->n_rows; i++)
        for (int64_t pos = X->indptr[i]; pos < X->indptr[i + 1]; pos++) {
            const int64_t j = (int64_t)cols[pos];
            const int64_t at = next[j]++;
            if (at >= colptr[j + 1]) { /* the counts disagree with the data */
                free(next);
                return FM_ERR_INDPTR;
            }
            rows[at] = (IDX)i;
            if (vals)
                out[at] = vals[pos];
        }
    for (int64_t j = 0; j < X->n_cols; j++)
        if (next[j] != colptr[j + 1]) {
            free(next);
            return FM_ERR_INDPTR;
        }
    free(next);
    return FM_OK;
}
