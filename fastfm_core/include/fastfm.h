/*
 * fastfm.h - the public C API of the rapidfm kernel library.
 *
 * A Factorization Machine of order 2 with k factors:
 *
 *   y(x) = w0 + sum_i w_i x_i + 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2]
 *
 * Parameters live in caller-owned buffers (fm_model); data arrives as CSR
 * (fm_csr). Every function validates what it is given and answers with an
 * fm_status instead of crashing: the caller turns codes into exceptions.
 * Element types are chosen at run time (float32/float64 parameters and data,
 * int32/int64 CSR indices) and dispatched to one templated implementation.
 */
#ifndef FASTFM_H
#define FASTFM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FM_OK = 0,
    FM_ERR_NULL = 1,            /* a required pointer is NULL */
    FM_ERR_PARAM = 2,           /* a parameter is out of range (see fm_check_sgd_params) */
    FM_ERR_SHAPE = 3,           /* model and data disagree on n_features */
    FM_ERR_DTYPE = 4,           /* unknown element type, or model and data types differ */
    FM_ERR_NOMEM = 5,           /* an allocation failed */
    FM_ERR_DIVERGED = 6,        /* the training loss became NaN or infinite */
    FM_ERR_INDPTR = 7,          /* indptr is not a valid row pointer array */
    FM_ERR_INDEX_RANGE = 8,     /* a column index is negative or >= n_cols */
    FM_ERR_UNSORTED = 9,        /* column indices of a row are not increasing */
    FM_ERR_DUPLICATE = 10,      /* a column index repeats within a row */
    FM_ERR_NONFINITE = 11,      /* a stored value is NaN or infinite */
    FM_ERR_TEXT = 12            /* a malformed line in a data file (fastfm_text.h) */
} fm_status;

typedef enum { FM_FLOAT32 = 0, FM_FLOAT64 = 1 } fm_real_type;
typedef enum { FM_INDEX32 = 0, FM_INDEX64 = 1 } fm_index_type;
typedef enum { FM_LOSS_SQUARED = 0, FM_LOSS_LOGISTIC = 1, FM_LOSS_PROBIT = 2 } fm_loss_type;

/* How threads share the parameters during an SGD epoch. */
typedef enum {
    FM_PARALLEL_AUTO = 0,       /* replicas for models up to 8 MiB, hybrid up to 64 MiB,
                                   else hogwild */
    FM_PARALLEL_HOGWILD = 1,    /* one shared model, lock-free updates */
    FM_PARALLEL_REPLICAS = 2,   /* a private model per thread, merged every sync_every rows */
    FM_PARALLEL_SERIAL = 3,     /* reported when one thread ran (the caller's model, in order) */
    FM_PARALLEL_HYBRID = 4      /* private copies of the hot features only, hogwild for the rest */
} fm_parallel_mode;

/* A CSR matrix borrowed from the caller. indptr is always int64 (it has one
 * entry per row, so converting an int32 one costs little, and a memory-mapped
 * cache with int64 row pointers and int32 column indices is used as it is);
 * index_type is the type of indices; data has the model's real_type. data may
 * be NULL: every stored value is then 1 (one-hot data), and the kernels skip
 * loading values. fm_sgd_epoch and fm_predict also take a block of rows of a
 * bigger matrix: indptr then starts at that block's first offset, not 0, and
 * indices / data are the bigger matrix's arrays. */
typedef struct {
    int64_t n_rows;
    int64_t n_cols;
    int index_type;             /* fm_index_type of indices */
    int real_type;              /* fm_real_type */
    const int64_t *indptr;      /* n_rows + 1 entries */
    const void *indices;        /* indptr[n_rows] entries */
    const void *data;           /* indptr[n_rows] entries, or NULL for all ones */
} fm_csr;

/* Model parameters in caller-owned buffers. V is row-major
 * (n_features x n_factors): one feature's factors are contiguous, so a
 * nonzero touches one short run of memory. */
typedef struct {
    int real_type;              /* fm_real_type of w and V */
    int64_t n_features;
    int32_t n_factors;
    double w0;
    void *w;                    /* n_features */
    void *V;                    /* n_features * n_factors */
} fm_model;

