/*
 * Validation of caller-supplied CSR data before any kernel indexes with it:
 * the kernels trust indices blindly for speed, so everything they rely on is
 * checked here once, in one O(nnz) pass.
 */
#include <math.h>
#include <stdint.h>

#include "fastfm.h"
#include "dispatch.h"

#define FM_TEMPLATE "csr_check_impl.h"
#include "instantiate.h"

int fm_check_csr(const fm_csr *X, int64_t nnz_capacity, fm_csr_error *err)
{
    fm_csr_error ignored;
    int status;
    if (!err)
        err = &ignored;
    if (!X || !X->indptr)
        return FM_ERR_NULL;
    if (X->n_rows < 0 || X->n_cols < 0 || nnz_capacity < 0)
        return FM_ERR_SHAPE;
    if (nnz_capacity > 0 && !X->indices)
        return FM_ERR_NULL;
    FM_DISPATCH(status, fm_check_csr_impl, X->real_type, X->index_type, (X, nnz_capacity, err));
    return status;
}
