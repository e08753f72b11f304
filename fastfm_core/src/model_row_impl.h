/*
 * The model maths for one CSR row (template: REAL, IDX, FM_NAME; see
 * instantiate.h). Shared by every solver and by batch prediction.
 *
 * The k passed in is a compile-time constant at the hot call sites (the
 * solvers switch on common k), so the loops over factors unroll into a few
 * vector instructions. binary (also a constant there) says that every stored
 * value is 1 and val is not read: one-hot data then costs no loads of values.
 */

#define FM_K_STACK 64 /* the largest k whose per-row state lives in registers / on the stack */

/* Private copies of the hottest features' parameters (the solvers' "hybrid"
 * mode): a read-only bitmap says whether feature j is hot, an open-addressing
 * table gives its slot, and w/V/touches hold this thread's copy by slot. */
typedef struct {
    const uint64_t *bitmap;
    const int64_t *keys;    /* feature id per table entry, -1 when empty */
    const int32_t *slots;   /* slot of keys[i] */
    uint64_t mask;          /* table size - 1 (a power of 2) */
    REAL *w, *V;
    uint32_t *touches;
    REAL *sum_sq_w, *z_w, *sum_sq_V; /* the adaptive rules' state of the copies (else NULL) */
} FM_NAME(fm_hot);

/* Where feature j's parameters live: w + j and V + j k, or this thread's
 * private copy when hybrid (a compile-time constant at every call) and j is
 * hot. Returns the hot slot, or -1. */
static FM_INLINE int32_t FM_NAME(fm_locate)(int64_t j, REAL *w, REAL *V, const int k,
                                            const FM_NAME(fm_hot) *hot, const int hybrid,
                                            REAL **wj, REAL **vj)
{
    if (hybrid && ((hot->bitmap[j >> 6] >> (j & 63)) & 1)) {
        uint64_t at = ((uint64_t)j * 0x9E3779B97F4A7C15ULL) & hot->mask;
        while (hot->keys[at] != j)
            at = (at + 1) & hot->mask;
        {
            const int32_t slot = hot->slots[at];
            *wj = hot->w + slot;
            *vj = hot->V + (int64_t)slot * k;
            return slot;
        }
    }
    *wj = w + j;
    *vj = V + j * k;
    return -1;
}

/* Sums t[0..n) in a fixed tree order: log2(n) dependent vector adds instead
 * of n dependent scalar adds, and the same order on every call. */
static FM_INLINE REAL FM_NAME(fm_tree_sum)(REAL *restrict t, int n)
{
    if (n <= 0)
        return 0;
    while (n > 1) {
        const int half = n / 2;
        const int rest = n - half;
        for (int f = 0; f < half; f++)
            t[f] += t[rest + f];
        n = rest;
    }
    return t[0];
}

/* y(x) for one row, O(k * nnz). Leaves q_f = sum_j v_jf x_j in q, which the
 * factor gradient x_i (q_f - v_if x_i) reuses. s2 is scratch of k entries. */
static FM_INLINE double FM_NAME(fm_predict_row)(
    double w0, REAL *w, REAL *V, const int k,
    const IDX *restrict idx, const REAL *restrict val, const int64_t nnz,
    REAL *restrict q, REAL *restrict s2, const int binary,
    const FM_NAME(fm_hot) *hot, const int hybrid)
{
    double linear = 0.0;
    FM_SIMD
    for (int f = 0; f < k; f++) {
        q[f] = 0;
        s2[f] = 0;
    }
    for (int64_t p = 0; p < nnz; p++) {
        const REAL x = binary ? (REAL)1 : val[p];
        REAL *wj, *vj;
        const REAL *restrict v;
        (void)FM_NAME(fm_locate)((int64_t)idx[p], w, V, k, hot, hybrid, &wj, &vj);
        v = vj;
        linear += (double)*wj * (double)x;
        FM_SIMD
        for (int f = 0; f < k; f++) {
            const REAL vx = v[f] * x;
            q[f] += vx;
            s2[f] += vx * vx;
        }
    }
    /* 1/2 sum_f (q_f^2 - sum_i v_if^2 x_i^2), reusing s2 as the terms */
    FM_SIMD
    for (int f = 0; f < k; f++)
        s2[f] = q[f] * q[f] - s2[f];
    return w0 + linear + 0.5 * (double)FM_NAME(fm_tree_sum)(s2, k);
}

/* One L2-regularised gradient step on the parameters a row touches, given
 * g = dL/dy for that row and the q its prediction left behind:
 *   w_i  -= lr (g x_i + reg_w w_i)
 *   v_if -= lr (g x_i (q_f - v_if x_i) + reg_v v_if)
 * The factor step is folded to v_if = (1 - lr reg_v + lr g x_i^2) v_if - lr g x_i q_f:
 * two operations per factor. Indices of a row are distinct (checked), so no
 * parameter is read after this row has written it. */
static FM_INLINE void FM_NAME(fm_sgd_update_row)(
    const double g, const double lr, const double reg_w, const double reg_v,
    REAL *w, REAL *V, const int k,
    const IDX *restrict idx, const REAL *restrict val, const int64_t nnz,
    const REAL *restrict q, const int binary, const FM_NAME(fm_hot) *hot, const int hybrid)
{
    const REAL shrink_w = (REAL)(1.0 - lr * reg_w);
    const double shrink_v = 1.0 - lr * reg_v;
    for (int64_t p = 0; p < nnz; p++) {
        const double x = binary ? 1.0 : (double)val[p];
        const double step = lr * g * x;  /* lr * dL/dy * dy/dw_j */
        const REAL pull = (REAL)step;
        REAL *wj, *vj;
        const int32_t slot = FM_NAME(fm_locate)((int64_t)idx[p], w, V, k, hot, hybrid, &wj, &vj);
        if (hybrid && slot >= 0)
            hot->touches[slot]++;
        *wj = shrink_w * *wj - pull; /* in the model's dtype: no round trip through double */
        {
            const REAL keep = (REAL)(shrink_v + step * x);
            REAL *restrict v = vj;
            FM_SIMD
            for (int f = 0; f < k; f++)
                v[f] = keep * v[f] - pull * q[f];
        }
    }
}

