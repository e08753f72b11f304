/*
 * SGD epoch (template: REAL, IDX, FM_NAME; see instantiate.h).
 *
 * Four drivers share one row loop (fm_sgd_rows):
 *  - serial: one thread, the caller's model, bit-reproducible.
 *  - hogwild: threads update the shared w and V without locks. w0 is the one
 *    parameter every row writes, so each thread keeps a private w0 and folds
 *    its change into the shared one every FM_W0_SYNC rows: otherwise the
 *    cores would trade w0's cache line on every sample.
 *  - replicas: each thread trains a private copy of w and V and the copies
 *    are merged every sync_every rows. On small or skewed models (click logs:
 *    a few hot features in almost every row) shared updates make the hot rows
 *    bounce between caches and two threads run slower than one; private
 *    copies remove the sharing and the merge costs O(n_features k) per round.
 *  - hybrid: for models too large to copy, each thread copies only the hot
 *    features (hotset.h: found by sampling rows each epoch) and updates the
 *    long tail in the shared model, hogwild style; the copies are merged like
 *    the replicas. On a 1.2M-feature skewed model this is what lets a second
 *    thread help (bench/bench_core.py).
 *
 * Visit order: position p of the epoch trains row order(p), a seeded random
 * permutation of the rows, whole or block by block (permutation.h); thread t
 * owns a contiguous range of positions.
 * Rows are therefore scattered through memory (within a block, with blocks),
 * and each costs a few cache misses (row pointer, target, entries,
 * parameters) that depend on each other. The loop prefetches them in stages, each far enough ahead to cover
 * a miss to memory, so that the misses of several rows overlap.
 */

#ifndef FM_PF_ROW
#define FM_PF_ROW 16     /* rows ahead: row pointer, target and weight */
#define FM_PF_ENTRIES 8  /* rows ahead: the row's indices and values */
#define FM_PF_PARAMS 4   /* rows ahead: the w and V entries the row names */
#endif
#define FM_RING 64       /* > FM_PF_ROW, a power of 2 */
#define FM_MIN_SYNC_ROWS 8192 /* replicas: fewest rows per thread between merges */
#ifndef FM_W0_SYNC
#define FM_W0_SYNC 256 /* hogwild: rows between folds of the private w0 (-D to measure others) */
#endif
/* rows a thread claims at a time (parallel.h fm_claim_chunk): large enough that
 * restarting the prefetch pipeline costs nothing, small enough that a slowed
 * thread holds the others up by a fraction of a millisecond */
#define FM_HOGWILD_CHUNK ((int64_t)16 * FM_W0_SYNC)
#define FM_REPLICA_CHUNK ((int64_t)1024)

typedef struct {
    const int64_t *indptr;
    const IDX *indices;
    const REAL *data;       /* NULL: all values are 1 */
    const double *y;
    const double *sample_weight;
    fm_visit_order order;   /* permutation.h */
    int loss;
    int prefetch_params;    /* 0 when the model fits in cache: the prefetches would be pure overhead */
    int rule;               /* fm_step_rule */
    double lr, reg_bias, reg_linear, reg_factors, clip_min, clip_max;
    double ftrl_beta, ftrl_l1;
    fm_sgd_state *state;    /* the adaptive rules' shared state; NULL for FM_RULE_SGD */
} FM_NAME(fm_sgd_ctx);

/* Arrays of the adaptive rules' state (each NULL when unused): the shared
 * ones, or the replicas' copies (replica t's slot s at t * stride + s). */
typedef struct {
    REAL *sum_sq_w, *z_w, *sum_sq_V;
} FM_NAME(fm_state_arrays);

/* One thread's view: the parameters it writes and the rows coming up. */
typedef struct {
    double w0;
    REAL *w;
    REAL *V;
    uint32_t *touches;      /* replicas: how often each feature was updated this round */
    REAL *q, *s2;           /* k scratch entries each */
    FM_NAME(fm_hot) hot;    /* hybrid: this thread's copies of the hot features */
    int64_t range_end;      /* the end of this thread's positions */
    int64_t ring[FM_RING];  /* row of position p at ring[p % FM_RING], computed ahead */
    fm_visit_cursor cursor; /* walks the visit order for fm_schedule_row */
    FM_NAME(fm_adaptive) adapt; /* the adaptive rules: step constants and the state it writes */
    double w0_sum_sq, w0_z;     /* the adaptive rules' state of w0 */
    double loss_sum, weight_sum;
    int64_t n_rows;
} FM_NAME(fm_sgd_worker);

static FM_INLINE void FM_NAME(fm_prefetch_params)(const FM_NAME(fm_sgd_ctx) *c,
                                                  const FM_NAME(fm_sgd_worker) *wk,
                                                  int64_t row, const int k, const int hybrid,
                                                  const int adaptive)
{
    /* locals: nothing in this loop writes memory, but the compiler cannot tell
     * that the worker's pointers stay put across the prefetches */
    const IDX *const indices = c->indices;
    REAL *const w = wk->w, *const V = wk->V;
    REAL *const sum_sq_w = wk->adapt.sum_sq_w, *const z_w = wk->adapt.z_w;
    REAL *const sum_sq_V = wk->adapt.sum_sq_V;
    const size_t bytes = (size_t)k * sizeof(REAL); /* k is a constant at the hot calls */
    const int64_t b = (int64_t)c->indptr[row], e = (int64_t)c->indptr[row + 1];
    FM_UNROLL4
    for (int64_t p = b; p < e; p++) {
        const int64_t j = (int64_t)indices[p];
        const char *v = (const char *)(V + j * k);
        if (hybrid) {
            /* read intent: a write prefetch of a hot feature's shared row
             * would pull its line away from the other cores */
            FM_PREFETCH_READ(w + j);
            FM_PREFETCH_READ(v);
            FM_PREFETCH_READ(v + bytes - 1);
            continue;
        }
        FM_PREFETCH_WRITE(w + j);
        for (size_t off = 0; off < bytes; off += 64)
            FM_PREFETCH_WRITE(v + off);
        FM_PREFETCH_WRITE(v + bytes - 1); /* the row may straddle one more line */
        if (adaptive && sum_sq_V) {
            /* the adaptive rules read and write the state beside each parameter: as
             * large as w and V, and as scattered */
            const char *sv = (const char *)(sum_sq_V + j * k);
            FM_PREFETCH_WRITE(sum_sq_w + j);
            if (z_w)
                FM_PREFETCH_WRITE(z_w + j);
            for (size_t off = 0; off < bytes; off += 64)
                FM_PREFETCH_WRITE(sv + off);
            FM_PREFETCH_WRITE(sv + bytes - 1);
        }
    }
}

