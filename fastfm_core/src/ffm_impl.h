/*
 * Field-aware FM: the row maths, batch prediction and the SGD-family epoch
 * (template: REAL, IDX, FM_NAME; see instantiate.h). The model and the step
 * are defined in fastfm.h (fm_ffm_model); the visit order (permutation.h),
 * the losses (loss.h) and the step rules (step_rules.h) are the FM kernel's.
 *
 * k is a compile-time constant on the hot paths (the callers switch on common
 * k), so a pair's two vectors are a few vector registers: they are copied to
 * locals, stepped there and stored back, which keeps the loop vectorised even
 * though the compiler cannot prove that the two vectors of a pair differ.
 * binary (a constant too) says every stored value is 1: no values are loaded.
 */

#define FFM_PF_ROW 16    /* rows ahead: row pointer, target and weight */
#define FFM_PF_ENTRIES 8 /* rows ahead: the row's indices, fields and values */
#define FFM_PF_PARAMS 3  /* rows ahead: the parameters the row names */
#define FFM_RING 32      /* > FFM_PF_ROW, a power of 2 */
#ifndef FM_PREFETCH_MIN_BYTES
#define FM_PREFETCH_MIN_BYTES ((int64_t)256 << 10) /* smaller models stay in L2 */
#endif
#ifndef FM_W0_SYNC
#define FM_W0_SYNC 256   /* hogwild: rows between folds of a thread's private w0 */
#endif
#define FFM_PF_MAX_LINES 8 /* lines prefetched per entry (a feature's vectors for all fields) */

/* 1 / ||x||_2 of a row when normalize (1 for an empty or all-zero row), else 1. */
static FM_INLINE double FM_NAME(ffm_row_scale)(const REAL *val, int64_t nnz, int normalize,
                                               const int binary)
{
    double sum_sq = 0.0;
    if (!normalize || nnz == 0)
        return 1.0;
    if (binary)
        return 1.0 / sqrt((double)nnz);
    for (int64_t p = 0; p < nnz; p++)
        sum_sq += (double)val[p] * (double)val[p];
    return sum_sq > 0.0 ? 1.0 / sqrt(sum_sq) : 1.0;
}