/* The three parts of a training call, kept apart so that a solver takes only
 * what it uses: what is minimised (fm_objective), how the solver steps
 * (fm_sgd_step for SGD; ALS and MCMC have fm_cd_params) and how an epoch is
 * run (fm_schedule). */
typedef struct {
    int loss;                   /* fm_loss_type */
    double reg_bias;            /* L2 strength on w0 */
    double reg_linear;          /* L2 strength on w */
    double reg_factors;         /* L2 strength on V */
    double clip_min;            /* squared loss: the prediction used for the gradient is */
    double clip_max;            /* clipped to [clip_min, clip_max] (libFM does the same) */
} fm_objective;

/* How a gradient g of a parameter becomes a step (learning rate eta):
 *  SGD:     theta -= eta (g + reg theta)
 *  ADAGRAD: G += (g + reg theta)^2;  theta -= eta (g + reg theta) / sqrt(G)
 *           (per coordinate; libffm's and xLearn's rule)
 *  FTRL:    FTRL-proximal (McMahan et al. 2013) for w0 and w, with state n = sum g^2
 *           and z = sum (g - sigma theta), sigma = (sqrt(n + g^2) - sqrt(n)) / eta:
 *           w = 0 if |z| <= l1, else -(z - sign(z) l1) / ((beta + sqrt(n)) / eta + reg);
 *           the factors V take the ADAGRAD step (xLearn, DiFacto).
 * The adaptive rules keep their state (G or n, z) in an fm_sgd_state. */
typedef enum { FM_RULE_SGD = 0, FM_RULE_ADAGRAD = 1, FM_RULE_FTRL = 2 } fm_step_rule;

typedef struct {
    double learning_rate;       /* step size for this epoch (the caller applies schedules) */
    int parallel_mode;          /* fm_parallel_mode: how threads share the model */
    int64_t sync_every;         /* replicas: rows per thread between merges, 0 = automatic */
    int rule;                   /* fm_step_rule */
    double ftrl_beta;           /* FTRL: beta (>= 0) */
    double ftrl_l1;             /* FTRL: L1 strength on w (>= 0; w0 has none) */
} fm_sgd_step;

/* The per-coordinate state of the adaptive rules, in caller-owned buffers of
 * the model's real type that the fit keeps from epoch to epoch (zeros at the
 * start of a fit). The threads of an epoch share it as they share the model:
 * in place (hogwild), or in private copies merged with the parameters'
 * (replicas, hybrid). */
typedef struct {
    double w0_sum_sq;           /* w0's sum of squared gradients (FTRL: its n) */
    double w0_z;                /* FTRL: w0's z */
    void *w_sum_sq;             /* n_features: w's sums of squared gradients (FTRL: n) */
    void *w_z;                  /* n_features, FTRL only (NULL for ADAGRAD) */
    void *V_sum_sq;             /* n_features * n_factors: V's sums of squared gradients */
} fm_sgd_state;

typedef struct {
    int n_threads;              /* >= 1 */
    uint64_t seed;              /* seeds this epoch's visit order */
    int64_t block_rows;         /* 0: the rows in one random order; else blocks of this many
                                   consecutive rows, the blocks in a random order and the rows
                                   of each block in a random order (cache-friendly) */
} fm_schedule;

typedef struct {
    fm_objective objective;
    fm_sgd_step sgd;
    fm_schedule schedule;
} fm_sgd_params;

typedef struct {
    double loss_sum;            /* sum of sample_weight * loss, each taken before its update */
    double weight_sum;          /* sum of sample_weight over the rows visited */
    int64_t n_rows;             /* rows visited */
    int n_threads;              /* threads that ran */
    int parallel_mode;          /* the mode that ran (never AUTO) */
} fm_epoch_stats;

/* Where fm_check_csr found its first problem. */
typedef struct {
    int64_t row;
    int64_t position;           /* offset into indices/data, -1 when about indptr */
    int64_t column;             /* the offending column index, when there is one */
} fm_csr_error;