/* Computes the row of position p into the ring and prefetches what its
 * first stage needs. */
static FM_INLINE void FM_NAME(fm_schedule_row)(const FM_NAME(fm_sgd_ctx) *c,
                                               FM_NAME(fm_sgd_worker) *wk, int64_t p)
{
    if (p < wk->range_end) {
        const int64_t r = (int64_t)fm_visit_row(&c->order, &wk->cursor, (uint64_t)p);
        wk->ring[p & (FM_RING - 1)] = r;
        FM_PREFETCH_READ(c->indptr + r);
        FM_PREFETCH_READ(c->y + r);
        if (c->sample_weight)
            FM_PREFETCH_READ(c->sample_weight + r);
    }
}

/* Trains on positions [begin, end) of the worker's range; positions
 * [begin, begin + FM_PF_ROW) must already be scheduled. The worker's and the
 * context's hot fields are copied to locals: stores into V could otherwise
 * alias them (for double models), forcing a reload and a store every row. */
static FM_INLINE void FM_NAME(fm_sgd_rows)(const FM_NAME(fm_sgd_ctx) *c,
                                           FM_NAME(fm_sgd_worker) *wk,
                                           int64_t begin, int64_t end, const int k,
                                           const int binary, const int hybrid, const int rule)
{
    const int64_t range_end = wk->range_end;
    const FM_NAME(fm_hot) *hot = &wk->hot;
    const int64_t *const indptr = c->indptr;
    const IDX *const indices = c->indices;
    const REAL *const data = c->data;
    const double *const y = c->y;
    const double *const sample_weight = c->sample_weight;
    const int loss_type = c->loss;
    const int prefetch_params = c->prefetch_params;
    const double lr = c->lr, reg_bias = c->reg_bias, reg_linear = c->reg_linear;
    const double reg_factors = c->reg_factors, clip_min = c->clip_min, clip_max = c->clip_max;
    REAL *const w = wk->w;
    REAL *const V = wk->V;
    uint32_t *const touches = wk->touches;
    double w0 = wk->w0, loss_sum = wk->loss_sum, weight_sum = wk->weight_sum;
    double w0_sum_sq = wk->w0_sum_sq, w0_z = wk->w0_z;
    const double ftrl_beta = c->ftrl_beta;
#ifdef FM_HAVE_VEC
    /* explicit vectors when k allows; k is a constant here, so the test folds */
    const int use_vec = k % FM_VW == 0 && k <= FM_K_STACK;
    FM_NAME(fm_vec) qv[FM_K_STACK / FM_VW];
#else
    const int use_vec = 0;
#endif
    for (int64_t pos = begin; pos < end; pos++) {
        FM_NAME(fm_schedule_row)(c, wk, pos + FM_PF_ROW);
        if (pos + FM_PF_ENTRIES < range_end) {
            const int64_t b = (int64_t)indptr[wk->ring[(pos + FM_PF_ENTRIES) & (FM_RING - 1)]];
            FM_PREFETCH_READ(indices + b);
            if (!binary)
                FM_PREFETCH_READ(data + b);
        }
        if (prefetch_params && pos + FM_PF_PARAMS < range_end)
            FM_NAME(fm_prefetch_params)(c, wk, wk->ring[(pos + FM_PF_PARAMS) & (FM_RING - 1)], k,
                                        hybrid, rule != FM_RULE_SGD);
        {
            const int64_t row = wk->ring[pos & (FM_RING - 1)];
            const int64_t b = (int64_t)indptr[row];
            const int64_t nnz = (int64_t)indptr[row + 1] - b;
            const IDX *idx = indices + b;
            const REAL *val = binary ? NULL : data + b;
            const double sw = sample_weight ? sample_weight[row] : 1.0;
            double loss, p, g;

#ifdef FM_HAVE_VEC
            if (use_vec)
                p = FM_NAME(fm_predict_row_vec)(w0, w, V, k, idx, val, nnz, qv, binary, hot, hybrid);
            else
#endif
                p = FM_NAME(fm_predict_row)(w0, w, V, k, idx, val, nnz, wk->q, wk->s2, binary,
                                            hot, hybrid);
            if (loss_type == FM_LOSS_SQUARED)
                p = p < clip_min ? clip_min : (p > clip_max ? clip_max : p);
            g = sw * fm_loss_grad(loss_type, p, y[row], &loss);
            loss_sum += sw * loss;
            weight_sum += sw;

            if (rule == FM_RULE_SGD) {
                w0 -= lr * (g + reg_bias * w0);
#ifdef FM_HAVE_VEC
                if (use_vec)
                    FM_NAME(fm_sgd_update_row_vec)(g, lr, reg_linear, reg_factors, w, V, k, idx,
                                                   val, nnz, qv, binary, hot, hybrid);
                else
#endif
                    FM_NAME(fm_sgd_update_row)(g, lr, reg_linear, reg_factors, w, V, k, idx,
                                               val, nnz, wk->q, binary, hot, hybrid);
            } else {
                if (rule == FM_RULE_FTRL)
                    w0 = fm_ftrl_step(g, w0, &w0_z, &w0_sum_sq, lr, ftrl_beta, 0.0, reg_bias);
                else
                    w0 += fm_adagrad_step(g + reg_bias * w0, &w0_sum_sq, lr);
#ifdef FM_HAVE_VEC
                if (use_vec)
                    memcpy(wk->q, qv, (size_t)k * sizeof(REAL));
#endif
                FM_NAME(fm_adaptive_update_row)(g, &wk->adapt, rule, w, V, k, idx, val, nnz,
                                                wk->q, binary, hot, hybrid);
            }
            if (touches)
                for (int64_t t = 0; t < nnz; t++)
                    touches[idx[t]]++;
        }
    }
    wk->w0 = w0;
    wk->w0_sum_sq = w0_sum_sq;
    wk->w0_z = w0_z;
    wk->loss_sum = loss_sum;
    wk->weight_sum = weight_sum;
    wk->n_rows += end > begin ? end - begin : 0;
}