/* sum_{p<q} <v_{j_p, f_q}, v_{j_q, f_p}> val_p val_q, before the row's scale. */
static FM_INLINE double FM_NAME(ffm_pairs)(const REAL *V, const int64_t F, const int k,
                                           const IDX *idx, const int32_t *fld, const REAL *val,
                                           const int64_t nnz, const int binary)
{
    const int64_t stride = F * (int64_t)k; /* one feature's vectors, all fields */
#ifdef FM_HAVE_VEC
    if (k % FM_VW == 0 && k <= FM_K_STACK) {
        /* explicit vectors: left to itself the compiler vectorises across pairs with
         * gathers and keeps the sums in memory */
        const int nv = k / FM_VW;
        FM_NAME(fm_vec) acc[FM_K_STACK / FM_VW];
        for (int c = 0; c < nv; c++)
            acc[c] = (FM_NAME(fm_vec)){0};
        for (int64_t p = 0; p < nnz; p++) {
            const REAL xp = binary ? (REAL)1 : val[p];
            const REAL *base_p = V + (int64_t)idx[p] * stride;
            const int64_t fp = (int64_t)fld[p] * k;
            for (int64_t q = p + 1; q < nnz; q++) {
                const REAL *a = base_p + (int64_t)fld[q] * k;
                const REAL *b = V + (int64_t)idx[q] * stride + fp;
                if (binary) {
                    for (int c = 0; c < nv; c++)
                        acc[c] += FM_NAME(fm_vload)(a + c * FM_VW) *
                                  FM_NAME(fm_vload)(b + c * FM_VW);
                } else {
                    const REAL xx = xp * val[q];
                    for (int c = 0; c < nv; c++)
                        acc[c] += FM_NAME(fm_vload)(a + c * FM_VW) *
                                  FM_NAME(fm_vload)(b + c * FM_VW) * xx;
                }
            }
        }
        for (int c = 1; c < nv; c++)
            acc[0] += acc[c];
        return (double)FM_NAME(fm_vsum)(acc[0]);
    }
#endif
    if (k <= FM_K_STACK) {
        /* one accumulator per factor, summed once per row */
        REAL acc[FM_K_STACK];
        for (int d = 0; d < k; d++)
            acc[d] = 0;
        for (int64_t p = 0; p < nnz; p++) {
            const REAL xp = binary ? (REAL)1 : val[p];
            const REAL *base_p = V + (int64_t)idx[p] * stride;
            const int64_t fp = (int64_t)fld[p] * k;
            for (int64_t q = p + 1; q < nnz; q++) {
                const REAL xx = binary ? (REAL)1 : xp * val[q];
                const REAL *a = base_p + (int64_t)fld[q] * k;
                const REAL *b = V + (int64_t)idx[q] * stride + fp;
                FM_SIMD
                for (int d = 0; d < k; d++)
                    acc[d] += a[d] * b[d] * xx;
            }
        }
        return (double)FM_NAME(fm_tree_sum)(acc, k);
    } else {
        double total = 0.0;
        for (int64_t p = 0; p < nnz; p++) {
            const double xp = binary ? 1.0 : (double)val[p];
            const REAL *base_p = V + (int64_t)idx[p] * stride;
            const int64_t fp = (int64_t)fld[p] * k;
            for (int64_t q = p + 1; q < nnz; q++) {
                const REAL *a = base_p + (int64_t)fld[q] * k;
                const REAL *b = V + (int64_t)idx[q] * stride + fp;
                double dot = 0.0;
                for (int d = 0; d < k; d++)
                    dot += (double)a[d] * (double)b[d];
                total += dot * xp * (binary ? 1.0 : (double)val[q]);
            }
        }
        return total;
    }
}

/* y(x) of one row; *scale receives the row's scale r (x_p = r val_p). */
static FM_INLINE double FM_NAME(ffm_predict_row)(double w0, const REAL *w, const REAL *V,
                                                 const int64_t F, const int k, const int linear,
                                                 const int normalize, const IDX *idx,
                                                 const int32_t *fld, const REAL *val,
                                                 const int64_t nnz, const int binary,
                                                 double *scale)
{
    const double r = FM_NAME(ffm_row_scale)(val, nnz, normalize, binary);
    double y = k > 0 ? r * r * FM_NAME(ffm_pairs)(V, F, k, idx, fld, val, nnz, binary) : 0.0;
    if (linear) {
        double lin = 0.0;
        for (int64_t p = 0; p < nnz; p++)
            lin += (double)w[idx[p]] * (binary ? 1.0 : (double)val[p]);
        y += w0 + r * lin;
    }
    *scale = r;
    return y;
}

static int FM_NAME(ffm_predict_impl)(const fm_ffm_model *m, const fm_csr *X,
                                     const int32_t *fields, double *out, int n_threads)
{
    const int64_t *indptr = X->indptr;
    const IDX *indices = (const IDX *)X->indices;
    const REAL *data = (const REAL *)X->data;
    const REAL *w = (const REAL *)m->w, *V = (const REAL *)m->V;
    const int64_t F = m->n_fields, n_rows = X->n_rows;
    const int k = m->n_factors, linear = m->linear, normalize = m->normalize;
    (void)n_threads; /* unused in a serial build */

#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static)
#endif
    for (int64_t i = 0; i < n_rows; i++) {
        const int64_t b = indptr[i], nnz = indptr[i + 1] - b;
        double r;
        if (data)
            out[i] = FM_NAME(ffm_predict_row)(m->w0, w, V, F, k, linear, normalize, indices + b,
                                              fields + b, data + b, nnz, 0, &r);
        else
            out[i] = FM_NAME(ffm_predict_row)(m->w0, w, V, F, k, linear, normalize, indices + b,
                                              fields + b, NULL, nnz, 1, &r);
    }
    return FM_OK;
}

