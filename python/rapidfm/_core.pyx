# cython: language_level=3
"""Binding of the C kernel: moves buffers in, maps status codes to exceptions.

Every function here expects arrays the Python layer has already validated
(rapidfm._validation); the checks below only guard the C code against a
caller that skipped that step (wrong dtype, wrong length, not contiguous), so
a misuse raises instead of reading out of bounds.
"""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

from rapidfm._fastfm cimport *

cnp.import_array()

LOSSES = {"squared": FM_LOSS_SQUARED, "logistic": FM_LOSS_LOGISTIC}
PARALLEL_MODES = {"auto": FM_PARALLEL_AUTO, "hogwild": FM_PARALLEL_HOGWILD,
                  "replicas": FM_PARALLEL_REPLICAS, "hybrid": FM_PARALLEL_HYBRID}
STEP_RULES = {"sgd": FM_RULE_SGD, "adagrad": FM_RULE_ADAGRAD, "ftrl": FM_RULE_FTRL}
_MODE_NAMES = {FM_PARALLEL_HOGWILD: "hogwild", FM_PARALLEL_REPLICAS: "replicas",
               FM_PARALLEL_SERIAL: "serial", FM_PARALLEL_HYBRID: "hybrid"}

CSR_UNSORTED = FM_ERR_UNSORTED
CSR_DUPLICATE = FM_ERR_DUPLICATE
CSR_INDPTR = FM_ERR_INDPTR
CSR_INDEX_RANGE = FM_ERR_INDEX_RANGE
CSR_NONFINITE = FM_ERR_NONFINITE


class DivergenceError(FloatingPointError):
    """Training produced NaN or infinite values."""


def openmp_enabled():
    """True when the installed kernel was compiled with OpenMP."""
    return bool(fm_openmp_enabled())


def max_threads():
    """Threads an OpenMP region may use (1 for a serial build)."""
    return fm_max_threads()


def strerror(int status):
    return fm_strerror(status).decode()


cdef int _real_type(cnp.ndarray a) except -1:
    if a.dtype == np.float32:
        return FM_FLOAT32
    if a.dtype == np.float64:
        return FM_FLOAT64
    raise TypeError(f"expected float32 or float64 values, got {a.dtype}")


cdef int _index_type(cnp.ndarray a) except -1:
    if a.dtype == np.int32:
        return FM_INDEX32
    if a.dtype == np.int64:
        return FM_INDEX64
    raise TypeError(f"expected int32 or int64 indices, got {a.dtype}")


cdef _require(cnp.ndarray a, str name, dtype, Py_ssize_t size):
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if size >= 0 and a.size != size:
        raise ValueError(f"{name} must have {size} entries, got {a.size}")


cdef fm_csr _csr(cnp.ndarray indptr, cnp.ndarray indices, data, int64_t n_cols,
                 int real_type) except *:
    """data may be None: every stored value is 1 (one-hot rows), and the
    kernels then skip loading values."""
    cdef fm_csr X
    cdef cnp.ndarray values
    _require(indptr, "indptr", np.int64, -1)
    _require(indices, "indices", None, -1)
    if indptr.size < 1:
        raise ValueError("indptr must have at least one entry")
    X.n_rows = indptr.size - 1
    X.n_cols = n_cols
    X.index_type = _index_type(indices)
    X.real_type = real_type
    X.indptr = <const int64_t *>cnp.PyArray_DATA(indptr)
    X.indices = cnp.PyArray_DATA(indices)
    X.data = NULL
    if data is not None:
        values = data
        _require(values, "data", None, indices.size)
        if _real_type(values) != real_type:
            raise TypeError(f"data has dtype {values.dtype}, the model another")
        X.data = cnp.PyArray_DATA(values)
    return X


cdef fm_model _model(double w0, cnp.ndarray w, cnp.ndarray V) except *:
    cdef fm_model m
    _require(w, "w", None, -1)
    _require(V, "V", w.dtype, -1)
    if V.ndim != 2 or V.shape[0] != w.size:
        raise ValueError(f"V must have shape (n_features, n_factors) = ({w.size}, k)")
    m.real_type = _real_type(w)
    m.n_features = w.size
    m.n_factors = V.shape[1]
    m.w0 = w0
    m.w = cnp.PyArray_DATA(w)
    m.V = cnp.PyArray_DATA(V)
    return m


def check_csr(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray data, int64_t n_cols):
    """Validates a CSR matrix; returns (status, row, position, column) of the first problem."""
    cdef fm_csr X = _csr(indptr, indices, data, n_cols, _real_type(data))
    cdef fm_csr_error err
    cdef int status
    cdef int64_t capacity = indices.size
    with nogil:
        status = fm_check_csr(&X, capacity, &err)
    return status, err.row, err.position, err.column


def sgd_epoch(double w0, cnp.ndarray w, cnp.ndarray V,
              cnp.ndarray indptr, cnp.ndarray indices, data,
              cnp.ndarray y, sample_weight, *,
              str loss, double learning_rate, double reg_bias, double reg_linear,
              double reg_factors, double clip_min, double clip_max, int n_threads,
              str parallel_mode="auto", int64_t sync_every=0, uint64_t seed=0,
              int64_t block_rows=0, str rule="sgd", double ftrl_beta=1.0,
              double ftrl_l1=0.0, state=None):
    """One SGD epoch, in place on w and V; returns (w0, stats dict).

    data=None means every stored value is 1. The rows are visited in the
    random order that `seed` selects: all at once (block_rows=0), or in blocks
    of block_rows consecutive rows, the blocks in a random order and the rows of
    each in a random order. The GIL is released for the whole epoch.

    rule "adagrad" / "ftrl" takes state = (w0_state, w_sum_sq, w_z, V_sum_sq),
    updated in place: w0_state a float64 array [sum of squares, z] of w0, the
    others arrays of the model's dtype shaped like w, w (FTRL; else None) and V.
    """
    cdef fm_model m = _model(w0, w, V)
    cdef fm_csr X = _csr(indptr, indices, data, w.size, m.real_type)
    cdef fm_sgd_params p
    cdef fm_epoch_stats stats
    cdef fm_sgd_state st
    cdef fm_sgd_state *st_ptr = NULL
    cdef const double *sw = NULL
    cdef const char *problem
    cdef int status
    _require(y, "y", np.float64, X.n_rows)
    sw = _weights(sample_weight, X.n_rows)
    _fill_sgd_params(&p, loss, learning_rate, reg_bias, reg_linear, reg_factors, clip_min,
                     clip_max, n_threads, parallel_mode, sync_every, seed, block_rows, rule,
                     ftrl_beta, ftrl_l1)
    st_ptr = _fill_sgd_state(&st, rule, state, w.dtype, w.size, V.size, True)
    problem = fm_check_sgd_params(&p, &m)
    if problem != NULL:
        raise ValueError(problem.decode())
    with nogil:
        status = fm_sgd_epoch(&m, &X, <const double *>cnp.PyArray_DATA(y), sw, &p, st_ptr,
                              &stats)
    return m.w0, _epoch_result(status, st_ptr, state, &stats)