/* ---- Column-wise solvers: ALS (coordinate descent) and MCMC (Gibbs sampling) ----
 *
 * Both visit one parameter at a time and need, for a feature j, the rows that
 * hold it: a column view of X (fm_csc), made once per fit by fm_csr_to_csc.
 * Residuals e_i = yhat_i - t_i and q_if = sum_l v_lf x_il are recomputed from
 * the model at the start of every sweep and kept up to date by each update, so
 * a sweep costs O(k nnz) and nothing but the model carries over between calls.
 *
 * Features that share no row can be updated at the same time with exactly the
 * result of updating them one after the other (their updates touch disjoint
 * residuals): fm_feature_blocks orders the features into such blocks, and a
 * sweep runs each block across threads. The sweep order and the random draws
 * (keyed by feature, not by thread) do not depend on the thread count. */

typedef enum { FM_SOLVER_ALS = 0, FM_SOLVER_MCMC = 1 } fm_cd_method;

/* A CSC matrix borrowed from the caller: the column view of an fm_csr. */
typedef struct {
    int64_t n_rows;
    int64_t n_cols;
    int index_type;             /* fm_index_type of rows */
    int real_type;              /* fm_real_type */
    const int64_t *colptr;      /* n_cols + 1 entries, colptr[0] = 0 */
    const void *rows;           /* row index of every entry, increasing within a column */
    const void *data;           /* values, or NULL for all ones */
} fm_csc;

typedef struct {
    int method;                 /* fm_cd_method */
    int loss;                   /* FM_LOSS_SQUARED, or FM_LOSS_PROBIT (y is -1 or +1) */
    int sample_hyper;           /* MCMC: 1 draws alpha and the group priors first, 0 keeps them */
    int n_threads;              /* >= 1 */
    uint64_t seed;              /* MCMC: keys this sweep's draws */
    int32_t n_groups;           /* >= 1 */
    const int32_t *feature_group; /* n_features group ids in [0, n_groups) */
    const int64_t *order;       /* n_features: a permutation, the sweep order */
    const int64_t *block_ptr;   /* n_blocks + 1: order[block_ptr[b] .. block_ptr[b+1]) share no row */
    int64_t n_blocks;
    int reuse_rows;             /* 1: the scratch holds the rows' predictions and q sums
                                   as the previous sweep of this model on this data left
                                   them: not recomputed. Each update rounds, so the
                                   caller recomputes (0) every few sweeps */
    double reg_bias;            /* precision of w0's prior (ALS: L2 strength on w0) */
    /* MCMC hyperpriors (libFM: alpha_0 = beta_0 = gamma_0 = 1, mu_0 = 0) */
    double prior_alpha0, prior_beta0, prior_gamma0, prior_mu0;
} fm_cd_params;

/* Hyperparameters in caller-owned buffers. ALS reads lambda_w / lambda_v as
 * L2 strengths per group (mu ignored); MCMC draws all of them (sample_hyper). */
typedef struct {
    double alpha;               /* noise precision (1 for probit) */
    double *mu_w, *lambda_w;    /* n_groups */
    double *mu_v, *lambda_v;    /* n_groups x n_factors, row-major */
} fm_cd_hyper;

typedef struct {
    double sse;                 /* sum of sample_weight * (yhat - t)^2 after the sweep */
    double weight_sum;
    int n_threads;              /* threads that ran */
} fm_cd_stats;

/* NULL when params fit model and X, else a static message naming the problem. */
const char *fm_check_cd_params(const fm_cd_params *params, const fm_model *model,
                               const fm_csr *X, const fm_csc *Xt);

/* One sweep over w0, then every feature in params->order: w_j, v_j0 .. v_j,k-1.
 * ALS sets each to the exact minimiser of sum s_i (yhat_i - t_i)^2 + L2 terms;
 * MCMC draws each from its conditional posterior (libFM's sampler). t_i is y_i
 * (squared loss) or the probit latent target (ALS: its expectation given
 * yhat_i, MCMC: a truncated-normal draw). Xt is the column view of X. y and
 * sample_weight (NULL: ones) hold n_rows doubles; pred_out (NULL: not written)
 * receives yhat after the sweep. scratch is scratch_bytes bytes (at least
 * fm_cd_scratch_bytes) that a fit passes to all its sweeps (allocating and
 * zeroing it per call cost a tenth of a sweep), or NULL to allocate it per
 * call. X and Xt must have passed fm_check_csr. */
