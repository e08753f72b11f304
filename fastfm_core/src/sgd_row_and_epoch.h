/* One template unit for the SGD solver: the row maths, the adaptive rules'
 * row update, then the epoch. */
#include "model_row_impl.h"
#include "adaptive_row_impl.h"
#include "sgd_impl.h"
