/* What the C programs of bench/ share: a monotonic clock and a fixed-seed
 * xorshift64 generator (the data depend on nothing but the arguments); inline,
 * so that a program using one of them draws no unused-function warning. */
#ifndef RAPIDFM_BENCH_HARNESS_UTIL_H
#define RAPIDFM_BENCH_HARNESS_UTIL_H

#include <stdint.h>
#include <time.h>

static inline double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t harness_state = 88172645463325252ULL;
static inline uint64_t next(void)
{
    harness_state ^= harness_state << 13;
    harness_state ^= harness_state >> 7;
    harness_state ^= harness_state << 17;
    return harness_state;
}

#endif