int fm_cd_sweep(fm_model *model, const fm_csr *X, const fm_csc *Xt, const double *y,
                const double *sample_weight, const fm_cd_params *params, fm_cd_hyper *hyper,
                void *scratch, size_t scratch_bytes, double *pred_out, fm_cd_stats *stats);

/* Bytes of scratch fm_cd_sweep needs for this model, column view, loss and
 * thread count (0 for NULL arguments). */
size_t fm_cd_scratch_bytes(const fm_model *model, const fm_csc *Xt, int loss, int n_threads);

/* The column view of X into caller-allocated arrays: colptr (n_cols + 1,
 * filled in by the caller from the column counts), rows (nnz entries of X's
 * index type) and data (nnz, X's real type; not written when X->data is NULL). */
int fm_csr_to_csc(const fm_csr *X, const int64_t *colptr, void *rows, void *data);

/* Orders the features into blocks that share no row (greedy colouring of the
 * features by row co-occurrence, in index order). order gets n_cols entries,
 * block_ptr up to n_cols + 1; *n_blocks the count. When colouring would cost
 * more than max_work pair visits (sum over rows of nnz^2), every feature gets
 * its own block, in index order. */
int fm_feature_blocks(const fm_csr *X, const fm_csc *Xt, int64_t max_work, int64_t *order,
                      int64_t *block_ptr, int64_t *n_blocks);

/* Describes a status code in words (a static string). */
const char *fm_strerror(int status);

/* Validates a CSR matrix in one pass: indptr starts at 0, never decreases and
 * ends inside the arrays; every column index lies in [0, n_cols); indices of
 * a row strictly increase; data are finite. The first problem goes to *err. */
int fm_check_csr(const fm_csr *X, int64_t nnz_capacity, fm_csr_error *err);

/* NULL when params fit model, else a static message naming the problem. */
const char *fm_check_sgd_params(const fm_sgd_params *params, const fm_model *model);

/* One SGD epoch over the rows of X in a random order drawn from params->seed
 * (a seeded permutation of the rows, different for every seed; threads take
 * disjoint ranges of it). state is NULL for FM_RULE_SGD and required for the
 * adaptive rules (updated in place). y and sample_weight (NULL: all ones) hold n_rows
 * doubles; for logistic loss y is -1 or +1. X must have passed fm_check_csr. */
int fm_sgd_epoch(fm_model *model, const fm_csr *X, const double *y,
                 const double *sample_weight, const fm_sgd_params *params,
                 fm_sgd_state *state, fm_epoch_stats *stats);

/* ---- SGDA: SGD with adaptive regularization (Rendle, WSDM 2012; libFM's -method sgda) ----
 *
 * Per training row x (target y, weight s) an SGD step on theta = (w0, w, V) with the
 * current L2 strengths, each feature's loss gradient kept in the state:
 *   m = s dl/dp(p(x), y)   (squared: l = (p - y)^2, dl/dp = 2 (p - y), p clipped to
 *                           [clip_min, clip_max]; logistic: l = log(1 + exp(-y p)))
 *   w0   -= eta (m + 2 reg_bias w0)
 *   g_j   = m x_j,                    w_j  -= eta (g_j  + 2 lambda_w[G(j)] w_j)
 *   g_jf  = m x_j (q_f - v_jf x_j),   v_jf -= eta (g_jf + 2 lambda_v[G(j), f] v_jf)
 * then (when lambda_steps) a step on the lambdas with the next validation row x'
 * (target y', weight s'), through the look-ahead parameters of the gradients kept:
 *   w'_j = w_j - eta (g_j + 2 lambda_w[G(j)] w_j),  v'_jf likewise,
 *   m' = s' dl/dp(p'(x'), y') with p' the prediction of (w0, w', V') (clipped),
 *   lambda_w[c]    = max(0, lambda_w[c]    - eta m' (-2 eta sum_{j in c} x'_j w_j))
 *   lambda_v[c, f] = max(0, lambda_v[c, f] - eta m' (-2 eta (q'_f sum_{j in c} x'_j v_jf
 *                                                    - sum_{j in c} x'_j^2 v_jf v'_jf)))
 * where q'_f = sum_j x'_j v'_jf and c runs over the groups of x'. The validation rows
 * are taken one per training row, cycling, from the first again at every epoch
 * (libFM's fm_learn_sgd_element_adapt_reg.h). One thread: the lambdas are shared by
 * every row, and libFM's SGDA is serial. */
