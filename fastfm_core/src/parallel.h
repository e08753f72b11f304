/* OpenMP shims: the same calls compile to the serial answers without OpenMP. */
#ifndef FM_PARALLEL_H
#define FM_PARALLEL_H

#include <stdint.h>

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

/* A double shared between threads: read whole, and added to without losing another
 * thread's addition (the hogwild drivers fold their private w0 into it). */
static inline double fm_atomic_read(const double *p)
{
    double v;
#ifdef _OPENMP
#pragma omp atomic read
#endif
    v = *p;
    return v;
}

static inline void fm_atomic_add(double *p, double change)
{
#ifdef _OPENMP
#pragma omp atomic update
#endif
    *p += change;
}

/* Work handed out in chunks instead of equal shares fixed in advance: a thread
 * claims the next `chunk` items below `limit` from the team's counter *next
 * ([*begin, *end)), and gets 0 once none is left. A thread that runs slower
 * (its core shared with another process, a busier cache) then takes fewer
 * chunks, where with fixed shares the whole team would wait for it: with one
 * of two cores busy elsewhere, two threads ran at half the speed of one. */
static inline int fm_claim_chunk(int64_t *next, int64_t chunk, int64_t limit, int64_t *begin,
                                 int64_t *end)
{
    int64_t got;
#ifdef _OPENMP
#pragma omp atomic capture
#endif
    {
        got = *next;
        *next += chunk;
    }
    if (got >= limit)
        return 0;
    *begin = got;
    *end = got + chunk < limit ? got + chunk : limit;
    return 1;
}

#endif
