/*
 * The BPR epoch (fastfm.h, fm_pair_sgd_epoch), templated on REAL and IDX
 * (instantiate.h). A pair costs two row sums and one step per feature of the
 * context and of the two rows; the rows are merged by column index so that a
 * feature in both rows takes one step with its whole gradient (sorted indices:
 * fm_check_csr). Sums are kept in double, so float models lose nothing in the
 * difference of two nearly equal scores.
 */

/* Epochs with less work than this (entries x factors over all pairs) run on one
 * thread: starting a team costs more than it saves. */
#ifndef FM_PAIR_MIN_PARALLEL_WORK
#define FM_PAIR_MIN_PARALLEL_WORK (1 << 20)
#endif

typedef struct {
    const int64_t *x_ptr, *c_ptr;
    const IDX *x_idx, *c_idx;
    const REAL *x_val, *c_val;      /* NULL: all ones */
    int64_t offset;                 /* the model feature of X's column 0 */
    const fm_pairs *pairs;
    int64_t n_items;                /* X->n_rows */
    int rule, k;
    double lr, reg_w, reg_v, beta, l1;
    REAL *w, *V, *sq_w, *z_w, *sq_V;
    uint64_t draw_key;
    fm_visit_order order;
} FM_NAME(fm_pair_ctx);

/* Fills q with sum_j v_j x_j over the row and returns sum_j w_j x_j -
 * 1/2 sum_j |v_j|^2 x_j^2, the row's part of a score besides 1/2 |q|^2. */
static double FM_NAME(fm_pair_row_sums)(const FM_NAME(fm_pair_ctx) *c, const IDX *idx,
                                        const REAL *val, int64_t nnz, int64_t offset,
                                        double *q)
{
    const int k = c->k;
    double linear = 0.0, self = 0.0;
    for (int f = 0; f < k; f++)
        q[f] = 0.0;
    for (int64_t p = 0; p < nnz; p++) {
        const int64_t j = (int64_t)idx[p] + offset;
        const double x = val ? (double)val[p] : 1.0;
        const REAL *v = c->V + j * k;
        linear += (double)c->w[j] * x;
        for (int f = 0; f < k; f++) {
            const double vx = (double)v[f] * x;
            q[f] += vx;
            self += vx * vx;
        }
    }
    return linear - 0.5 * self;
}

/* The step of feature j with values xa and xb in the preferred and the other row. */
static void FM_NAME(fm_pair_step_feature)(const FM_NAME(fm_pair_ctx) *c, int64_t j, double g,
                                          double xa, double xb,
                                          const double *restrict qa,
                                          const double *restrict qb)
{
    const int k = c->k;
    const double gw = g * (xa - xb);
    REAL *restrict v = c->V + j * k;
    if (c->rule == FM_RULE_SGD) {
        c->w[j] = (REAL)((double)c->w[j] - c->lr * (gw + c->reg_w * (double)c->w[j]));
    } else if (c->rule == FM_RULE_FTRL) {
        double z = (double)c->z_w[j], n = (double)c->sq_w[j];
        const double w_new = fm_ftrl_step(gw, (double)c->w[j], &z, &n, c->lr, c->beta, c->l1,
                                          c->reg_w);
        c->z_w[j] = (REAL)z;
        c->sq_w[j] = (REAL)n;
        c->w[j] = (REAL)w_new;
    } else {
        double s = (double)c->sq_w[j];
        const double change = fm_adagrad_step(gw + c->reg_w * (double)c->w[j], &s, c->lr);
        c->sq_w[j] = (REAL)s;
        c->w[j] = (REAL)((double)c->w[j] + change);
    }
    /* the rule is fixed per epoch: one branch here, so that each loop vectorises */
    if (c->rule == FM_RULE_SGD) {
        const double lr = c->lr, reg_v = c->reg_v;
        FM_SIMD
        for (int f = 0; f < k; f++) {
            const double vf = (double)v[f];
            const double gv = g * (xa * (qa[f] - vf * xa) - xb * (qb[f] - vf * xb)) + reg_v * vf;
            v[f] = (REAL)(vf - lr * gv);
        }
    } else {
        const double lr = c->lr, reg_v = c->reg_v;
        REAL *restrict sq = c->sq_V + j * k;
        FM_SIMD
        for (int f = 0; f < k; f++) {
            const double vf = (double)v[f];
            const double gv = g * (xa * (qa[f] - vf * xa) - xb * (qb[f] - vf * xb)) + reg_v * vf;
            const double s = (double)sq[f] + gv * gv; /* fm_adagrad_step, inlined */
            sq[f] = (REAL)s;
            v[f] = (REAL)(vf - lr * gv / sqrt(s + FM_ADAGRAD_EPS));
        }
    }
}