typedef struct {
    int loss;                   /* FM_LOSS_SQUARED or FM_LOSS_LOGISTIC */
    double learning_rate;       /* eta, for theta and the lambdas (> 0) */
    double reg_bias;            /* fixed L2 strength on w0, not learned (libFM: 0) */
    double clip_min, clip_max;  /* squared loss: the range predictions are clipped to */
    int32_t n_groups;           /* >= 1 */
    const int32_t *feature_group; /* n_features group ids in [0, n_groups) */
    int lambda_steps;           /* 1: a lambda step after every theta step; 0: none
                                   (libFM's first epoch, before any gradient is kept) */
    int shuffle;                /* 1: training rows in the random order of seed (as
                                   fm_sgd_epoch with block_rows 0), validation rows in a
                                   random order of their own; 0: both in stored order */
    uint64_t seed;
} fm_sgda_params;

/* SGDA's training state in caller-owned buffers, kept from epoch to epoch (zeros at
 * the start of a model; all of it is updated in place). */
typedef struct {
    double *reg_w;              /* n_groups: lambda_w, >= 0 */
    double *reg_v;              /* n_groups x n_factors, row-major: lambda_v, >= 0 */
    void *grad_w;               /* n_features, the model's real type: each g_j as last set */
    void *grad_V;               /* n_features x n_factors: each g_jf as last set */
} fm_sgda_state;

typedef struct {
    double loss_sum;            /* training rows: sum of s l, each before its update */
    double weight_sum;          /* sum of s over the training rows */
    int64_t n_rows;             /* training rows visited */
    double val_loss_sum;        /* lambda steps: sum of s' l of the look-ahead predictions */
    double val_weight_sum;
    int64_t n_lambda_steps;
} fm_sgda_stats;

/* NULL when params fit the model, X and Xv (Xv: the validation rows, required with
 * at least one row when params->lambda_steps; the same element types as X), else a
 * static message naming the problem. */
const char *fm_check_sgda_params(const fm_sgda_params *params, const fm_model *model,
                                 const fm_csr *X, const fm_csr *Xv);

/* One SGDA epoch over the rows of X (see above), in place on model and state. y and
 * sample_weight (NULL: ones) hold X->n_rows doubles, yv and val_weight Xv->n_rows;
 * for the logistic loss targets are -1 or +1. FM_ERR_PARAM for parameters that
 * fm_check_sgda_params refuses or lambdas in the state that are not finite and >= 0;
 * FM_ERR_DIVERGED when the loss or w0 became NaN or infinite. X and Xv must have
 * passed fm_check_csr. */
int fm_sgda_epoch(fm_model *model, const fm_csr *X, const double *y,
                  const double *sample_weight, const fm_csr *Xv, const double *yv,
                  const double *val_weight, const fm_sgda_params *params,
                  fm_sgda_state *state, fm_sgda_stats *stats);

