/*
 * The adaptive step rules' update of one row (template: REAL, IDX, FM_NAME;
 * see instantiate.h): AdaGrad, or FTRL-proximal on w with AdaGrad on V
 * (fastfm.h, fm_step_rule). Same shape as fm_sgd_update_row: g = dL/dy of
 * the row, q the factor sums its prediction left behind; the per-coordinate
 * state sits beside the parameters (hybrid: this thread's copies of the hot
 * features, slot for slot).
 */

/* sqrt in the element type, so that float models keep float vector code */
static FM_INLINE REAL FM_NAME(fm_real_sqrt)(REAL x)
{
    return sizeof(REAL) == sizeof(float) ? (REAL)sqrtf((float)x) : (REAL)sqrt((double)x);
}

typedef struct {
    double lr, reg_w, reg_v;
    double beta, l1;            /* FTRL */
    REAL *sum_sq_w, *z_w, *sum_sq_V;  /* the shared state (hybrid: of the cold features) */
} FM_NAME(fm_adaptive);

static FM_INLINE void FM_NAME(fm_adaptive_update_row)(
    const double g, const FM_NAME(fm_adaptive) *a, const int rule,
    REAL *w, REAL *V, const int k,
    const IDX *restrict idx, const REAL *restrict val, const int64_t nnz,
    const REAL *restrict q, const int binary, const FM_NAME(fm_hot) *hot, const int hybrid)
{
    const REAL lr = (REAL)a->lr, reg_v = (REAL)a->reg_v, eps = (REAL)FM_ADAGRAD_EPS;
    for (int64_t p = 0; p < nnz; p++) {
        const double x = binary ? 1.0 : (double)val[p];
        const double gx = g * x; /* dL/dw_j */
        const int64_t j = (int64_t)idx[p];
        REAL *wj, *vj, *sq_w, *sq_v, *z;
        const int32_t slot = FM_NAME(fm_locate)(j, w, V, k, hot, hybrid, &wj, &vj);
        if (hybrid && slot >= 0) {
            hot->touches[slot]++;
            sq_w = hot->sum_sq_w + slot;
            z = rule == FM_RULE_FTRL ? hot->z_w + slot : NULL;
            sq_v = hot->sum_sq_V + (int64_t)slot * k;
        } else {
            sq_w = a->sum_sq_w + j;
            z = rule == FM_RULE_FTRL ? a->z_w + j : NULL;
            sq_v = a->sum_sq_V + j * k;
        }
        if (rule == FM_RULE_FTRL) {
            double zj = (double)*z, nj = (double)*sq_w;
            const double wnew = fm_ftrl_step(gx, (double)*wj, &zj, &nj, a->lr, a->beta, a->l1,
                                             a->reg_w);
            *z = (REAL)zj;
            *sq_w = (REAL)nj;
            *wj = (REAL)wnew;
        } else {
            double s = (double)*sq_w;
            const double change = fm_adagrad_step(gx + a->reg_w * (double)*wj, &s, a->lr);
            *sq_w = (REAL)s;
            *wj = (REAL)((double)*wj + change);
        }
        {
            const REAL gxr = (REAL)gx, xr = (REAL)x;
            REAL *restrict v = vj;
            REAL *restrict sv = sq_v;
            FM_SIMD
            for (int f = 0; f < k; f++) {
                const REAL gv = gxr * (q[f] - v[f] * xr) + reg_v * v[f];
                const REAL s = sv[f] + gv * gv;
                sv[f] = s;
                v[f] -= lr * gv / FM_NAME(fm_real_sqrt)(s + eps);
            }
        }
    }
}
