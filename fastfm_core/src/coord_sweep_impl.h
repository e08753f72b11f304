/*
 * Template (REAL, IDX) of one ALS or MCMC sweep; see fastfm.h for what a sweep
 * does and coord_sweep.c for the checks made before it runs.
 *
 * Per row the sweep keeps, next to each other, e_i = yhat_i - t_i and the k
 * sums q_if: a feature's k + 1 coordinate updates then pass over its column k + 1
 * times, and for the short columns of one-hot data those rows' cache lines stay
 * in the first-level cache from the first pass to the last.
 */

/* The exact minimiser (ALS) or a draw from the conditional posterior (MCMC) of
 * a parameter theta with sum s h^2 = shh and sum s e h = seh over its rows. A
 * parameter with no information (ALS, nothing observed and no penalty) keeps
 * its value. */
#ifndef FM_CD_COORDINATE_DEFINED
#define FM_CD_COORDINATE_DEFINED
static inline double fm_cd_coordinate(double theta, double shh, double seh, double alpha,
                                      double lambda, double mu, int sample, fm_normals *rng)
{
    const double precision = alpha * shh + lambda;
    if (!(precision > 0.0))
        return theta;
    const double mean = (alpha * (theta * shh - seh) + lambda * mu) / precision;
    return sample ? mean + fm_normals_next(rng) / sqrt(precision) : mean;
}
#endif

/* a row's state in the scratch: the residual e_i (double), then q_i0 .. q_i,k-1
 * in the model's type (fm_cd_plan gives the row size) */
#ifndef FM_ROW_E
#define FM_ROW_E(base, r) (*(double *)((base) + (size_t)(r) * rowbytes))
#define FM_ROW_Q(base, r) ((REAL *)((base) + (size_t)(r) * rowbytes + sizeof(double)))
#endif

/* entries ahead whose rows are prefetched (about the misses a core keeps in flight) */
#ifndef FM_CD_AHEAD
#define FM_CD_AHEAD 16
#endif

/* Row i's probit latent target given its prediction: MCMC draws it (keyed by
 * the row), ALS takes its expectation. */
#ifndef FM_CD_PROBIT_TARGET_DEFINED
#define FM_CD_PROBIT_TARGET_DEFINED
static inline double fm_cd_probit_target(const fm_cd_params *p, int sample, int64_t i,
                                         double yhat, double y)
{
    const int positive = y > 0.0;
    if (sample) {
        fm_rng rng = fm_rng_keyed(p->seed, FM_STREAM_LATENT, (uint64_t)i);
        return fm_probit_latent_draw(&rng, yhat, positive);
    }
    return fm_probit_latent_mean(yhat, positive);
}
#endif

/* Sums over the rows of a vectorised pass: distinct rows (a column holds each
 * row once), so the entries carry no dependence on each other. */
#ifndef FM_SIMD_SUMS
#if defined(_OPENMP) || defined(FM_OPENMP_SIMD)
#define FM_SIMD_SUMS _Pragma("omp simd reduction(+ : shh, seh)")
#define FM_SIMD_ROWS _Pragma("omp simd")
#define FM_SIMD_SQUARES _Pragma("omp simd reduction(+ : sq)")
#define FM_SIMD_PAIRS _Pragma("omp simd reduction(+ : pq)")
#else
#define FM_SIMD_SUMS
#define FM_SIMD_ROWS
#define FM_SIMD_SQUARES
#define FM_SIMD_PAIRS
#endif
#endif

/* The change of coordinate w_j (pf < 0) or v_j,pf applied to the gathered
 * rows, fused with the sums for v_jf (f < k). The arrays are one column's rows,
 * structure of arrays: residuals le, values lx, weights ls, and q_f at
 * lq + f * cap. */
static inline void FM_NAME(fm_cd_local_pass)(int64_t len, int64_t cap, int pf, double delta,
                                             double prev_old, int f, double old, double *le,
                                             const double *lx, const double *ls, double *lq,
                                             double *shh_out, double *seh_out)
{
    double shh = 0.0, seh = 0.0;
    double *qp = pf >= 0 ? lq + (int64_t)pf * cap : NULL;
    const double *qf = lq + (int64_t)f * cap;
    if (qp) {
        FM_SIMD_SUMS
        for (int64_t e = 0; e < len; e++) {
            const double x = lx[e];
            le[e] += delta * x * (qp[e] - prev_old * x);
            qp[e] += delta * x;
            const double hx = x * (qf[e] - old * x);
            shh += ls[e] * hx * hx;
            seh += ls[e] * hx * le[e];
        }
    } else {
        FM_SIMD_SUMS
        for (int64_t e = 0; e < len; e++) {
            const double x = lx[e];
            le[e] += delta * x;
            const double hx = x * (qf[e] - old * x);
            shh += ls[e] * hx * hx;
            seh += ls[e] * hx * le[e];
        }
    }
    *shh_out = shh;
    *seh_out = seh;
}