/* ---- Field-aware FM (FFM; Juan et al., RecSys 2016; libffm) ----
 *
 * Every feature j has one latent vector per field: V is n_features x n_fields x
 * n_factors, row-major, so v_{j,f} is contiguous and a feature's vectors for all
 * fields are one run of memory. A CSR row comes with the field of each stored value
 * (fields[p] for entry p, aligned with indices); with x_p the values of the row
 * (times 1 / ||x||_2 when normalize, libffm's instance normalisation):
 *
 *   y(x) = [w0 + sum_p w_{j_p} x_p] + sum_{p<q} <v_{j_p, f_q}, v_{j_q, f_p}> x_p x_q
 *
 * over the entries p < q of the row, in O(nnz^2 k). The bracket is there when
 * linear is 1 (libffm's model has no w0 or w: linear 0, and w may be NULL). The
 * row is a sparse vector over (feature, field) keys: a feature may appear under
 * two fields of a row (two entries), but a (feature, field) key at most once
 * (callers sum repeats, as FM callers sum repeated features).
 *
 * An SGD step on a row computes g = s dL/dy once, steps w0 and w as fm_sgd_epoch
 * does (rules SGD, ADAGRAD, FTRL with the L2 strengths of fm_objective), then the
 * pairs in the order p = 0..nnz-1, q = p+1..nnz-1, each as libffm does: with
 * a = v_{j_p, f_q} and b = v_{j_q, f_p} as they are before the pair,
 *   ga = g x_p x_q b + reg_factors a,   gb = g x_p x_q a + reg_factors b,
 * and each vector takes the rule's step (SGD, or ADAGRAD for ADAGRAD and FTRL).
 * A vector that two pairs of one row use (several values in one field) sees the
 * first pair's step in the second; with one value per field this is the exact
 * gradient step. */
typedef struct {
    int real_type;              /* fm_real_type of w and V */
    int64_t n_features;
    int32_t n_fields;           /* >= 1 */
    int32_t n_factors;          /* >= 0 */
    int linear;                 /* 1: the w0 and w terms; 0: pairs only (w0, w untouched) */
    int normalize;              /* 1: each row's values scaled to unit L2 norm */
    double w0;
    void *w;                    /* n_features (NULL allowed when linear is 0) */
    void *V;                    /* n_features * n_fields * n_factors */
} fm_ffm_model;

/* -1 when every fields[p], p < n, lies in [0, n_fields), else the first position
 * that does not (the kernels index V with the fields unchecked). */
int64_t fm_ffm_check_fields(const int32_t *fields, int64_t n, int32_t n_fields);

/* The FFM's fm_check_csr: in one pass, indptr is valid, every index lies in
 * [0, n_cols) and every field in [0, n_fields) (FM_ERR_PARAM), the (feature, field)
 * keys of a row strictly increase (FM_ERR_UNSORTED, FM_ERR_DUPLICATE: a feature may
 * repeat under another field) and the values are finite. The first problem goes to
 * *err. Nothing is copied, so memory-mapped rows stay on disk. */
int fm_ffm_check_rows(const fm_csr *X, const int32_t *fields, int32_t n_fields,
                      int64_t nnz_capacity, fm_csr_error *err);

/* out[i] = y(x_i) of the FFM for every row of X (fields aligned with X's indices),
 * rows split across n_threads threads. X must have passed fm_check_csr (repeated
 * indices allowed under distinct fields) and fields fm_ffm_check_fields. */
int fm_ffm_predict(const fm_ffm_model *model, const fm_csr *X, const int32_t *fields,
                   double *out, int n_threads);

/* NULL when params fit the FFM model, else a static message naming the problem.
 * FFM epochs run serial, hogwild or hybrid (AUTO picks hybrid): under hybrid each
 * thread trains private copies of the hot features (in at least 1/200 of a sample
 * of rows, up to 4 MiB of copies) and merges them into the model every 2048 rows
 * (one thread at a time: the average of the threads' changes of the parameters,
 * the sum of their changes of the adaptive state); the other features are shared. */
const char *fm_check_ffm_sgd_params(const fm_sgd_params *params, const fm_ffm_model *model);

/* One SGD-family epoch of the FFM over the rows of X in the random order of
 * params->schedule (as fm_sgd_epoch: seed and block_rows). state (the adaptive
 * rules' sums, V_sum_sq shaped like V) is NULL for FM_RULE_SGD. */
int fm_ffm_sgd_epoch(fm_ffm_model *model, const fm_csr *X, const int32_t *fields,
                     const double *y, const double *sample_weight,
                     const fm_sgd_params *params, fm_sgd_state *state,
                     fm_epoch_stats *stats);

