# Declarations of the C kernel library's public headers (fastfm_core/include/).
from libc.stddef cimport size_t
from libc.stdint cimport int32_t, int64_t, uint64_t


cdef extern from "fastfm.h" nogil:
    enum:
        FM_OK
        FM_ERR_NULL
        FM_ERR_PARAM
        FM_ERR_SHAPE
        FM_ERR_DTYPE
        FM_ERR_NOMEM
        FM_ERR_DIVERGED
        FM_ERR_INDPTR
        FM_ERR_INDEX_RANGE
        FM_ERR_UNSORTED
        FM_ERR_DUPLICATE
        FM_ERR_NONFINITE
        FM_ERR_TEXT

    enum:
        FM_FLOAT32
        FM_FLOAT64
        FM_INDEX32
        FM_INDEX64
        FM_LOSS_SQUARED
        FM_LOSS_LOGISTIC
        FM_LOSS_PROBIT
        FM_SOLVER_ALS
        FM_SOLVER_MCMC
        FM_PARALLEL_AUTO
        FM_PARALLEL_HOGWILD
        FM_PARALLEL_REPLICAS
        FM_PARALLEL_SERIAL
        FM_PARALLEL_HYBRID
        FM_RULE_SGD
        FM_RULE_ADAGRAD
        FM_RULE_FTRL

    ctypedef struct fm_csr:
        int64_t n_rows
        int64_t n_cols
        int index_type
        int real_type
        const int64_t *indptr
        const void *indices
        const void *data

    ctypedef struct fm_model:
        int real_type
        int64_t n_features
        int32_t n_factors
        double w0
        void *w
        void *V

    ctypedef struct fm_objective:
        int loss
        double reg_bias
        double reg_linear
        double reg_factors
        double clip_min
        double clip_max

    ctypedef struct fm_sgd_step:
        double learning_rate
        int parallel_mode
        int64_t sync_every
        int rule
        double ftrl_beta
        double ftrl_l1

    ctypedef struct fm_sgd_state:
        double w0_sum_sq
        double w0_z
        void *w_sum_sq
        void *w_z
        void *V_sum_sq

    ctypedef struct fm_schedule:
        int n_threads
        uint64_t seed
        int64_t block_rows

    ctypedef struct fm_sgd_params:
        fm_objective objective
        fm_sgd_step sgd
        fm_schedule schedule

    ctypedef struct fm_epoch_stats:
        double loss_sum
        double weight_sum
        int64_t n_rows
        int n_threads
        int parallel_mode

    ctypedef struct fm_csr_error:
        int64_t row
        int64_t position
        int64_t column

    ctypedef struct fm_csc:
        int64_t n_rows
        int64_t n_cols
        int index_type
        int real_type
        const int64_t *colptr
        const void *rows
        const void *data

    ctypedef struct fm_cd_params:
        int method
        int loss
        int sample_hyper
        int n_threads
        uint64_t seed
        int32_t n_groups
        const int32_t *feature_group
        const int64_t *order
        const int64_t *block_ptr
        int64_t n_blocks
        int reuse_rows
        double reg_bias
        double prior_alpha0
        double prior_beta0
        double prior_gamma0
        double prior_mu0

    ctypedef struct fm_cd_hyper:
        double alpha
        double *mu_w
        double *lambda_w
        double *mu_v
        double *lambda_v

    ctypedef struct fm_cd_stats:
        double sse
        double weight_sum
        int n_threads

    ctypedef struct fm_sgda_params:
        int loss
        double learning_rate
        double reg_bias
        double clip_min
        double clip_max
        int32_t n_groups
        const int32_t *feature_group
        int lambda_steps
        int shuffle
        uint64_t seed

    ctypedef struct fm_sgda_state:
        double *reg_w
        double *reg_v
        void *grad_w
        void *grad_V

    ctypedef struct fm_sgda_stats:
        double loss_sum
        double weight_sum
        int64_t n_rows
        double val_loss_sum
        double val_weight_sum
        int64_t n_lambda_steps

    const char *fm_check_cd_params(const fm_cd_params *params, const fm_model *model,
                                   const fm_csr *X, const fm_csc *Xt)
    int fm_cd_sweep(fm_model *model, const fm_csr *X, const fm_csc *Xt, const double *y,
                    const double *sample_weight, const fm_cd_params *params,
                    fm_cd_hyper *hyper, void *scratch, size_t scratch_bytes,
                    double *pred_out, fm_cd_stats *stats)
    size_t fm_cd_scratch_bytes(const fm_model *model, const fm_csc *Xt, int loss,
                               int n_threads)
    int fm_csr_to_csc(const fm_csr *X, const int64_t *colptr, void *rows, void *data)
    int fm_feature_blocks(const fm_csr *X, const fm_csc *Xt, int64_t max_work,
                          int64_t *order, int64_t *block_ptr, int64_t *n_blocks)

    const char *fm_strerror(int status)
    int fm_check_csr(const fm_csr *X, int64_t nnz_capacity, fm_csr_error *err)
    const char *fm_check_sgd_params(const fm_sgd_params *params, const fm_model *model)
    int fm_sgd_epoch(fm_model *model, const fm_csr *X, const double *y,
                     const double *sample_weight, const fm_sgd_params *params,
                     fm_sgd_state *state, fm_epoch_stats *stats)
    const char *fm_check_sgda_params(const fm_sgda_params *params, const fm_model *model,
                                     const fm_csr *X, const fm_csr *Xv)
    int fm_sgda_epoch(fm_model *model, const fm_csr *X, const double *y,
                      const double *sample_weight, const fm_csr *Xv, const double *yv,
                      const double *val_weight, const fm_sgda_params *params,
                      fm_sgda_state *state, fm_sgda_stats *stats)
    int fm_predict(const fm_model *model, const fm_csr *X, double *out, int n_threads)
    int fm_predict_one(const fm_model *model, const void *indices, int index_type,
                       const void *values, int64_t nnz, double *out, int64_t *position)
    int fm_predict_dense_one(const fm_model *model, const void *x, double *out,
                             int64_t *position)
    ctypedef struct fm_ffm_model:
        int real_type
        int64_t n_features
        int32_t n_fields
        int32_t n_factors
        int linear
        int normalize
        double w0
        void *w
        void *V

    int64_t fm_ffm_check_fields(const int32_t *fields, int64_t n, int32_t n_fields)
    int fm_ffm_check_rows(const fm_csr *X, const int32_t *fields, int32_t n_fields,
                          int64_t nnz_capacity, fm_csr_error *err)
    int fm_ffm_predict(const fm_ffm_model *model, const fm_csr *X, const int32_t *fields,
                       double *out, int n_threads)
    const char *fm_check_ffm_sgd_params(const fm_sgd_params *params, const fm_ffm_model *model)
    int fm_ffm_sgd_epoch(fm_ffm_model *model, const fm_csr *X, const int32_t *fields,
                         const double *y, const double *sample_weight,
                         const fm_sgd_params *params, fm_sgd_state *state,
                         fm_epoch_stats *stats)
    ctypedef struct fm_pairs:
        int64_t n_pairs
        const int64_t *preferred
        const int64_t *other
        const int64_t *context
        const double *weight
        const double *draw_cdf
        const int64_t *seen_ptr
        const int64_t *seen
        int32_t max_draws
        int32_t n_candidates

    ctypedef struct fm_pair_stats:
        double loss_sum
        double weight_sum
        int64_t n_pairs
        int64_t n_correct
        int64_t n_skipped
        int n_threads
        int parallel_mode

    int fm_check_pairs(const fm_csr *X, const fm_csr *C, const fm_pairs *pairs,
                       int64_t *position)
    const char *fm_check_pair_params(const fm_sgd_params *params, const fm_model *model,
                                     const fm_csr *X, const fm_csr *C, const fm_pairs *pairs)
    int fm_pair_sgd_epoch(fm_model *model, const fm_csr *X, const fm_csr *C,
                          const fm_pairs *pairs, const fm_sgd_params *params,
                          fm_sgd_state *state, fm_pair_stats *stats)
    int fm_csr_gather_row_pointers(const fm_csr *X, const int64_t *rows, int64_t n_out,
                                   int64_t *out_indptr, const double *y, double *out_y,
                                   const double *sample_weight, double *out_sample_weight)
    int fm_csr_gather_rows(const fm_csr *X, const int64_t *rows, int64_t n_out,
                           const int64_t *out_indptr, void *out_indices, void *out_data,
                           int n_threads)
    int fm_shuffle_ids(uint64_t seed, const int64_t *ids, int64_t n, int64_t *out)
    double fm_loss_value(int loss, double prediction, double y)
    double fm_loss_derivative(int loss, double prediction, double y)
    int fm_openmp_enabled()
    int fm_max_threads()


cdef extern from "fastfm_text.h" nogil:
    enum:
        FM_TEXT_SVMLIGHT
        FM_TEXT_LIBFFM

    ctypedef struct fm_text_chunk:
        int64_t n_rows
        int64_t nnz
        int64_t n_lines
        int64_t *indptr
        int64_t *indices
        double *values
        int32_t *fields
        double *labels
        int64_t *qids
        int has_qid
        int64_t min_index
        int64_t max_index
        int32_t max_field
        int64_t error_line
        const char *error_what
        char error_text[96]

    void fm_text_chunk_reset(fm_text_chunk *chunk)
    void fm_text_chunk_free(fm_text_chunk *chunk)
    int fm_text_parse(const char *buf, size_t len, int format, int n_parts,
                      fm_text_chunk *chunks)