/* Updates w_j and then v_j0 .. v_j,k-1 (and the rows' residuals and q sums).
 * Returns 0 when a new value is not finite.
 *
 * The column's rows are first copied into `local`, the thread's buffer of
 * `cap` rows, as contiguous arrays (residual, value, weight, q_0 .. q_k-1):
 * the k + 1 coordinate updates then run as vectorised passes over them, k + 2
 * passes in all (each applies one coordinate's change and sums, from the
 * updated residuals, what the next needs), and the rows are written back. A
 * column longer than the buffer (local NULL or len > cap) is swept in place. */
static int FM_NAME(fm_cd_feature)(int64_t j, const fm_model *m, const fm_csc *Xt,
                                  const double *sw, const fm_cd_params *p,
                                  const fm_cd_hyper *h, double alpha, char *rs,
                                  size_t rowbytes, double *local, int64_t cap)
{
    const int k = m->n_factors;
    REAL *w = (REAL *)m->w;
    REAL *vj = (REAL *)m->V + j * k;
    const int64_t lo = Xt->colptr[j], hi = Xt->colptr[j + 1];
    const IDX *rows = (const IDX *)Xt->rows + lo;
    const REAL *xs = Xt->data ? (const REAL *)Xt->data + lo : NULL;
    const int64_t len = hi - lo;
    const int32_t g = p->feature_group[j];
    const int sample = p->method == FM_SOLVER_MCMC;
    const int gathered = local && len <= cap;
    double *le = NULL, *lx = NULL, *ls = NULL, *lq = NULL;
    if (gathered) {
        le = local;
        lx = local + cap;
        ls = local + 2 * cap;
        lq = local + 3 * cap;
    }
    fm_normals rng = fm_normals_keyed(p->seed, FM_STREAM_FEATURE, (uint64_t)j);
    int finite = 1;

    /* w_j: h = x. The first touch of these rows: prefetched ahead, past this
     * column's end too (the features of a block sit side by side in the view) */
    const int64_t ahead_end = Xt->colptr[Xt->n_cols] - lo;
    double shh = 0.0, seh = 0.0;
    for (int64_t e = 0; e < len; e++) {
        if (e + FM_CD_AHEAD < ahead_end) {
            const char *next = rs + (size_t)rows[e + FM_CD_AHEAD] * rowbytes;
            FM_PREFETCH_WRITE(next);
            FM_PREFETCH_WRITE(next + rowbytes - 1);
        }
        const int64_t i = (int64_t)rows[e];
        const double x = xs ? (double)xs[e] : 1.0;
        const double s = sw ? sw[i] : 1.0;
        const double ei = FM_ROW_E(rs, i);
        if (gathered) {
            const REAL *q = FM_ROW_Q(rs, i);
            le[e] = ei;
            lx[e] = x;
            ls[e] = s;
            for (int f = 0; f < k; f++)
                lq[(int64_t)f * cap + e] = (double)q[f];
        }
        shh += s * x * x;
        seh += s * x * ei;
    }
    double delta;
    {
        const double old = (double)w[j];
        const REAL stored = (REAL)fm_cd_coordinate(old, shh, seh, alpha, h->lambda_w[g],
                                                   sample ? h->mu_w[g] : 0.0, sample, &rng);
        /* the residuals follow the value as stored (float32 rounds it) */
        delta = (double)stored - old;
        finite &= isfinite((double)stored) != 0;
        w[j] = stored;
    }

    /* v_jf: h = x (q_if - v_jf x); pass f applies the change of the coordinate
     * before it (w_j for f = 0) and sums for v_jf */
    double prev_old = 0.0;
    for (int f = 0; f < k; f++) {
        const double old = (double)vj[f];
        const int pf = f - 1;
        if (gathered) {
            FM_NAME(fm_cd_local_pass)(len, cap, pf, delta, prev_old, f, old, le, lx, ls, lq,
                                      &shh, &seh);
        } else {
            shh = 0.0;
            seh = 0.0;
            for (int64_t e = 0; e < len; e++) {
                const int64_t i = (int64_t)rows[e];
                double *ei = &FM_ROW_E(rs, i);
                REAL *q = FM_ROW_Q(rs, i);
                const double x = xs ? (double)xs[e] : 1.0;
                const double s = sw ? sw[i] : 1.0;
                if (pf < 0) {
                    *ei += delta * x;
                } else {
                    *ei += delta * x * ((double)q[pf] - prev_old * x);
                    q[pf] = (REAL)((double)q[pf] + delta * x);
                }
                const double hx = x * ((double)q[f] - old * x);
                shh += s * hx * hx;
                seh += s * hx * *ei;
            }
        }
        const int64_t gf = (int64_t)g * k + f;
        const REAL stored = (REAL)fm_cd_coordinate(old, shh, seh, alpha, h->lambda_v[gf],
                                                   sample ? h->mu_v[gf] : 0.0, sample, &rng);
        delta = (double)stored - old;
        finite &= isfinite((double)stored) != 0;
        vj[f] = stored;
        prev_old = old;
    }

    /* the last coordinate's change, and (gathered) the rows written back */
    const int pf = k - 1;
    if (gathered) {
        if (pf < 0) {
            FM_SIMD_ROWS
            for (int64_t e = 0; e < len; e++)
                le[e] += delta * lx[e];
        } else {
            double *qp = lq + (int64_t)pf * cap;
            FM_SIMD_ROWS
            for (int64_t e = 0; e < len; e++) {
                le[e] += delta * lx[e] * (qp[e] - prev_old * lx[e]);
                qp[e] += delta * lx[e];
            }
        }
        for (int64_t e = 0; e < len; e++) {
            const int64_t i = (int64_t)rows[e];
            REAL *q = FM_ROW_Q(rs, i);
            FM_ROW_E(rs, i) = le[e];
            for (int f = 0; f < k; f++)
                q[f] = (REAL)lq[(int64_t)f * cap + e];
        }
    } else if (delta != 0.0) {
        for (int64_t e = 0; e < len; e++) {
            const int64_t i = (int64_t)rows[e];
            REAL *q = FM_ROW_Q(rs, i);
            const double x = xs ? (double)xs[e] : 1.0;
            if (pf < 0) {
                FM_ROW_E(rs, i) += delta * x;
            } else {
                FM_ROW_E(rs, i) += delta * x * ((double)q[pf] - prev_old * x);
                q[pf] = (REAL)((double)q[pf] + delta * x);
            }
        }
    }
    return finite;
}