/* ---- Pairwise ranking: BPR (Rendle et al., UAI 2009) with the FM's model ----
 *
 * A training pair says that one row is preferred to another: the step lowers
 * L = s log(1 + exp(-(y(x_a) - y(x_b)))), the logistic loss of the score
 * difference (s: the pair's weight). The rows come from X; a pair may also name
 * a context row of C (a user's features) that both rows share: the row scored
 * is then x = (c, x_a), C's columns being the model's features [0, C->n_cols)
 * and X's the features from C->n_cols on (model->n_features = C->n_cols +
 * X->n_cols; without C, X's columns are the features).
 *
 * The step is the exact gradient step of L plus the L2 terms
 * reg_linear / 2 w_j^2 + reg_factors / 2 |v_j|^2 of every feature j of c, x_a
 * or x_b (each once), all gradients taken at the parameters before the step:
 * with q_a = sum_j v_j x_aj (context included), g = dL/d(y_a - y_b) and
 * x_a, x_b the feature's values in the two rows (0 where absent),
 *   dL/dw_j  = g (x_aj - x_bj),
 *   dL/dv_jf = g (x_aj (q_af - v_jf x_aj) - x_bj (q_bf - v_jf x_bj)),
 * so a feature the rows share (a context feature: x_aj = x_bj) moves by
 * g x (q_af - q_bf) and its w only by the L2 term. w0 cancels and is not used.
 * The rules SGD, ADAGRAD and FTRL step each coordinate as fm_sgd_epoch does.
 *
 * The other row of a pair is given (other != NULL) or drawn for every pair in
 * every epoch: a row of X drawn uniformly or by draw_cdf, redrawn while it is
 * the preferred row or one of seen[seen_ptr[c] .. seen_ptr[c + 1]) of the
 * pair's context c (the items a user has interacted with), at most max_draws
 * times; a pair whose draws all failed is skipped. With n_candidates > 1, that
 * many rows are drawn and the one the model scores highest (with the context)
 * is the other row: the pairs the model orders worst teach it most. The draws of a pair are
 * keyed by (seed, pair index), so they do not depend on the thread count. */
typedef struct {
    int64_t n_pairs;
    const int64_t *preferred;   /* n_pairs row ids of X */
    const int64_t *other;       /* n_pairs row ids of X, or NULL: drawn (above) */
    const int64_t *context;     /* n_pairs row ids of C, or NULL when there is no C */
    const double *weight;       /* n_pairs pair weights (finite, >= 0), or NULL: ones */
    const double *draw_cdf;     /* X->n_rows nondecreasing values, the last > 0: row r is
                                   drawn with probability (cdf[r] - cdf[r-1]) / cdf[last];
                                   NULL: uniform */
    const int64_t *seen_ptr;    /* C->n_rows + 1 offsets into seen, or NULL: no exclusions */
    const int64_t *seen;        /* row ids of X, increasing within each context's range */
    int32_t max_draws;          /* >= 1 (used when other is NULL) */
    int32_t n_candidates;       /* >= 1: the other row is the highest-scored of this many
                                   draws (1: plain BPR; more: dynamic negative sampling,
                                   Zhang et al., SIGIR 2013) */
} fm_pairs;

typedef struct {
    double loss_sum;            /* sum of s L over the pairs trained, each before its step */
    double weight_sum;          /* sum of s over them */
    int64_t n_pairs;            /* pairs trained */
    int64_t n_correct;          /* of which y(x_a) > y(x_b) before the step */
    int64_t n_skipped;          /* pairs whose other row could not be drawn */
    int n_threads;              /* threads that ran */
    int parallel_mode;          /* FM_PARALLEL_HOGWILD or FM_PARALLEL_SERIAL */
} fm_pair_stats;

/* FM_OK when every id of pairs lies in range (preferred / other in [0,
 * X->n_rows), context in [0, C->n_rows)), seen_ptr is a valid offset array with
 * increasing ids in range within each context, draw_cdf is finite and
 * nondecreasing with a positive last value, and the weights are finite and >= 0;
 * else FM_ERR_INDEX_RANGE, FM_ERR_INDPTR, FM_ERR_UNSORTED or FM_ERR_PARAM, with
 * *position the first offending entry (into the array at fault). */
int fm_check_pairs(const fm_csr *X, const fm_csr *C, const fm_pairs *pairs, int64_t *position);

