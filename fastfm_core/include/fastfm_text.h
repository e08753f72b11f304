/*
 * fastfm_text.h: parsing of sparse-data text files (libsvm / libFM and libffm).
 *
 * The caller reads a file in blocks of whole lines and hands each block to
 * fm_text_parse(), which splits it into parts at line boundaries and parses
 * the parts in parallel, one fm_text_chunk per part. A chunk holds what its
 * lines gave, in growable arrays that it owns: the row pointers, the raw
 * column indices (as written in the file, not yet shifted for one-based
 * files), the values, the fields (libffm), the labels and the qids.
 *
 * Grammar of a line (both formats), after cutting a '#' comment and trailing
 * white space (so CRLF files parse as LF files):
 *   label [qid:Q] item item ...
 * where an item is `index:value` (libsvm / libFM) or `field:index:value`
 * (libffm). Blank and comment-only lines give no row. Numbers are decimal
 * ([+-]digits[.digits][e[+-]digits]); labels and values must be finite,
 * indices and fields are non-negative integers. Items of a row may come in any
 * order (libFM and libffm files are not always sorted): the row is sorted by
 * index (then field). An index twice in one row is an error, except in libffm
 * files under two different fields (hashed features collide there).
 */
#ifndef FASTFM_TEXT_H
#define FASTFM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FM_TEXT_SVMLIGHT = 0, FM_TEXT_LIBFFM = 1 } fm_text_format;

typedef struct {
    /* what the part's lines gave */
    int64_t n_rows;
    int64_t nnz;
    int64_t n_lines;            /* lines read, blank and comment lines included */
    int64_t *indptr;            /* n_rows + 1 entries, from 0 */
    int64_t *indices;           /* nnz raw indices */
    double *values;             /* nnz */
    int32_t *fields;            /* nnz (libffm only, else NULL) */
    double *labels;             /* n_rows */
    int64_t *qids;              /* n_rows; -1 on rows without qid */
    int has_qid;                /* some row had a qid */
    int64_t min_index, max_index;   /* over the part; -1 when it has no item */
    int32_t max_field;          /* -1 when none */
    /* the first problem, when fm_text_parse answered FM_ERR_TEXT */
    int64_t error_line;         /* 1-based line within the part */
    const char *error_what;     /* a static description */
    char error_text[96];        /* the offending token (cut to fit) */
    /* capacities, private to the parser */
    int64_t cap_rows, cap_nnz;
} fm_text_chunk;

/* Empties a chunk for the next block; its buffers are kept for reuse.
 * A zero-initialised chunk is a valid empty one. */
void fm_text_chunk_reset(fm_text_chunk *chunk);

/* Frees a chunk's buffers (and leaves it empty and valid). */
void fm_text_chunk_free(fm_text_chunk *chunk);

/* Parses `len` bytes of whole lines (a last line without '\n' counts as a
 * line) into n_parts chunks, one per thread: part p gets the p-th slice of the
 * buffer, cut at line ends, so the parts in order hold the rows in file
 * order. Returns FM_OK, FM_ERR_NOMEM, or FM_ERR_TEXT when a line is malformed:
 * then every part that has a problem describes its first one (error_line,
 * error_what, error_text) and the caller reports the earliest part's. */
int fm_text_parse(const char *buf, size_t len, int format, int n_parts,
                  fm_text_chunk *chunks);

#ifdef __cplusplus
}
#endif

#endif
