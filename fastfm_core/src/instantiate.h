/*
 * Instantiates a template file once per (real type, index type) pair.
 *
 * A template file is written once against REAL (the parameter and data type)
 * and IDX (the CSR index type) and names its functions through FM_NAME(base),
 * which appends the pair's suffix. Define FM_TEMPLATE as the file to expand,
 * then include this header: float32/float64 and int32/int64 come from one
 * source instead of four hand-kept copies.
 */
#ifndef FM_TEMPLATE
#error "define FM_TEMPLATE before including instantiate.h"
#endif

#define FM_CAT2(a, b) a##_##b
#define FM_CAT(a, b) FM_CAT2(a, b)
#define FM_NAME(base) FM_CAT(base, FM_SUFFIX)

#define REAL float
#define IDX int32_t
#define FM_SUFFIX f32_i32
#include FM_TEMPLATE
#undef REAL
#undef IDX
#undef FM_SUFFIX

#define REAL float
#define IDX int64_t
#define FM_SUFFIX f32_i64
#include FM_TEMPLATE
#undef REAL
#undef IDX
#undef FM_SUFFIX

#define REAL double
#define IDX int32_t
#define FM_SUFFIX f64_i32
#include FM_TEMPLATE
#undef REAL
#undef IDX
#undef FM_SUFFIX

#define REAL double
#define IDX int64_t
#define FM_SUFFIX f64_i64
#include FM_TEMPLATE
#undef REAL
#undef IDX
#undef FM_SUFFIX

#undef FM_NAME
#undef FM_CAT
#undef FM_CAT2
#undef FM_TEMPLATE