#define FM_ROWS_K(binary)                                                          \
    switch (k) {                                                                   \
    case 4: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 4, binary, 0, 0); break;       \
    case 8: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 8, binary, 0, 0); break;       \
    case 16: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 16, binary, 0, 0); break;     \
    case 32: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 32, binary, 0, 0); break;     \
    case 64: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 64, binary, 0, 0); break;     \
    default: FM_NAME(fm_sgd_rows)(c, wk, begin, end, k, binary, 0, 0); break;      \
    }

/* hybrid mode exists for wide models; fewer k get their own copy of the loop */
#define FM_ROWS_K_HYBRID(binary)                                                   \
    switch (k) {                                                                   \
    case 8: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 8, binary, 1, 0); break;       \
    case 16: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 16, binary, 1, 0); break;     \
    case 32: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 32, binary, 1, 0); break;     \
    default: FM_NAME(fm_sgd_rows)(c, wk, begin, end, k, binary, 1, 0); break;      \
    }

/* the adaptive rules: their own copies for the commonest k */
#define FM_ROWS_K_ADAPTIVE(binary, hybrid, rule)                                   \
    switch (k) {                                                                   \
    case 8: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 8, binary, hybrid, rule); break;   \
    case 16: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 16, binary, hybrid, rule); break; \
    case 32: FM_NAME(fm_sgd_rows)(c, wk, begin, end, 32, binary, hybrid, rule); break; \
    default: FM_NAME(fm_sgd_rows)(c, wk, begin, end, k, binary, hybrid, rule); break;  \
    }

#define FM_ROWS_ADAPTIVE(rule)                                                     \
    if (wk->hot.bitmap) {                                                          \
        if (c->data) {                                                             \
            FM_ROWS_K_ADAPTIVE(0, 1, rule)                                         \
        } else {                                                                   \
            FM_ROWS_K_ADAPTIVE(1, 1, rule)                                         \
        }                                                                          \
    } else if (c->data) {                                                          \
        FM_ROWS_K_ADAPTIVE(0, 0, rule)                                             \
    } else {                                                                       \
        FM_ROWS_K_ADAPTIVE(1, 0, rule)                                             \
    }

/* The row loop with k, the value layout, the parameter location and the step
 * rule fixed at compile time for the common cases. */
static void FM_NAME(fm_sgd_rows_k)(const FM_NAME(fm_sgd_ctx) *c, FM_NAME(fm_sgd_worker) *wk,
                                   int64_t begin, int64_t end, int k)
{
    if (c->rule == FM_RULE_ADAGRAD) {
        FM_ROWS_ADAPTIVE(FM_RULE_ADAGRAD)
    } else if (c->rule == FM_RULE_FTRL) {
        FM_ROWS_ADAPTIVE(FM_RULE_FTRL)
    } else if (wk->hot.bitmap) {
        if (c->data) {
            FM_ROWS_K_HYBRID(0)
        } else {
            FM_ROWS_K_HYBRID(1)
        }
    } else if (c->data) {
        FM_ROWS_K(0)
    } else {
        FM_ROWS_K(1)
    }
}
#undef FM_ROWS_K
#undef FM_ROWS_K_HYBRID
#undef FM_ROWS_K_ADAPTIVE
#undef FM_ROWS_ADAPTIVE

/* The shared state arrays of the adaptive rules (all NULL for plain SGD). */
static FM_NAME(fm_state_arrays) FM_NAME(fm_shared_state)(const FM_NAME(fm_sgd_ctx) *c)
{
    FM_NAME(fm_state_arrays) a = {NULL, NULL, NULL};
    if (c->state) {
        a.sum_sq_w = (REAL *)c->state->w_sum_sq;
        a.z_w = (REAL *)c->state->w_z;
        a.sum_sq_V = (REAL *)c->state->V_sum_sq;
    }
    return a;
}

/* Points a worker at positions [begin, end) (a claimed chunk) and schedules
 * the first rows of its prefetch pipeline. */
static void FM_NAME(fm_worker_range)(const FM_NAME(fm_sgd_ctx) *c, FM_NAME(fm_sgd_worker) *wk,
                                     int64_t begin, int64_t end)
{
    wk->range_end = end;
    for (int64_t p = begin; p < begin + FM_PF_ROW; p++)
        FM_NAME(fm_schedule_row)(c, wk, p);
}

/* A worker over positions [range_begin, range_end) that writes w0, w, V and
 * the state arrays st (of w0: w0_sum_sq, w0_z). */
static void FM_NAME(fm_worker_init)(const FM_NAME(fm_sgd_ctx) *c, FM_NAME(fm_sgd_worker) *wk,
                                    int64_t range_begin, int64_t range_end, double w0,
                                    REAL *w, REAL *V, uint32_t *touches, REAL *scratch, int k,
                                    FM_NAME(fm_state_arrays) st, double w0_sum_sq, double w0_z)
{
    memset(wk, 0, sizeof(*wk));
    wk->adapt.lr = c->lr;
    wk->adapt.reg_w = c->reg_linear;
    wk->adapt.reg_v = c->reg_factors;
    wk->adapt.beta = c->ftrl_beta;
    wk->adapt.l1 = c->ftrl_l1;
    wk->adapt.sum_sq_w = st.sum_sq_w;
    wk->adapt.z_w = st.z_w;
    wk->adapt.sum_sq_V = st.sum_sq_V;
    wk->w0_sum_sq = w0_sum_sq;
    wk->w0_z = w0_z;
    wk->w0 = w0;
    wk->w = w;
    wk->V = V;
    wk->touches = touches;
    wk->q = scratch;
    wk->s2 = scratch + k + 1;
    fm_visit_cursor_init(&wk->cursor);
    FM_NAME(fm_worker_range)(c, wk, range_begin, range_end);
}

