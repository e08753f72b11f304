/*
 * The reference point for bench_core.py: the textbook per-sample FM SGD loop
 * in plain C (k = 8, float32, squared loss), as one would write it without
 * tuning. It reads the CSR arrays bench_core.py writes and times epochs that
 * walk the rows either in storage order or in a shuffled order.
 *
 *   plain_sgd DIR EPOCHS SHUFFLED   ->  one line per epoch: "ns_per_nnz <float>"
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define K 8

static void *read_all(const char *dir, const char *name, size_t *bytes)
{
    char path[4096];
    FILE *f;
    void *buf;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *bytes = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(*bytes);
    if (!buf || fread(buf, 1, *bytes, f) != *bytes) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return buf;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t b_indptr, b_indices, b_y, b_perm;
    int32_t *indptr, *indices;
    double *y;
    int64_t *perm;
    int64_t n, nnz, n_features = 0;
    int epochs, shuffled;
    float *w, *V;
    double w0 = 0.0, lr = 0.01;
    uint64_t state = 12345;
    if (argc != 4) {
        fprintf(stderr, "usage: plain_sgd DIR EPOCHS SHUFFLED\n");
        return 2;
    }
    epochs = atoi(argv[2]);
    shuffled = atoi(argv[3]);
    indptr = read_all(argv[1], "indptr.bin", &b_indptr);
    indices = read_all(argv[1], "indices.bin", &b_indices);
    y = read_all(argv[1], "y.bin", &b_y);
    perm = read_all(argv[1], "perm.bin", &b_perm);
    n = (int64_t)(b_indptr / 4) - 1;
    nnz = indptr[n];
    for (int64_t p = 0; p < nnz; p++)
        if (indices[p] + 1 > n_features)
            n_features = indices[p] + 1;
    w = calloc((size_t)n_features, sizeof(float));
    V = malloc((size_t)n_features * K * sizeof(float));
    for (int64_t i = 0; i < n_features * K; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        V[i] = (float)((double)(state >> 40) / (double)(1 << 24) - 0.5) * 0.2f;
    }
    for (int e = 0; e < epochs; e++) {
        double t0 = now();
        for (int64_t r = 0; r < n; r++) {
            const int64_t i = shuffled ? perm[r] : r;
            float q[K] = {0}, s2[K] = {0};
            double lin = 0.0, inter = 0.0, g;
            for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {
                const int32_t j = indices[p];
                lin += w[j];
                for (int f = 0; f < K; f++) {
                    q[f] += V[j * K + f];
                    s2[f] += V[j * K + f] * V[j * K + f];
                }
            }
            for (int f = 0; f < K; f++)
                inter += q[f] * q[f] - s2[f];
            g = w0 + lin + 0.5 * inter - y[i];
            w0 -= lr * g;
            for (int32_t p = indptr[i]; p < indptr[i + 1]; p++) {
                const int32_t j = indices[p];
                w[j] -= (float)(lr * g);
                for (int f = 0; f < K; f++)
                    V[j * K + f] -= (float)(lr * g * (q[f] - V[j * K + f]));
            }
        }
        printf("ns_per_nnz %.3f\n", (now() - t0) * 1e9 / (double)nnz);
        fflush(stdout);
    }
    return 0;
}
