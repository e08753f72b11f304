/*
 * The hogwild drivers' w0: every row writes it, so each thread trains a private
 * copy (with its adaptive state) and folds its change into the shared one every
 * FM_W0_SYNC rows, instead of trading w0's cache line on every row. Shared by the
 * FM (sgd_impl.h) and FFM (ffm_impl.h) epochs.
 */
#ifndef FM_W0_FOLD_H
#define FM_W0_FOLD_H

#include "parallel.h"
#include "step_rules.h"

/* w0 and its adaptive state (sum of squared gradients, FTRL's z). */
typedef struct {
    double w0, sum_sq, z;
} fm_w0_copy;

/* The shared values, read whole. */
static inline fm_w0_copy fm_w0_read(const fm_w0_copy *shared)
{
    fm_w0_copy v;
    v.w0 = fm_atomic_read(&shared->w0);
    v.sum_sq = fm_atomic_read(&shared->sum_sq);
    v.z = fm_atomic_read(&shared->z);
    return v;
}

/* Adds this thread's change since *synced to the shared values, then sets *mine and
 * *synced to the shared values. The threads' changes of w0 and of the sum of squares
 * add up; under FTRL z then follows the merged w0 (adding the threads' changes of z
 * would overshoot, as sqrt is concave in n). */
static inline void fm_w0_fold(fm_w0_copy *shared, fm_w0_copy *mine, fm_w0_copy *synced,
                              int ftrl, double lr, double beta, double reg_bias)
{
    fm_atomic_add(&shared->w0, mine->w0 - synced->w0);
    fm_atomic_add(&shared->sum_sq, mine->sum_sq - synced->sum_sq);
    fm_atomic_add(&shared->z, mine->z - synced->z);
    *synced = fm_w0_read(shared);
    if (ftrl)
        synced->z = fm_ftrl_z_for(synced->w0, synced->z, synced->sum_sq, lr, beta, 0.0,
                                  reg_bias);
    *mine = *synced;
}

#endif