/* A row of X drawn for a pair with preferred row `preferred` and the context's seen
 * rows (n_seen of them, increasing), from rng; -1 when *budget draws all failed. */
static int64_t FM_NAME(fm_pair_draw)(const FM_NAME(fm_pair_ctx) *c, fm_rng *rng,
                                     int64_t preferred, const int64_t *seen, int64_t n_seen,
                                     int32_t *budget)
{
    const fm_pairs *pr = c->pairs;
    const int64_t n = c->n_items;
    while (*budget > 0) {
        const double u = (double)(fm_rng_next(rng) >> 11) * 0x1.0p-53; /* in [0, 1) */
        int64_t row;
        (*budget)--;
        if (pr->draw_cdf) { /* the first row whose cdf exceeds u * total */
            const double target = u * pr->draw_cdf[n - 1];
            int64_t lo = 0, hi = n - 1;
            while (lo < hi) {
                const int64_t mid = lo + (hi - lo) / 2;
                if (pr->draw_cdf[mid] > target)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            row = lo;
        } else {
            row = (int64_t)(u * (double)n);
            if (row >= n)
                row = n - 1;
        }
        if (row == preferred)
            continue;
        if (n_seen > 0) { /* binary search of the context's increasing seen rows */
            int64_t lo = 0, hi = n_seen;
            while (lo < hi) {
                const int64_t mid = lo + (hi - lo) / 2;
                if (seen[mid] < row)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < n_seen && seen[lo] == row)
                continue;
        }
        return row;
    }
    return -1;
}

/* Pair `id`'s other row when it is drawn: of n_candidates draws (each with up to
 * max_draws tries), the one the model scores highest with the context (sums qc),
 * using q as scratch; -1 when not even one could be drawn. Draws are keyed by id. */
static int64_t FM_NAME(fm_pair_other)(const FM_NAME(fm_pair_ctx) *c, int64_t id,
                                      int64_t preferred, int64_t context,
                                      const double *qc, double *q)
{
    const fm_pairs *pr = c->pairs;
    const int64_t *seen = NULL;
    int64_t n_seen = 0, best = -1;
    double best_score = -INFINITY;
    fm_rng rng;
    rng.state = c->draw_key ^ ((uint64_t)id * 0x9E3779B97F4A7C15ULL);
    if (pr->seen_ptr && context >= 0) {
        seen = pr->seen + pr->seen_ptr[context];
        n_seen = pr->seen_ptr[context + 1] - pr->seen_ptr[context];
    }
    for (int32_t cand = 0; cand < pr->n_candidates; cand++) {
        int32_t budget = pr->max_draws;
        const int64_t row = FM_NAME(fm_pair_draw)(c, &rng, preferred, seen, n_seen, &budget);
        double score;
        if (row < 0)
            break;
        if (pr->n_candidates == 1)
            return row;
        {
            const int64_t b = c->x_ptr[row], e = c->x_ptr[row + 1];
            score = FM_NAME(fm_pair_row_sums)(c, c->x_idx + b, c->x_val ? c->x_val + b : NULL,
                                              e - b, c->offset, q);
        }
        for (int f = 0; f < c->k; f++)
            score += 0.5 * (q[f] + qc[f]) * (q[f] + qc[f]);
        if (best < 0 || score > best_score) {
            best = row;
            best_score = score;
        }
    }
    return best;
}

/* Trains the pairs at visit positions [begin, end); scratch holds 3 k doubles.
 * Returns 0, or 1 when a score difference was not finite (the range stops). */
static int FM_NAME(fm_pair_range)(const FM_NAME(fm_pair_ctx) *c, int64_t begin, int64_t end,
                                  double *scratch, fm_pair_stats *st)
{
    const fm_pairs *pr = c->pairs;
    const int k = c->k;
    double *qc = scratch, *qa = scratch + k, *qb = scratch + 2 * k;
    fm_visit_cursor cursor;
    memset(&cursor, 0, sizeof(cursor)); /* fields a seek sets; the compiler cannot tell */
    fm_visit_cursor_init(&cursor);
    for (int64_t pos = begin; pos < end; pos++) {
        const int64_t id = (int64_t)fm_visit_row(&c->order, &cursor, (uint64_t)pos);
        const int64_t a = pr->preferred[id];
        const int64_t ctx = pr->context ? pr->context[id] : -1;
        const double s = pr->weight ? pr->weight[id] : 1.0;
        int64_t b, ca = 0, cb = 0, ce = 0, pa, pb, ea, eb;
        double part_a, part_b, diff, loss, g;
        if (ctx >= 0) {
            ca = c->c_ptr[ctx];
            ce = c->c_ptr[ctx + 1];
            (void)FM_NAME(fm_pair_row_sums)(c, c->c_idx + ca, c->c_val ? c->c_val + ca : NULL,
                                            ce - ca, 0, qc);
        } else {
            for (int f = 0; f < k; f++)
                qc[f] = 0.0;
        }
        b = pr->other ? pr->other[id] : FM_NAME(fm_pair_other)(c, id, a, ctx, qc, qb);
        if (b < 0) {
            st->n_skipped++;
            continue;
        }
        pa = c->x_ptr[a];
        ea = c->x_ptr[a + 1];
        pb = c->x_ptr[b];
        eb = c->x_ptr[b + 1];
        part_a = FM_NAME(fm_pair_row_sums)(c, c->x_idx + pa, c->x_val ? c->x_val + pa : NULL,
                                           ea - pa, c->offset, qa);
        part_b = FM_NAME(fm_pair_row_sums)(c, c->x_idx + pb, c->x_val ? c->x_val + pb : NULL,
                                           eb - pb, c->offset, qb);
        /* y_a - y_b: the context's own terms cancel, its q joins both rows' */
        diff = part_a - part_b;
        for (int f = 0; f < k; f++) {
            qa[f] += qc[f];
            qb[f] += qc[f];
            diff += 0.5 * (qa[f] * qa[f] - qb[f] * qb[f]);
        }
        if (!isfinite(diff))
            return 1;
        g = s * fm_loss_grad(FM_LOSS_LOGISTIC, diff, 1.0, &loss);
        st->loss_sum += s * loss;
        st->weight_sum += s;
        st->n_pairs++;
        st->n_correct += diff > 0.0;
        /* the context's features are in both rows with the same value */
        for (int64_t p = ca; p < ce; p++) {
            const double x = c->c_val ? (double)c->c_val[p] : 1.0;
            FM_NAME(fm_pair_step_feature)(c, (int64_t)c->c_idx[p], g, x, x, qa, qb);
        }
        /* the two rows merged by column: each feature steps once */
        ca = pa;
        cb = pb;
        while (ca < ea || cb < eb) {
            const int64_t ja = ca < ea ? (int64_t)c->x_idx[ca] : INT64_MAX;
            const int64_t jb = cb < eb ? (int64_t)c->x_idx[cb] : INT64_MAX;
            double xa = 0.0, xb = 0.0;
            const int64_t j = ja < jb ? ja : jb;
            if (ja == j) {
                xa = c->x_val ? (double)c->x_val[ca] : 1.0;
                ca++;
            }
            if (jb == j) {
                xb = c->x_val ? (double)c->x_val[cb] : 1.0;
                cb++;
            }
            FM_NAME(fm_pair_step_feature)(c, j + c->offset, g, xa, xb, qa, qb);
        }
    }
    return 0;
}

static int FM_NAME(fm_pair_epoch_impl)(fm_model *model, const fm_csr *X, const fm_csr *C,
                                       const fm_pairs *pairs, const fm_sgd_params *params,
                                       fm_sgd_state *state, fm_pair_stats *stats)
{
    FM_NAME(fm_pair_ctx) c;
    const int k = model->n_factors;
    int n_threads = fm_clamp_threads(params->schedule.n_threads);
    int diverged = 0;
    double *scratch;
    double work;
    memset(&c, 0, sizeof(c));
    c.x_ptr = X->indptr;
    c.x_idx = (const IDX *)X->indices;
    c.x_val = (const REAL *)X->data;
    if (C) {
        c.c_ptr = C->indptr;
        c.c_idx = (const IDX *)C->indices;
        c.c_val = (const REAL *)C->data;
        c.offset = C->n_cols;
    }
    c.pairs = pairs;
    c.n_items = X->n_rows;
    c.rule = params->sgd.rule;
    c.k = k;
    c.lr = params->sgd.learning_rate;
    c.reg_w = params->objective.reg_linear;
    c.reg_v = params->objective.reg_factors;
    c.beta = params->sgd.ftrl_beta;
    c.l1 = params->sgd.ftrl_l1;
    c.w = (REAL *)model->w;
    c.V = (REAL *)model->V;
    if (state) {
        c.sq_w = (REAL *)state->w_sum_sq;
        c.z_w = (REAL *)state->w_z;
        c.sq_V = (REAL *)state->V_sum_sq;
    }
    {
        fm_rng rng;
        rng.state = params->schedule.seed;
        c.draw_key = fm_rng_next(&rng); /* the draws' key differs from the order's */
    }
    fm_visit_order_init(&c.order, (uint64_t)pairs->n_pairs, 0, params->schedule.seed);

    /* entries x factors of the epoch, for the choice of one thread */
    work = (double)pairs->n_pairs *
           ((double)X->indptr[X->n_rows] / (double)(X->n_rows > 0 ? X->n_rows : 1) * 2.0 +
            (C ? (double)C->indptr[C->n_rows] / (double)(C->n_rows > 0 ? C->n_rows : 1) : 0.0)) *
           (double)(k > 0 ? k : 1);
    if (work < (double)FM_PAIR_MIN_PARALLEL_WORK || pairs->n_pairs < 2 * (int64_t)n_threads)
        n_threads = 1;
    scratch = (double *)malloc((size_t)n_threads * 3 * (size_t)(k > 0 ? k : 1) * sizeof(double));
    if (!scratch)
        return FM_ERR_NOMEM;
    if (n_threads == 1) {
        diverged = FM_NAME(fm_pair_range)(&c, 0, pairs->n_pairs, scratch, stats);
    } else {
        int ran = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(| : diverged)
#endif
        {
            const int t = fm_thread_id(), team = fm_team_size();
            const int64_t begin = pairs->n_pairs * t / team;
            const int64_t end = pairs->n_pairs * (t + 1) / team;
            fm_pair_stats mine;
            memset(&mine, 0, sizeof(mine));
            diverged |= FM_NAME(fm_pair_range)(&c, begin, end,
                                                scratch + (size_t)t * 3 * (size_t)(k > 0 ? k : 1),
                                                &mine);
#ifdef _OPENMP
#pragma omp critical(fm_pair_stats_merge)
#endif
            {
                stats->loss_sum += mine.loss_sum;
                stats->weight_sum += mine.weight_sum;
                stats->n_pairs += mine.n_pairs;
                stats->n_correct += mine.n_correct;
                stats->n_skipped += mine.n_skipped;
                if (t == 0)
                    ran = team;
            }
        }
        n_threads = ran;
    }
    free(scratch);
    stats->n_threads = n_threads;
    stats->parallel_mode = n_threads > 1 ? FM_PARALLEL_HOGWILD : FM_PARALLEL_SERIAL;
    if (diverged || !isfinite(stats->loss_sum))
        return FM_ERR_DIVERGED;
    return FM_OK;
}