/* ---- the epoch ---- */

typedef struct {
    const int64_t *indptr;
    const IDX *indices;
    const int32_t *fields;
    const REAL *data;           /* NULL: every value is 1 */
    const double *y, *sample_weight;
    fm_visit_order order;
    int loss, rule, linear, normalize, prefetch;
    int64_t F;
    double lr, reg_bias, reg_linear, reg_factors, clip_min, clip_max, ftrl_beta, ftrl_l1;
    REAL *w, *V;
    REAL *w_sum_sq, *w_z, *V_sum_sq; /* the adaptive rules' state (NULL for SGD) */
} FM_NAME(ffm_ctx);

/* One thread's running values: its copy of w0 and w0's state, its sums. */
typedef struct {
    double w0, w0_sum_sq, w0_z;
    double loss_sum, weight_sum;
    int64_t n_rows;
    fm_visit_cursor cursor;
} FM_NAME(ffm_worker);

/* A linear coordinate's step under the rule: theta with loss gradient grad and L2
 * strength reg (state: *sum_sq, and *z for FTRL). */
static FM_INLINE double FM_NAME(ffm_linear_step)(const int rule, double theta, double grad,
                                                 double reg, double l1, double *sum_sq,
                                                 double *z, const FM_NAME(ffm_ctx) *c)
{
    if (rule == FM_RULE_SGD)
        return theta - c->lr * (grad + reg * theta);
    if (rule == FM_RULE_FTRL)
        return fm_ftrl_step(grad, theta, z, sum_sq, c->lr, c->ftrl_beta, l1, reg);
    return theta + fm_adagrad_step(grad + reg * theta, sum_sq, c->lr);
}

/* Prefetches the parameters (and state) of a row's features: each feature's
 * vectors for every field are one run of F k values. */
static FM_INLINE void FM_NAME(ffm_prefetch_row)(const FM_NAME(ffm_ctx) *c, int64_t row,
                                                const int k)
{
    const int64_t b = c->indptr[row], e = c->indptr[row + 1];
    const size_t bytes = (size_t)(c->F * k) * sizeof(REAL);
    const size_t span = bytes < (size_t)FFM_PF_MAX_LINES * 64 ? bytes : (size_t)FFM_PF_MAX_LINES * 64;
    for (int64_t p = b; p < e; p++) {
        const int64_t j = (int64_t)c->indices[p];
        const char *v = (const char *)(c->V + j * c->F * k);
        for (size_t off = 0; off < span; off += 64)
            FM_PREFETCH_WRITE(v + off);
        if (c->V_sum_sq) {
            const char *s = (const char *)(c->V_sum_sq + j * c->F * k);
            for (size_t off = 0; off < span; off += 64)
                FM_PREFETCH_WRITE(s + off);
        }
    }
}

/* out[d] = 1 / sqrt(x[d] + eps). AdaGrad takes two per factor and pair, and a
 * vector square root and division cost about 20 cycles each: float vectors on x86
 * use the hardware estimate (12 bits) with one Newton step, which leaves a
 * relative error of a few units in the last place of a float (the step's size is
 * eta times that; libffm uses the bare estimate). */
static FM_INLINE void FM_NAME(ffm_inverse_sqrt)(REAL *restrict out, const REAL *restrict x,
                                                const REAL eps, const int k)
{
#if defined(__AVX__) && !defined(FFM_EXACT_SQRT)
    if (sizeof(REAL) == sizeof(float) && k % 8 == 0) {
        const __m256 half = _mm256_set1_ps(0.5f), three_halves = _mm256_set1_ps(1.5f);
        const __m256 e = _mm256_set1_ps((float)eps);
        for (int d = 0; d < k; d += 8) {
            const __m256 v = _mm256_add_ps(_mm256_loadu_ps((const float *)x + d), e);
            const __m256 y = _mm256_rsqrt_ps(v);
            /* y (3/2 - v y^2 / 2) */
            const __m256 t = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_mul_ps(y, y));
            _mm256_storeu_ps((float *)out + d, _mm256_mul_ps(y, _mm256_sub_ps(three_halves, t)));
        }
        return;
    }
