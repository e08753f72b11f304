/* One template unit for the FFM: the FM row helpers it shares (tree sums,
 * the element-type sqrt), then the FFM's own maths and epoch. */
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include "model_row_impl.h"
#include "adaptive_row_impl.h"
#include "ffm_impl.h"