/*
 * The same two functions on explicit vectors (GCC and clang vector
 * extensions), for k a multiple of the vector width FM_VW. Left to itself the
 * compiler vectorises the loop over nonzeros with gathers, or leaves the
 * unrolled factor loops scalar; written this way q and the squares stay in
 * registers and each factor row is one load, one multiply-add and one store
 * per vector. Same operations per factor as above, so the results agree with
 * the portable versions up to the order of the final sum.
 */
#if defined(__GNUC__) || defined(__clang__)
#define FM_HAVE_VEC 1
/* 32-byte vectors where the target has AVX, else the 16 bytes of SSE2/NEON */
#if defined(__AVX__)
#define FM_VBYTES 32
#else
#define FM_VBYTES 16
#endif
typedef REAL FM_NAME(fm_vec) __attribute__((vector_size(FM_VBYTES)));
typedef REAL FM_NAME(fm_vec16) __attribute__((vector_size(16)));
#define FM_VW ((int)(FM_VBYTES / sizeof(REAL)))

static FM_INLINE FM_NAME(fm_vec) FM_NAME(fm_vload)(const REAL *p)
{
    FM_NAME(fm_vec) v;
    memcpy(&v, p, sizeof v);
    return v;
}

static FM_INLINE void FM_NAME(fm_vstore)(REAL *p, FM_NAME(fm_vec) v)
{
    memcpy(p, &v, sizeof v);
}

/* Sum of the lanes by halving (the tree order of fm_tree_sum), in registers:
 * the halves are taken with memcpy, which compilers turn into lane moves. */
static FM_INLINE REAL FM_NAME(fm_vsum)(FM_NAME(fm_vec) v)
{
    FM_NAME(fm_vec16) lo;
    REAL t[16 / sizeof(REAL)];
    memcpy(&lo, &v, 16);
    if (FM_VBYTES == 32) {
        FM_NAME(fm_vec16) hi;
        memcpy(&hi, (const char *)&v + (FM_VBYTES - 16), 16);
        lo += hi;
    }
    memcpy(t, &lo, 16);
    if (sizeof(REAL) == 4)
        return (t[0] + t[2]) + (t[1] + t[3]);
    return t[0] + t[1];
}

static FM_INLINE double FM_NAME(fm_predict_row_vec)(
    double w0, REAL *w, REAL *V, const int k,
    const IDX *restrict idx, const REAL *restrict val, const int64_t nnz,
    FM_NAME(fm_vec) *restrict q, const int binary, const FM_NAME(fm_hot) *hot, const int hybrid)
{
    const int nv = k / FM_VW;
    FM_NAME(fm_vec) s2[FM_K_STACK / FM_VW];
    FM_NAME(fm_vec) acc = {0};
    double linear = 0.0;
    for (int c = 0; c < nv; c++) {
        q[c] = acc;
        s2[c] = acc;
    }
    FM_UNROLL4
    for (int64_t p = 0; p < nnz; p++) {
        const REAL x = binary ? (REAL)1 : val[p];
        REAL *wj, *v;
        (void)FM_NAME(fm_locate)((int64_t)idx[p], w, V, k, hot, hybrid, &wj, &v);
        linear += (double)*wj * (double)x;
        for (int c = 0; c < nv; c++) {
            const FM_NAME(fm_vec) vx = binary ? FM_NAME(fm_vload)(v + c * FM_VW)
                                              : FM_NAME(fm_vload)(v + c * FM_VW) * x;
            q[c] += vx;
            s2[c] += vx * vx;
        }
    }
    for (int c = 0; c < nv; c++)
        acc += q[c] * q[c] - s2[c];
    return w0 + linear + 0.5 * (double)FM_NAME(fm_vsum)(acc);
}

static FM_INLINE void FM_NAME(fm_sgd_update_row_vec)(
    const double g, const double lr, const double reg_w, const double reg_v,
    REAL *w, REAL *V, const int k,
    const IDX *restrict idx, const REAL *restrict val, const int64_t nnz,
    const FM_NAME(fm_vec) *restrict q, const int binary, const FM_NAME(fm_hot) *hot,
    const int hybrid)
{
    const int nv = k / FM_VW;
    const REAL shrink_w = (REAL)(1.0 - lr * reg_w);
    const double shrink_v = 1.0 - lr * reg_v;
    FM_UNROLL4
    for (int64_t p = 0; p < nnz; p++) {
        const double x = binary ? 1.0 : (double)val[p];
        const double step = lr * g * x;
        const REAL keep = (REAL)(shrink_v + step * x);
        const REAL pull = (REAL)step;
        REAL *wj, *v;
        const int32_t slot = FM_NAME(fm_locate)((int64_t)idx[p], w, V, k, hot, hybrid, &wj, &v);
        if (hybrid && slot >= 0)
            hot->touches[slot]++;
        *wj = shrink_w * *wj - pull;
        for (int c = 0; c < nv; c++)
            FM_NAME(fm_vstore)(v + c * FM_VW,
                               keep * FM_NAME(fm_vload)(v + c * FM_VW) - pull * q[c]);
    }
}
#endif
