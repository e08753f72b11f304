/*
 * Times fm_sgd_epoch straight from C (no Python) on synthetic one-hot data:
 * n rows x 4 fields, field values log-uniform (a few hot values, a long tail),
 * k = 8, float32. Used by bench/w0_contention.sh to measure kernel variants
 * compiled with different -D settings.
 *
 *   epoch_harness ROWS VALUES_PER_FIELD THREADS MODE EPOCHS [BLOCK_ROWS]
 *   MODE: 0 auto, 1 hogwild, 2 replicas, 4 hybrid.   Prints ns per nonzero per epoch.
 *   BLOCK_ROWS: 0 (default) one random order of all rows; else blocks of that many
 *   rows (what the estimators use over their shuffled copy: about 1000 here).
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fastfm.h"
#include "harness_util.h"

int main(int argc, char **argv)
{
    const int fields = 4, k = 8;
    int64_t n, card, n_features, nnz;
    int threads, mode, epochs;
    int64_t *indptr;
    int32_t *indices;
    double *y;
    float *w, *V;
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: epoch_harness ROWS VALUES_PER_FIELD THREADS MODE EPOCHS "
                        "[BLOCK_ROWS]\n");
        return 2;
    }
    n = atoll(argv[1]);
    card = atoll(argv[2]);
    threads = atoi(argv[3]);
    mode = atoi(argv[4]);
    epochs = atoi(argv[5]);
    n_features = card * fields;
    nnz = n * fields;
    indptr = malloc((size_t)(n + 1) * sizeof *indptr);
    indices = malloc((size_t)nnz * sizeof *indices);
    y = malloc((size_t)n * sizeof *y);
    w = calloc((size_t)n_features, sizeof *w);
    V = malloc((size_t)(n_features * k) * sizeof *V);
    if (!indptr || !indices || !y || !w || !V)
        return 1;
    for (int64_t i = 0; i <= n; i++)
        indptr[i] = i * fields;
    for (int64_t i = 0; i < n; i++) {
        for (int f = 0; f < fields; f++) {
            const double u = (double)(next() >> 11) / 9007199254740992.0;
            int64_t r = (int64_t)pow((double)card, u) - 1;
            indices[i * fields + f] = (int32_t)(f * card + (r < card ? r : card - 1));
        }
        y[i] = (double)(next() % 5);
    }
    for (int64_t i = 0; i < n_features * k; i++)
        V[i] = (float)((double)(next() % 1000) / 1000.0 - 0.5) * 0.1f;
    {
        fm_model m = {FM_FLOAT32, n_features, k, 0.0, w, V};
        fm_csr X = {n, n_features, FM_INDEX32, FM_FLOAT32, indptr, indices, NULL};
        fm_sgd_params p = {{FM_LOSS_SQUARED, 0, 0, 0, -1e300, 1e300}, {0.01, mode, 0, FM_RULE_SGD, 0, 0},
                           {threads, 1, argc == 7 ? atoll(argv[6]) : 0}};
        for (int e = 0; e < epochs; e++) {
            fm_epoch_stats st;
            double t0;
            int status;
            p.schedule.seed = (uint64_t)e + 1;
            t0 = now();
            status = fm_sgd_epoch(&m, &X, y, NULL, &p, NULL, &st);
            if (status != FM_OK) {
                fprintf(stderr, "epoch failed: %s\n", fm_strerror(status));
                return 1;
            }
            printf("%.2f\n", (now() - t0) * 1e9 / (double)nnz);
        }
    }
    return 0;
}
