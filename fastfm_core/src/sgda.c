/*
 * SGDA, libFM's SGD with adaptive regularization: the parameter checks and the
 * dispatch of an epoch to the template instance for the model's element types
 * (sgda_impl.h). The algorithm and its formulas: fastfm.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "loss.h"
#include "permutation.h"
#include "dispatch.h"

#define FM_TEMPLATE "sgda_impl.h"
#include "instantiate.h"

const char *fm_check_sgda_params(const fm_sgda_params *p, const fm_model *m, const fm_csr *X,
                                 const fm_csr *Xv)
{
    if (!p || !m || !X)
        return "params, model and X are required";
    if (m->n_factors < 0)
        return "n_factors must be >= 0";
    if (m->n_features < 1)
        return "n_features must be >= 1";
    if (!fm_loss_is_valid(p->loss))
        return "loss must be FM_LOSS_SQUARED or FM_LOSS_LOGISTIC for SGDA";
    if (!(isfinite(p->learning_rate) && p->learning_rate > 0.0))
        return "learning_rate must be a finite number > 0";
    if (!(isfinite(p->reg_bias) && p->reg_bias >= 0.0))
        return "reg_bias must be a finite number >= 0";
    if (isnan(p->clip_min) || isnan(p->clip_max) || p->clip_min > p->clip_max)
        return "clip_min must be <= clip_max";
    if (p->lambda_steps != 0 && p->lambda_steps != 1)
        return "lambda_steps must be 0 or 1";
    if (p->shuffle != 0 && p->shuffle != 1)
        return "shuffle must be 0 or 1";
    if (p->n_groups < 1)
        return "n_groups must be >= 1";
    if (!p->feature_group)
        return "feature_group is required";
    for (int64_t j = 0; j < m->n_features; j++)
        if (p->feature_group[j] < 0 || p->feature_group[j] >= p->n_groups)
            return "a feature group id is outside [0, n_groups)";
    if (X->n_cols != m->n_features)
        return "the training data's number of features differs from the model's";
    if (X->real_type != m->real_type)
        return "the training data's value type differs from the model's";
    if (p->lambda_steps) {
        if (!Xv || Xv->n_rows < 1)
            return "the lambda steps need at least one validation row";
        if (Xv->n_cols != m->n_features)
            return "the validation data's number of features differs from the model's";
        if (Xv->real_type != X->real_type || Xv->index_type != X->index_type)
            return "the validation data's element types differ from the training data's";
    }
    return NULL;
}

static int lambdas_ok(const fm_sgda_params *p, const fm_model *m, const fm_sgda_state *st)
{
    const int64_t G = p->n_groups, k = m->n_factors;
    for (int64_t g = 0; g < G; g++) {
        if (!(isfinite(st->reg_w[g]) && st->reg_w[g] >= 0.0))
            return 0;
        for (int64_t f = 0; f < k; f++)
            if (!(isfinite(st->reg_v[g * k + f]) && st->reg_v[g * k + f] >= 0.0))
                return 0;
    }
    return 1;
}

int fm_sgda_epoch(fm_model *model, const fm_csr *X, const double *y,
                  const double *sample_weight, const fm_csr *Xv, const double *yv,
                  const double *val_weight, const fm_sgda_params *params,
                  fm_sgda_state *state, fm_sgda_stats *stats)
{
    int status;
    if (!model || !X || !params || !state || !stats)
        return FM_ERR_NULL;
    if (fm_check_sgda_params(params, model, X, Xv))
        return FM_ERR_PARAM;
    if (!state->reg_w || (model->n_factors > 0 && !state->reg_v) || !state->grad_w ||
        (model->n_factors > 0 && !state->grad_V))
        return FM_ERR_NULL;
    if (!lambdas_ok(params, model, state))
        return FM_ERR_PARAM;
    memset(stats, 0, sizeof(*stats));
    if (X->n_rows == 0)
        return FM_OK;
    if (!X->indptr || !X->indices || !y || !model->w || (model->n_factors > 0 && !model->V))
        return FM_ERR_NULL;
    if (params->lambda_steps && (!Xv->indptr || !Xv->indices || !yv))
        return FM_ERR_NULL;
    FM_DISPATCH(status, fm_sgda_epoch_impl, model->real_type, X->index_type,
                (model, X, y, sample_weight, Xv, yv, val_weight, params, state, stats));
    return status;
}