/* NULL when params fit the model, X and C (the same element types; the
 * columns add up to n_features) and the pairs, else a static message naming the
 * problem. The loss must be FM_LOSS_LOGISTIC; parallel_mode AUTO (hogwild when
 * the epoch has work for more than one thread) or HOGWILD. */
const char *fm_check_pair_params(const fm_sgd_params *params, const fm_model *model,
                                 const fm_csr *X, const fm_csr *C, const fm_pairs *pairs);

/* One SGD-family epoch of BPR over the pairs in a random order drawn from
 * params->schedule.seed (threads take disjoint ranges of it; block_rows is not
 * used), in place on the model and, for the adaptive rules, state (as
 * fm_sgd_epoch; w0's state is not used). X and C (C may be NULL) must have
 * passed fm_check_csr; the pairs are checked with fm_check_pairs.
 * FM_ERR_DIVERGED when a score difference became NaN or infinite. */
int fm_pair_sgd_epoch(fm_model *model, const fm_csr *X, const fm_csr *C, const fm_pairs *pairs,
                      const fm_sgd_params *params, fm_sgd_state *state,
                      fm_pair_stats *stats);

/* out[i] = y(x_i) for every row of X, rows split across n_threads threads. */
int fm_predict(const fm_model *model, const fm_csr *X, double *out, int n_threads);

/* y(x) of one row, on the calling thread, checked first (a serving call: no
 * thread team to start, no row pointer array). Sparse: nnz pairs of indices
 * (index_type) and values (the model's real type; NULL: all 1). FM_ERR_INDEX_RANGE,
 * FM_ERR_UNSORTED, FM_ERR_DUPLICATE or FM_ERR_NONFINITE name what is wrong with the
 * row, and *position its entry; nothing is computed then. Dense: x holds
 * n_features values of the model's real type, zeros skipped (FM_ERR_NONFINITE,
 * *position the column). */
int fm_predict_one(const fm_model *model, const void *indices, int index_type,
                   const void *values, int64_t nnz, double *out, int64_t *position);
int fm_predict_dense_one(const fm_model *model, const void *x, double *out,
                         int64_t *position);

/* The first pass of a copy of rows[0..n_out) of X, in that order: out_indptr
 * (n_out + 1 entries) gets the copy's row pointers from 0, and out_y and
 * out_sample_weight the rows' y and sample_weight (each skipped when NULL).
 * FM_ERR_INDEX_RANGE for a row id outside [0, n_rows); the outputs are then
 * written up to that row. */
int fm_csr_gather_row_pointers(const fm_csr *X, const int64_t *rows, int64_t n_out,
                               int64_t *out_indptr, const double *y, double *out_y,
                               const double *sample_weight, double *out_sample_weight);

/* The second pass: copies the entries of rows[0..n_out) of X, in that order,
 * into arrays the caller allocated: out_indices and out_data (out_indptr[n_out]
 * - out_indptr[0] entries, of X's index and value types; out_data is not
 * written when X->data is NULL), where out_indptr (n_out + 1 entries) gives
 * row i of the copy the length of row rows[i]. Returns FM_ERR_INDEX_RANGE for
 * a row id outside [0, n_rows) and FM_ERR_INDPTR where out_indptr disagrees
 * with the rows' lengths; such a row is skipped (nothing is written outside
 * the outputs, whose contents are then unspecified). */
int fm_csr_gather_rows(const fm_csr *X, const int64_t *rows, int64_t n_out,
                       const int64_t *out_indptr, void *out_indices, void *out_data,
                       int n_threads);

/* out[0..n) = ids[0..n) in a uniform random order drawn from seed (a function
 * of the seed and n only). out must not overlap ids. FM_ERR_NOMEM when its
 * scratch (2 bytes per id) cannot be allocated. */
int fm_shuffle_ids(uint64_t seed, const int64_t *ids, int64_t n, int64_t *out);

/* Loss and its derivative with respect to the prediction, as the SGD uses them. */
double fm_loss_value(int loss, double prediction, double y);
double fm_loss_derivative(int loss, double prediction, double y);

/* 1 when the library was compiled with OpenMP. */
int fm_openmp_enabled(void);
/* Threads available to a parallel region (1 without OpenMP). */
int fm_max_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* FASTFM_H */
