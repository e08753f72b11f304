/*
 * SGDA epoch (template: REAL, IDX, FM_NAME; see instantiate.h): libFM's
 * fm_learn_sgd_element_adapt_reg (sgd_theta_step, predict_scaled and
 * sgd_lambda_step) on rapidfm's row maths. The formulas are in fastfm.h.
 *
 * Arithmetic is in double, as libFM's; a float32 model rounds each parameter
 * and kept gradient when it stores it. The look-ahead prediction and the
 * sums of the lambda gradients come from one pass over the validation row,
 * with the lambdas as they were before the step: libFM's two passes read the
 * same values (a group's lambda_v[c, f] changes only after factor f's sums).
 */
#include "model_row_impl.h"

typedef struct {
    const int64_t *indptr;
    const IDX *indices;
    const REAL *data;           /* NULL: all ones */
    const double *y, *weight;   /* weight NULL: ones */
} FM_NAME(fm_sgda_rows);

typedef struct {
    int loss, k;
    double lr, grad_scale, reg_bias, clip_min, clip_max;
    const int32_t *group;
    double *reg_w, *reg_v;      /* the lambdas (state) */
    REAL *grad_w, *grad_V;      /* the kept gradients (state) */
    /* scratch */
    REAL *q, *s2;               /* k: q_f of the theta step (fm_predict_row) */
    double *qd, *sqd;           /* k: q'_f and sum_j (x_j v'_jf)^2 of the look-ahead */
    double *acc_w;              /* G: sum_{j in c} x_j w_j */
    double *sum_v, *sum_vvd;    /* G x k: sum_{j in c} x_j v_jf, sum_{j in c} x_j^2 v_jf v'_jf */
    int64_t *stamp;             /* G: marks the groups of the current validation row */
} FM_NAME(fm_sgda_ctx);

static FM_INLINE double FM_NAME(fm_sgda_clip)(const FM_NAME(fm_sgda_ctx) *c, double p)
{
    if (c->loss != FM_LOSS_SQUARED)
        return p;
    return p < c->clip_min ? c->clip_min : (p > c->clip_max ? c->clip_max : p);
}

/* std::max(0.0, r), as libFM clamps a lambda */
static FM_INLINE double FM_NAME(fm_sgda_nonneg)(double r) { return 0.0 < r ? r : 0.0; }

/* The SGD step on theta for one training row (libFM's sgd_theta_step); keeps each
 * gradient; returns s l of the prediction before the step. */
static FM_INLINE double FM_NAME(fm_sgda_theta_step)(
    FM_NAME(fm_sgda_ctx) *c, fm_model *m, const IDX *restrict idx, const REAL *restrict val,
    const int64_t nnz, const double y, const double s, const int binary)
{
    const int k = c->k;
    const double lr = c->lr;
    REAL *const w = (REAL *)m->w;
    REAL *const V = (REAL *)m->V;
    const REAL *const q = c->q; /* q_f = sum_j v_jf x_j, left by fm_predict_row */
    double loss, mult;
    double p = FM_NAME(fm_predict_row)(m->w0, w, V, k, idx, val, nnz, c->q, c->s2, binary,
                                       NULL, 0);
    p = FM_NAME(fm_sgda_clip)(c, p);
    mult = s * c->grad_scale * fm_loss_grad(c->loss, p, y, &loss);
    m->w0 -= lr * (mult + 2.0 * c->reg_bias * m->w0);
    for (int64_t t = 0; t < nnz; t++) {
        const int64_t j = (int64_t)idx[t];
        const double x = binary ? 1.0 : (double)val[t];
        const int32_t g = c->group[j];
        const double gw = mult * x;
        const double wj = (double)w[j];
        c->grad_w[j] = (REAL)gw;
        w[j] = (REAL)(wj - lr * (gw + 2.0 * c->reg_w[g] * wj));
        if (k > 0) {
            REAL *restrict v = V + j * k;
            REAL *restrict gv = c->grad_V + j * k;
            const double *restrict lam = c->reg_v + (int64_t)g * k;
            for (int f = 0; f < k; f++) {
                const double vf = (double)v[f];
                const double gr = mult * (x * ((double)q[f] - vf * x));
                gv[f] = (REAL)gr;
                v[f] = (REAL)(vf - lr * (gr + 2.0 * lam[f] * vf));
            }
        }
    }
    return s * loss;
}

/* The step on the lambdas for one validation row (libFM's predict_scaled and
 * sgd_lambda_step); mark is 2 x the step's number. Returns s' l of the look-ahead
 * prediction. */