#endif
    FM_SIMD
    for (int d = 0; d < k; d++)
        out[d] = (REAL)1 / FM_NAME(fm_real_sqrt)(x[d] + eps);
}

#ifdef FM_HAVE_VEC
/* 1 / sqrt(v) lane by lane: the hardware estimate with one Newton step for float
 * vectors on x86 (see ffm_inverse_sqrt), else the exact quotient. */
static FM_INLINE FM_NAME(fm_vec) FM_NAME(ffm_vrsqrt)(FM_NAME(fm_vec) v)
{
#if defined(__AVX__) && !defined(FFM_EXACT_SQRT)
    if (sizeof(REAL) == sizeof(float) && FM_VBYTES == 32) {
        __m256 x, y, t;
        FM_NAME(fm_vec) out;
        memcpy(&x, &v, sizeof x);
        y = _mm256_rsqrt_ps(x);
        t = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_mul_ps(y, y));
        y = _mm256_mul_ps(y, _mm256_sub_ps(_mm256_set1_ps(1.5f), t));
        memcpy(&out, &y, sizeof out);
        return out;
    }
#endif
    {
        REAL lanes[FM_VW];
        memcpy(lanes, &v, sizeof lanes);
        for (int i = 0; i < FM_VW; i++)
            lanes[i] = (REAL)1 / FM_NAME(fm_real_sqrt)(lanes[i]);
        memcpy(&v, lanes, sizeof lanes);
        return v;
    }
}

/* One pair's step on its two vectors a and b (and their sums of squares ga_sq,
 * gb_sq for the adaptive rules), both read before either is written. */
static FM_INLINE void FM_NAME(ffm_update_pair_vec)(REAL *a, REAL *b, REAL *a_sq, REAL *b_sq,
                                                   const REAL s, const REAL lr, const REAL reg,
                                                   const REAL eps, const int k, const int rule)
{
    const int nv = k / FM_VW;
    for (int c = 0; c < nv; c++) {
        const FM_NAME(fm_vec) av = FM_NAME(fm_vload)(a + c * FM_VW);
        const FM_NAME(fm_vec) bv = FM_NAME(fm_vload)(b + c * FM_VW);
        const FM_NAME(fm_vec) ga = s * bv + reg * av, gb = s * av + reg * bv;
        if (rule == FM_RULE_SGD) {
            FM_NAME(fm_vstore)(a + c * FM_VW, av - lr * ga);
            FM_NAME(fm_vstore)(b + c * FM_VW, bv - lr * gb);
        } else {
            const FM_NAME(fm_vec) sa = FM_NAME(fm_vload)(a_sq + c * FM_VW) + ga * ga;
            const FM_NAME(fm_vec) sb = FM_NAME(fm_vload)(b_sq + c * FM_VW) + gb * gb;
            FM_NAME(fm_vstore)(a_sq + c * FM_VW, sa);
            FM_NAME(fm_vstore)(b_sq + c * FM_VW, sb);
            FM_NAME(fm_vstore)(a + c * FM_VW, av - lr * ga * FM_NAME(ffm_vrsqrt)(sa + eps));
            FM_NAME(fm_vstore)(b + c * FM_VW, bv - lr * gb * FM_NAME(ffm_vrsqrt)(sb + eps));
        }
    }
}
#endif

/* The pairs' steps of one row (fastfm.h): gr = g r^2, the loss gradient times the
 * row's scale squared, so that pair (p, q) has s = gr val_p val_q. */
