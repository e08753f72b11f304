/*
 * Pairwise ranking (BPR, fastfm.h fm_pair_sgd_epoch): the checks of the pairs
 * and parameters, and the dispatch of an epoch to the template instance for
 * the model's element types (ranking_impl.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "loss.h"
#include "parallel.h"
#include "permutation.h"
#include "rng.h"
#include "step_rules.h"
#include "sgd_checks.h"
#include "dispatch.h"

#define FM_TEMPLATE "ranking_impl.h"
#include "instantiate.h"

static int ids_in_range(const int64_t *ids, int64_t n, int64_t n_rows, int64_t *position)
{
    for (int64_t p = 0; p < n; p++)
        if (ids[p] < 0 || ids[p] >= n_rows) {
            *position = p;
            return 0;
        }
    return 1;
}

int fm_check_pairs(const fm_csr *X, const fm_csr *C, const fm_pairs *pairs, int64_t *position)
{
    int64_t ignored;
    if (!position)
        position = &ignored;
    *position = -1;
    if (!X || !pairs)
        return FM_ERR_NULL;
    if (pairs->n_pairs < 0)
        return FM_ERR_PARAM;
    if (pairs->n_pairs > 0 && !pairs->preferred)
        return FM_ERR_NULL;
    if (pairs->context && !C)
        return FM_ERR_NULL;
    if (!ids_in_range(pairs->preferred, pairs->n_pairs, X->n_rows, position))
        return FM_ERR_INDEX_RANGE;
    if (pairs->other && !ids_in_range(pairs->other, pairs->n_pairs, X->n_rows, position))
        return FM_ERR_INDEX_RANGE;
    if (pairs->context && !ids_in_range(pairs->context, pairs->n_pairs, C->n_rows, position))
        return FM_ERR_INDEX_RANGE;
    if (pairs->weight)
        for (int64_t p = 0; p < pairs->n_pairs; p++)
            if (!(isfinite(pairs->weight[p]) && pairs->weight[p] >= 0.0)) {
                *position = p;
                return FM_ERR_PARAM;
            }
    if (pairs->other)
        return FM_OK; /* nothing is drawn: the sampling inputs are not read */
    if (pairs->max_draws < 1 || pairs->n_candidates < 1)
        return FM_ERR_PARAM;
    if (pairs->draw_cdf) {
        double last = 0.0;
        for (int64_t r = 0; r < X->n_rows; r++) {
            const double c = pairs->draw_cdf[r];
            if (!isfinite(c) || c < last || c < 0.0) {
                *position = r;
                return FM_ERR_PARAM;
            }
            last = c;
        }
        if (!(last > 0.0)) {
            *position = X->n_rows - 1;
            return FM_ERR_PARAM;
        }
    }
    if (pairs->seen_ptr) {
        const int64_t *ptr = pairs->seen_ptr;
        if (!C)
            return FM_ERR_NULL;
        if (ptr[0] != 0) {
            *position = 0;
            return FM_ERR_INDPTR;
        }
        for (int64_t c = 0; c < C->n_rows; c++) {
            if (ptr[c + 1] < ptr[c]) {
                *position = c + 1;
                return FM_ERR_INDPTR;
            }
        }
        if (ptr[C->n_rows] > 0 && !pairs->seen)
            return FM_ERR_NULL;
        for (int64_t c = 0; c < C->n_rows; c++)
            for (int64_t p = ptr[c]; p < ptr[c + 1]; p++) {
                if (pairs->seen[p] < 0 || pairs->seen[p] >= X->n_rows) {
                    *position = p;
                    return FM_ERR_INDEX_RANGE;
                }
                if (p > ptr[c] && pairs->seen[p] <= pairs->seen[p - 1]) {
                    *position = p;
                    return FM_ERR_UNSORTED;
                }
            }
    }
    return FM_OK;
}

const char *fm_check_pair_params(const fm_sgd_params *params, const fm_model *model,
                                 const fm_csr *X, const fm_csr *C, const fm_pairs *pairs)
{
    const char *problem;
    if (!params || !model || !X || !pairs)
        return "params, model, X and pairs are required";
    if (model->n_factors < 0)
        return "n_factors must be >= 0";
    if (model->n_features < 1)
        return "n_features must be >= 1";
    if (params->objective.loss != FM_LOSS_LOGISTIC)
        return "pairwise ranking takes the logistic loss of the score difference";
    if (params->sgd.parallel_mode != FM_PARALLEL_AUTO &&
        params->sgd.parallel_mode != FM_PARALLEL_HOGWILD)
        return "ranking epochs run in parallel mode auto or hogwild";
    if (C && (C->real_type != X->real_type || C->index_type != X->index_type))
        return "X and the context rows C must have the same element types";
    if ((C ? C->n_cols : 0) + X->n_cols != model->n_features)
        return "the columns of C and X must add up to the model's n_features";
    if (pairs->context && !C)
        return "pairs name context rows but C is missing";
    if (pairs->seen_ptr && !C)
        return "seen items are given per context row but C is missing";
    problem = fm_check_sgd_step(params);
    return problem;
}

int fm_pair_sgd_epoch(fm_model *model, const fm_csr *X, const fm_csr *C, const fm_pairs *pairs,
                      const fm_sgd_params *params, fm_sgd_state *state, fm_pair_stats *stats)
{
    int status;
    int64_t position;
    if (!model || !X || !pairs || !params || !stats)
        return FM_ERR_NULL;
    if (fm_check_pair_params(params, model, X, C, pairs))
        return FM_ERR_PARAM;
    if (X->real_type != model->real_type)
        return FM_ERR_DTYPE;
    if (!model->w || (model->n_factors > 0 && !model->V) || !X->indptr ||
        (C && !C->indptr))
        return FM_ERR_NULL;
    if (params->sgd.rule != FM_RULE_SGD &&
        (!state || !state->w_sum_sq || (model->n_factors > 0 && !state->V_sum_sq) ||
         (params->sgd.rule == FM_RULE_FTRL && !state->w_z)))
        return FM_ERR_NULL;
    status = fm_check_pairs(X, C, pairs, &position);
    if (status != FM_OK)
        return status;
    memset(stats, 0, sizeof(*stats));
    stats->n_threads = 1;
    stats->parallel_mode = FM_PARALLEL_SERIAL;
    if (pairs->n_pairs == 0)
        return FM_OK;
    FM_DISPATCH(status, fm_pair_epoch_impl, model->real_type, X->index_type,
                (model, X, C, pairs, params, state, stats));
    return status;
}
