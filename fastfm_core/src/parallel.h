/* OpenMP shims: the same calls compile to the serial answers without OpenMP. */
#ifndef FM_PARALLEL_H
#define FM_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
static inline int fm_thread_id(void) { return omp_get_thread_num(); }
static inline int fm_team_size(void) { return omp_get_num_threads(); }
#else
static inline int fm_thread_id(void) { return 0; }
static inline int fm_team_size(void) { return 1; }
#endif

/* Limits a request to what the build can run. */
static inline int fm_clamp_threads(int n_threads)
{
#ifdef _OPENMP
    return n_threads < 1 ? 1 : n_threads;
#else
    (void)n_threads;
    return 1;
#endif
}

#endif
