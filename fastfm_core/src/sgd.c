/*
 * The SGD solver: parameter checks and the dispatch of an epoch to the
 * template instance for the model's element types (sgd_impl.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "loss.h"
#include "parallel.h"
#include "permutation.h"
#include "memory.h"
#include "hotset.h"
#include "step_rules.h"
#include "w0_fold.h"
#include "sgd_checks.h"
#include "dispatch.h"

#define FM_TEMPLATE "sgd_row_and_epoch.h"
#include "instantiate.h"

const char *fm_check_sgd_params(const fm_sgd_params *p, const fm_model *m)
{
    if (!p || !m)
        return "params and model are required";
    if (m->n_factors < 0)
        return "n_factors must be >= 0";
    if (m->n_features < 1)
        return "n_features must be >= 1";
    if (p->sgd.parallel_mode < FM_PARALLEL_AUTO || p->sgd.parallel_mode > FM_PARALLEL_HYBRID ||
        p->sgd.parallel_mode == FM_PARALLEL_SERIAL)
        return "unknown parallel_mode";
    if (p->sgd.sync_every < 0)
        return "sync_every must be >= 0";
    return fm_check_sgd_step(p);
}

int fm_sgd_epoch(fm_model *model, const fm_csr *X, const double *y,
                 const double *sample_weight, const fm_sgd_params *params,
                 fm_sgd_state *state, fm_epoch_stats *stats)
{
    int status;
    if (!model || !X || !y || !params || !stats)
        return FM_ERR_NULL;
    if (fm_check_sgd_params(params, model))
        return FM_ERR_PARAM;
    if (X->n_cols != model->n_features)
        return FM_ERR_SHAPE;
    if (X->real_type != model->real_type)
        return FM_ERR_DTYPE;
    if (X->n_rows > 0 && (!X->indptr || !X->indices || !model->w ||
                          (model->n_factors > 0 && !model->V)))
        return FM_ERR_NULL;
    if (params->sgd.rule != FM_RULE_SGD &&
        (!state || !state->w_sum_sq || (model->n_factors > 0 && !state->V_sum_sq) ||
         (params->sgd.rule == FM_RULE_FTRL && !state->w_z)))
        return FM_ERR_NULL;
    memset(stats, 0, sizeof(*stats));
    if (X->n_rows == 0)
        return FM_OK;
    FM_DISPATCH(status, fm_sgd_epoch_impl, model->real_type, X->index_type,
                (model, X, y, sample_weight, params, state, stats));
    return status;
}

double fm_loss_value(int loss, double prediction, double y)
{
    double value;
    (void)fm_loss_grad(loss, prediction, y, &value);
    return value;
}

double fm_loss_derivative(int loss, double prediction, double y)
{
    double value;
    return fm_loss_grad(loss, prediction, y, &value);
}