/* MCMC: draws each group's prior precision and then its mean, for w and for
 * every factor of V, from their conditionals given the current parameters
 * (Normal-Gamma hyperpriors, as libFM). */
static int FM_NAME(fm_cd_draw_priors)(const fm_model *m, const fm_cd_params *p,
                                      fm_cd_hyper *h, fm_rng *rng)
{
    const int k = m->n_factors;
    const int64_t G = p->n_groups;
    const REAL *w = (const REAL *)m->w;
    const REAL *V = (const REAL *)m->V;
    const double a0 = p->prior_alpha0, b0 = p->prior_beta0, g0 = p->prior_gamma0;
    const double mu0 = p->prior_mu0;
    /* per group: count, and per (group, parameter column) sum and squared deviation */
    const int64_t columns = (int64_t)k + 1; /* column 0: w, 1 + f: factor f */
    double *count = (double *)calloc((size_t)G, sizeof(double));
    double *sum = (double *)calloc((size_t)(G * columns), sizeof(double));
    double *dev = (double *)calloc((size_t)(G * columns), sizeof(double));
    if (!count || !sum || !dev) {
        free(count);
        free(sum);
        free(dev);
        return FM_ERR_NOMEM;
    }
    for (int64_t j = 0; j < m->n_features; j++) {
        const int64_t g = p->feature_group[j];
        count[g] += 1.0;
        const double dw = (double)w[j] - h->mu_w[g];
        dev[g * columns] += dw * dw;
        for (int f = 0; f < k; f++) {
            const double dv = (double)V[j * k + f] - h->mu_v[g * k + f];
            dev[g * columns + 1 + f] += dv * dv;
        }
    }
    for (int64_t g = 0; g < G; g++) {
        const double d = h->mu_w[g] - mu0;
        h->lambda_w[g] = fm_gamma(rng, 0.5 * (a0 + count[g] + 1.0),
                                  0.5 * (b0 * d * d + g0 + dev[g * columns]));
        for (int f = 0; f < k; f++) {
            const double dv = h->mu_v[g * k + f] - mu0;
            h->lambda_v[g * k + f] = fm_gamma(rng, 0.5 * (a0 + count[g] + 1.0),
                                              0.5 * (b0 * dv * dv + g0 + dev[g * columns + 1 + f]));
        }
    }
    /* the means given the new precisions */
    for (int64_t j = 0; j < m->n_features; j++) {
        const int64_t g = p->feature_group[j];
        sum[g * columns] += (double)w[j];
        for (int f = 0; f < k; f++)
            sum[g * columns + 1 + f] += (double)V[j * k + f];
    }
    for (int64_t g = 0; g < G; g++) {
        const double n_b = count[g] + b0;
        h->mu_w[g] = (sum[g * columns] + b0 * mu0) / n_b +
                     fm_normal(rng) / sqrt(n_b * h->lambda_w[g]);
        for (int f = 0; f < k; f++)
            h->mu_v[g * k + f] = (sum[g * columns + 1 + f] + b0 * mu0) / n_b +
                                 fm_normal(rng) / sqrt(n_b * h->lambda_v[g * k + f]);
    }
    free(count);
    free(sum);
    free(dev);
    return FM_OK;
}

