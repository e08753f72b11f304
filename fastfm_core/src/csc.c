/*
 * The column view of a CSR matrix, which ALS and MCMC walk feature by
 * feature, and the feature blocks (features sharing no row) that let them
 * update many features at once.
 */
#include <stdlib.h>
#include <string.h>

#include "fastfm.h"
#include "dispatch.h"

#define FM_TEMPLATE "csc_impl.h"
#include "instantiate.h"

int fm_csr_to_csc(const fm_csr *X, const int64_t *colptr, void *rows, void *data)
{
    int status;
    if (!X || !colptr)
        return FM_ERR_NULL;
    if (X->n_rows < 0 || X->n_cols < 0)
        return FM_ERR_PARAM;
    if (X->index_type == FM_INDEX32 && X->n_rows > INT32_MAX)
        return FM_ERR_PARAM; /* row ids would not fit the index type */
    if (colptr[0] != 0 || colptr[X->n_cols] != (X->n_rows ? X->indptr[X->n_rows] : 0))
        return FM_ERR_INDPTR;
    if (colptr[X->n_cols] > 0 && (!X->indptr || !X->indices || !rows || (X->data && !data)))
        return FM_ERR_NULL;
    FM_DISPATCH(status, fm_csr_to_csc_impl, X->real_type, X->index_type,
                (X, colptr, rows, data));
    return status;
}

static inline int64_t index_at(const void *a, int type, int64_t k)
{
    return type == FM_INDEX64 ? ((const int64_t *)a)[k] : (int64_t)((const int32_t *)a)[k];
}

int fm_feature_blocks(const fm_csr *X, const fm_csc *Xt, int64_t max_work, int64_t *order,
                      int64_t *block_ptr, int64_t *n_blocks)
{
    if (!X || !Xt || !order || !block_ptr || !n_blocks)
        return FM_ERR_NULL;
    const int64_t nf = X->n_cols;
    if (Xt->n_cols != nf || Xt->n_rows != X->n_rows || Xt->index_type != X->index_type)
        return FM_ERR_SHAPE;
    /* greedy colouring visits, for each feature, every feature of its rows */
    double work = 0.0;
    for (int64_t i = 0; i < X->n_rows; i++) {
        const double len = (double)(X->indptr[i + 1] - X->indptr[i]);
        work += len * len;
    }
    if (work > (double)max_work) {
        for (int64_t j = 0; j < nf; j++) {
            order[j] = j;
            block_ptr[j] = j;
        }
        block_ptr[nf] = nf;
        *n_blocks = nf;
        return FM_OK;
    }
    int64_t *colour = (int64_t *)malloc((size_t)(nf + 1) * sizeof(int64_t));
    int64_t *mark = (int64_t *)malloc((size_t)(nf + 2) * sizeof(int64_t));
    if (!colour || !mark) {
        free(colour);
        free(mark);
        return FM_ERR_NOMEM;
    }
    for (int64_t j = 0; j < nf; j++)
        colour[j] = -1;
    for (int64_t c = 0; c < nf + 2; c++)
        mark[c] = -1;
    int64_t n_colours = nf > 0 ? 1 : 0;
    for (int64_t j = 0; j < nf; j++) {
        /* the colours of the features that already share a row with j are taken */
        for (int64_t pos = Xt->colptr[j]; pos < Xt->colptr[j + 1]; pos++) {
            const int64_t i = index_at(Xt->rows, Xt->index_type, pos);
            for (int64_t q = X->indptr[i]; q < X->indptr[i + 1]; q++) {
                const int64_t l = index_at(X->indices, X->index_type, q);
                if (colour[l] >= 0)
                    mark[colour[l]] = j;
            }
        }
        int64_t c = 0;
        while (mark[c] == j)
            c++;
        colour[j] = c;
        if (c + 1 > n_colours)
            n_colours = c + 1;
    }
    /* counting sort of the features by colour, index order within a colour */
    for (int64_t c = 0; c <= n_colours; c++)
        block_ptr[c] = 0;
    for (int64_t j = 0; j < nf; j++)
        block_ptr[colour[j] + 1]++;
    for (int64_t c = 0; c < n_colours; c++)
        block_ptr[c + 1] += block_ptr[c];
    for (int64_t c = 0; c < n_colours; c++)
        mark[c] = block_ptr[c];
    for (int64_t j = 0; j < nf; j++)
        order[mark[colour[j]]++] = j;
    *n_blocks = n_colours;
    free(colour);
    free(mark);
    return FM_OK;
}
