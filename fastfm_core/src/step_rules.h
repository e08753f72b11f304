/*
 * Scalar formulas of the adaptive step rules (fastfm.h, fm_step_rule), shared
 * by every element type: the templates call them per coordinate.
 */
#ifndef FM_STEP_RULES_H
#define FM_STEP_RULES_H

#include <math.h>

/* Added under the square root of an AdaGrad denominator: a coordinate whose
 * gradients have all been 0 has G = 0, and its step g / sqrt(G) is then 0 / 0. */
#define FM_ADAGRAD_EPS 1e-12

/* The FTRL-proximal weight of a coordinate with state (z, n). */
static inline double fm_ftrl_weight(double z, double n, double eta, double beta, double l1,
                                    double l2)
{
    if (fabs(z) <= l1)
        return 0.0;
    return -(z - (z > 0.0 ? l1 : -l1)) / ((beta + sqrt(n)) / eta + l2);
}

/* The z for which fm_ftrl_weight(z, n, ...) is w: merging replicas averages
 * the weights as for SGD and sums the n, then sets z to match, so that the
 * merged weight is the one the next row sees. A zero weight keeps z_old,
 * clipped into [-l1, l1] (where the weight stays 0). */
static inline double fm_ftrl_z_for(double w, double z_old, double n, double eta, double beta,
                                   double l1, double l2)
{
    if (w == 0.0)
        return z_old > l1 ? l1 : (z_old < -l1 ? -l1 : z_old);
    return -w * ((beta + sqrt(n)) / eta + l2) - (w > 0.0 ? l1 : -l1);
}

/* One FTRL step on a coordinate: g is its loss gradient; updates z and n and
 * returns the new weight. */
static inline double fm_ftrl_step(double g, double w, double *z, double *n, double eta,
                                  double beta, double l1, double l2)
{
    const double n_new = *n + g * g;
    const double sigma = (sqrt(n_new) - sqrt(*n)) / eta;
    *z += g - sigma * w;
    *n = n_new;
    return fm_ftrl_weight(*z, n_new, eta, beta, l1, l2);
}

/* One AdaGrad step on a coordinate with gradient g (the L2 term included):
 * updates the sum of squares and returns the change of the parameter. */
static inline double fm_adagrad_step(double g, double *sum_sq, double eta)
{
    *sum_sq += g * g;
    return -eta * g / sqrt(*sum_sq + FM_ADAGRAD_EPS);
}

#endif