static FM_INLINE double FM_NAME(fm_sgda_lambda_step)(
    FM_NAME(fm_sgda_ctx) *c, const fm_model *m, const IDX *restrict idx,
    const REAL *restrict val, const int64_t nnz, const double y, const double s,
    const int64_t mark, const int binary)
{
    const int k = c->k;
    const double lr = c->lr;
    const REAL *const w = (const REAL *)m->w;
    const REAL *const V = (const REAL *)m->V;
    double *restrict qd = c->qd, *restrict sqd = c->sqd;
    double p = m->w0, loss, mult;

    /* zero the sums of the groups this row holds */
    for (int64_t t = 0; t < nnz; t++) {
        const int32_t g = c->group[idx[t]];
        if (c->stamp[g] != mark) {
            c->stamp[g] = mark;
            c->acc_w[g] = 0.0;
            for (int f = 0; f < k; f++) {
                c->sum_v[(int64_t)g * k + f] = 0.0;
                c->sum_vvd[(int64_t)g * k + f] = 0.0;
            }
        }
    }
    for (int f = 0; f < k; f++) {
        qd[f] = 0.0;
        sqd[f] = 0.0;
    }
    /* the look-ahead parameters w' = w - eta (g + 2 lambda w), v' likewise */
    for (int64_t t = 0; t < nnz; t++) {
        const int64_t j = (int64_t)idx[t];
        const double x = binary ? 1.0 : (double)val[t];
        const int32_t g = c->group[j];
        const double wj = (double)w[j];
        const double wd = wj - lr * ((double)c->grad_w[j] + 2.0 * c->reg_w[g] * wj);
        p += wd * x;
        c->acc_w[g] += x * wj;
        if (k > 0) {
            const REAL *restrict v = V + j * k;
            const REAL *restrict gv = c->grad_V + j * k;
            const double *restrict lam = c->reg_v + (int64_t)g * k;
            double *restrict sv = c->sum_v + (int64_t)g * k;
            double *restrict svd = c->sum_vvd + (int64_t)g * k;
            for (int f = 0; f < k; f++) {
                const double vf = (double)v[f];
                const double vd = vf - lr * ((double)gv[f] + 2.0 * lam[f] * vf);
                const double d = vd * x;
                qd[f] += d;
                sqd[f] += d * d;
                sv[f] += vf * x;
                svd[f] += d * vf * x;
            }
        }
    }
    for (int f = 0; f < k; f++)
        p += 0.5 * (qd[f] * qd[f] - sqd[f]);
    p = FM_NAME(fm_sgda_clip)(c, p);
    mult = s * c->grad_scale * fm_loss_grad(c->loss, p, y, &loss);

    /* each group of the row once: lambda -= eta m' dp'/dlambda, clamped at 0 */
    for (int64_t t = 0; t < nnz; t++) {
        const int32_t g = c->group[idx[t]];
        if (c->stamp[g] == mark) {
            c->stamp[g] = mark + 1;
            {
                const double grad_w = -2.0 * lr * c->acc_w[g];
                c->reg_w[g] = FM_NAME(fm_sgda_nonneg)(c->reg_w[g] - lr * mult * grad_w);
            }
            for (int f = 0; f < k; f++) {
                const int64_t at = (int64_t)g * k + f;
                const double grad_v = -2.0 * lr * (qd[f] * c->sum_v[at] - c->sum_vvd[at]);
                c->reg_v[at] = FM_NAME(fm_sgda_nonneg)(c->reg_v[at] - lr * mult * grad_v);
            }
        }
    }
    return s * loss;
}

/* The epoch's row loop, for data with (0) or without (1) stored values. */
static FM_INLINE void FM_NAME(fm_sgda_loop)(
    FM_NAME(fm_sgda_ctx) *c, fm_model *m, const FM_NAME(fm_sgda_rows) *tr,
    const FM_NAME(fm_sgda_rows) *va, int64_t n_rows, int64_t n_val, const fm_sgda_params *prm,
    fm_sgda_stats *stats, const int train_binary, const int val_binary)
{
    fm_visit_order order;
    fm_visit_cursor cursor;
    fm_permutation val_order;
    const int shuffle = prm->shuffle;
    const int lambda_steps = prm->lambda_steps;
    double loss_sum = 0.0, weight_sum = 0.0, val_loss_sum = 0.0, val_weight_sum = 0.0;
    int64_t steps = 0;

    fm_visit_order_init(&order, (uint64_t)n_rows, 0, prm->seed);
    fm_visit_cursor_init(&cursor);
    if (lambda_steps)
        fm_permutation_init(&val_order, (uint64_t)n_val, prm->seed ^ 0x5DA1A5DA1A5DA1A5ULL);
    for (int64_t pos = 0; pos < n_rows; pos++) {
        const int64_t row = shuffle ? (int64_t)fm_visit_row(&order, &cursor, (uint64_t)pos) : pos;
        const int64_t b = tr->indptr[row];
        const double s = tr->weight ? tr->weight[row] : 1.0;
        loss_sum += FM_NAME(fm_sgda_theta_step)(c, m, tr->indices + b,
                                                train_binary ? NULL : tr->data + b,
                                                tr->indptr[row + 1] - b, tr->y[row], s,
                                                train_binary);
        weight_sum += s;
        if (lambda_steps) {
            /* the validation rows cycle, from the first at every epoch (libFM) */
            const int64_t at = steps % n_val;
            const int64_t vrow = shuffle ? (int64_t)fm_permutation_at(&val_order, (uint64_t)at)
                                         : at;
            const int64_t vb = va->indptr[vrow];
            const double vs = va->weight ? va->weight[vrow] : 1.0;
            val_loss_sum += FM_NAME(fm_sgda_lambda_step)(c, m, va->indices + vb,
                                                         val_binary ? NULL : va->data + vb,
                                                         va->indptr[vrow + 1] - vb, va->y[vrow],
                                                         vs, 2 * steps, val_binary);
            val_weight_sum += vs;
            steps++;
        }
    }
    stats->loss_sum = loss_sum;
    stats->weight_sum = weight_sum;
    stats->n_rows = n_rows;
    stats->val_loss_sum = val_loss_sum;
    stats->val_weight_sum = val_weight_sum;
    stats->n_lambda_steps = steps;
}