static int FM_NAME(fm_cd_sweep_impl)(fm_model *m, const fm_csr *X, const fm_csc *Xt,
                                     const double *y, const double *sw,
                                     const fm_cd_params *p, fm_cd_hyper *h, void *scratch,
                                     size_t scratch_bytes, double *pred_out,
                                     fm_cd_stats *stats)
{
    const int64_t n = X->n_rows;
    const int k = m->n_factors;
    const int n_threads = fm_clamp_threads(p->n_threads);
    const int sample = p->method == FM_SOLVER_MCMC;
    const int probit = p->loss == FM_LOSS_PROBIT;
    const REAL *w = (const REAL *)m->w;
    const REAL *V = (const REAL *)m->V;
    const IDX *cols = (const IDX *)X->indices;
    const REAL *vals = (const REAL *)X->data;
    const double w0_start = m->w0;
    int finite = 1;

    fm_cd_layout lay;
    fm_cd_plan(&lay, m, Xt, p->loss, n_threads);
    void *owned = NULL;
    if (!scratch) {
        owned = fm_alloc_large(lay.total);
        scratch = owned;
        scratch_bytes = lay.total;
    }
    if (!scratch)
        return FM_ERR_NOMEM;
    if (scratch_bytes < lay.total)
        return FM_ERR_PARAM;
    char *rs = fm_cd_aligned(scratch);
    const size_t rowbytes = lay.row_bytes;
    double *target = probit ? (double *)(rs + lay.target_offset) : NULL;
    double *buffers = lay.capacity > 0 ? (double *)(rs + lay.buffer_offset) : NULL;
    const int64_t capacity = lay.capacity;
    const size_t per_thread = lay.per_thread;

    /* residuals and q sums of the current model (or, reuse_rows, the predictions
     * the last sweep left); the probit latent targets */
    const int reuse = p->reuse_rows;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static)
#endif
    for (int64_t i = 0; i < n; i++) {
        double t = y[i];
        if (reuse) {
            const double yhat = FM_ROW_E(rs, i);
            if (probit)
                target[i] = t = fm_cd_probit_target(p, sample, i, yhat, y[i]);
            FM_ROW_E(rs, i) = yhat - t;
            continue;
        }
        double q[FM_CD_MAX_INLINE_K];
        REAL *qr = FM_ROW_Q(rs, i);
        double linear = 0.0, squares = 0.0, pairs = 0.0;
        /* in blocks of factors, so that any k fits the stack buffer */
        for (int f0 = 0; f0 < k || (f0 == 0 && k == 0); f0 += FM_CD_MAX_INLINE_K) {
            const int nb = k - f0 < FM_CD_MAX_INLINE_K ? k - f0 : FM_CD_MAX_INLINE_K;
            for (int f = 0; f < nb; f++)
                q[f] = 0.0;
            for (int64_t pos = X->indptr[i]; pos < X->indptr[i + 1]; pos++) {
                const int64_t j = (int64_t)cols[pos];
                const double x = vals ? (double)vals[pos] : 1.0;
                const REAL *vj = V + j * k + f0;
                if (f0 == 0)
                    linear += (double)w[j] * x;
                double sq = 0.0;
                FM_SIMD_SQUARES
                for (int f = 0; f < nb; f++) {
                    const double term = (double)vj[f] * x;
                    q[f] += term;
                    sq += term * term;
                }
                squares += sq;
            }
            double pq = 0.0;
            FM_SIMD_PAIRS
            for (int f = 0; f < nb; f++) {
                pq += q[f] * q[f];
                qr[f0 + f] = (REAL)q[f];
            }
            pairs += pq;
            if (k == 0)
                break;
        }
        const double yhat = w0_start + linear + 0.5 * (pairs - squares);
        if (probit)
            target[i] = t = fm_cd_probit_target(p, sample, i, yhat, y[i]);
        FM_ROW_E(rs, i) = yhat - t;
    }

    double weight_sum = 0.0, error_sum = 0.0, sse = 0.0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static) reduction(+ : weight_sum, error_sum, sse)
