/* One template unit for the SGD solver: the row maths, then the epoch. */
#include "model_row_impl.h"
#include "sgd_impl.h"