static FM_INLINE void FM_NAME(ffm_update_pairs)(const FM_NAME(ffm_ctx) *c, const double gr,
                                                const int k, const IDX *idx, const int32_t *fld,
                                                const REAL *val, const int64_t nnz,
                                                const int binary, const int rule)
{
    REAL *const V = c->V, *const G = c->V_sum_sq;
    const int64_t stride = c->F * (int64_t)k;
    const REAL lr = (REAL)c->lr, reg = (REAL)c->reg_factors, eps = (REAL)FM_ADAGRAD_EPS;
    for (int64_t p = 0; p < nnz; p++) {
        const double xp = binary ? 1.0 : (double)val[p];
        const int64_t at_p = (int64_t)idx[p] * stride, fp = (int64_t)fld[p] * k;
        for (int64_t q = p + 1; q < nnz; q++) {
            const REAL s = (REAL)(gr * xp * (binary ? 1.0 : (double)val[q]));
            const int64_t ia = at_p + (int64_t)fld[q] * k;
            const int64_t ib = (int64_t)idx[q] * stride + fp;
#ifdef FM_HAVE_VEC
            if (k % FM_VW == 0 && k <= FM_K_STACK) {
                FM_NAME(ffm_update_pair_vec)(V + ia, V + ib, G ? G + ia : NULL, G ? G + ib : NULL,
                                             s, lr, reg, eps, k, rule);
                continue;
            }
#endif
            if (k <= FM_K_STACK) {
                REAL a[FM_K_STACK], b[FM_K_STACK];
                memcpy(a, V + ia, (size_t)k * sizeof(REAL));
                memcpy(b, V + ib, (size_t)k * sizeof(REAL));
                if (rule == FM_RULE_SGD) {
                    FM_SIMD
                    for (int d = 0; d < k; d++) {
                        const REAL ga = s * b[d] + reg * a[d], gb = s * a[d] + reg * b[d];
                        a[d] -= lr * ga;
                        b[d] -= lr * gb;
                    }
                } else {
                    REAL sa[FM_K_STACK], sb[FM_K_STACK], ga[FM_K_STACK], gb[FM_K_STACK];
                    REAL ra[FM_K_STACK], rb[FM_K_STACK];
                    memcpy(sa, G + ia, (size_t)k * sizeof(REAL));
                    memcpy(sb, G + ib, (size_t)k * sizeof(REAL));
                    FM_SIMD
                    for (int d = 0; d < k; d++) {
                        ga[d] = s * b[d] + reg * a[d];
                        gb[d] = s * a[d] + reg * b[d];
                        sa[d] += ga[d] * ga[d];
                        sb[d] += gb[d] * gb[d];
                    }
                    FM_NAME(ffm_inverse_sqrt)(ra, sa, eps, k);
                    FM_NAME(ffm_inverse_sqrt)(rb, sb, eps, k);
                    FM_SIMD
                    for (int d = 0; d < k; d++) {
                        a[d] -= lr * ga[d] * ra[d];
                        b[d] -= lr * gb[d] * rb[d];
                    }
                    memcpy(G + ia, sa, (size_t)k * sizeof(REAL));
                    memcpy(G + ib, sb, (size_t)k * sizeof(REAL));
                }
                memcpy(V + ia, a, (size_t)k * sizeof(REAL));
                memcpy(V + ib, b, (size_t)k * sizeof(REAL));
            } else {
                /* wide k: factor by factor (each factor's two values read before
                 * either is written, as in the vector path) */
                for (int d = 0; d < k; d++) {
                    const REAL av = V[ia + d], bv = V[ib + d];
                    const REAL ga = s * bv + reg * av, gb = s * av + reg * bv;
                    if (rule == FM_RULE_SGD) {
                        V[ia + d] = av - lr * ga;
                        V[ib + d] = bv - lr * gb;
                    } else {
                        const REAL sa = G[ia + d] + ga * ga, sb = G[ib + d] + gb * gb;
                        G[ia + d] = sa;
                        G[ib + d] = sb;
                        V[ia + d] = av - lr * ga / FM_NAME(fm_real_sqrt)(sa + eps);
                        V[ib + d] = bv - lr * gb / FM_NAME(fm_real_sqrt)(sb + eps);
                    }
                }
            }
        }
    }
}