#endif
    for (int64_t i = 0; i < n; i++) {
        const double s = sw ? sw[i] : 1.0, e = FM_ROW_E(rs, i);
        weight_sum += s;
        error_sum += s * e;
        sse += s * e * e;
    }

    /* the noise precision and the group priors (MCMC) */
    double alpha = 1.0;
    if (sample) {
        alpha = h->alpha;
        if (p->sample_hyper) {
            fm_rng rng = fm_rng_keyed(p->seed, FM_STREAM_HYPER, 0);
            alpha = probit ? 1.0
                           : fm_gamma(&rng, 0.5 * (p->prior_alpha0 + weight_sum),
                                      0.5 * (p->prior_gamma0 + sse));
            h->alpha = alpha;
            int status = FM_NAME(fm_cd_draw_priors)(m, p, h, &rng);
            if (status != FM_OK) {
                fm_free_large(owned);
                return status;
            }
        }
    }

    /* w0: h = 1 */
    {
        const double precision = alpha * weight_sum + p->reg_bias;
        double w0 = w0_start;
        if (precision > 0.0) {
            fm_normals rng = fm_normals_keyed(p->seed, FM_STREAM_BIAS, 0);
            w0 = fm_cd_coordinate(w0_start, weight_sum, error_sum, alpha, p->reg_bias, 0.0,
                                  sample, &rng);
        }
        const double delta = w0 - w0_start;
        finite &= isfinite(w0) != 0;
        m->w0 = w0;
        if (delta != 0.0) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static)
#endif
            for (int64_t i = 0; i < n; i++)
                FM_ROW_E(rs, i) += delta;
        }
    }

    /* the features, block by block: those of one block share no row */
    for (int64_t b = 0; b < p->n_blocks; b++) {
        const int64_t first = p->block_ptr[b], last = p->block_ptr[b + 1];
        int block_finite = 1;
#ifdef _OPENMP
        int64_t entries = 0;
        for (int64_t o = first; o < last; o++)
            entries += Xt->colptr[p->order[o] + 1] - Xt->colptr[p->order[o]];
        /* a team only where the block has work enough to share (a region costs
         * microseconds; a block of a few short columns less) */
        const int team = (last - first > 1 && entries * (k + 1) > 65536) ? n_threads : 1;
#pragma omp parallel for num_threads(team) schedule(dynamic, 16) reduction(& : block_finite)
#endif
        for (int64_t o = first; o < last; o++) {
            double *local = buffers ? buffers + (size_t)fm_thread_id() * per_thread : NULL;
            block_finite &= FM_NAME(fm_cd_feature)(p->order[o], m, Xt, sw, p, h, alpha, rs,
                                                    rowbytes, local, capacity);
        }
        finite &= block_finite;
    }

    double sse_after = 0.0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static) reduction(+ : sse_after)
#endif
    for (int64_t i = 0; i < n; i++) {
        const double s = sw ? sw[i] : 1.0, e = FM_ROW_E(rs, i);
        const double yhat = e + (probit ? target[i] : y[i]);
        sse_after += s * e * e;
        if (pred_out)
            pred_out[i] = yhat;
        FM_ROW_E(rs, i) = yhat; /* what a next sweep with reuse_rows starts from */
    }
    fm_free_large(owned);
    if (stats) {
        stats->sse = sse_after;
        stats->weight_sum = weight_sum;
        stats->n_threads = n_threads;
    }
    if (!finite || !isfinite(sse_after))
        return FM_ERR_DIVERGED;
    return FM_OK;
}
