/* Batch prediction: rows are independent, so threads take them in chunks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "parallel.h"
#include "dispatch.h"

#define FM_TEMPLATE "predict_impl.h"
#include "instantiate.h"

int fm_predict(const fm_model *model, const fm_csr *X, double *out, int n_threads)
{
    int status;
    if (!model || !X || !out)
        return FM_ERR_NULL;
    if (X->n_cols != model->n_features)
        return FM_ERR_SHAPE;
    if (X->real_type != model->real_type)
        return FM_ERR_DTYPE;
    if (n_threads < 1)
        return FM_ERR_PARAM;
    if (X->n_rows == 0)
        return FM_OK;
    if (!X->indptr || !X->indices || !model->w || (model->n_factors > 0 && !model->V))
        return FM_ERR_NULL;
    n_threads = fm_clamp_threads(n_threads);
    FM_DISPATCH(status, fm_predict_impl, model->real_type, X->index_type,
                (model, X, out, n_threads));
    return status;
}

int fm_predict_one(const fm_model *model, const void *indices, int index_type,
                   const void *values, int64_t nnz, double *out, int64_t *position)
{
    int64_t at = 0;
    if (!position)
        position = &at;
    *position = -1;
    if (!model || !out || nnz < 0 || (nnz > 0 && !indices))
        return FM_ERR_NULL;
    if (!model->w || (model->n_factors > 0 && !model->V))
        return FM_ERR_NULL;
    if (model->real_type == FM_FLOAT32 && index_type == FM_INDEX32)
        return fm_predict_one_impl_f32_i32(model, (const int32_t *)indices,
                                           (const float *)values, nnz, out, position);
    if (model->real_type == FM_FLOAT32 && index_type == FM_INDEX64)
        return fm_predict_one_impl_f32_i64(model, (const int64_t *)indices,
                                           (const float *)values, nnz, out, position);
    if (model->real_type == FM_FLOAT64 && index_type == FM_INDEX32)
        return fm_predict_one_impl_f64_i32(model, (const int32_t *)indices,
                                           (const double *)values, nnz, out, position);
    if (model->real_type == FM_FLOAT64 && index_type == FM_INDEX64)
        return fm_predict_one_impl_f64_i64(model, (const int64_t *)indices,
                                           (const double *)values, nnz, out, position);
    return FM_ERR_DTYPE;
}

int fm_predict_dense_one(const fm_model *model, const void *x, double *out,
                         int64_t *position)
{
    int64_t at = 0;
    const int narrow = model && model->n_features <= INT32_MAX; /* int32 ids suffice */
    if (!position)
        position = &at;
    *position = -1;
    if (!model || !out || !x || !model->w || (model->n_factors > 0 && !model->V))
        return FM_ERR_NULL;
    if (model->real_type == FM_FLOAT32)
        return narrow ? fm_predict_dense_one_impl_f32_i32(model, (const float *)x, out, position)
                      : fm_predict_dense_one_impl_f32_i64(model, (const float *)x, out, position);
    if (model->real_type == FM_FLOAT64)
        return narrow ? fm_predict_dense_one_impl_f64_i32(model, (const double *)x, out, position)
                      : fm_predict_dense_one_impl_f64_i64(model, (const double *)x, out, position);
    return FM_ERR_DTYPE;
}
