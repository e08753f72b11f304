/* One template unit for the FFM: the FM row helpers it shares (tree sums,
 * the element-type sqrt), then the FFM's own maths and epoch. */
#include "model_row_impl.h"
#include "adaptive_row_impl.h"
#include "ffm_impl.h"
