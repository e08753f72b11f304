/*
 * The field-aware FM (fastfm.h, fm_ffm_model): parameter and field checks, and
 * the dispatch of prediction and SGD epochs to the template instance for the
 * model's element types (ffm_impl.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "loss.h"
#include "parallel.h"
#include "permutation.h"
#include "step_rules.h"
#include "w0_fold.h"
#include "hotset.h"
#include "sgd_checks.h"
#include "dispatch.h"

#define FM_TEMPLATE "ffm_unit.h"
#include "instantiate.h"

int64_t fm_ffm_check_fields(const int32_t *fields, int64_t n, int32_t n_fields)
{
    if (n > 0 && !fields)
        return 0;
    for (int64_t p = 0; p < n; p++)
        if (fields[p] < 0 || fields[p] >= n_fields)
            return p;
    return -1;
}

int fm_ffm_check_rows(const fm_csr *X, const int32_t *fields, int32_t n_fields,
                      int64_t nnz_capacity, fm_csr_error *err)
{
    fm_csr_error ignored;
    int status;
    if (!err)
        err = &ignored;
    if (!X || !X->indptr)
        return FM_ERR_NULL;
    if (X->n_rows < 0 || X->n_cols < 0 || nnz_capacity < 0 || n_fields < 1)
        return FM_ERR_SHAPE;
    if (nnz_capacity > 0 && (!X->indices || !fields))
        return FM_ERR_NULL;
    FM_DISPATCH(status, ffm_check_rows_impl, X->real_type, X->index_type,
                (X, fields, n_fields, nnz_capacity, err));
    return status;
}

static int check_model_and_data(const fm_ffm_model *m, const fm_csr *X, const int32_t *fields)
{
    if (!m || !X)
        return FM_ERR_NULL;
    if (m->n_fields < 1 || m->n_factors < 0 || m->n_features < 1)
        return FM_ERR_PARAM;
    if (X->n_cols != m->n_features)
        return FM_ERR_SHAPE;
    if (X->real_type != m->real_type)
        return FM_ERR_DTYPE;
    if (X->n_rows > 0 && (!X->indptr || (X->indptr[X->n_rows] > X->indptr[0] &&
                                         (!X->indices || !fields))))
        return FM_ERR_NULL;
    if ((m->linear && !m->w) || (m->n_factors > 0 && !m->V))
        return FM_ERR_NULL;
    return FM_OK;
}

int fm_ffm_predict(const fm_ffm_model *model, const fm_csr *X, const int32_t *fields,
                   double *out, int n_threads)
{
    int status = check_model_and_data(model, X, fields);
    if (status != FM_OK)
        return status;
    if (!out)
        return FM_ERR_NULL;
    if (n_threads < 1)
        return FM_ERR_PARAM;
    if (X->n_rows == 0)
        return FM_OK;
    n_threads = fm_clamp_threads(n_threads);
    FM_DISPATCH(status, ffm_predict_impl, model->real_type, X->index_type,
                (model, X, fields, out, n_threads));
    return status;
}

const char *fm_check_ffm_sgd_params(const fm_sgd_params *p, const fm_ffm_model *m)
{
    if (!p || !m)
        return "params and model are required";
    if (m->n_factors < 0)
        return "n_factors must be >= 0";
    if (m->n_fields < 1)
        return "n_fields must be >= 1";
    if (m->n_features < 1)
        return "n_features must be >= 1";
    if (p->sgd.parallel_mode != FM_PARALLEL_AUTO && p->sgd.parallel_mode != FM_PARALLEL_HOGWILD &&
        p->sgd.parallel_mode != FM_PARALLEL_HYBRID)
        return "an FFM epoch runs parallel_mode auto, hogwild or hybrid";
    return fm_check_sgd_step(p);
}

int fm_ffm_sgd_epoch(fm_ffm_model *model, const fm_csr *X, const int32_t *fields,
                     const double *y, const double *sample_weight,
                     const fm_sgd_params *params, fm_sgd_state *state,
                     fm_epoch_stats *stats)
{
    int status = check_model_and_data(model, X, fields);
    if (status != FM_OK)
        return status;
    if (!y || !params || !stats)
        return FM_ERR_NULL;
    if (fm_check_ffm_sgd_params(params, model))
        return FM_ERR_PARAM;
    if (params->sgd.rule != FM_RULE_SGD &&
        (!state || (model->linear && !state->w_sum_sq) ||
         (model->n_factors > 0 && !state->V_sum_sq) ||
         (model->linear && params->sgd.rule == FM_RULE_FTRL && !state->w_z)))
        return FM_ERR_NULL;
    memset(stats, 0, sizeof(*stats));
    if (X->n_rows == 0)
        return FM_OK;
    FM_DISPATCH(status, ffm_sgd_epoch_impl, model->real_type, X->index_type,
                (model, X, fields, y, sample_weight, params,
                 params->sgd.rule == FM_RULE_SGD ? NULL : state, stats));
    return status;
}
