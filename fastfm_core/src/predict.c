/* Batch prediction: rows are independent, so they split statically across threads. */
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
