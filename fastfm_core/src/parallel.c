/*
 * The OpenMP facts the rest of the library asks for, in one place, so that a
 * serial build (no OpenMP at compile time) is the same source with these
 * answers fixed at 1.
 */
#include "fastfm.h"
#include "parallel.h"

int fm_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fm_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
