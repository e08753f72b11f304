/* Compiler hints, with harmless fallbacks for compilers that lack them. */
#ifndef FM_COMPILER_H
#define FM_COMPILER_H

#if defined(__GNUC__) || defined(__clang__)
#define FM_INLINE inline __attribute__((always_inline))
#define FM_PREFETCH_READ(addr) __builtin_prefetch((addr), 0, 3)
#define FM_PREFETCH_WRITE(addr) __builtin_prefetch((addr), 1, 3)
#define FM_LIKELY(x) __builtin_expect(!!(x), 1)
#define FM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FM_NOINLINE __attribute__((noinline))
#else
#define FM_INLINE inline
#define FM_PREFETCH_READ(addr) ((void)(addr))
#define FM_PREFETCH_WRITE(addr) ((void)(addr))
#define FM_LIKELY(x) (x)
#define FM_UNLIKELY(x) (x)
#define FM_NOINLINE
#endif

/* Unroll the next loop (a row's nonzeros: a handful, trip count unknown) by 4.
 * Per loop rather than -funroll-loops, which doubled the core's compile time. */
#if defined(__clang__)
#define FM_UNROLL4 _Pragma("unroll 4")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define FM_UNROLL4 _Pragma("GCC unroll 4")
#else
#define FM_UNROLL4
#endif

/* Models of at most this many bytes of w and V stay in L2 between rows, and
 * prefetching their entries ahead would be pure overhead (SGD, FFM, predict). */
#ifndef FM_PREFETCH_MIN_BYTES
#define FM_PREFETCH_MIN_BYTES ((int64_t)256 << 10)
#endif

/* Vectorise the loop over factors. Without it GCC fully unrolls the
 * constant-k loops first and then leaves them scalar. Needs -fopenmp or
 * -fopenmp-simd (setup.py defines FM_OPENMP_SIMD when it passes the latter). */
#if defined(_OPENMP) || defined(FM_OPENMP_SIMD)
#define FM_SIMD _Pragma("omp simd")
#else
#define FM_SIMD
#endif

#endif