/* Merges slots [f_begin, f_end) of n_rep replicas into the shared model and
 * copies the result back into every replica. Slot s holds feature ids[s]
 * (ids NULL: slot s is feature s); replica t's slot s is at t * n_slots + s.
 *
 * How much of each replica's change to keep: if every update moves a
 * parameter a fraction `a` (about lr times the loss curvature) of the way to
 * its target, c updates move it 1 - (1 - a)^c of the way. The merged change
 * should move it as far as the N = sum_t c_t updates of a serial pass would,
 * so replica t's change gets the weight
 *     beta_t = (c_t / N) (1 - (1 - a)^N) / (1 - (1 - a)^c_t).
 * For a feature each thread saw rarely this is about 1 (the changes add up,
 * as in serial SGD); for a hot feature each thread has already moved most of
 * the way and it tends to 1/T (the changes are averaged: adding them would
 * overshoot). log_keep = log(1 - a) with a = step, capped at 1/2, for plain SGD.
 * Under AdaGrad and FTRL an update moves a coordinate step / sqrt(G) of the way
 * (step / (beta + sqrt(n))), G its sum of squared gradients: a shrinks as the
 * fit goes on, and taking it as step averaged changes that should add up. With a
 * = step, 2 replicas trained like one thread at half the learning rate (planted
 * 200k rows, AdaGrad: epoch 6's loss was one thread's of epoch 3-4). So a is
 * computed per feature there, from its w's G halfway through the round (V's
 * coordinates follow their feature's). acc is scratch of k entries. */
static void FM_NAME(fm_merge_replicas)(REAL *w, REAL *V, const int k, REAL *rep_w, REAL *rep_V,
                                       uint32_t *touches, int n_rep, int64_t n_slots,
                                       const int64_t *ids, int64_t f_begin, int64_t f_end,
                                       double step, double log_keep, REAL *acc,
                                       const FM_NAME(fm_sgd_ctx) *ctx,
                                       FM_NAME(fm_state_arrays) base,
                                       FM_NAME(fm_state_arrays) rep)
{
    const int64_t n_features = n_slots; /* the stride between replicas */
    for (int64_t slot = f_begin; slot < f_end; slot++) {
        const int64_t j = ids ? ids[slot] : slot;
        double total = 0.0, moved_total = 0.0;
        double acc_w = 0.0, acc_z = 0.0;
        int n_touching = 0;
        REAL *base_v = V + j * k;
        for (int t = 0; t < n_rep; t++) {
            const uint32_t c = touches[t * n_features + slot];
            total += (double)c;
            n_touching += c > 0;
        }
        if (total == 0.0)
            continue;
        if (n_touching > 1 && rep.sum_sq_w) {
            double sum_sq_added = 0.0, a;
            for (int t = 0; t < n_rep; t++) {
                const int64_t at = t * n_features + slot;
                if (touches[at])
                    sum_sq_added += (double)rep.sum_sq_w[at] - (double)base.sum_sq_w[j];
            }
            {
                const double g_mid = (double)base.sum_sq_w[j] + 0.5 * sum_sq_added;
                a = step / (rep.z_w ? ctx->ftrl_beta + sqrt(g_mid) : sqrt(g_mid + FM_ADAGRAD_EPS));
            }
            log_keep = log1p(-(a < 0.5 ? a : 0.5));
        }
        if (n_touching > 1)
            moved_total = -expm1(total * log_keep);
        for (int f = 0; f < k; f++)
            acc[f] = 0;
        for (int t = 0; t < n_rep; t++) {
            const int64_t at = t * n_features + slot;
            if (touches[at] == 0)
                continue;
            {
                /* a feature one thread alone touched keeps that thread's change */
                const double c = (double)touches[at];
                const double moved_t = n_touching > 1 ? -expm1(c * log_keep) : 0.0;
                const double share = moved_t > 0.0 ? (c / total) * moved_total / moved_t : 1.0;
                const REAL share_r = (REAL)share;
                const REAL *rv = rep_V + at * k;
                acc_w += share * ((double)rep_w[at] - (double)w[j]);
                if (rep.z_w)
                    acc_z += share * ((double)rep.z_w[at] - (double)base.z_w[j]);
                for (int f = 0; f < k; f++)
                    acc[f] += share_r * (rv[f] - base_v[f]);
            }
        }
        w[j] = (REAL)((double)w[j] + acc_w);
        for (int f = 0; f < k; f++)
            base_v[f] += acc[f];
        if (rep.sum_sq_w) {
            /* the sums of squared gradients add up, as over the rows of a serial pass;
             * FTRL's z then follows the merged weight */
            REAL *base_sq_v = base.sum_sq_V + j * k;
            double sum_sq = (double)base.sum_sq_w[j];
            for (int f = 0; f < k; f++)
                acc[f] = 0;
            for (int t = 0; t < n_rep; t++) {
                const int64_t at = t * n_features + slot;
                const REAL *rs = rep.sum_sq_V + at * k;
                if (touches[at] == 0)
                    continue;
                sum_sq += (double)rep.sum_sq_w[at] - (double)base.sum_sq_w[j];
                for (int f = 0; f < k; f++)
                    acc[f] += rs[f] - base_sq_v[f];
            }
            base.sum_sq_w[j] = (REAL)sum_sq;
            for (int f = 0; f < k; f++)
                base_sq_v[f] += acc[f];
            if (rep.z_w)
                base.z_w[j] = (REAL)fm_ftrl_z_for((double)w[j], (double)base.z_w[j] + acc_z,
                                                  sum_sq, ctx->lr, ctx->ftrl_beta,
                                                  ctx->ftrl_l1, ctx->reg_linear);
            for (int t = 0; t < n_rep; t++) {
                const int64_t at = t * n_features + slot;
                rep.sum_sq_w[at] = base.sum_sq_w[j];
                memcpy(rep.sum_sq_V + at * k, base_sq_v, (size_t)k * sizeof(REAL));
                if (rep.z_w)
                    rep.z_w[at] = base.z_w[j];
            }
        }
        for (int t = 0; t < n_rep; t++) {
            const int64_t at = t * n_features + slot;
            rep_w[at] = w[j];
            memcpy(rep_V + at * k, base_v, (size_t)k * sizeof(REAL));
            touches[at] = 0;
        }
    }
}

