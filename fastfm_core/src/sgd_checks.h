/*
 * The checks of an SGD-family epoch's parameters that do not depend on the model
 * kind (objective, step rule, schedule): fm_check_sgd_params (FM) and
 * fm_check_ffm_sgd_params (FFM) add the model's and the parallel modes' own.
 */
#ifndef FM_SGD_CHECKS_H
#define FM_SGD_CHECKS_H

#include <math.h>
#include "fastfm.h"
#include "loss.h"

static inline int fm_is_nonneg_finite(double x) { return isfinite(x) && x >= 0.0; }

/* NULL when the objective, step and schedule of p are valid, else the problem. */
static inline const char *fm_check_sgd_step(const fm_sgd_params *p)
{
    if (!fm_loss_is_valid(p->objective.loss))
        return "unknown loss";
    if (!(isfinite(p->sgd.learning_rate) && p->sgd.learning_rate > 0.0))
        return "learning_rate must be a finite number > 0";
    if (!fm_is_nonneg_finite(p->objective.reg_bias) ||
        !fm_is_nonneg_finite(p->objective.reg_linear) ||
        !fm_is_nonneg_finite(p->objective.reg_factors))
        return "regularisation strengths must be finite numbers >= 0";
    if (isnan(p->objective.clip_min) || isnan(p->objective.clip_max) ||
        p->objective.clip_min > p->objective.clip_max)
        return "clip_min must be <= clip_max";
    if (p->schedule.n_threads < 1)
        return "n_threads must be >= 1";
    if (p->schedule.block_rows < 0)
        return "block_rows must be >= 0";
    if (p->sgd.rule < FM_RULE_SGD || p->sgd.rule > FM_RULE_FTRL)
        return "unknown step rule";
    if (!fm_is_nonneg_finite(p->sgd.ftrl_beta) || !fm_is_nonneg_finite(p->sgd.ftrl_l1))
        return "ftrl_beta and ftrl_l1 must be finite numbers >= 0";
    return NULL;
}

#endif