static int FM_NAME(fm_sgda_epoch_impl)(fm_model *m, const fm_csr *X, const double *y,
                                       const double *sample_weight, const fm_csr *Xv,
                                       const double *yv, const double *val_weight,
                                       const fm_sgda_params *prm, fm_sgda_state *st,
                                       fm_sgda_stats *stats)
{
    FM_NAME(fm_sgda_ctx) c;
    FM_NAME(fm_sgda_rows) tr, va;
    const int k = m->n_factors;
    const int64_t G = prm->n_groups;
    const int64_t n_val = prm->lambda_steps ? Xv->n_rows : 0;
    const size_t kk = (size_t)k + 1;
    REAL *reals = (REAL *)malloc(2 * kk * sizeof(REAL));
    double *doubles = (double *)malloc((2 * kk + (size_t)G * (1 + 2 * (size_t)k)) *
                                       sizeof(double));
    int64_t *stamp = (int64_t *)malloc((size_t)G * sizeof(int64_t));
    int train_binary, val_binary;

    if (!reals || !doubles || !stamp) {
        free(reals);
        free(doubles);
        free(stamp);
        return FM_ERR_NOMEM;
    }
    for (int64_t g = 0; g < G; g++)
        stamp[g] = -1;
    c.loss = prm->loss;
    c.k = k;
    c.lr = prm->learning_rate;
    /* libFM's SGDA takes the squared loss as (p - y)^2, whose derivative is 2 (p - y) */
    c.grad_scale = prm->loss == FM_LOSS_SQUARED ? 2.0 : 1.0;
    c.reg_bias = prm->reg_bias;
    c.clip_min = prm->clip_min;
    c.clip_max = prm->clip_max;
    c.group = prm->feature_group;
    c.reg_w = st->reg_w;
    c.reg_v = st->reg_v;
    c.grad_w = (REAL *)st->grad_w;
    c.grad_V = (REAL *)st->grad_V;
    c.q = reals;
    c.s2 = reals + kk;
    c.qd = doubles;
    c.sqd = doubles + kk;
    c.acc_w = doubles + 2 * kk;
    c.sum_v = c.acc_w + G;
    c.sum_vvd = c.sum_v + G * k;
    c.stamp = stamp;

    tr.indptr = X->indptr;
    tr.indices = (const IDX *)X->indices;
    tr.data = (const REAL *)X->data;
    tr.y = y;
    tr.weight = sample_weight;
    va = tr;
    if (n_val > 0) {
        va.indptr = Xv->indptr;
        va.indices = (const IDX *)Xv->indices;
        va.data = (const REAL *)Xv->data;
        va.y = yv;
        va.weight = val_weight;
    }
    train_binary = tr.data == NULL;
    val_binary = va.data == NULL;
    if (train_binary && val_binary)
        FM_NAME(fm_sgda_loop)(&c, m, &tr, &va, X->n_rows, n_val, prm, stats, 1, 1);
    else if (train_binary)
        FM_NAME(fm_sgda_loop)(&c, m, &tr, &va, X->n_rows, n_val, prm, stats, 1, 0);
    else if (val_binary)
        FM_NAME(fm_sgda_loop)(&c, m, &tr, &va, X->n_rows, n_val, prm, stats, 0, 1);
    else
        FM_NAME(fm_sgda_loop)(&c, m, &tr, &va, X->n_rows, n_val, prm, stats, 0, 0);
    free(reals);
    free(doubles);
    free(stamp);
    if (!isfinite(stats->loss_sum + stats->val_loss_sum + m->w0))
        return FM_ERR_DIVERGED;
    return FM_OK;
}