/* The share [lo, hi) of n items (positions or features) that thread t of n_threads owns. */
static FM_INLINE void FM_NAME(fm_block)(int64_t n, int t, int n_threads, int64_t *lo, int64_t *hi)
{
    *lo = n * t / n_threads;
    *hi = n * (t + 1) / n_threads;
}

static int FM_NAME(fm_sgd_serial)(fm_model *m, const FM_NAME(fm_sgd_ctx) *c, int64_t n_rows,
                                  fm_epoch_stats *stats)
{
    const int k = m->n_factors;
    FM_NAME(fm_sgd_worker) wk;
    REAL *scratch = (REAL *)malloc(2 * ((size_t)k + 1) * sizeof(REAL));
    if (!scratch)
        return FM_ERR_NOMEM;
    FM_NAME(fm_worker_init)(c, &wk, 0, n_rows, m->w0, (REAL *)m->w, (REAL *)m->V,
                            NULL, scratch, k, FM_NAME(fm_shared_state)(c),
                            c->state ? c->state->w0_sum_sq : 0.0, c->state ? c->state->w0_z : 0.0);
    FM_NAME(fm_sgd_rows_k)(c, &wk, 0, n_rows, k);
    m->w0 = wk.w0;
    if (c->state) {
        c->state->w0_sum_sq = wk.w0_sum_sq;
        c->state->w0_z = wk.w0_z;
    }
    stats->loss_sum = wk.loss_sum;
    stats->weight_sum = wk.weight_sum;
    stats->n_rows = wk.n_rows;
    free(scratch);
    return FM_OK;
}

static int FM_NAME(fm_sgd_hogwild)(fm_model *m, const FM_NAME(fm_sgd_ctx) *c, int64_t n_rows,
                                   int n_threads, fm_epoch_stats *stats)
{
    const int k = m->n_factors;
    /* w0 and its adaptive state, folded by the threads (w0_fold.h) */
    fm_w0_copy shared;
    double loss_sum = 0.0, weight_sum = 0.0;
    int64_t rows = 0, next_position = 0; /* the team's chunk counter */
    int failed = 0;
    (void)n_threads; /* unused in a serial build */
    shared.w0 = m->w0;
    shared.sum_sq = c->state ? c->state->w0_sum_sq : 0.0;
    shared.z = c->state ? c->state->w0_z : 0.0;

#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(+ : loss_sum, weight_sum, rows) reduction(| : failed)
#endif
    {
        int64_t lo = 0, hi = 0;
        REAL *scratch = (REAL *)malloc(2 * ((size_t)k + 1) * sizeof(REAL));
        if (!scratch) {
            failed = 1;
        } else {
            FM_NAME(fm_sgd_worker) wk;
            fm_w0_copy synced = fm_w0_read(&shared), mine;
            FM_NAME(fm_worker_init)(c, &wk, 0, 0, synced.w0, (REAL *)m->w, (REAL *)m->V,
                                    NULL, scratch, k, FM_NAME(fm_shared_state)(c),
                                    synced.sum_sq, synced.z);
            while (fm_claim_chunk(&next_position, FM_HOGWILD_CHUNK, n_rows, &lo, &hi)) {
                FM_NAME(fm_worker_range)(c, &wk, lo, hi);
                for (int64_t pos = lo; pos < hi; pos += FM_W0_SYNC) {
                    const int64_t end = pos + FM_W0_SYNC < hi ? pos + FM_W0_SYNC : hi;
                    FM_NAME(fm_sgd_rows_k)(c, &wk, pos, end, k);
                    mine.w0 = wk.w0;
                    mine.sum_sq = wk.w0_sum_sq;
                    mine.z = wk.w0_z;
                    fm_w0_fold(&shared, &mine, &synced, c->rule == FM_RULE_FTRL, c->lr,
                               c->ftrl_beta, c->reg_bias);
                    wk.w0 = mine.w0;
                    wk.w0_sum_sq = mine.sum_sq;
                    wk.w0_z = mine.z;
                }
            }
            loss_sum += wk.loss_sum;
            weight_sum += wk.weight_sum;
            rows += wk.n_rows;
            free(scratch);
        }
    }
    if (failed)
        return FM_ERR_NOMEM;
    m->w0 = shared.w0;
    if (c->state) {
        c->state->w0_sum_sq = shared.sum_sq;
        c->state->w0_z = c->rule == FM_RULE_FTRL
                             ? fm_ftrl_z_for(shared.w0, shared.z, shared.sum_sq, c->lr,
                                             c->ftrl_beta, 0.0, c->reg_bias)
                             : shared.z;
    }
    stats->loss_sum = loss_sum;
    stats->weight_sum = weight_sum;
    stats->n_rows = rows;
    return FM_OK;
}

/* The replicas driver (hs NULL: every thread copies the whole model) and the
 * hybrid one (hs: threads copy the hot features only and update the rest of
 * the shared model in place, hogwild style). Either way each thread trains
 * sync_every rows of its block, then all merge their copies (a barrier). The
 * adaptive rules' state is copied and merged with the parameters it belongs to. */
