/*
 * Random draws of the MCMC sampler: uniform, normal, gamma and one-sided
 * truncated normal, from splitmix64 (rng.h).
 *
 * Every stream is keyed (fm_rng_keyed) by the sweep's seed, a stream id and an
 * index (a feature, a row), so that a draw depends on what is drawn, never on
 * which thread draws it: the sampler gives the same chain on any thread count.
 */
#ifndef FM_RANDOM_DRAWS_H
#define FM_RANDOM_DRAWS_H

#include <math.h>
#include <stdint.h>

#include "rng.h"

enum { FM_STREAM_LATENT = 1, FM_STREAM_HYPER = 2, FM_STREAM_BIAS = 3, FM_STREAM_FEATURE = 4 };

static inline uint64_t fm_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A generator for (seed, stream, index): distinct keys give unrelated streams. */
static inline fm_rng fm_rng_keyed(uint64_t seed, uint64_t stream, uint64_t index)
{
    fm_rng rng;
    rng.state = fm_mix64(seed ^ fm_mix64(stream * 0xD1B54A32D192ED03ULL + fm_mix64(index + 1)));
    return rng;
}

/* Uniform in (0, 1): 53 random bits, never 0 (so that log() is finite). */
static inline double fm_uniform(fm_rng *rng)
{
    return ((double)(fm_rng_next(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller; one of the pair is used, which keeps a draw a
 * function of its stream position only). */
static inline double fm_normal(fm_rng *rng)
{
    const double u1 = fm_uniform(rng), u2 = fm_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Standard normals two at a time (both values of a Box-Muller pair): the
 * stream of one feature's k + 1 draws. */
typedef struct {
    fm_rng rng;
    double spare;
    int has_spare;
} fm_normals;

static inline fm_normals fm_normals_keyed(uint64_t seed, uint64_t stream, uint64_t index)
{
    fm_normals g;
    g.rng = fm_rng_keyed(seed, stream, index);
    g.spare = 0.0;
    g.has_spare = 0;
    return g;
}

static inline double fm_normals_next(fm_normals *g)
{
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    const double u1 = fm_uniform(&g->rng), u2 = fm_uniform(&g->rng);
    const double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
    g->spare = r * sin(a);
    g->has_spare = 1;
    return r * cos(a);
}

/* Gamma(shape, rate) (Marsaglia and Tsang 2000; shape < 1 by boosting). */
static inline double fm_gamma(fm_rng *rng, double shape, double rate)
{
    double boost = 1.0;
    if (shape < 1.0) {
        boost = pow(fm_uniform(rng), 1.0 / shape);
        shape += 1.0;
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = fm_normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        const double u = fm_uniform(rng);
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return boost * d * v / rate;
    }
}

/* z ~ N(0, 1) conditioned on z > a. Plain rejection while its acceptance is at
 * least a third; beyond that Robert's (1995) exponential proposal, whose
 * acceptance stays above 0.7 however far in the tail a lies. */
static inline double fm_normal_above(fm_rng *rng, double a)
{
    if (a < 0.45) {
        for (;;) {
            const double z = fm_normal(rng);
            if (z > a)
                return z;
        }
    }
    const double lambda = 0.5 * (a + sqrt(a * a + 4.0));
    for (;;) {
        const double z = a - log(fm_uniform(rng)) / lambda;
        const double d = z - lambda;
        if (fm_uniform(rng) <= exp(-0.5 * d * d))
            return z;
    }
}

/* The probit latent target: z ~ N(mean, 1) truncated to z > 0 when positive,
 * else to z < 0. */
static inline double fm_probit_latent_draw(fm_rng *rng, double mean, int positive)
{
    return positive ? mean + fm_normal_above(rng, -mean) : mean - fm_normal_above(rng, mean);
}

/* phi(x) / Phi(x), stable far in the left tail (where Phi underflows). */
static inline double fm_mills_inverse(double x)
{
    if (x < -30.0)
        return -x - 1.0 / x; /* asymptotic series; relative error below 1e-5 there */
    const double phi = 0.3989422804014327 * exp(-0.5 * x * x);
    return phi / (0.5 * erfc(-x * 0.7071067811865476));
}

/* E[z | z ~ N(mean, 1), sign(z) = y]: the target ALS uses for probit. */
static inline double fm_probit_latent_mean(double mean, int positive)
{
    return positive ? mean + fm_mills_inverse(mean) : mean - fm_mills_inverse(-mean);
}

#endif