/* Trains on positions [begin, end) of the visit order. Rows come in a random
 * order, so each costs misses (row pointer and target, then its entries, then
 * its parameters) that depend on each other; they are prefetched in stages,
 * FFM_PF_ROW, FFM_PF_ENTRIES and FFM_PF_PARAMS rows ahead, as in sgd_impl.h. */
static FM_INLINE void FM_NAME(ffm_rows)(const FM_NAME(ffm_ctx) *c, FM_NAME(ffm_worker) *wk,
                                        int64_t begin, int64_t end, const int k,
                                        const int binary, const int rule)
{
    int64_t ring[FFM_RING];
    const int64_t F = c->F;
    for (int64_t a = begin; a < begin + FFM_PF_ROW && a < end; a++) {
        ring[a & (FFM_RING - 1)] = (int64_t)fm_visit_row(&c->order, &wk->cursor, (uint64_t)a);
        FM_PREFETCH_READ(c->indptr + ring[a & (FFM_RING - 1)]);
    }
    for (int64_t pos = begin; pos < end; pos++) {
        const int64_t row = ring[pos & (FFM_RING - 1)];
        const int64_t b = c->indptr[row], nnz = c->indptr[row + 1] - b;
        const IDX *idx = c->indices + b;
        const int32_t *fld = c->fields + b;
        const REAL *val = binary ? NULL : c->data + b;
        double r, pred, g, loss, sw;
        if (pos + FFM_PF_ROW < end) {
            const int64_t ahead =
                (int64_t)fm_visit_row(&c->order, &wk->cursor, (uint64_t)(pos + FFM_PF_ROW));
            ring[(pos + FFM_PF_ROW) & (FFM_RING - 1)] = ahead;
            FM_PREFETCH_READ(c->indptr + ahead);
            FM_PREFETCH_READ(c->y + ahead);
            if (c->sample_weight)
                FM_PREFETCH_READ(c->sample_weight + ahead);
        }
        if (pos + FFM_PF_ENTRIES < end) {
            const int64_t e = c->indptr[ring[(pos + FFM_PF_ENTRIES) & (FFM_RING - 1)]];
            FM_PREFETCH_READ(c->indices + e);
            FM_PREFETCH_READ(c->fields + e);
            if (!binary)
                FM_PREFETCH_READ(c->data + e);
        }
        if (c->prefetch && pos + FFM_PF_PARAMS < end)
            FM_NAME(ffm_prefetch_row)(c, ring[(pos + FFM_PF_PARAMS) & (FFM_RING - 1)], k);
        sw = c->sample_weight ? c->sample_weight[row] : 1.0;
        pred = FM_NAME(ffm_predict_row)(wk->w0, c->w, c->V, F, k, c->linear, c->normalize, idx,
                                        fld, val, nnz, binary, &r);
        if (c->loss == FM_LOSS_SQUARED)
            pred = pred < c->clip_min ? c->clip_min : (pred > c->clip_max ? c->clip_max : pred);
        g = sw * fm_loss_grad(c->loss, pred, c->y[row], &loss);
        wk->loss_sum += sw * loss;
        wk->weight_sum += sw;
        if (c->linear) {
            wk->w0 = FM_NAME(ffm_linear_step)(rule, wk->w0, g, c->reg_bias, 0.0, &wk->w0_sum_sq,
                                              &wk->w0_z, c);
            for (int64_t p = 0; p < nnz; p++) {
                const int64_t j = (int64_t)idx[p];
                const double grad = g * r * (binary ? 1.0 : (double)val[p]);
                double sq = c->w_sum_sq ? (double)c->w_sum_sq[j] : 0.0;
                double z = c->w_z ? (double)c->w_z[j] : 0.0;
                c->w[j] = (REAL)FM_NAME(ffm_linear_step)(rule, (double)c->w[j], grad,
                                                         c->reg_linear, c->ftrl_l1, &sq, &z, c);
                if (c->w_sum_sq)
                    c->w_sum_sq[j] = (REAL)sq;
                if (c->w_z)
                    c->w_z[j] = (REAL)z;
            }
        }
        if (k > 0)
            FM_NAME(ffm_update_pairs)(c, g * r * r, k, idx, fld, val, nnz, binary, rule);
    }
    wk->n_rows += end > begin ? end - begin : 0;
}