static int FM_NAME(fm_sgd_replicas)(fm_model *m, const FM_NAME(fm_sgd_ctx) *c, int64_t n_rows,
                                    int n_threads, int64_t sync_every, const fm_hotset *hs,
                                    fm_epoch_stats *stats)
{
    const int k = m->n_factors;
    const int64_t nf = hs ? hs->n_hot : m->n_features; /* slots per replica */
    /* Each replica's slots start on a cache line of their own, with a line to spare
     * after them: hybrid copies only a few hundred hot features (or a dozen), and
     * replicas packed end to end then shared the lines of the hottest w, touches
     * and state entries, which every row writes, between the cores. */
    const int64_t stride = (nf + 15) / 16 * 16 + 16;
    const size_t n_slots = (size_t)n_threads * (size_t)stride;
    REAL *const w = (REAL *)m->w;
    REAL *const V = (REAL *)m->V;
    const FM_NAME(fm_state_arrays) shared = FM_NAME(fm_shared_state)(c);
    REAL *rep_w = (REAL *)fm_alloc_large(n_slots * sizeof(REAL));
    REAL *rep_V = (REAL *)fm_alloc_large(n_slots * (size_t)k * sizeof(REAL));
    uint32_t *touches = (uint32_t *)fm_alloc_large(n_slots * sizeof(uint32_t));
    FM_NAME(fm_state_arrays) rep = {NULL, NULL, NULL};
    double *w0_of = (double *)calloc(3 * (size_t)n_threads, sizeof(double));
    int64_t *rows_of = (int64_t *)calloc((size_t)n_threads, sizeof(int64_t));
    /* rounds of n_threads sync_every positions, each with its chunk counter */
    const int64_t round_rows = (int64_t)n_threads * sync_every;
    const int64_t n_rounds = (n_rows + round_rows - 1) / round_rows;
    int64_t *round_next = (int64_t *)malloc((size_t)(n_rounds > 0 ? n_rounds : 1) * sizeof(int64_t));
    double loss_sum = 0.0, weight_sum = 0.0;
    int64_t rows = 0;
    double w0 = m->w0;
    double w0_sq = c->state ? c->state->w0_sum_sq : 0.0, w0_z = c->state ? c->state->w0_z : 0.0;
    int failed = 0, status = FM_OK;
    /* the fraction of the way to its target one update moves a parameter:
     * lr times the loss curvature (1 squared, at most 1/4 logistic); the
     * adaptive rules scale it per feature (fm_merge_replicas) and for w0 */
    const double step = c->lr * (c->loss == FM_LOSS_LOGISTIC ? 0.25 : 1.0);
    const double log_keep = log1p(-(step < 0.5 ? step : 0.5));

    if (shared.sum_sq_w) {
        rep.sum_sq_w = (REAL *)fm_alloc_large(n_slots * sizeof(REAL));
        rep.sum_sq_V = (REAL *)fm_alloc_large(n_slots * (size_t)k * sizeof(REAL));
        if (shared.z_w)
            rep.z_w = (REAL *)fm_alloc_large(n_slots * sizeof(REAL));
        if (!rep.sum_sq_w || !rep.sum_sq_V || (shared.z_w && !rep.z_w)) {
            status = FM_ERR_NOMEM;
            goto done;
        }
    }
    if (!rep_w || !rep_V || !touches || !w0_of || !rows_of || !round_next) {
        status = FM_ERR_NOMEM;
        goto done;
    }
    for (int64_t r = 0; r < n_rounds; r++)
        round_next[r] = r * round_rows;
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(+ : loss_sum, weight_sum, rows) reduction(| : failed)
#endif
    {
        const int t = fm_thread_id(), team = fm_team_size();
        int64_t f_lo, f_hi;
        REAL *scratch = (REAL *)malloc(3 * ((size_t)k + 1) * sizeof(REAL));
        const size_t at0 = (size_t)t * (size_t)stride;
        REAL *my_w = rep_w + at0;
        REAL *my_V = rep_V + at0 * (size_t)k;
        FM_NAME(fm_state_arrays) mine = {NULL, NULL, NULL};
        FM_NAME(fm_sgd_worker) wk;

        if (rep.sum_sq_w) {
            mine.sum_sq_w = rep.sum_sq_w + at0;
            mine.sum_sq_V = rep.sum_sq_V + at0 * (size_t)k;
            mine.z_w = rep.z_w ? rep.z_w + at0 : NULL;
        }
        FM_NAME(fm_block)(nf, t, team, &f_lo, &f_hi);
        if (!scratch)
            failed = 1;
        /* the first touch of each replica happens on its own thread */
        memset(touches + at0, 0, (size_t)nf * sizeof(uint32_t));
        if (hs) {
            for (int64_t slot = 0; slot < nf; slot++) {
                const int64_t j = hs->ids[slot];
                my_w[slot] = w[j];
                memcpy(my_V + slot * k, V + j * k, (size_t)k * sizeof(REAL));
                if (mine.sum_sq_w) {
                    mine.sum_sq_w[slot] = shared.sum_sq_w[j];
                    memcpy(mine.sum_sq_V + slot * k, shared.sum_sq_V + j * k,
                           (size_t)k * sizeof(REAL));
                    if (mine.z_w)
                        mine.z_w[slot] = shared.z_w[j];
                }
            }
            /* the cold features' state is shared, the hot ones' copied */
            FM_NAME(fm_worker_init)(c, &wk, 0, 0, w0, w, V, NULL, scratch, k, shared, w0_sq,
                                    w0_z);
            wk.hot.bitmap = hs->bitmap;
            wk.hot.keys = hs->keys;
            wk.hot.slots = hs->slots;
            wk.hot.mask = hs->mask;
            wk.hot.w = my_w;
            wk.hot.V = my_V;
            wk.hot.touches = touches + at0;
            wk.hot.sum_sq_w = mine.sum_sq_w;
            wk.hot.z_w = mine.z_w;
            wk.hot.sum_sq_V = mine.sum_sq_V;
        } else {
            memcpy(my_w, w, (size_t)nf * sizeof(REAL));
            memcpy(my_V, V, (size_t)nf * (size_t)k * sizeof(REAL));
            if (mine.sum_sq_w) {
                memcpy(mine.sum_sq_w, shared.sum_sq_w, (size_t)nf * sizeof(REAL));
                memcpy(mine.sum_sq_V, shared.sum_sq_V, (size_t)nf * (size_t)k * sizeof(REAL));
                if (mine.z_w)
                    memcpy(mine.z_w, shared.z_w, (size_t)nf * sizeof(REAL));
            }
            FM_NAME(fm_worker_init)(c, &wk, 0, 0, w0, my_w, my_V, touches + at0, scratch, k,
                                    mine, w0_sq, w0_z);
        }
#ifdef _OPENMP
#pragma omp barrier
#endif
        for (int64_t r = 0; r < n_rounds; r++) {
            /* round r: positions [r R, (r + 1) R), R = n_threads sync_every, claimed
             * in chunks by whichever thread is free */
            const int64_t round_end = (r + 1) * round_rows < n_rows ? (r + 1) * round_rows
                                                                     : n_rows;
            int64_t b, e, trained = 0;
            while (scratch && fm_claim_chunk(&round_next[r], FM_REPLICA_CHUNK, round_end, &b, &e)) {
                FM_NAME(fm_worker_range)(c, &wk, b, e);
                FM_NAME(fm_sgd_rows_k)(c, &wk, b, e, k);
                trained += e - b;
            }
            w0_of[3 * t] = wk.w0;
            w0_of[3 * t + 1] = wk.w0_sum_sq;
            w0_of[3 * t + 2] = wk.w0_z;
            rows_of[t] = trained;
#ifdef _OPENMP
#pragma omp barrier
#endif
            if (scratch)
                FM_NAME(fm_merge_replicas)(w, V, k, rep_w, rep_V, touches, team, stride,
                                           hs ? hs->ids : NULL, f_lo, f_hi, step, log_keep,
                                           scratch + 2 * (k + 1), c, shared, rep);
            if (t == 0) {
                /* every row writes w0, so weight each thread by its rows; its sum
                 * of squares adds up, and FTRL's z follows the merged w0 */
                double change = 0.0, sq_change = 0.0, w0_keep = log_keep, moved_all;
                int64_t seen = 0;
                for (int u = 0; u < team; u++) {
                    sq_change += w0_of[3 * u + 1] - w0_sq;
                    seen += rows_of[u];
                }
                if (c->state) {
                    /* as for a feature in fm_merge_replicas: w0's step shrinks with its G */
                    const double g_mid = w0_sq + 0.5 * sq_change;
                    const double a = step / (c->rule == FM_RULE_FTRL ? c->ftrl_beta + sqrt(g_mid)
                                                                      : sqrt(g_mid + FM_ADAGRAD_EPS));
                    w0_keep = log1p(-(a < 0.5 ? a : 0.5));
                }
                moved_all = -expm1((double)seen * w0_keep);
                for (int u = 0; u < team; u++) {
                    const double moved_u = -expm1((double)rows_of[u] * w0_keep);
                    if (rows_of[u] > 0 && moved_u > 0.0)
                        change += ((double)rows_of[u] / (double)seen) * moved_all / moved_u *
                                  (w0_of[3 * u] - w0);
                }
                w0 += change;
                w0_sq += sq_change;
                if (c->rule == FM_RULE_FTRL)
                    w0_z = fm_ftrl_z_for(w0, w0_z, w0_sq, c->lr, c->ftrl_beta, 0.0, c->reg_bias);
            }
#ifdef _OPENMP
#pragma omp barrier
#endif
            /* no barrier after these reads: thread 0 writes w0 again only past the
             * next round's first barrier, which every thread reaches after reading
             * it. Every barrier waits for the slowest thread, one that another
             * process keeps off its core included (2 vCPU, a spinning process on
             * one: an epoch on 2 threads took 1.7x one thread's) */
            wk.w0 = w0;
            wk.w0_sum_sq = w0_sq;
            wk.w0_z = w0_z;
        }
        loss_sum += wk.loss_sum;
        weight_sum += wk.weight_sum;
        rows += wk.n_rows;
        free(scratch);
    }
    if (failed) {
        status = FM_ERR_NOMEM;
        goto done;
    }
    m->w0 = w0;
    if (c->state) {
        c->state->w0_sum_sq = w0_sq;
        c->state->w0_z = w0_z;
    }
    stats->loss_sum = loss_sum;
    stats->weight_sum = weight_sum;
    stats->n_rows = rows;
done:
    fm_free_large(rep_w);
    fm_free_large(rep_V);
    fm_free_large(touches);
    fm_free_large(rep.sum_sq_w);
    fm_free_large(rep.sum_sq_V);
    fm_free_large(rep.z_w);
    free(w0_of);
    free(rows_of);
    free(round_next);
    return status;
}