cdef const double *_weights(sample_weight, int64_t n_rows) except? NULL:
    """The float64 sample weights' buffer, or NULL for None (all ones)."""
    cdef cnp.ndarray sw_arr
    if sample_weight is None:
        return NULL
    sw_arr = sample_weight
    _require(sw_arr, "sample_weight", np.float64, n_rows)
    return <const double *>cnp.PyArray_DATA(sw_arr)


cdef int _fill_sgd_params(fm_sgd_params *p, str loss, double learning_rate, double reg_bias,
                          double reg_linear, double reg_factors, double clip_min,
                          double clip_max, int n_threads, str parallel_mode,
                          int64_t sync_every, uint64_t seed, int64_t block_rows, str rule,
                          double ftrl_beta, double ftrl_l1) except -1:
    """The parameters of an SGD-family epoch (FM or FFM), names checked."""
    if rule not in STEP_RULES:
        raise ValueError(f"rule must be one of {sorted(STEP_RULES)}, got {rule!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if parallel_mode not in PARALLEL_MODES:
        raise ValueError(
            f"parallel_mode must be one of {sorted(PARALLEL_MODES)}, got {parallel_mode!r}")
    p.objective.loss = LOSSES[loss]
    p.objective.reg_bias = reg_bias
    p.objective.reg_linear = reg_linear
    p.objective.reg_factors = reg_factors
    p.objective.clip_min = clip_min
    p.objective.clip_max = clip_max
    p.sgd.learning_rate = learning_rate
    p.sgd.parallel_mode = PARALLEL_MODES[parallel_mode]
    p.sgd.sync_every = sync_every
    p.sgd.rule = STEP_RULES[rule]
    p.sgd.ftrl_beta = ftrl_beta
    p.sgd.ftrl_l1 = ftrl_l1
    p.schedule.n_threads = n_threads
    p.schedule.seed = seed
    p.schedule.block_rows = block_rows
    return 0


cdef fm_sgd_state *_fill_sgd_state(fm_sgd_state *st, str rule, state, dtype, Py_ssize_t w_size,
                                   Py_ssize_t V_size, bint linear) except? NULL:
    """The adaptive rules' state from state = (w0_state, w_sum_sq, w_z, V_sum_sq), or
    NULL for rule "sgd". linear False (an FFM without w): w_sum_sq and w_z may be None."""
    cdef cnp.ndarray w0_state
    if rule == "sgd":
        return NULL
    if state is None or len(state) != 4:
        raise ValueError(f"rule={rule!r} needs state=(w0_state, w_sum_sq, w_z, V_sum_sq)")
    w0_state = state[0]
    _require(w0_state, "w0_state", np.float64, 2)
    _require(state[3], "V_sum_sq", dtype, V_size)
    st.w0_sum_sq = w0_state[0]
    st.w0_z = w0_state[1]
    st.V_sum_sq = cnp.PyArray_DATA(state[3])
    st.w_sum_sq = NULL
    st.w_z = NULL
    if linear or state[1] is not None:
        _require(state[1], "w_sum_sq", dtype, w_size)
        st.w_sum_sq = cnp.PyArray_DATA(state[1])
    if rule == "ftrl" and (linear or state[2] is not None):
        _require(state[2], "w_z", dtype, w_size)
        st.w_z = cnp.PyArray_DATA(state[2])
    return st


cdef dict _epoch_result(int status, fm_sgd_state *st_ptr, state, fm_epoch_stats *stats):
    """w0's state written back, the status mapped to an exception, the stats as a dict."""
    cdef cnp.ndarray w0_state
    if st_ptr != NULL:
        w0_state = state[0]
        w0_state[0] = st_ptr.w0_sum_sq
        w0_state[1] = st_ptr.w0_z
    if status == FM_ERR_DIVERGED:
        raise DivergenceError(fm_strerror(status).decode())
    if status == FM_ERR_NOMEM:
        raise MemoryError(fm_strerror(status).decode())
    if status != FM_OK:
        raise ValueError(fm_strerror(status).decode())
    return {
        "loss_sum": stats.loss_sum,
        "weight_sum": stats.weight_sum,
        "n_rows": stats.n_rows,
        "n_threads": stats.n_threads,
        "parallel_mode": _MODE_NAMES.get(stats.parallel_mode, "unknown"),
    }


# -- field-aware FM (fastfm.h: fm_ffm_model) ------------------------------------------

cdef fm_ffm_model _ffm_model(double w0, w, cnp.ndarray V, bint linear,
                             bint normalize) except *:
    """V of shape (n_features, n_fields, k); w (n_features,) or None when not linear."""
    cdef fm_ffm_model m
    cdef cnp.ndarray w_arr
    if V.ndim != 3:
        raise ValueError(f"V must have shape (n_features, n_fields, n_factors), got {V.ndim}-D")
    _require(V, "V", None, -1)
    m.real_type = _real_type(V)
    m.n_features = V.shape[0]
    m.n_fields = V.shape[1]
    m.n_factors = V.shape[2]
    m.linear = linear
    m.normalize = normalize
    m.w0 = w0
    m.w = NULL
    if w is not None:
        w_arr = w
        _require(w_arr, "w", V.dtype, V.shape[0])
        m.w = cnp.PyArray_DATA(w_arr)
    elif linear:
        raise ValueError("w is required when linear is on")
    m.V = cnp.PyArray_DATA(V)
    if m.n_fields < 1 or m.n_features < 1:
        raise ValueError("V must have at least one feature and one field")
    return m


cdef const int32_t *_ffm_fields(cnp.ndarray fields, cnp.ndarray indices) except? NULL:
    _require(fields, "fields", np.int32, indices.size)
    return <const int32_t *>cnp.PyArray_DATA(fields)


def check_ffm_fields(cnp.ndarray fields, int n_fields):
    """The position of the first field outside [0, n_fields), or -1 (int32 fields)."""
    cdef int64_t bad
    _require(fields, "fields", np.int32, -1)
    with nogil:
        bad = fm_ffm_check_fields(<const int32_t *>cnp.PyArray_DATA(fields), fields.size,
                                  n_fields)
    return bad


CSR_FIELD_RANGE = FM_ERR_PARAM


def check_ffm_rows(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray fields, data,
                   int64_t n_cols, int n_fields):
    """Validates FFM rows over (feature, field) keys without copying them; returns
    (status, row, position, column) of the first problem (CSR_FIELD_RANGE for a field
    outside [0, n_fields)). data None: all ones."""
    cdef fm_csr X = _csr(indptr, indices, data, n_cols,
                         FM_FLOAT32 if data is None else _real_type(data))
    cdef const int32_t *f = _ffm_fields(fields, indices)
    cdef fm_csr_error err
    cdef int status
    cdef int64_t capacity = indices.size
    with nogil:
        status = fm_ffm_check_rows(&X, f, n_fields, capacity, &err)
    return status, err.row, err.position, err.column


def ffm_predict(double w0, w, cnp.ndarray V, cnp.ndarray indptr, cnp.ndarray indices,
                cnp.ndarray fields, data, *, bint linear=True, bint normalize=False,
                int n_threads=1):
    """y(x) of the field-aware FM for every CSR row (fields: int32, one per stored
    value), float64; data None: all values 1. GIL released."""
    cdef fm_ffm_model m = _ffm_model(w0, w, V, linear, normalize)
    cdef fm_csr X = _csr(indptr, indices, data, V.shape[0], m.real_type)
    cdef const int32_t *f = _ffm_fields(fields, indices)
    cdef cnp.ndarray out = np.empty(X.n_rows, dtype=np.float64)
    cdef int status
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    with nogil:
        status = fm_ffm_predict(&m, &X, f, <double *>cnp.PyArray_DATA(out), n_threads)
    if status != FM_OK:
        raise ValueError(fm_strerror(status).decode())
    return out


def ffm_sgd_epoch(double w0, w, cnp.ndarray V, cnp.ndarray indptr, cnp.ndarray indices,
                  cnp.ndarray fields, data, cnp.ndarray y, sample_weight, *,
                  str loss, double learning_rate, double reg_bias, double reg_linear,
                  double reg_factors, double clip_min, double clip_max, int n_threads,
                  str parallel_mode="auto", uint64_t seed=0, int64_t block_rows=0,
                  str rule="sgd", double ftrl_beta=1.0, double ftrl_l1=0.0, state=None,
                  bint linear=True, bint normalize=False):
    """One SGD-family epoch of the field-aware FM, in place on w, V and the state (as
    sgd_epoch's; V_sum_sq shaped like V, w_sum_sq / w_z None allowed when not linear).
    parallel_mode "auto" or "hogwild". Returns (w0, stats dict)."""
    cdef fm_ffm_model m = _ffm_model(w0, w, V, linear, normalize)
    cdef fm_csr X = _csr(indptr, indices, data, V.shape[0], m.real_type)
    cdef const int32_t *f = _ffm_fields(fields, indices)
    cdef fm_sgd_params p
    cdef fm_epoch_stats stats
    cdef fm_sgd_state st
    cdef fm_sgd_state *st_ptr = NULL
    cdef const double *sw = NULL
    cdef const char *problem
    cdef int status
    _require(y, "y", np.float64, X.n_rows)
    sw = _weights(sample_weight, X.n_rows)
    _fill_sgd_params(&p, loss, learning_rate, reg_bias, reg_linear, reg_factors, clip_min,
                     clip_max, n_threads, parallel_mode, 0, seed, block_rows, rule, ftrl_beta,
                     ftrl_l1)
    st_ptr = _fill_sgd_state(&st, rule, state, V.dtype, V.shape[0], V.size, linear)
    problem = fm_check_ffm_sgd_params(&p, &m)
    if problem != NULL:
        raise ValueError(problem.decode())
    with nogil:
        status = fm_ffm_sgd_epoch(&m, &X, f, <const double *>cnp.PyArray_DATA(y), sw, &p,
                                  st_ptr, &stats)
    return m.w0, _epoch_result(status, st_ptr, state, &stats)


def sgda_epoch(double w0, cnp.ndarray w, cnp.ndarray V,
               cnp.ndarray indptr, cnp.ndarray indices, data,
               cnp.ndarray y, sample_weight, val_indptr, val_indices, val_data, val_y,
               val_weight, *, cnp.ndarray groups, cnp.ndarray reg_w, cnp.ndarray reg_v,
               cnp.ndarray grad_w, cnp.ndarray grad_V, str loss, double learning_rate,
               double clip_min, double clip_max, double reg_bias=0.0,
               bint lambda_steps=True, bint shuffle=True, uint64_t seed=0):
    """One SGDA epoch (fastfm.h: fm_sgda_epoch), in place on w, V and the state: the
    lambdas reg_w (float64, n_groups) and reg_v (float64, n_groups x k) and the kept
    gradients grad_w, grad_V (the model's dtype, shaped like w and V). groups: int32
    group id per feature. The val_* arrays are the validation rows (None with
    lambda_steps=False). One thread; the GIL is released for the epoch. Returns
    (w0, stats dict)."""
    cdef fm_model m = _model(w0, w, V)
    cdef fm_csr X = _csr(indptr, indices, data, w.size, m.real_type)
    cdef fm_csr Xv
    cdef fm_csr *xv_ptr = NULL
    cdef fm_sgda_params p
    cdef fm_sgda_state st
    cdef fm_sgda_stats stats
    cdef const double *sw = NULL
    cdef const double *yv = NULL
    cdef const double *vw = NULL
    cdef cnp.ndarray arr
    cdef const char *problem
    cdef int status
    cdef Py_ssize_t n_groups = reg_w.size
    _require(y, "y", np.float64, X.n_rows)
    if sample_weight is not None:
        arr = sample_weight
        _require(arr, "sample_weight", np.float64, X.n_rows)
        sw = <const double *>cnp.PyArray_DATA(arr)
    if val_indptr is not None:
        Xv = _csr(val_indptr, val_indices, val_data, w.size, m.real_type)
        xv_ptr = &Xv
        arr = val_y
        _require(arr, "val_y", np.float64, Xv.n_rows)
        yv = <const double *>cnp.PyArray_DATA(arr)
        if val_weight is not None:
            arr = val_weight
            _require(arr, "val_weight", np.float64, Xv.n_rows)
            vw = <const double *>cnp.PyArray_DATA(arr)
    _require(groups, "groups", np.int32, w.size)
    _require(reg_w, "reg_w", np.float64, -1)
    _require(reg_v, "reg_v", np.float64, n_groups * V.shape[1])
    _require(grad_w, "grad_w", w.dtype, w.size)
    _require(grad_V, "grad_V", w.dtype, V.size)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    p.loss = LOSSES[loss]
    p.learning_rate = learning_rate
    p.reg_bias = reg_bias
    p.clip_min = clip_min
    p.clip_max = clip_max
    p.n_groups = <int32_t>n_groups if n_groups < 2**31 else -1
    p.feature_group = <const int32_t *>cnp.PyArray_DATA(groups)
    p.lambda_steps = lambda_steps
    p.shuffle = shuffle
    p.seed = seed
    st.reg_w = <double *>cnp.PyArray_DATA(reg_w)
    st.reg_v = <double *>cnp.PyArray_DATA(reg_v)
    st.grad_w = cnp.PyArray_DATA(grad_w)
    st.grad_V = cnp.PyArray_DATA(grad_V)
    problem = fm_check_sgda_params(&p, &m, &X, xv_ptr)
    if problem != NULL:
        raise ValueError(problem.decode())
    with nogil:
        status = fm_sgda_epoch(&m, &X, <const double *>cnp.PyArray_DATA(y), sw, xv_ptr, yv, vw,
                               &p, &st, &stats)
    if status == FM_ERR_PARAM:
        raise ValueError("the lambdas reg_w and reg_v must be finite and >= 0")
    _raise_status(status)
    return m.w0, {
        "loss_sum": stats.loss_sum,
        "weight_sum": stats.weight_sum,
        "n_rows": stats.n_rows,
        "val_loss_sum": stats.val_loss_sum,
        "val_weight_sum": stats.val_weight_sum,
        "n_lambda_steps": stats.n_lambda_steps,
    }


def predict(double w0, cnp.ndarray w, cnp.ndarray V,
            cnp.ndarray indptr, cnp.ndarray indices, data, int n_threads):
    """y(x) for every row, as float64 (data=None: all values 1); the GIL is
    released while the rows are computed."""
    cdef fm_model m = _model(w0, w, V)
    cdef fm_csr X = _csr(indptr, indices, data, w.size, m.real_type)
    cdef cnp.ndarray out = np.empty(X.n_rows, dtype=np.float64)
    cdef int status
    with nogil:
        status = fm_predict(&m, &X, <double *>cnp.PyArray_DATA(out), n_threads)
    if status == FM_ERR_NOMEM:
        raise MemoryError(fm_strerror(status).decode())
    if status != FM_OK:
        raise ValueError(fm_strerror(status).decode())
    return out


cdef inline bint _c_array(cnp.ndarray a, int typenum):
    """a is a C-contiguous array of that numpy type number (tests at C level: the
    serving calls' checks; _require words the errors)."""
    return cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_TYPE(a) == typenum


cdef bint _model_fast(double w0, cnp.ndarray w, cnp.ndarray V, fm_model *m):
    """Fills m where w and V are what _model wants (checked at C level), else False:
    the caller then goes through _model, which says what is wrong."""
    cdef int typenum
    if w is None or V is None:
        return False
    typenum = cnp.PyArray_TYPE(w)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        return False
    if not (_c_array(w, typenum) and _c_array(V, typenum) and cnp.PyArray_NDIM(V) == 2
            and cnp.PyArray_DIM(V, 0) == cnp.PyArray_SIZE(w)):
        return False
    m.real_type = FM_FLOAT32 if typenum == cnp.NPY_FLOAT32 else FM_FLOAT64
    m.n_features = cnp.PyArray_SIZE(w)
    m.n_factors = cnp.PyArray_DIM(V, 1)
    m.w0 = w0
    m.w = cnp.PyArray_DATA(w)
    m.V = cnp.PyArray_DATA(V)
    return True


def predict_one(double w0, cnp.ndarray w, cnp.ndarray V, cnp.ndarray indices, data):
    """y(x) of one sparse row (indices int32/int64, data of the model's dtype or None:
    all 1), checked by the kernel first. Returns (status, position, value): status
    CSR_INDEX_RANGE / CSR_UNSORTED / CSR_DUPLICATE / CSR_NONFINITE with the entry at
    fault, else 0. On the calling thread: a serving call starts no threads."""
    cdef fm_model m
    cdef cnp.ndarray values = None if data is None else data
    cdef const void *vp = NULL
    cdef double out = 0.0
    cdef int64_t position = -1
    cdef int status, index_type
    if (_model_fast(w0, w, V, &m) and indices is not None
            and (_c_array(indices, cnp.NPY_INT32) or _c_array(indices, cnp.NPY_INT64))
            and (values is None or (_c_array(values, cnp.PyArray_TYPE(w))
                                    and cnp.PyArray_SIZE(values) == cnp.PyArray_SIZE(indices)))):
        index_type = FM_INDEX32 if cnp.PyArray_TYPE(indices) == cnp.NPY_INT32 else FM_INDEX64
    else:  # the general checks, for their messages
        m = _model(w0, w, V)
        _require(indices, "indices", None, -1)
        index_type = _index_type(indices)
        if values is not None:
            _require(values, "data", w.dtype, indices.size)
    if values is not None:
        vp = cnp.PyArray_DATA(values)
    status = fm_predict_one(&m, cnp.PyArray_DATA(indices), index_type, vp,
                            cnp.PyArray_SIZE(indices), &out, &position)
    if status == FM_ERR_NOMEM:
        raise MemoryError(fm_strerror(status).decode())
    return status, position, out


def predict_dense_one(double w0, cnp.ndarray w, cnp.ndarray V, cnp.ndarray x):
    """y(x) of one dense row of n_features values of the model's dtype (any shape of
    that size, C-contiguous: a (1, n_features) array is read as it is). Returns
    (status, column, value): CSR_NONFINITE with the column at fault, else 0."""
    cdef fm_model m
    cdef double out = 0.0
    cdef int64_t position = -1
    cdef int status
    if not (_model_fast(w0, w, V, &m) and x is not None and _c_array(x, cnp.PyArray_TYPE(w))
            and cnp.PyArray_SIZE(x) == cnp.PyArray_SIZE(w)):
        m = _model(w0, w, V)  # the general checks, for their messages
        _require(x, "x", w.dtype, w.size)
    status = fm_predict_dense_one(&m, cnp.PyArray_DATA(x), &out, &position)
    if status == FM_ERR_NOMEM:
        raise MemoryError(fm_strerror(status).decode())
    return status, position, out


cdef const double *_per_row(values, str name, Py_ssize_t size) except? NULL:
    """The float64 buffer of a per-row array of `size` entries, or NULL for None."""
    cdef cnp.ndarray arr
    if values is None:
        return NULL
    arr = values
    _require(arr, name, np.float64, size)
    return <const double *>cnp.PyArray_DATA(arr)


def take_rows(cnp.ndarray indptr, cnp.ndarray indices, data, y, sample_weight,
              cnp.ndarray rows, int n_threads=1):
    """(indptr, indices, data, y, sample_weight) of the rows `rows` (int64) of a CSR
    matrix and of its per-row float64 arrays, in that order; each of data, y and
    sample_weight None stays None. The GIL is released while the rows are read."""
    cdef fm_csr X
    cdef cnp.ndarray out_indptr, out_indices, out_data = None, out_y = None, out_sw = None
    cdef void *out_data_ptr = NULL
    cdef const double *y_ptr
    cdef const double *sw_ptr
    cdef double *out_y_ptr = NULL
    cdef double *out_sw_ptr = NULL
    cdef const int64_t *rows_ptr
    cdef int64_t n_out
    cdef int status
    _require(rows, "rows", np.int64, -1)
    real_type = FM_FLOAT32 if data is None else _real_type(data)
    X = _csr(indptr, indices, data, 0, real_type)
    y_ptr = _per_row(y, "y", X.n_rows)
    sw_ptr = _per_row(sample_weight, "sample_weight", X.n_rows)
    n_out = rows.size
    rows_ptr = <const int64_t *>cnp.PyArray_DATA(rows)
    out_indptr = np.empty(n_out + 1, dtype=np.int64)
    if y_ptr != NULL:
        out_y = np.empty(n_out, dtype=np.float64)
        out_y_ptr = <double *>cnp.PyArray_DATA(out_y)
    if sw_ptr != NULL:
        out_sw = np.empty(n_out, dtype=np.float64)
        out_sw_ptr = <double *>cnp.PyArray_DATA(out_sw)
    with nogil:
        status = fm_csr_gather_row_pointers(&X, rows_ptr, n_out,
                                            <int64_t *>cnp.PyArray_DATA(out_indptr),
                                            y_ptr, out_y_ptr, sw_ptr, out_sw_ptr)
    if status == FM_ERR_INDEX_RANGE:
        raise ValueError(f"row ids must lie in [0, {X.n_rows})")
    if status != FM_OK:
        raise ValueError(fm_strerror(status).decode())
    out_indices = np.empty(out_indptr[n_out], dtype=indices.dtype)
    if data is not None:
        out_data = np.empty(out_indptr[n_out], dtype=data.dtype)
        out_data_ptr = cnp.PyArray_DATA(out_data)
    with nogil:
        status = fm_csr_gather_rows(&X, rows_ptr, n_out,
                                    <const int64_t *>cnp.PyArray_DATA(out_indptr),
                                    cnp.PyArray_DATA(out_indices), out_data_ptr, n_threads)
    if status != FM_OK:
        raise ValueError(fm_strerror(status).decode())
    return out_indptr, out_indices, out_data, out_y, out_sw


def gather_rows(cnp.ndarray indptr, cnp.ndarray indices, data, cnp.ndarray rows,
                int n_threads=1):
    """(indptr, indices, data) of the rows `rows` (int64) of a CSR matrix, in that
    order; data None stays None. The GIL is released while entries are copied."""
    return take_rows(indptr, indices, data, None, None, rows, n_threads)[:3]


def shuffle_ids(uint64_t seed, cnp.ndarray ids):
    """A new int64 array of ids (int64) in a uniform random order drawn from seed."""
    cdef cnp.ndarray out
    cdef int status
    _require(ids, "ids", np.int64, -1)
    out = np.empty(ids.size, dtype=np.int64)
    with nogil:
        status = fm_shuffle_ids(seed, <const int64_t *>cnp.PyArray_DATA(ids), ids.size,
                                <int64_t *>cnp.PyArray_DATA(out))
    if status == FM_ERR_NOMEM:
        raise MemoryError(fm_strerror(status).decode())
    if status != FM_OK:
        raise ValueError(fm_strerror(status).decode())
    return out


# -- column-wise solvers (ALS, MCMC) ------------------------------------------------------

# -- pairwise ranking (fastfm.h: fm_pair_sgd_epoch) -------------------------------------

cdef const int64_t *_ids(ids, str name, Py_ssize_t size) except? NULL:
    """The int64 buffer of an id array of `size` entries, or NULL for None."""
    cdef cnp.ndarray arr
    if ids is None:
        return NULL
    arr = ids
    _require(arr, name, np.int64, size)
    return <const int64_t *>cnp.PyArray_DATA(arr)


cdef int _fill_pairs(fm_pairs *pr, preferred, other, context, weight, draw_cdf, seen_ptr,
                     seen, int max_draws, int n_candidates, int64_t n_items,
                     int64_t n_contexts) except -1:
    cdef Py_ssize_t n
    if preferred is None:
        raise TypeError("preferred must be an array, got None")
    n = (<cnp.ndarray>preferred).size
    pr.n_pairs = n
    pr.preferred = _ids(preferred, "preferred", n)
    pr.other = _ids(other, "other", n)
    pr.context = _ids(context, "context", n)
    pr.weight = _weights(weight, n)
    pr.draw_cdf = NULL
    if draw_cdf is not None:
        _require(draw_cdf, "draw_cdf", np.float64, n_items)
        pr.draw_cdf = <const double *>cnp.PyArray_DATA(draw_cdf)
    pr.seen_ptr = _ids(seen_ptr, "seen_ptr", n_contexts + 1 if seen_ptr is not None else 0)
    pr.seen = _ids(seen, "seen", -1)
    pr.max_draws = max_draws
    pr.n_candidates = n_candidates
    return 0


PAIR_ERRORS = {FM_ERR_INDEX_RANGE: "id out of range", FM_ERR_INDPTR: "invalid offsets",
               FM_ERR_UNSORTED: "ids not increasing", FM_ERR_PARAM: "invalid value",
               FM_ERR_NULL: "missing array"}


def check_pairs(cnp.ndarray indptr, cnp.ndarray indices, int64_t n_cols, preferred, other,
                context, weight, c_indptr=None, c_indices=None, int64_t c_cols=0,
                draw_cdf=None, seen_ptr=None, seen=None, int max_draws=1, int n_candidates=1):
    """(status, position) of fm_check_pairs on these pairs (0, -1 when valid)."""
    cdef fm_csr X = _csr(indptr, indices, None, n_cols, FM_FLOAT64)
    cdef fm_csr C
    cdef fm_csr *c_ptr = NULL
    cdef fm_pairs pr
    cdef int64_t position = -1
    cdef int status
    if c_indptr is not None:
        C = _csr(c_indptr, c_indices, None, c_cols, FM_FLOAT64)
        c_ptr = &C
    _fill_pairs(&pr, preferred, other, context, weight, draw_cdf, seen_ptr, seen, max_draws,
                n_candidates, X.n_rows, C.n_rows if c_ptr != NULL else 0)
    with nogil:
        status = fm_check_pairs(&X, c_ptr, &pr, &position)
    return status, position


def pair_sgd_epoch(cnp.ndarray w, cnp.ndarray V, cnp.ndarray indptr, cnp.ndarray indices,
                   data, preferred, other, *, context=None, c_indptr=None, c_indices=None,
                   c_data=None, int64_t c_cols=0, weight=None, draw_cdf=None, seen_ptr=None,
                   seen=None, int max_draws=1, int n_candidates=1, double learning_rate,
                   double reg_linear,
                   double reg_factors, int n_threads, str parallel_mode="auto",
                   uint64_t seed=0, str rule="sgd", double ftrl_beta=1.0, double ftrl_l1=0.0,
                   state=None):
    """One BPR epoch, in place on w, V and the state (as sgd_epoch's; w0's is not used).

    Rows of (indptr, indices, data) are the model's features from c_cols on; the
    context rows (c_indptr, c_indices, c_data; None: no context) the features below
    c_cols. other=None draws the other row of every pair (draw_cdf, seen_ptr / seen,
    max_draws; the best-scored of n_candidates draws). Returns a stats dict (loss_sum,
    weight_sum, n_pairs, n_correct, n_skipped, n_threads, parallel_mode)."""
    cdef fm_model m = _model(0.0, w, V)
    cdef fm_csr X = _csr(indptr, indices, data, w.size - c_cols, m.real_type)
    cdef fm_csr C
    cdef fm_csr *c_ptr = NULL
    cdef fm_pairs pr
    cdef fm_sgd_params p
    cdef fm_pair_stats stats
    cdef fm_sgd_state st
    cdef fm_sgd_state *st_ptr = NULL
    cdef const char *problem
    cdef int status
    if c_indptr is not None:
        C = _csr(c_indptr, c_indices, c_data, c_cols, m.real_type)
        c_ptr = &C
    elif c_cols != 0:
        raise ValueError("c_cols must be 0 without context rows")
    _fill_pairs(&pr, preferred, other, context, weight, draw_cdf, seen_ptr, seen, max_draws,
                n_candidates, X.n_rows, C.n_rows if c_ptr != NULL else 0)
    _fill_sgd_params(&p, "logistic", learning_rate, 0.0, reg_linear, reg_factors, -np.inf,
                     np.inf, n_threads, parallel_mode, 0, seed, 0, rule, ftrl_beta, ftrl_l1)
    st_ptr = _fill_sgd_state(&st, rule, state, w.dtype, w.size, V.size, True)
    problem = fm_check_pair_params(&p, &m, &X, c_ptr, &pr)
    if problem != NULL:
        raise ValueError(problem.decode())
    with nogil:
        status = fm_pair_sgd_epoch(&m, &X, c_ptr, &pr, &p, st_ptr, &stats)
    if status == FM_ERR_DIVERGED:
        raise DivergenceError(fm_strerror(status).decode())
    if status == FM_ERR_NOMEM:
        raise MemoryError(fm_strerror(status).decode())
    if status != FM_OK:
        raise ValueError(f"pairs: {PAIR_ERRORS.get(status, fm_strerror(status).decode())}")
    return {
        "loss_sum": stats.loss_sum,
        "weight_sum": stats.weight_sum,
        "n_pairs": stats.n_pairs,
        "n_correct": stats.n_correct,
        "n_skipped": stats.n_skipped,
        "n_threads": stats.n_threads,
        "parallel_mode": _MODE_NAMES.get(stats.parallel_mode, "unknown"),
    }


CD_METHODS = {"als": FM_SOLVER_ALS, "mcmc": FM_SOLVER_MCMC}
CD_LOSSES = {"squared": FM_LOSS_SQUARED, "probit": FM_LOSS_PROBIT}
# colouring costs sum over rows of nnz^2 pair visits; past this (about a second)
# every feature gets a block of its own
FEATURE_BLOCKS_MAX_WORK = 2_000_000_000


cdef _raise_status(int status):
    if status == FM_ERR_DIVERGED:
        raise DivergenceError(fm_strerror(status).decode())
    if status == FM_ERR_NOMEM:
        raise MemoryError(fm_strerror(status).decode())
    if status != FM_OK:
        raise ValueError(fm_strerror(status).decode())


cdef fm_csc _csc(cnp.ndarray colptr, cnp.ndarray rows, data, int64_t n_rows,
                 int real_type) except *:
    cdef fm_csc Xt
    cdef cnp.ndarray values
    _require(colptr, "colptr", np.int64, -1)
    _require(rows, "rows", None, -1)
    if colptr.size < 1:
        raise ValueError("colptr must have at least one entry")
    if colptr[colptr.size - 1] != rows.size:
        raise ValueError("colptr does not end at the number of entries")
    Xt.n_rows = n_rows
    Xt.n_cols = colptr.size - 1
    Xt.index_type = _index_type(rows)
    Xt.real_type = real_type
    Xt.colptr = <const int64_t *>cnp.PyArray_DATA(colptr)
    Xt.rows = cnp.PyArray_DATA(rows)
    Xt.data = NULL
    if data is not None:
        values = data
        _require(values, "cdata", None, rows.size)
        if _real_type(values) != real_type:
            raise TypeError(f"cdata has dtype {values.dtype}, the model another")
        Xt.data = cnp.PyArray_DATA(values)
    return Xt


def csr_to_csc(cnp.ndarray indptr, cnp.ndarray indices, data, int64_t n_cols):
    """(colptr, rows, cdata): the column view of a CSR matrix (rows of the index
    dtype of `indices`, increasing within each column; cdata None when data is)."""
    real_type = FM_FLOAT32 if data is None else _real_type(data)
    cdef fm_csr X = _csr(indptr, indices, data, n_cols, real_type)
    cdef cnp.ndarray colptr = np.zeros(n_cols + 1, dtype=np.int64)
    cdef cnp.ndarray rows, cdata = None
    cdef void *cdata_ptr = NULL
    cdef int status
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        raise ValueError(f"column indices must lie in [0, {n_cols})")
    nnz = int(indptr[indptr.size - 1])
    np.cumsum(np.bincount(indices[:nnz], minlength=n_cols), out=colptr[1:])
    rows = np.empty(nnz, dtype=indices.dtype)
    if data is not None:
        cdata = np.empty(nnz, dtype=data.dtype)
        cdata_ptr = cnp.PyArray_DATA(cdata)
    with nogil:
        status = fm_csr_to_csc(&X, <const int64_t *>cnp.PyArray_DATA(colptr),
                               cnp.PyArray_DATA(rows), cdata_ptr)
    _raise_status(status)
    return colptr, rows, cdata


def feature_blocks(cnp.ndarray indptr, cnp.ndarray indices, cnp.ndarray colptr,
                   cnp.ndarray rows, int64_t n_cols, int64_t max_work=FEATURE_BLOCKS_MAX_WORK):
    """(order, block_ptr): the features in blocks that share no row (int64 arrays)."""
    cdef fm_csr X = _csr(indptr, indices, None, n_cols, FM_FLOAT64)
    cdef fm_csc Xt = _csc(colptr, rows, None, X.n_rows, FM_FLOAT64)
    cdef cnp.ndarray order = np.empty(n_cols, dtype=np.int64)
    cdef cnp.ndarray block_ptr = np.empty(n_cols + 1, dtype=np.int64)
    cdef int64_t n_blocks = 0
    cdef int status
    if Xt.n_cols != n_cols:
        raise ValueError(f"colptr must have {n_cols + 1} entries")
    with nogil:
        status = fm_feature_blocks(&X, &Xt, max_work, <int64_t *>cnp.PyArray_DATA(order),
                                   <int64_t *>cnp.PyArray_DATA(block_ptr), &n_blocks)
    _raise_status(status)
    return order, block_ptr[:n_blocks + 1].copy()


def cd_scratch_bytes(str loss, cnp.ndarray w, cnp.ndarray V, cnp.ndarray colptr,
                     cnp.ndarray rows, int64_t n_rows, int n_threads):
    """Bytes of the scratch cd_sweep needs for this model, column view, loss and
    thread count."""
    cdef fm_model m = _model(0.0, w, V)
    cdef fm_csc Xt = _csc(colptr, rows, None, n_rows, m.real_type)
    if loss not in CD_LOSSES:
        raise ValueError(f"loss must be one of {sorted(CD_LOSSES)}, got {loss!r}")
    return fm_cd_scratch_bytes(&m, &Xt, CD_LOSSES[loss], n_threads)


def cd_sweep(str method, str loss, double w0, cnp.ndarray w, cnp.ndarray V,
             cnp.ndarray indptr, cnp.ndarray indices, data,
             cnp.ndarray colptr, cnp.ndarray rows, cdata,
             cnp.ndarray y, sample_weight, cnp.ndarray order, cnp.ndarray block_ptr,
             cnp.ndarray groups, cnp.ndarray mu_w, cnp.ndarray lambda_w,
             cnp.ndarray mu_v, cnp.ndarray lambda_v, double alpha, double reg_bias,
             uint64_t seed, int n_threads, bint sample_hyper=True, pred_out=None,
             scratch=None, bint reuse_rows=False, double prior_alpha0=1.0, double prior_beta0=1.0, double prior_gamma0=1.0,
             double prior_mu0=0.0):
    """One ALS or MCMC sweep in place on w, V and (MCMC) the hyperparameter arrays;
    returns (w0, alpha, stats dict). scratch: optional uint8 array of at least
    cd_scratch_bytes(...) bytes that a fit reuses across sweeps; reuse_rows: it
    holds what the previous sweep of this model on these rows left (the rows'
    predictions are then not recomputed). The GIL is released for the sweep."""
    cdef fm_model m = _model(w0, w, V)
    cdef fm_csr X = _csr(indptr, indices, data, w.size, m.real_type)
    cdef fm_csc Xt = _csc(colptr, rows, cdata, X.n_rows, m.real_type)
    cdef fm_cd_params p
    cdef fm_cd_hyper h
    cdef fm_cd_stats stats
    cdef const double *sw = NULL
    cdef double *pred = NULL
    cdef void *state = NULL
    cdef size_t state_bytes = 0
    cdef cnp.ndarray arr
    cdef const char *problem
    cdef int status
    cdef Py_ssize_t k = V.shape[1]
    if method not in CD_METHODS:
        raise ValueError(f"method must be one of {sorted(CD_METHODS)}, got {method!r}")
    if loss not in CD_LOSSES:
        raise ValueError(f"loss must be one of {sorted(CD_LOSSES)}, got {loss!r}")
    _require(y, "y", np.float64, X.n_rows)
    if sample_weight is not None:
        arr = sample_weight
        _require(arr, "sample_weight", np.float64, X.n_rows)
        sw = <const double *>cnp.PyArray_DATA(arr)
    if pred_out is not None:
        arr = pred_out
        _require(arr, "pred_out", np.float64, X.n_rows)
        pred = <double *>cnp.PyArray_DATA(arr)
    if scratch is not None:
        arr = scratch
        _require(arr, "scratch", np.uint8, -1)
        if not arr.flags.writeable:
            raise ValueError("scratch must be writeable")
        state = cnp.PyArray_DATA(arr)
        state_bytes = arr.size
    _require(order, "order", np.int64, w.size)
    _require(block_ptr, "block_ptr", np.int64, -1)
    _require(groups, "groups", np.int32, w.size)
    _require(mu_w, "mu_w", np.float64, -1)
    n_groups = mu_w.size
    _require(lambda_w, "lambda_w", np.float64, n_groups)
    _require(mu_v, "mu_v", np.float64, n_groups * k)
    _require(lambda_v, "lambda_v", np.float64, n_groups * k)
    if n_groups < 1 or block_ptr.size < 1:
        raise ValueError("need at least one group and one block boundary")
    p.method = CD_METHODS[method]
    p.loss = CD_LOSSES[loss]
    p.sample_hyper = sample_hyper
    p.n_threads = n_threads
    p.seed = seed
    p.n_groups = n_groups
    p.feature_group = <const int32_t *>cnp.PyArray_DATA(groups)
    p.order = <const int64_t *>cnp.PyArray_DATA(order)
    p.block_ptr = <const int64_t *>cnp.PyArray_DATA(block_ptr)
    p.n_blocks = block_ptr.size - 1
    if reuse_rows and scratch is None:
        raise ValueError("reuse_rows needs the scratch of the previous sweep")
    p.reuse_rows = reuse_rows
    p.reg_bias = reg_bias
    p.prior_alpha0 = prior_alpha0
    p.prior_beta0 = prior_beta0
    p.prior_gamma0 = prior_gamma0
    p.prior_mu0 = prior_mu0
    h.alpha = alpha
    h.mu_w = <double *>cnp.PyArray_DATA(mu_w)
    h.lambda_w = <double *>cnp.PyArray_DATA(lambda_w)
    h.mu_v = <double *>cnp.PyArray_DATA(mu_v)
    h.lambda_v = <double *>cnp.PyArray_DATA(lambda_v)
    problem = fm_check_cd_params(&p, &m, &X, &Xt)
    if problem != NULL:
        raise ValueError(problem.decode())
    with nogil:
        status = fm_cd_sweep(&m, &X, &Xt, <const double *>cnp.PyArray_DATA(y), sw, &p, &h,
                             state, state_bytes, pred, &stats)
    if status == FM_ERR_PARAM:
        raise ValueError("invalid hyperparameters (lambdas must be finite and >= 0, mus "
                         "finite, alpha > 0 when it is not drawn) or scratch smaller than "
                         "cd_scratch_bytes")
    _raise_status(status)
    return m.w0, h.alpha, {"sse": stats.sse, "weight_sum": stats.weight_sum,
                           "n_threads": stats.n_threads}


def loss_value(str loss, double prediction, double y):
    return fm_loss_value(LOSSES[loss], prediction, y)


def loss_derivative(str loss, double prediction, double y):
    return fm_loss_derivative(LOSSES[loss], prediction, y)


# -- text files -------------------------------------------------------------------------

TEXT_FORMATS = {"svmlight": FM_TEXT_SVMLIGHT, "libffm": FM_TEXT_LIBFFM}


cdef cnp.ndarray _copy_out(const void *src, Py_ssize_t n, dtype):
    cdef cnp.ndarray out = np.empty(n, dtype=dtype)
    if n > 0:
        memcpy(cnp.PyArray_DATA(out), src, <size_t>n * out.itemsize)
    return out


cdef class TextParser:
    """Parses blocks of whole lines with fm_text_parse, one chunk per thread.

    parse() returns the parts in file order as dicts of arrays (copies), or
    raises TextLineError for the first malformed line of the block.
    """
    cdef fm_text_chunk *chunks
    cdef int n_parts
    cdef int format

    def __cinit__(self, str format, int n_parts):
        if format not in TEXT_FORMATS:
            raise ValueError(f"format must be one of {sorted(TEXT_FORMATS)}, got {format!r}")
        if n_parts < 1 or n_parts > 256:
            raise ValueError(f"n_parts must be in [1, 256], got {n_parts}")
        self.format = TEXT_FORMATS[format]
        self.n_parts = n_parts
        self.chunks = <fm_text_chunk *>calloc(n_parts, sizeof(fm_text_chunk))
        if self.chunks == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.chunks != NULL:
            for p in range(self.n_parts):
                fm_text_chunk_free(&self.chunks[p])
            free(self.chunks)

    def parse(self, const unsigned char[::1] block not None):
        cdef const char *buf = NULL
        cdef size_t n = block.shape[0]
        cdef int status
        cdef fm_text_chunk *c
        cdef int64_t lines_before = 0
        if n > 0:
            buf = <const char *>&block[0]
        with nogil:
            status = fm_text_parse(buf, n, self.format, self.n_parts, self.chunks)
        if status == FM_ERR_NOMEM:
            raise MemoryError(fm_strerror(status).decode())
        if status == FM_ERR_TEXT:
            for p in range(self.n_parts):
                c = &self.chunks[p]
                if c.error_what != NULL:
                    raise TextLineError(lines_before + c.error_line, c.error_what.decode(),
                                        c.error_text.decode("utf-8", "replace"))
                lines_before += c.n_lines
        if status != FM_OK:
            raise ValueError(fm_strerror(status).decode())
        parts = []
        for p in range(self.n_parts):
            c = &self.chunks[p]
            parts.append({
                "n_lines": c.n_lines,
                "indptr": _copy_out(c.indptr, c.n_rows + 1, np.int64),
                "indices": _copy_out(c.indices, c.nnz, np.int64),
                "values": _copy_out(c.values, c.nnz, np.float64),
                "fields": (_copy_out(c.fields, c.nnz, np.int32)
                           if self.format == FM_TEXT_LIBFFM else None),
                "labels": _copy_out(c.labels, c.n_rows, np.float64),
                "qids": _copy_out(c.qids, c.n_rows, np.int64) if c.has_qid else None,
                "min_index": c.min_index,
                "max_index": c.max_index,
                "max_field": c.max_field,
            })
        return parts


class TextLineError(ValueError):
    """A malformed line: line (1-based, within the block), what, text."""

    def __init__(self, line, what, text):
        super().__init__(f"line {line}: {what}: {text!r}")
        self.line = line
        self.what = what
        self.text = text
