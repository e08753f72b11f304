/*
 * Picks the template instance that matches the run-time element types.
 * FM_DISPATCH(status, fn, real_type, index_type, args) sets status to
 * fn_<suffix>(args) or to FM_ERR_DTYPE for an unknown pair.
 */
#ifndef FM_DISPATCH_H
#define FM_DISPATCH_H

#include "fastfm.h"

#define FM_DISPATCH(status, fn, real_type, index_type, args)                    \
    do {                                                                        \
        if ((real_type) == FM_FLOAT32 && (index_type) == FM_INDEX32)            \
            (status) = fn##_f32_i32 args;                                       \
        else if ((real_type) == FM_FLOAT32 && (index_type) == FM_INDEX64)       \
            (status) = fn##_f32_i64 args;                                       \
        else if ((real_type) == FM_FLOAT64 && (index_type) == FM_INDEX32)       \
            (status) = fn##_f64_i32 args;                                       \
        else if ((real_type) == FM_FLOAT64 && (index_type) == FM_INDEX64)       \
            (status) = fn##_f64_i64 args;                                       \
        else                                                                    \
            (status) = FM_ERR_DTYPE;                                            \
    } while (0)

#endif