/* Finds the hot features from a sample of rows spread over the data: those
 * in at least 1/FM_HOT_MIN_SHARE of the sampled rows, the FM_HOT_MAX most
 * frequent at most. Returns 0 (hs->n_hot may be 0), or -1 out of memory. */
static int FM_NAME(fm_hotset_build)(const FM_NAME(fm_sgd_ctx) *c, int64_t n_rows,
                                    int64_t n_features, fm_hotset *hs)
{
    const int64_t sample = n_rows < FM_HOT_SAMPLE ? n_rows : FM_HOT_SAMPLE;
    const uint32_t threshold = (uint32_t)(sample / FM_HOT_MIN_SHARE > 2 ? sample / FM_HOT_MIN_SHARE
                                                                         : 2);
    uint32_t *counts = (uint32_t *)calloc((size_t)n_features, sizeof(uint32_t));
    fm_hot_candidate *cand = NULL;
    int64_t n_cand = 0, cap = 64;
    memset(hs, 0, sizeof(*hs));
    cand = (fm_hot_candidate *)malloc((size_t)cap * sizeof(*cand));
    if (!counts || !cand)
        goto fail;
    for (int64_t s = 0; s < sample; s++) {
        const int64_t row = s * n_rows / sample;
        for (int64_t p = (int64_t)c->indptr[row]; p < (int64_t)c->indptr[row + 1]; p++) {
            const int64_t j = (int64_t)c->indices[p];
            if (++counts[j] == threshold) { /* a candidate once, when it crosses */
                if (n_cand == cap) {
                    fm_hot_candidate *grown;
                    cap *= 2;
                    grown = (fm_hot_candidate *)realloc(cand, (size_t)cap * sizeof(*cand));
                    if (!grown)
                        goto fail;
                    cand = grown;
                }
                cand[n_cand++].feature = j;
            }
        }
    }
    for (int64_t i = 0; i < n_cand; i++)
        cand[i].count = counts[cand[i].feature];
    qsort(cand, (size_t)n_cand, sizeof(*cand), fm_hot_candidate_cmp);
    hs->n_hot = n_cand < FM_HOT_MAX ? n_cand : FM_HOT_MAX;
    if (hs->n_hot > 0) {
        hs->ids = (int64_t *)malloc((size_t)hs->n_hot * sizeof(int64_t));
        if (!hs->ids)
            goto fail;
        for (int64_t i = 0; i < hs->n_hot; i++)
            hs->ids[i] = cand[i].feature;
        if (fm_hotset_index(hs, n_features) != 0)
            goto fail;
    }
    free(counts);
    free(cand);
    return 0;
fail:
    free(counts);
    free(cand);
    fm_hotset_free(hs);
    return -1;
}

