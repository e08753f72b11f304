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

/* sum_{p<q} <v_{j_p, f_q}, v_{j_q, f_p}> val_p val_q, before the row's scale. vb[p]
 * is entry p's feature block: its n_fields vectors of k values (in the model, or a
 * thread's copy of a hot feature). */
static FM_INLINE double FM_NAME(ffm_pairs)(REAL *const *vb, const int k, const int32_t *fld,
                                           const REAL *val, const int64_t nnz, const int binary)
{
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
            const REAL *base_p = vb[p];
            const int64_t fp = (int64_t)fld[p] * k;
            for (int64_t q = p + 1; q < nnz; q++) {
                const REAL *a = base_p + (int64_t)fld[q] * k;
                const REAL *b = vb[q] + fp;
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
            const REAL *base_p = vb[p];
            const int64_t fp = (int64_t)fld[p] * k;
            for (int64_t q = p + 1; q < nnz; q++) {
                const REAL xx = binary ? (REAL)1 : xp * val[q];
                const REAL *a = base_p + (int64_t)fld[q] * k;
                const REAL *b = vb[q] + fp;
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
            const REAL *base_p = vb[p];
            const int64_t fp = (int64_t)fld[p] * k;
            for (int64_t q = p + 1; q < nnz; q++) {
                const REAL *a = base_p + (int64_t)fld[q] * k;
                const REAL *b = vb[q] + fp;
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
static FM_INLINE double FM_NAME(ffm_predict_row)(double w0, REAL *const *wp, REAL *const *vb,
                                                 const int k, const int linear,
                                                 const int normalize, const int32_t *fld,
                                                 const REAL *val, const int64_t nnz,
                                                 const int binary, double *scale)
{
    const double r = FM_NAME(ffm_row_scale)(val, nnz, normalize, binary);
    double y = k > 0 ? r * r * FM_NAME(ffm_pairs)(vb, k, fld, val, nnz, binary) : 0.0;
    if (linear) {
        double lin = 0.0;
        for (int64_t p = 0; p < nnz; p++)
            lin += (double)*wp[p] * (binary ? 1.0 : (double)val[p]);
        y += w0 + r * lin;
    }
    *scale = r;
    return y;
}

/* Batch predict reads rows in order, which the hardware streams; the parameters
 * the rows name it cannot see coming: read prefetches of a row's, as much of each
 * feature's run as the epoch prefetches, and its w entries. */
static FM_INLINE void FM_NAME(ffm_predict_prefetch_row)(const REAL *w, const REAL *V,
                                                        const int64_t *indptr,
                                                        const IDX *indices, int64_t row,
                                                        int64_t stride, int linear)
{
    const size_t bytes = (size_t)stride * sizeof(REAL);
    const size_t span = bytes < (size_t)FFM_PF_MAX_LINES * 64 ? bytes : (size_t)FFM_PF_MAX_LINES * 64;
    for (int64_t p = indptr[row]; p < indptr[row + 1]; p++) {
        const int64_t j = (int64_t)indices[p];
        if (linear)
            FM_PREFETCH_READ(w + j);
        if (span == 0)
            continue; /* no V to point into */
        const char *v = (const char *)V + (size_t)j * bytes;
        for (size_t off = 0; off < span; off += 64)
            FM_PREFETCH_READ(v + off);
    }
}

static int FM_NAME(ffm_predict_impl)(const fm_ffm_model *m, const fm_csr *X,
                                     const int32_t *fields, double *out, int n_threads)
{
    const int64_t *indptr = X->indptr;
    const IDX *indices = (const IDX *)X->indices;
    const REAL *data = (const REAL *)X->data;
    /* the row maths takes writable pointers (the epoch shares it); nothing is written */
    REAL *w = (REAL *)m->w, *V = (REAL *)m->V;
    const int64_t F = m->n_fields, n_rows = X->n_rows;
    const int64_t stride = F * (int64_t)m->n_factors;
    const int k = m->n_factors, linear = m->linear, normalize = m->normalize;
    const int prefetch = m->n_features * (stride + linear) * (int64_t)sizeof(REAL) >
                         FM_PREFETCH_MIN_BYTES;
    int64_t longest = 1;
    int failed = 0;
    (void)n_threads; /* unused in a serial build */
    for (int64_t i = 0; i < n_rows; i++)
        if (indptr[i + 1] - indptr[i] > longest)
            longest = indptr[i + 1] - indptr[i];

#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
#endif
    {
        REAL **vb = (REAL **)malloc(2 * (size_t)longest * sizeof(REAL *));
        REAL **wp = vb ? vb + longest : NULL;
        if (!vb)
            failed = 1;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1024)
#endif
        for (int64_t i = 0; i < n_rows; i++) {
            const int64_t b = indptr[i], nnz = indptr[i + 1] - b;
            double r;
            if (!vb)
                continue;
            if (prefetch && i + FFM_PF_PARAMS < n_rows)
                FM_NAME(ffm_predict_prefetch_row)(w, V, indptr, indices, i + FFM_PF_PARAMS,
                                                  stride, linear);
            for (int64_t p = 0; p < nnz; p++) {
                const int64_t j = (int64_t)indices[b + p];
                vb[p] = V + j * stride;
                wp[p] = linear ? w + j : NULL;
            }
            if (data)
                out[i] = FM_NAME(ffm_predict_row)(m->w0, wp, vb, k, linear, normalize,
                                                  fields + b, data + b, nnz, 0, &r);
            else
                out[i] = FM_NAME(ffm_predict_row)(m->w0, wp, vb, k, linear, normalize,
                                                  fields + b, NULL, nnz, 1, &r);
        }
        free(vb);
    }
    return failed ? FM_ERR_NOMEM : FM_OK;
}

/* The FM's CSR check over (feature, field) keys (fastfm.h, fm_ffm_check_rows). */
static int FM_NAME(ffm_check_rows_impl)(const fm_csr *X, const int32_t *fields,
                                        int32_t n_fields, int64_t nnz_capacity,
                                        fm_csr_error *err)
{
    const int64_t *indptr = X->indptr;
    const IDX *indices = (const IDX *)X->indices;
    const REAL *data = (const REAL *)X->data;
    err->row = err->position = err->column = -1;
    if (indptr[0] != 0) {
        err->row = 0;
        return FM_ERR_INDPTR;
    }
    for (int64_t i = 0; i < X->n_rows; i++) {
        const int64_t b = indptr[i], e = indptr[i + 1];
        int64_t prev_j = -1, prev_f = -1;
        if (e < b || e > nnz_capacity) {
            err->row = i;
            return FM_ERR_INDPTR;
        }
        for (int64_t p = b; p < e; p++) {
            const int64_t j = (int64_t)indices[p], f = fields[p];
            int status = FM_OK;
            if (j < 0 || j >= X->n_cols)
                status = FM_ERR_INDEX_RANGE;
            else if (f < 0 || f >= n_fields)
                status = FM_ERR_PARAM;
            else if (j < prev_j || (j == prev_j && f < prev_f))
                status = FM_ERR_UNSORTED;
            else if (j == prev_j && f == prev_f)
                status = FM_ERR_DUPLICATE;
            else if (data && !isfinite((double)data[p]))
                status = FM_ERR_NONFINITE;
            if (status != FM_OK) {
                err->row = i;
                err->position = p;
                err->column = j;
                return status;
            }
            prev_j = j;
            prev_f = f;
        }
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
    const fm_hotset *hot;       /* hybrid: the features each thread keeps a copy of; or NULL */
    int k;
} FM_NAME(ffm_ctx);

/* A thread's copies of the hot features (hybrid), slot by slot: each slot holds the
 * feature's block of n_fields x k factors and its sums of squares, its w and w's
 * state; base_* is the value at the last merge, so that a merge adds this thread's
 * change since then to the shared model. */
typedef struct {
    REAL *V, *G, *base_V, *base_G;  /* n_hot x (n_fields k) each (G, base_G: adaptive) */
    REAL *w, *w_sq, *w_z, *base_w, *base_w_sq, *base_w_z; /* n_hot each (when used) */
} FM_NAME(ffm_hot_copy);

/* One thread's running values: its copy of w0 and w0's state, its sums. */
typedef struct {
    double w0, w0_sum_sq, w0_z;
    double loss_sum, weight_sum;
    int64_t n_rows;
    fm_visit_cursor cursor;
    /* the current row's entries: feature block, w, w's state (model or hot copy) */
    REAL **vb, **gb, **wp, **wsq, **wz;
    FM_NAME(ffm_hot_copy) hot;
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
                                                const int k, REAL *const *vb, REAL *const *sqb,
                                                const int32_t *fld, const REAL *val,
                                                const int64_t nnz, const int binary,
                                                const int rule)
{
    const REAL lr = (REAL)c->lr, reg = (REAL)c->reg_factors, eps = (REAL)FM_ADAGRAD_EPS;
    for (int64_t p = 0; p < nnz; p++) {
        const double xp = binary ? 1.0 : (double)val[p];
        const int64_t fp = (int64_t)fld[p] * k;
        for (int64_t q = p + 1; q < nnz; q++) {
            const REAL s = (REAL)(gr * xp * (binary ? 1.0 : (double)val[q]));
            const int64_t fq = (int64_t)fld[q] * k;
            REAL *const Va = vb[p] + fq, *const Vb = vb[q] + fp;
            REAL *const Ga = rule == FM_RULE_SGD ? NULL : sqb[p] + fq;
            REAL *const Gb = rule == FM_RULE_SGD ? NULL : sqb[q] + fp;
#ifdef FM_HAVE_VEC
            if (k % FM_VW == 0 && k <= FM_K_STACK) {
                FM_NAME(ffm_update_pair_vec)(Va, Vb, Ga, Gb, s, lr, reg, eps, k, rule);
                continue;
            }
#endif
            if (k <= FM_K_STACK) {
                REAL a[FM_K_STACK], b[FM_K_STACK];
                memcpy(a, Va, (size_t)k * sizeof(REAL));
                memcpy(b, Vb, (size_t)k * sizeof(REAL));
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
                    memcpy(sa, Ga, (size_t)k * sizeof(REAL));
                    memcpy(sb, Gb, (size_t)k * sizeof(REAL));
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
                    memcpy(Ga, sa, (size_t)k * sizeof(REAL));
                    memcpy(Gb, sb, (size_t)k * sizeof(REAL));
                }
                memcpy(Va, a, (size_t)k * sizeof(REAL));
                memcpy(Vb, b, (size_t)k * sizeof(REAL));
            } else {
                /* wide k: factor by factor (each factor's two values read before
                 * either is written, as in the vector path) */
                for (int d = 0; d < k; d++) {
                    const REAL av = Va[d], bv = Vb[d];
                    const REAL ga = s * bv + reg * av, gb2 = s * av + reg * bv;
                    if (rule == FM_RULE_SGD) {
                        Va[d] = av - lr * ga;
                        Vb[d] = bv - lr * gb2;
                    } else {
                        const REAL sa = Ga[d] + ga * ga, sb = Gb[d] + gb2 * gb2;
                        Ga[d] = sa;
                        Gb[d] = sb;
                        Va[d] = av - lr * ga / FM_NAME(fm_real_sqrt)(sa + eps);
                        Vb[d] = bv - lr * gb2 / FM_NAME(fm_real_sqrt)(sb + eps);
                    }
                }
            }
        }
    }
}

/* Points the worker's entry arrays at where each entry's parameters live: the
 * model, or this thread's copy when the feature is hot (hybrid). */
static FM_INLINE void FM_NAME(ffm_locate_row)(const FM_NAME(ffm_ctx) *c,
                                              FM_NAME(ffm_worker) *wk, const IDX *idx,
                                              const int64_t nnz, const int64_t stride)
{
    const fm_hotset *hs = c->hot;
    for (int64_t p = 0; p < nnz; p++) {
        const int64_t j = (int64_t)idx[p];
        if (hs && ((hs->bitmap[j >> 6] >> (j & 63)) & 1)) {
            uint64_t at = ((uint64_t)j * 0x9E3779B97F4A7C15ULL) & hs->mask;
            int64_t slot;
            while (hs->keys[at] != j)
                at = (at + 1) & hs->mask;
            slot = hs->slots[at];
            wk->vb[p] = wk->hot.V + slot * stride;
            wk->gb[p] = wk->hot.G ? wk->hot.G + slot * stride : NULL;
            wk->wp[p] = wk->hot.w + slot;
            wk->wsq[p] = wk->hot.w_sq ? wk->hot.w_sq + slot : NULL;
            wk->wz[p] = wk->hot.w_z ? wk->hot.w_z + slot : NULL;
        } else {
            wk->vb[p] = c->V + j * stride;
            wk->gb[p] = c->V_sum_sq ? c->V_sum_sq + j * stride : NULL;
            wk->wp[p] = c->w ? c->w + j : NULL;
            wk->wsq[p] = c->w_sum_sq ? c->w_sum_sq + j : NULL;
            wk->wz[p] = c->w_z ? c->w_z + j : NULL;
        }
    }
}

/* Adds `share` times this thread's change of one array of hot copies since the last
 * merge to the shared model (rows of `width` values per slot), then takes the shared
 * values. */
static void FM_NAME(ffm_merge_array)(REAL *shared, REAL *copy, REAL *base, const int64_t *ids,
                                     int64_t n_hot, int64_t width, const REAL share)
{
    for (int64_t s = 0; s < n_hot; s++) {
        REAL *dst = shared + ids[s] * width, *mine = copy + s * width, *was = base + s * width;
        for (int64_t t = 0; t < width; t++) {
            dst[t] += share * (mine[t] - was[t]);
            mine[t] = was[t] = dst[t];
        }
    }
}

/* Merges a thread's hot copies into the model, one thread at a time. Every thread
 * trains each hot feature many times between merges (it is in at least 1/200 of the
 * rows), so each copy moves most of the way a serial pass would: the parameters take
 * the average of the threads' changes (share 1 / threads, as the FM's replicas), while
 * the sums of squared gradients (and FTRL's n and z, of which its w is a function)
 * add up as in a serial pass. */
static void FM_NAME(ffm_merge_hot)(const FM_NAME(ffm_ctx) *c, FM_NAME(ffm_worker) *wk,
                                   const int team)
{
    const REAL average = (REAL)1 / (REAL)team;
    const fm_hotset *hs = c->hot;
    const int64_t stride = c->F * (int64_t)c->k;
    FM_NAME(ffm_hot_copy) *h = &wk->hot;
#ifdef _OPENMP
#pragma omp critical(ffm_merge)
#endif
    {
        FM_NAME(ffm_merge_array)(c->V, h->V, h->base_V, hs->ids, hs->n_hot, stride, average);
        if (h->G)
            FM_NAME(ffm_merge_array)(c->V_sum_sq, h->G, h->base_G, hs->ids, hs->n_hot, stride, 1);
        if (c->linear) {
            FM_NAME(ffm_merge_array)(c->w, h->w, h->base_w, hs->ids, hs->n_hot, 1, average);
            if (h->w_sq)
                FM_NAME(ffm_merge_array)(c->w_sum_sq, h->w_sq, h->base_w_sq, hs->ids, hs->n_hot,
                                         1, 1);
            if (h->w_z) {
                FM_NAME(ffm_merge_array)(c->w_z, h->w_z, h->base_w_z, hs->ids, hs->n_hot, 1, 1);
                for (int64_t s = 0; s < hs->n_hot; s++) {
                    const int64_t j = hs->ids[s];
                    c->w[j] = (REAL)fm_ftrl_weight((double)c->w_z[j], (double)c->w_sum_sq[j],
                                                   c->lr, c->ftrl_beta, c->ftrl_l1,
                                                   c->reg_linear);
                    h->w[s] = h->base_w[s] = c->w[j];
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
        FM_NAME(ffm_locate_row)(c, wk, idx, nnz, F * (int64_t)k);
        pred = FM_NAME(ffm_predict_row)(wk->w0, wk->wp, wk->vb, k, c->linear, c->normalize,
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
                const double grad = g * r * (binary ? 1.0 : (double)val[p]);
                REAL *const wj = wk->wp[p], *const sq_j = wk->wsq[p], *const z_j = wk->wz[p];
                double sq = sq_j ? (double)*sq_j : 0.0;
                double z = z_j ? (double)*z_j : 0.0;
                *wj = (REAL)FM_NAME(ffm_linear_step)(rule, (double)*wj, grad, c->reg_linear,
                                                     c->ftrl_l1, &sq, &z, c);
                if (sq_j)
                    *sq_j = (REAL)sq;
                if (z_j)
                    *z_j = (REAL)z;
            }
        }
        if (k > 0)
            FM_NAME(ffm_update_pairs)(c, g * r * r, k, wk->vb, wk->gb, fld, val, nnz, binary,
                                      rule);
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

/* The hot features of the hybrid mode: those in at least 1/FM_HOT_MIN_SHARE of a
 * sample of rows, the most frequent first, at most max_hot. 0, or -1 out of memory. */
static int FM_NAME(ffm_hotset_build)(const FM_NAME(ffm_ctx) *c, int64_t n_rows,
                                     int64_t n_features, int64_t max_hot, fm_hotset *hs)
{
    const int64_t sample = n_rows < FM_HOT_SAMPLE ? n_rows : FM_HOT_SAMPLE;
    const uint32_t threshold = (uint32_t)(sample / FM_HOT_MIN_SHARE > 2 ? sample / FM_HOT_MIN_SHARE
                                                                         : 2);
    uint32_t *counts = (uint32_t *)calloc((size_t)n_features, sizeof(uint32_t));
    fm_hot_candidate *cand = NULL;
    int64_t n_cand = 0;
    memset(hs, 0, sizeof(*hs));
    if (!counts)
        return -1;
    for (int64_t i = 0; i < sample; i++) {
        const int64_t row = i * n_rows / sample;
        for (int64_t p = c->indptr[row]; p < c->indptr[row + 1]; p++)
            counts[(int64_t)c->indices[p]]++;
    }
    for (int64_t j = 0; j < n_features; j++)
        n_cand += counts[j] >= threshold;
    if (n_cand > 0) {
        cand = (fm_hot_candidate *)malloc((size_t)n_cand * sizeof(*cand));
        if (!cand) {
            free(counts);
            return -1;
        }
        n_cand = 0;
        for (int64_t j = 0; j < n_features; j++)
            if (counts[j] >= threshold) {
                cand[n_cand].feature = j;
                cand[n_cand++].count = counts[j];
            }
        qsort(cand, (size_t)n_cand, sizeof(*cand), fm_hot_candidate_cmp);
    }
    free(counts);
    hs->n_hot = n_cand < max_hot ? n_cand : max_hot;
    if (hs->n_hot > 0) {
        hs->ids = (int64_t *)malloc((size_t)hs->n_hot * sizeof(int64_t));
        if (!hs->ids) {
            free(cand);
            fm_hotset_free(hs);
            return -1;
        }
        for (int64_t i = 0; i < hs->n_hot; i++)
            hs->ids[i] = cand[i].feature;
        if (fm_hotset_index(hs, n_features) != 0) {
            free(cand);
            fm_hotset_free(hs);
            return -1;
        }
    }
    free(cand);
    return 0;
}

/* A thread's hot copies: allocated (one block) and filled from the model. */
static int FM_NAME(ffm_hot_copy_init)(const FM_NAME(ffm_ctx) *c, FM_NAME(ffm_hot_copy) *h,
                                      REAL **block)
{
    const fm_hotset *hs = c->hot;
    const int64_t n = hs->n_hot, stride = c->F * (int64_t)c->k;
    const int adaptive = c->V_sum_sq != NULL, linear = c->linear;
    const int64_t total = n * stride * (adaptive ? 4 : 2) +
                          (linear ? n * (2 + (adaptive ? 2 : 0) + (c->w_z ? 2 : 0)) : 0);
    REAL *at = (REAL *)malloc((size_t)(total > 0 ? total : 1) * sizeof(REAL));
    memset(h, 0, sizeof(*h));
    *block = at;
    if (!at)
        return -1;
    h->V = at, at += n * stride;
    h->base_V = at, at += n * stride;
    if (adaptive) {
        h->G = at, at += n * stride;
        h->base_G = at, at += n * stride;
    }
    if (linear) {
        h->w = at, at += n;
        h->base_w = at, at += n;
        if (adaptive) {
            h->w_sq = at, at += n;
            h->base_w_sq = at, at += n;
        }
        if (c->w_z) {
            h->w_z = at, at += n;
            h->base_w_z = at, at += n;
        }
    }
    for (int64_t s = 0; s < n; s++) {
        const int64_t j = hs->ids[s];
        memcpy(h->V + s * stride, c->V + j * stride, (size_t)stride * sizeof(REAL));
        if (h->G)
            memcpy(h->G + s * stride, c->V_sum_sq + j * stride, (size_t)stride * sizeof(REAL));
        if (h->w) {
            h->w[s] = c->w[j];
            if (h->w_sq)
                h->w_sq[s] = c->w_sum_sq[j];
            if (h->w_z)
                h->w_z[s] = c->w_z[j];
        }
    }
    memcpy(h->base_V, h->V, (size_t)(n * stride) * sizeof(REAL));
    if (h->G)
        memcpy(h->base_G, h->G, (size_t)(n * stride) * sizeof(REAL));
    if (h->w) {
        memcpy(h->base_w, h->w, (size_t)n * sizeof(REAL));
        if (h->w_sq)
            memcpy(h->base_w_sq, h->w_sq, (size_t)n * sizeof(REAL));
        if (h->w_z)
            memcpy(h->base_w_z, h->w_z, (size_t)n * sizeof(REAL));
    }
    return 0;
}

/* Bytes of hot copies per thread at most (all four arrays): they should stay in the
 * core's own cache. */
#define FFM_HOT_MAX_BYTES ((int64_t)4 << 20)
/* Rows a thread trains between merges of its hot copies. */
#define FFM_HOT_SYNC_ROWS 2048
/* Epochs with less work than this (pairs times factors over the rows: about 10 ms
 * on one core) run on one thread: starting a team, finding the hot set and merging
 * cost about what a second thread saves there, and threads must never make an epoch
 * slower. Measured on a 2 vCPU Xeon (planted rows of 10 fields, k=8): a 3,000-row
 * epoch ran 6x slower on two threads, 20,000 rows (7.2M) broke even, 100,000 rows ran
 * at 0.85 of one thread. Below the threshold a second thread could save at most a few
 * milliseconds per epoch on any machine. */
#ifndef FFM_MIN_PARALLEL_WORK
#define FFM_MIN_PARALLEL_WORK ((int64_t)1 << 23)
#endif

static int FM_NAME(ffm_sgd_epoch_impl)(fm_ffm_model *m, const fm_csr *X, const int32_t *fields,
                                       const double *y, const double *sample_weight,
                                       const fm_sgd_params *prm, fm_sgd_state *state,
                                       fm_epoch_stats *stats)
{
    FM_NAME(ffm_ctx) c;
    fm_hotset hs;
    const int64_t n_rows = X->n_rows;
    const int k = m->n_factors;
    int n_threads = fm_clamp_threads(prm->schedule.n_threads);
    int mode = prm->sgd.parallel_mode;
    fm_w0_copy shared; /* w0 and its adaptive state, folded by the threads (w0_fold.h) */
    double loss_sum = 0.0, weight_sum = 0.0;
    int64_t rows = 0, longest = 1, work = 0;
    int failed = 0;
    const int adaptive = prm->sgd.rule != FM_RULE_SGD;
    const int64_t stride = (int64_t)m->n_fields * (int64_t)k;
    const int64_t model_bytes = m->n_features * (stride > 0 ? stride : 1) *
                                (int64_t)sizeof(REAL) * (adaptive ? 2 : 1);

    memset(&hs, 0, sizeof(hs));
    shared.w0 = m->w0;
    shared.sum_sq = state ? state->w0_sum_sq : 0.0;
    shared.z = state ? state->w0_z : 0.0;
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
    c.k = k;
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
    c.w_sum_sq = adaptive && m->linear ? (REAL *)state->w_sum_sq : NULL;
    c.w_z = prm->sgd.rule == FM_RULE_FTRL && m->linear ? (REAL *)state->w_z : NULL;
    c.V_sum_sq = adaptive ? (REAL *)state->V_sum_sq : NULL;
    c.hot = NULL;
    for (int64_t i = 0; i < n_rows; i++) {
        const int64_t nnz = X->indptr[i + 1] - X->indptr[i];
        if (nnz > longest)
            longest = nnz;
        if (work < FFM_MIN_PARALLEL_WORK)
            work += nnz * (nnz - 1) / 2 * (k > 0 ? k : 1) + nnz;
    }

    if ((int64_t)n_threads > n_rows)
        n_threads = n_rows > 0 ? (int)n_rows : 1;
    if (work < FFM_MIN_PARALLEL_WORK)
        n_threads = 1;
    memset(stats, 0, sizeof(*stats));
    /* auto: the hot features private to each thread (hybrid) when there are any:
     * on click logs the most common value of a field is in a large share of the
     * rows, and updating it in one shared model makes its lines bounce between the
     * cores on almost every row */
    if (mode == FM_PARALLEL_AUTO)
        mode = FM_PARALLEL_HYBRID;
    if (n_threads > 1 && mode == FM_PARALLEL_HYBRID && stride > 0) {
        const int64_t per_slot = stride * (int64_t)sizeof(REAL) * (adaptive ? 4 : 2);
        const int64_t max_hot = FFM_HOT_MAX_BYTES / per_slot < FM_HOT_MAX
                                    ? FFM_HOT_MAX_BYTES / per_slot : FM_HOT_MAX;
        if (FM_NAME(ffm_hotset_build)(&c, n_rows, m->n_features, max_hot, &hs) != 0)
            return FM_ERR_NOMEM;
        if (hs.n_hot > 0)
            c.hot = &hs;
    }
    if (n_threads > 1 && !c.hot)
        mode = FM_PARALLEL_HOGWILD;

#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(+ : loss_sum, weight_sum, rows) reduction(| : failed)
#endif
    {
        const int t = fm_thread_id(), team = fm_team_size();
        const int64_t lo = n_rows * t / team, hi = n_rows * (t + 1) / team;
        FM_NAME(ffm_worker) wk;
        REAL **entries = (REAL **)malloc(5 * (size_t)longest * sizeof(REAL *));
        REAL *hot_block = NULL;
        /* V and w are shared in place (hybrid: but for the hot features); w0, which
         * every row writes, is private and folded into the shared one every
         * FM_W0_SYNC rows (w0_fold.h) */
        fm_w0_copy synced = fm_w0_read(&shared), mine;
        const int64_t sync = team > 1 ? FM_W0_SYNC : (hi - lo > 0 ? hi - lo : 1);
        int64_t since_merge = 0;
        memset(&wk, 0, sizeof(wk));
        fm_visit_cursor_init(&wk.cursor);
        wk.w0 = synced.w0;
        wk.w0_sum_sq = synced.sum_sq;
        wk.w0_z = synced.z;
        if (entries) {
            wk.vb = entries;
            wk.gb = entries + longest;
            wk.wp = entries + 2 * longest;
            wk.wsq = entries + 3 * longest;
            wk.wz = entries + 4 * longest;
        }
        if (!entries || (c.hot && FM_NAME(ffm_hot_copy_init)(&c, &wk.hot, &hot_block) != 0))
            failed = 1;
        for (int64_t pos = lo; pos < hi && !failed; pos += sync) {
            const int64_t end = pos + sync < hi ? pos + sync : hi;
            FM_NAME(ffm_rows_k)(&c, &wk, pos, end, k);
            if (c.hot && ((since_merge += end - pos) >= FFM_HOT_SYNC_ROWS || end == hi)) {
                FM_NAME(ffm_merge_hot)(&c, &wk, team);
                since_merge = 0;
            }
            if (team > 1) {
                mine.w0 = wk.w0;
                mine.sum_sq = wk.w0_sum_sq;
                mine.z = wk.w0_z;
                fm_w0_fold(&shared, &mine, &synced, c.rule == FM_RULE_FTRL, c.lr, c.ftrl_beta,
                           c.reg_bias);
                wk.w0 = mine.w0;
                wk.w0_sum_sq = mine.sum_sq;
                wk.w0_z = mine.z;
            }
        }
        if (team == 1) {
            shared.w0 = wk.w0;
            shared.sum_sq = wk.w0_sum_sq;
            shared.z = wk.w0_z;
        }
        loss_sum += wk.loss_sum;
        weight_sum += wk.weight_sum;
        rows += wk.n_rows;
        free(entries);
        free(hot_block);
    }
    fm_hotset_free(&hs);
    if (failed)
        return FM_ERR_NOMEM;
    m->w0 = shared.w0;
    if (state) {
        state->w0_sum_sq = shared.sum_sq;
        state->w0_z = prm->sgd.rule == FM_RULE_FTRL && n_threads > 1
                          ? fm_ftrl_z_for(shared.w0, shared.z, shared.sum_sq, c.lr, c.ftrl_beta,
                                          0.0, c.reg_bias)
                          : shared.z;
    }
    stats->loss_sum = loss_sum;
    stats->weight_sum = weight_sum;
    stats->n_rows = rows;
    stats->n_threads = n_threads;
    stats->parallel_mode = n_threads == 1 ? FM_PARALLEL_SERIAL : mode;
    if (!isfinite(loss_sum + m->w0) || (state && !isfinite(state->w0_sum_sq + state->w0_z)))
        return FM_ERR_DIVERGED;
    return FM_OK;
}