#define FFM_ROWS_K(binary, rule)                                                   \
    switch (k) {                                                                   \
    case 4: FM_NAME(ffm_rows)(c, wk, begin, end, 4, binary, rule); break;          \
    case 8: FM_NAME(ffm_rows)(c, wk, begin, end, 8, binary, rule); break;          \
    case 16: FM_NAME(ffm_rows)(c, wk, begin, end, 16, binary, rule); break;        \
    case 32: FM_NAME(ffm_rows)(c, wk, begin, end, 32, binary, rule); break;        \
    default: FM_NAME(ffm_rows)(c, wk, begin, end, k, binary, rule); break;         \
    }

#define FFM_ROWS_RULE(rule)                                                        \
    if (c->data) {                                                                 \
        FFM_ROWS_K(0, rule)                                                        \
    } else {                                                                       \
        FFM_ROWS_K(1, rule)                                                        \
    }

/* The rows of positions [begin, end), with k, binary and the rule as constants. */
static void FM_NAME(ffm_rows_k)(const FM_NAME(ffm_ctx) *c, FM_NAME(ffm_worker) *wk,
                                int64_t begin, int64_t end, int k)
{
    if (c->rule == FM_RULE_SGD) {
        FFM_ROWS_RULE(FM_RULE_SGD)
    } else if (c->rule == FM_RULE_ADAGRAD) {
        FFM_ROWS_RULE(FM_RULE_ADAGRAD)
    } else {
        FFM_ROWS_RULE(FM_RULE_FTRL)
    }
}
#undef FFM_ROWS_K
#undef FFM_ROWS_RULE

