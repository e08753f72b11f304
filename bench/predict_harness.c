/*
 * Times batch predict straight from C (no Python), 1 thread, on rows of one
 * value in each field (uniform over the field's share of the features):
 *   fm:  fm_predict, k = 8 float32, 200,000 rows x FIELDS (10) fields
 *   ffm: fm_ffm_predict, 10 fields, k = 4 float32, 100,000 rows, linear terms on
 * w and V are 2 MiB-aligned and advised for transparent huge pages, as NumPy does
 * for large arrays, so that the figure is the one a Python user sees rather than
 * a TLB benchmark. Used to compare kernel variants compiled with different -D
 * settings, e.g. -DFM_PREFETCH_MIN_BYTES='((int64_t)1<<62)' for no prefetching:
 *
 *   cc -O3 -march=native -std=c99 -fopenmp -Ifastfm_core/include -Ifastfm_core/src \
 *      bench/predict_harness.c fastfm_core/src/predict.c fastfm_core/src/ffm.c \
 *      fastfm_core/src/parallel.c fastfm_core/src/errors.c fastfm_core/src/memory.c -lm
 *   predict_harness fm|ffm N_FEATURES [REPEATS]    prints median and min ns per nonzero
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "fastfm.h"
#include "harness_util.h"

#ifndef FIELDS
#define FIELDS 10 /* fm: nonzeros per row (-DFIELDS=40 for wide rows) */
#endif
#define FFM_FIELDS 10
#define HUGE_PAGE ((size_t)2 << 20)

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n small random floats in a huge-page-advised buffer */
static float *huge_array(int64_t n)
{
    void *p = NULL;
    const size_t bytes = ((size_t)n * sizeof(float) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: ignored where THP is off */
    for (int64_t j = 0; j < n; j++)
        ((float *)p)[j] = (float)(next() % 1000) * 1e-4f;
    return (float *)p;
}

int main(int argc, char **argv)
{
    const int ffm = argc > 1 && strcmp(argv[1], "ffm") == 0;
    const int fm = argc > 1 && strcmp(argv[1], "fm") == 0;
    const int64_t n_features = argc > 2 ? atoll(argv[2]) : 0;
    const int repeats = argc > 3 ? atoi(argv[3]) : 25;
    const int fields = ffm ? FFM_FIELDS : FIELDS, k = ffm ? 4 : 8;
    const int64_t rows = ffm ? 100000 : 200000, nnz = rows * fields;
    if ((!fm && !ffm) || n_features < fields || repeats < 1 || repeats > 1000) {
        fprintf(stderr, "usage: predict_harness fm|ffm N_FEATURES (>= %d) [REPEATS (1..1000)]\n",
                fields);
        return 2;
    }
    const int64_t width = n_features / fields;
    float *w = huge_array(n_features);
    float *V = huge_array(n_features * k * (ffm ? FFM_FIELDS : 1));
    int64_t *indptr = malloc((size_t)(rows + 1) * sizeof(int64_t));
    int32_t *indices = malloc((size_t)nnz * sizeof(int32_t));
    int32_t *field_of = malloc((size_t)nnz * sizeof(int32_t));
    double *out = malloc((size_t)rows * sizeof(double));
    double *ns = malloc((size_t)repeats * sizeof(double));
    int status = 0;
    if (!w || !V || !indptr || !indices || !field_of || !out || !ns) {
        fprintf(stderr, "predict_harness: out of memory\n");
        return 1;
    }
    for (int64_t r = 0; r <= rows; r++)
        indptr[r] = r * fields;
    for (int64_t r = 0; r < rows; r++)
        for (int f = 0; f < fields; f++) {
            indices[r * fields + f] = (int32_t)(f * width + (int64_t)(next() % (uint64_t)width));
            field_of[r * fields + f] = f;
        }

    fm_model m = {FM_FLOAT32, n_features, k, 0.1, w, V};
    fm_ffm_model fm_m = {FM_FLOAT32, n_features, FFM_FIELDS, k, 1, 0, 0.1, w, V};
    fm_csr X = {rows, n_features, FM_INDEX32, FM_FLOAT32, indptr, indices, NULL};
    for (int i = -1; i < repeats && status == FM_OK; i++) { /* i = -1: warm-up */
        const double t0 = now();
        status = ffm ? fm_ffm_predict(&fm_m, &X, field_of, out, 1) : fm_predict(&m, &X, out, 1);
        if (i >= 0)
            ns[i] = (now() - t0) * 1e9 / (double)nnz;
    }
    if (status == FM_OK) {
        qsort(ns, (size_t)repeats, sizeof(double), by_value);
        printf("%s %lld features: median %.2f min %.2f ns per nonzero (checksum %.3f)\n",
               ffm ? "ffm" : "fm", (long long)n_features, ns[repeats / 2], ns[0],
               out[rows / 2]);
    } else {
        fprintf(stderr, "predict_harness: predict returned %d\n", status);
    }
    free(w);
    free(V);
    free(indptr);
    free(indices);
    free(field_of);
    free(out);
    free(ns);
    return status == FM_OK ? 0 : 1;
}
