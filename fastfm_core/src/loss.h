/*
 * Losses, as functions of the prediction p and the target y.
 *
 * The SGD needs the loss (reported per epoch) and dL/dp (the factor every
 * parameter gradient is scaled by). A new loss is a new case here plus its
 * enum value in fastfm.h; the solvers do not change.
 *
 *   squared:  L = (p - y)^2 / 2,          dL/dp = p - y
 *   logistic: L = log(1 + exp(-y p)),     dL/dp = -y / (1 + exp(y p)),  y in {-1, +1}
 *
 * The squared loss is reported as (p - y)^2 so that sqrt(mean) is the RMSE.
 */
#ifndef FM_LOSS_H
#define FM_LOSS_H

#include <math.h>
#include "fastfm.h"

/* log(1 + exp(z)) without overflow for large z or lost digits for small. */
static inline double fm_log1pexp(double z)
{
    if (z > 35.0)
        return z;
    if (z < -35.0)
        return exp(z);
    return log1p(exp(z));
}

static inline int fm_loss_is_valid(int loss)
{
    return loss == FM_LOSS_SQUARED || loss == FM_LOSS_LOGISTIC;
}

/* Returns dL/dp and stores the reported loss in *loss_out. */
static inline double fm_loss_grad(int loss, double p, double y, double *loss_out)
{
    if (loss == FM_LOSS_LOGISTIC) {
        double z = y * p;
        *loss_out = fm_log1pexp(-z);
        /* -y * sigmoid(-z), written to stay finite for any z */
        if (z >= 0.0) {
            double e = exp(-z);
            return -y * e / (1.0 + e);
        }
        return -y / (1.0 + exp(z));
    }
    {
        double r = p - y;
        *loss_out = r * r;
        return r;
    }
}

#endif