static int FM_NAME(ffm_sgd_epoch_impl)(fm_ffm_model *m, const fm_csr *X, const int32_t *fields,
                                       const double *y, const double *sample_weight,
                                       const fm_sgd_params *prm, fm_sgd_state *state,
                                       fm_epoch_stats *stats)
{
    FM_NAME(ffm_ctx) c;
    const int64_t n_rows = X->n_rows;
    const int k = m->n_factors;
    int n_threads = fm_clamp_threads(prm->schedule.n_threads);
    double shared_w0 = m->w0;
    double shared_sq = state ? state->w0_sum_sq : 0.0, shared_z = state ? state->w0_z : 0.0;
    double loss_sum = 0.0, weight_sum = 0.0;
    int64_t rows = 0;
    const int adaptive = prm->sgd.rule != FM_RULE_SGD;
    const int64_t model_bytes = m->n_features * (int64_t)m->n_fields * (int64_t)(k > 0 ? k : 1) *
                                (int64_t)sizeof(REAL) * (adaptive ? 2 : 1);

    c.indptr = X->indptr;
    c.indices = (const IDX *)X->indices;
    c.fields = fields;
    c.data = (const REAL *)X->data;
    c.y = y;
    c.sample_weight = sample_weight;
    fm_visit_order_init(&c.order, (uint64_t)n_rows, (uint64_t)prm->schedule.block_rows,
                        prm->schedule.seed);
    c.loss = prm->objective.loss;
    c.rule = prm->sgd.rule;
    c.linear = m->linear;
    c.normalize = m->normalize;
    c.prefetch = model_bytes > FM_PREFETCH_MIN_BYTES;
    c.F = m->n_fields;
    c.lr = prm->sgd.learning_rate;
    c.reg_bias = prm->objective.reg_bias;
    c.reg_linear = prm->objective.reg_linear;
    c.reg_factors = prm->objective.reg_factors;
    c.clip_min = prm->objective.clip_min;
    c.clip_max = prm->objective.clip_max;
    c.ftrl_beta = prm->sgd.ftrl_beta;
    c.ftrl_l1 = prm->sgd.ftrl_l1;
    c.w = (REAL *)m->w;
    c.V = (REAL *)m->V;
    c.w_sum_sq = adaptive ? (REAL *)state->w_sum_sq : NULL;
    c.w_z = prm->sgd.rule == FM_RULE_FTRL ? (REAL *)state->w_z : NULL;
    c.V_sum_sq = adaptive ? (REAL *)state->V_sum_sq : NULL;

    if ((int64_t)n_threads > n_rows)
        n_threads = n_rows > 0 ? (int)n_rows : 1;
    memset(stats, 0, sizeof(*stats));

#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(+ : loss_sum, weight_sum, rows)
#endif
    {
        const int t = fm_thread_id(), team = fm_team_size();
        const int64_t lo = n_rows * t / team, hi = n_rows * (t + 1) / team;
        FM_NAME(ffm_worker) wk;
        /* hogwild: V and w are shared in place; w0, which every row writes, is
         * private and folded into the shared one every FM_W0_SYNC rows (as the
         * FM kernel does), so the cores do not trade its line on every row */
        double synced = team > 1 ? fm_atomic_read(&shared_w0) : shared_w0;
        double synced_sq = team > 1 ? fm_atomic_read(&shared_sq) : shared_sq;
        double synced_z = team > 1 ? fm_atomic_read(&shared_z) : shared_z;
        const int64_t sync = team > 1 ? FM_W0_SYNC : (hi - lo > 0 ? hi - lo : 1);
        memset(&wk, 0, sizeof(wk));
        fm_visit_cursor_init(&wk.cursor);
        wk.w0 = synced;
        wk.w0_sum_sq = synced_sq;
        wk.w0_z = synced_z;
        for (int64_t pos = lo; pos < hi; pos += sync) {
            const int64_t end = pos + sync < hi ? pos + sync : hi;
            FM_NAME(ffm_rows_k)(&c, &wk, pos, end, k);
            if (team > 1) {
                fm_atomic_add(&shared_w0, wk.w0 - synced);
                fm_atomic_add(&shared_sq, wk.w0_sum_sq - synced_sq);
                fm_atomic_add(&shared_z, wk.w0_z - synced_z);
                synced = fm_atomic_read(&shared_w0);
                synced_sq = fm_atomic_read(&shared_sq);
                synced_z = fm_atomic_read(&shared_z);
                if (c.rule == FM_RULE_FTRL) /* z follows the merged w0 (see sgd_impl.h) */
                    synced_z = fm_ftrl_z_for(synced, synced_z, synced_sq, c.lr, c.ftrl_beta, 0.0,
                                             c.reg_bias);
                wk.w0 = synced;
                wk.w0_sum_sq = synced_sq;
                wk.w0_z = synced_z;
            }
        }
        if (team == 1) {
            shared_w0 = wk.w0;
            shared_sq = wk.w0_sum_sq;
            shared_z = wk.w0_z;
        }
        loss_sum += wk.loss_sum;
        weight_sum += wk.weight_sum;
        rows += wk.n_rows;
    }
    m->w0 = shared_w0;
    if (state) {
        state->w0_sum_sq = shared_sq;
        state->w0_z = prm->sgd.rule == FM_RULE_FTRL && n_threads > 1
                          ? fm_ftrl_z_for(shared_w0, shared_z, shared_sq, c.lr, c.ftrl_beta, 0.0,
                                          c.reg_bias)
                          : shared_z;
    }
    stats->loss_sum = loss_sum;
    stats->weight_sum = weight_sum;
    stats->n_rows = rows;
    stats->n_threads = n_threads;
    stats->parallel_mode = n_threads == 1 ? FM_PARALLEL_SERIAL : FM_PARALLEL_HOGWILD;
    if (!isfinite(loss_sum + m->w0) || (state && !isfinite(state->w0_sum_sq + state->w0_z)))
        return FM_ERR_DIVERGED;
    return FM_OK;
}
