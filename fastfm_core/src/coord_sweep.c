/*
 * The column-wise solvers' sweep (ALS and MCMC share it: MCMC draws where ALS
 * takes the mean, as in libFM) and the checks made before it runs.
 */
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "fastfm.h"
#include "compiler.h"
#include "dispatch.h"
#include "memory.h"
#include "parallel.h"
#include "random_draws.h"

/* the longest column copied into a thread's buffer (longer ones are swept in
 * place): caps the buffer at (k + 3) x 4M doubles per thread */
#define FM_CD_GATHER_MAX ((int64_t)1 << 22)
/* factors whose q sums the first pass keeps on the stack at a time */
#define FM_CD_MAX_INLINE_K 64

/* Where the parts of a sweep's scratch lie, from a 64-byte aligned start. */
typedef struct {
    size_t row_bytes;           /* one row's state: e_i (double), then k q sums */
    size_t target_offset;       /* probit: the latent targets, n_rows doubles */
    size_t buffer_offset;       /* the threads' column buffers */
    size_t per_thread;          /* doubles per thread buffer */
    int64_t capacity;           /* rows a thread buffer holds */
    size_t total;               /* bytes, alignment slack included */
} fm_cd_layout;

static size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* float32 models keep q in float32: 40 bytes at k = 8, padded to 64 so that a
 * row is one cache line (the sweep's gather and scatter make a miss per row) */
static size_t fm_cd_row_bytes(int k, int real_type)
{
    size_t bytes = sizeof(double) + (size_t)k * (real_type == FM_FLOAT32 ? 4 : 8);
    bytes = (bytes + 7) / 8 * 8;
    if (bytes <= 64) {
        size_t power = 8;
        while (power < bytes)
            power *= 2;
        return power;
    }
    return bytes;
}

static void fm_cd_plan(fm_cd_layout *lay, const fm_model *m, const fm_csc *Xt, int loss,
                       int n_threads)
{
    const size_t n = (size_t)(Xt->n_rows > 0 ? Xt->n_rows : 1);
    int64_t longest = 0;
    for (int64_t j = 0; j < Xt->n_cols; j++) {
        const int64_t len = Xt->colptr[j + 1] - Xt->colptr[j];
        if (len > longest)
            longest = len;
    }
    lay->row_bytes = fm_cd_row_bytes(m->n_factors, m->real_type);
    size_t at = round64(n * lay->row_bytes);
    lay->target_offset = at;
    if (loss == FM_LOSS_PROBIT)
        at += round64(n * sizeof(double));
    lay->capacity = longest < FM_CD_GATHER_MAX ? longest : FM_CD_GATHER_MAX;
    lay->per_thread = (size_t)lay->capacity * (size_t)(m->n_factors + 3);
    lay->buffer_offset = at;
    at += round64((size_t)n_threads * lay->per_thread * sizeof(double));
    lay->total = at + 64;
}

static char *fm_cd_aligned(void *p)
{
    const uintptr_t a = (uintptr_t)p;
    return (char *)((a + 63) & ~(uintptr_t)63);
}

#define FM_TEMPLATE "coord_sweep_impl.h"
#include "instantiate.h"

size_t fm_cd_scratch_bytes(const fm_model *model, const fm_csc *Xt, int loss, int n_threads)
{
    fm_cd_layout lay;
    if (!model || !Xt || !Xt->colptr)
        return 0;
    fm_cd_plan(&lay, model, Xt, loss, fm_clamp_threads(n_threads));
    return lay.total;
}

const char *fm_check_cd_params(const fm_cd_params *p, const fm_model *m, const fm_csr *X,
                               const fm_csc *Xt)
{
    if (!p || !m || !X || !Xt)
        return "a required argument is NULL";
    if (p->method != FM_SOLVER_ALS && p->method != FM_SOLVER_MCMC)
        return "method must be FM_SOLVER_ALS or FM_SOLVER_MCMC";
    if (p->loss != FM_LOSS_SQUARED && p->loss != FM_LOSS_PROBIT)
        return "loss must be FM_LOSS_SQUARED or FM_LOSS_PROBIT for ALS and MCMC";
    if (p->n_threads < 1)
        return "n_threads must be >= 1";
    if (p->n_groups < 1)
        return "n_groups must be >= 1";
    if (!p->feature_group || !p->order || !p->block_ptr)
        return "feature_group, order and block_ptr are required";
    if (m->n_factors < 0)
        return "n_factors must be >= 0";
    if (X->n_cols != m->n_features || Xt->n_cols != m->n_features)
        return "the data's number of features differs from the model's";
    if (Xt->n_rows != X->n_rows)
        return "the column view has another number of rows than X";
    if (Xt->real_type != X->real_type || Xt->index_type != X->index_type)
        return "the column view has other element types than X";
    if (X->n_rows > 0 && X->indptr[0] != 0)
        return "X must start at row pointer 0 (a whole matrix, not a block)";
    if (Xt->colptr[0] != 0 || Xt->colptr[Xt->n_cols] != X->indptr[X->n_rows])
        return "the column view has another number of entries than X";
    if ((X->data == NULL) != (Xt->data == NULL))
        return "X and its column view must both have values or both be all ones";
    if (p->reuse_rows != 0 && p->reuse_rows != 1)
        return "reuse_rows must be 0 or 1";
    if (!(p->reg_bias >= 0.0) || !isfinite(p->reg_bias))
        return "reg_bias must be a finite number >= 0";
    if (p->method == FM_SOLVER_MCMC &&
        !(p->prior_alpha0 > 0.0 && p->prior_beta0 > 0.0 && p->prior_gamma0 > 0.0 &&
          isfinite(p->prior_alpha0) && isfinite(p->prior_beta0) &&
          isfinite(p->prior_gamma0) && isfinite(p->prior_mu0)))
        return "the hyperpriors alpha0, beta0 and gamma0 must be finite and > 0";
    for (int64_t j = 0; j < m->n_features; j++)
        if (p->feature_group[j] < 0 || p->feature_group[j] >= p->n_groups)
            return "a feature group id is outside [0, n_groups)";
    if (p->n_blocks < 0 || p->block_ptr[0] != 0 || p->block_ptr[p->n_blocks] != m->n_features)
        return "block_ptr must run from 0 to n_features";
    for (int64_t b = 0; b < p->n_blocks; b++)
        if (p->block_ptr[b + 1] < p->block_ptr[b])
            return "block_ptr must not decrease";
    {
        /* order must be a permutation: an index twice would race with itself */
        unsigned char *seen = (unsigned char *)calloc((size_t)(m->n_features + 1), 1);
        const char *problem = NULL;
        if (!seen)
            return "out of memory";
        for (int64_t o = 0; o < m->n_features && !problem; o++) {
            const int64_t j = p->order[o];
            if (j < 0 || j >= m->n_features || seen[j])
                problem = "order must be a permutation of the features";
            else
                seen[j] = 1;
        }
        free(seen);
        if (problem)
            return problem;
    }
    return NULL;
}

static int hyper_ok(const fm_cd_params *p, const fm_model *m, const fm_cd_hyper *h)
{
    const int64_t G = p->n_groups, k = m->n_factors;
    if (!h->lambda_w || !h->mu_w || (k > 0 && (!h->lambda_v || !h->mu_v)))
        return 0;
    if (p->method == FM_SOLVER_MCMC && !p->sample_hyper && !(h->alpha > 0.0))
        return 0;
    for (int64_t g = 0; g < G; g++) {
        if (!(h->lambda_w[g] >= 0.0) || !isfinite(h->lambda_w[g]) || !isfinite(h->mu_w[g]))
            return 0;
        for (int64_t f = 0; f < k; f++)
            if (!(h->lambda_v[g * k + f] >= 0.0) || !isfinite(h->lambda_v[g * k + f]) ||
                !isfinite(h->mu_v[g * k + f]))
                return 0;
    }
    return 1;
}

int fm_cd_sweep(fm_model *model, const fm_csr *X, const fm_csc *Xt, const double *y,
                const double *sample_weight, const fm_cd_params *params, fm_cd_hyper *hyper,
                void *scratch, size_t scratch_bytes, double *pred_out, fm_cd_stats *stats)
{
    int status;
    if (!model || !X || !Xt || !params || !hyper || (X->n_rows > 0 && !y))
        return FM_ERR_NULL;
    if (X->real_type != model->real_type)
        return FM_ERR_DTYPE;
    if (fm_check_cd_params(params, model, X, Xt))
        return FM_ERR_PARAM;
    if (!hyper_ok(params, model, hyper))
        return FM_ERR_PARAM;
    if (!model->w || (model->n_factors > 0 && !model->V) || !X->indptr || !Xt->colptr)
        return FM_ERR_NULL;
    FM_DISPATCH(status, fm_cd_sweep_impl, model->real_type, X->index_type,
                (model, X, Xt, y, sample_weight, params, hyper, scratch, scratch_bytes, pred_out,
                 stats));
    return status;
}