/* Model bytes per copy under which replicas beat sharing (measured in
 * bench/bench_threads.py: the shared model's cache lines stop bouncing). */
#define FM_REPLICA_MAX_BYTES ((int64_t)8 << 20)
/* Model bytes above which auto shares the whole model (hogwild) instead of
 * copying the hot features (hybrid). bench/README.md: at 2 threads hybrid
 * equalled or beat hogwild on 43-52 MB models (x1.34-1.42), and ran at
 * x0.64-0.70 against hogwild's x1.6-1.8 on 360 MB (10M-feature) ones, where
 * a shared hot row is a small part of the misses. Between, it is untested. */
#define FM_HYBRID_MAX_BYTES ((int64_t)64 << 20)

static int FM_NAME(fm_sgd_epoch_impl)(fm_model *m, const fm_csr *X, const double *y,
                                      const double *sample_weight, const fm_sgd_params *prm,
                                      fm_sgd_state *state, fm_epoch_stats *stats)
{
    FM_NAME(fm_sgd_ctx) c;
    const int64_t n_rows = X->n_rows;
    int n_threads = fm_clamp_threads(prm->schedule.n_threads);
    int mode = prm->sgd.parallel_mode;
    int status;

    c.indptr = X->indptr;
    c.indices = (const IDX *)X->indices;
    c.data = (const REAL *)X->data;
    c.y = y;
    c.sample_weight = sample_weight;
    fm_visit_order_init(&c.order, (uint64_t)n_rows, (uint64_t)prm->schedule.block_rows, prm->schedule.seed);
    /* the adaptive rules keep as much state again beside the parameters */
    c.prefetch_params = m->n_features * (int64_t)(m->n_factors + 1) * (int64_t)sizeof(REAL) *
                            (prm->sgd.rule == FM_RULE_SGD ? 1 : 2) >
                        FM_PREFETCH_MIN_BYTES;
    c.loss = prm->objective.loss;
    c.lr = prm->sgd.learning_rate;
    c.reg_bias = prm->objective.reg_bias;
    c.reg_linear = prm->objective.reg_linear;
    c.reg_factors = prm->objective.reg_factors;
    c.clip_min = prm->objective.clip_min;
    c.clip_max = prm->objective.clip_max;
    c.rule = prm->sgd.rule;
    c.ftrl_beta = prm->sgd.ftrl_beta;
    c.ftrl_l1 = prm->sgd.ftrl_l1;
    c.state = prm->sgd.rule == FM_RULE_SGD ? NULL : state;

    if ((int64_t)n_threads > n_rows)
        n_threads = n_rows > 0 ? (int)n_rows : 1;
    if (mode == FM_PARALLEL_AUTO) {
        const int64_t bytes = m->n_features * (int64_t)(m->n_factors + 1) * (int64_t)sizeof(REAL);
        mode = bytes <= FM_REPLICA_MAX_BYTES  ? FM_PARALLEL_REPLICAS
               : bytes <= FM_HYBRID_MAX_BYTES ? FM_PARALLEL_HYBRID
                                              : FM_PARALLEL_HOGWILD;
    }
    memset(stats, 0, sizeof(*stats));
    if (n_threads == 1) {
        status = FM_NAME(fm_sgd_serial)(m, &c, n_rows, stats);
    } else if (mode == FM_PARALLEL_HOGWILD) {
        status = FM_NAME(fm_sgd_hogwild)(m, &c, n_rows, n_threads, stats);
    } else if (mode == FM_PARALLEL_HYBRID) {
        fm_hotset hs;
        if (FM_NAME(fm_hotset_build)(&c, n_rows, m->n_features, &hs) != 0) {
            status = FM_ERR_NOMEM;
        } else if (hs.n_hot == 0) { /* nothing hot to keep apart: plain sharing */
            mode = FM_PARALLEL_HOGWILD;
            status = FM_NAME(fm_sgd_hogwild)(m, &c, n_rows, n_threads, stats);
        } else {
            status = FM_NAME(fm_sgd_replicas)(m, &c, n_rows, n_threads, FM_MIN_SYNC_ROWS, &hs,
                                              stats);
        }
        fm_hotset_free(&hs);
    } else {
        int64_t sync_every = prm->sgd.sync_every;
        if (sync_every <= 0) {
            /* merge when the rows trained since the last merge cost about
             * 8x the merge itself (n_features rows of k+1 values) */
            const int64_t nnz = c.indptr[n_rows] - c.indptr[0];
            const int64_t per_row = nnz / n_rows > 0 ? nnz / n_rows : 1;
            sync_every = 8 * m->n_features / per_row;
            /* every merge is a barrier: a thread descheduled by another
             * process stalls the others there, so keep barriers rare */
            if (sync_every < FM_MIN_SYNC_ROWS)
                sync_every = FM_MIN_SYNC_ROWS;
        }
        status = FM_NAME(fm_sgd_replicas)(m, &c, n_rows, n_threads, sync_every, NULL, stats);
    }
    stats->n_threads = n_threads;
    stats->parallel_mode = n_threads == 1 ? FM_PARALLEL_SERIAL : mode;
    if (status == FM_OK && !isfinite(stats->loss_sum + m->w0))
        status = FM_ERR_DIVERGED;
    if (status == FM_OK && state && !isfinite(state->w0_sum_sq + state->w0_z))
        status = FM_ERR_DIVERGED;
    return status;
}
