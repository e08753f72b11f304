/*
 * Parsing of libsvm / libFM / libffm text (grammar in fastfm_text.h).
 *
 * One pass over the bytes with no allocation per token: numbers are parsed in
 * place. A decimal with at most 19 significant digits whose value m * 10^e
 * has m < 2^53 and |e| <= 22 is exact in double arithmetic (m and 10^|e| are
 * both exact, so the one multiplication or division rounds correctly); the
 * values in real data files almost always are. Anything else goes to strtod,
 * so every number is the correctly rounded double, as other readers give.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "fastfm.h"
#include "fastfm_text.h"
#include "parallel.h"

#define FM_TEXT_MAX_PARTS 256
/* Below this many bytes per part the threads cost more than they save. */
#define FM_TEXT_MIN_PART_BYTES (256 * 1024)

static const double exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static FM_INLINE int is_digit(char ch) { return (unsigned)(ch - '0') < 10u; }

static FM_INLINE int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* A decimal number at the start of [s, end): returns the end of the number,
 * or NULL when [s, end) does not start with one. */
static const char *parse_real(const char *s, const char *end, double *out)
{
    const char *const start = s;
    uint64_t mant = 0;
    int n_digits = 0, exp10 = 0, any = 0, inexact = 0, negative = 0;

    if (s < end && (*s == '+' || *s == '-')) {
        negative = *s == '-';
        s++;
    }
    for (; s < end && is_digit(*s); s++, any = 1) {
        if (n_digits < 19) {
            mant = mant * 10 + (uint64_t)(*s - '0');
            n_digits += mant != 0;      /* leading zeros are not significant */
        } else {
            exp10++;
            inexact |= *s != '0';
        }
    }
    if (s < end && *s == '.') {
        s++;
        for (; s < end && is_digit(*s); s++, any = 1) {
            if (n_digits < 19) {
                mant = mant * 10 + (uint64_t)(*s - '0');
                n_digits += mant != 0;
                exp10--;
            } else {
                inexact |= *s != '0';
            }
        }
    }
    if (!any)
        return NULL;
    if (s < end && (*s == 'e' || *s == 'E')) {
        int e = 0, e_negative = 0;
        s++;
        if (s < end && (*s == '+' || *s == '-')) {
            e_negative = *s == '-';
            s++;
        }
        if (s >= end || !is_digit(*s))
            return NULL;
        for (; s < end && is_digit(*s); s++)
            if (e < 100000)
                e = e * 10 + (*s - '0');
        exp10 += e_negative ? -e : e;
    }
    if (!inexact && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        const double m = (double)mant;
        const double v = exp10 < 0 ? m / exact_pow10[-exp10] : m * exact_pow10[exp10];
        *out = negative ? -v : v;
        return s;
    }
    {
        /* strtod needs a terminated copy; a number longer than the stack
         * buffer (an exact decimal expansion runs to hundreds of digits) is
         * still a number, so it gets a heap one */
        char small[128], *text = small;
        const size_t n = (size_t)(s - start);
        if (n >= sizeof small && !(text = malloc(n + 1)))
            return NULL;
        memcpy(text, start, n);
        text[n] = '\0';
        *out = strtod(text, NULL);
        if (text != small)
            free(text);
        return s;
    }
}

/* A non-negative integer of at most 18 digits at the start of [s, end). */
static const char *parse_index(const char *s, const char *end, int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    for (; s < end && is_digit(*s); s++, n++) {
        if (n == 18)
            return NULL;
        v = v * 10 + (*s - '0');
    }
    if (n == 0)
        return NULL;
    *out = v;
    return s;
}

static int fail(fm_text_chunk *c, const char *what, const char *token, const char *token_end)
{
    size_t n = (size_t)(token_end - token);
    const size_t room = sizeof c->error_text - 1;
    c->error_line = c->n_lines;
    c->error_what = what;
    if (n > room) {
        memcpy(c->error_text, token, room - 3);
        memcpy(c->error_text + room - 3, "...", 3);
        n = room;
    } else {
        memcpy(c->error_text, token, n);
    }
    c->error_text[n] = '\0';
    return FM_ERR_TEXT;
}

static int grow(void **buf, int64_t count, size_t size)
{
    void *p = realloc(*buf, (size_t)count * size);
    if (!p)
        return FM_ERR_NOMEM;
    *buf = p;
    return FM_OK;
}

static int reserve_rows(fm_text_chunk *c, int64_t rows)
{
    int64_t cap = c->cap_rows;
    if (rows <= cap)
        return FM_OK;
    cap = cap < 1024 ? 1024 : cap;
    while (cap < rows)
        cap *= 2;
    if (grow((void **)&c->indptr, cap + 1, sizeof *c->indptr) ||
        grow((void **)&c->labels, cap, sizeof *c->labels) ||
        grow((void **)&c->qids, cap, sizeof *c->qids))
        return FM_ERR_NOMEM;
    c->cap_rows = cap;
    return FM_OK;
}

static int reserve_nnz(fm_text_chunk *c, int64_t nnz, int with_fields)
{
    int64_t cap = c->cap_nnz;
    if (nnz <= cap)
        return FM_OK;
    cap = cap < 4096 ? 4096 : cap;
    while (cap < nnz)
        cap *= 2;
    if (grow((void **)&c->indices, cap, sizeof *c->indices) ||
        grow((void **)&c->values, cap, sizeof *c->values) ||
        (with_fields && grow((void **)&c->fields, cap, sizeof *c->fields)))
        return FM_ERR_NOMEM;
    c->cap_nnz = cap;
    return FM_OK;
}

typedef struct {
    int64_t index;
    double value;
    int32_t field;
} text_item;

static int by_index_field(const void *a, const void *b)
{
    const text_item *x = a, *y = b;
    if (x->index != y->index)
        return (x->index > y->index) - (x->index < y->index);
    return (x->field > y->field) - (x->field < y->field);
}

/* Sorts items [b, e) of a chunk by (index, field), carrying the values. Short
 * rows, the usual case, by insertion; long ones through qsort. */
static int sort_row(fm_text_chunk *c, int64_t b, int64_t e)
{
    int64_t *idx = c->indices;
    double *val = c->values;
    int32_t *fld = c->fields;
    if (e - b <= 64) {
        for (int64_t i = b + 1; i < e; i++) {
            const int64_t ki = idx[i];
            const double vi = val[i];
            const int32_t fi = fld ? fld[i] : 0;
            int64_t j = i;
            for (; j > b && (idx[j - 1] > ki || (fld && idx[j - 1] == ki && fld[j - 1] > fi));
                 j--) {
                idx[j] = idx[j - 1];
                val[j] = val[j - 1];
                if (fld)
                    fld[j] = fld[j - 1];
            }
            idx[j] = ki;
            val[j] = vi;
            if (fld)
                fld[j] = fi;
        }
        return FM_OK;
    }
    {
        text_item *items = malloc((size_t)(e - b) * sizeof *items);
        if (!items)
            return FM_ERR_NOMEM;
        for (int64_t i = b; i < e; i++) {
            items[i - b].index = idx[i];
            items[i - b].value = val[i];
            items[i - b].field = fld ? fld[i] : 0;
        }
        qsort(items, (size_t)(e - b), sizeof *items, by_index_field);
        for (int64_t i = b; i < e; i++) {
            idx[i] = items[i - b].index;
            val[i] = items[i - b].value;
            if (fld)
                fld[i] = items[i - b].field;
        }
        free(items);
        return FM_OK;
    }
}

/* One line [b, e) without its '\n'. */
static int parse_line(const char *b, const char *e, int format, fm_text_chunk *c)
{
    const char *hash = memchr(b, '#', (size_t)(e - b));
    const char *t, *te, *q;
    const int ffm = format == FM_TEXT_LIBFFM;
    const int64_t row_begin = c->nnz;
    int64_t prev = -1, qid = -1;
    int unsorted = 0, status;
    double label;

    if (hash)
        e = hash;
    while (e > b && is_space(e[-1]))
        e--;
    while (b < e && is_space(*b))
        b++;
    if (b == e)
        return FM_OK;   /* blank or comment-only line: no row */

    for (te = b; te < e && !is_space(*te); te++) {}
    q = parse_real(b, te, &label);
    if (!q || q != te)
        return fail(c, "the label is not a number", b, te);
    if (!isfinite(label))
        return fail(c, "the label is not finite", b, te);

    for (t = te; ; t = te) {
        int64_t index, field = 0;
        double value;
        while (t < e && is_space(*t))
            t++;
        if (t == e)
            break;
        for (te = t; te < e && !is_space(*te); te++) {}
        if (te - t > 4 && memcmp(t, "qid:", 4) == 0) {
            if (c->nnz != row_begin || qid >= 0)
                return fail(c, "qid: must come once, right after the label", t, te);
            q = parse_index(t + 4, te, &qid);
            if (!q || q != te)
                return fail(c, "the qid is not a non-negative integer", t, te);
            continue;
        }
        q = t;
        if (ffm) {
            q = parse_index(q, te, &field);
            if (!q || q == te || *q != ':')
                return fail(c, "expected field:index:value with a non-negative integer field",
                            t, te);
            if (field > INT32_MAX)
                return fail(c, "the field number is too large", t, te);
            q++;
        }
        if (q < te && *q == '-')
            return fail(c, "a feature index is negative", t, te);
        q = parse_index(q, te, &index);
        if (!q || q == te || *q != ':')
            return fail(c, ffm ? "expected field:index:value with a non-negative integer index"
                               : "expected index:value with a non-negative integer index",
                        t, te);
        q = parse_real(q + 1, te, &value);
        if (!q || q != te)
            return fail(c, "the value is not a number", t, te);
        if (!isfinite(value))
            return fail(c, "the value is not finite", t, te);
        if ((status = reserve_nnz(c, c->nnz + 1, ffm)) != FM_OK)
            return status;
        c->indices[c->nnz] = index;
        c->values[c->nnz] = value;
        if (ffm) {
            c->fields[c->nnz] = (int32_t)field;
            if (field > c->max_field)
                c->max_field = (int32_t)field;
        }
        c->nnz++;
        unsorted |= index <= prev;
        prev = index;
        if (c->min_index < 0 || index < c->min_index)
            c->min_index = index;
        if (index > c->max_index)
            c->max_index = index;
    }

    if (unsorted) {
        if ((status = sort_row(c, row_begin, c->nnz)) != FM_OK)
            return status;
        /* libffm files may hold one index in several fields (hashed features
         * collide); a (field, index) pair twice is ambiguous in both formats */
        for (int64_t p = row_begin + 1; p < c->nnz; p++) {
            if (c->indices[p] == c->indices[p - 1] &&
                (!ffm || c->fields[p] == c->fields[p - 1])) {
                char what[64];
                const int n = ffm ? snprintf(what, sizeof what, "field %ld, index %lld",
                                             (long)c->fields[p], (long long)c->indices[p])
                                  : snprintf(what, sizeof what, "index %lld",
                                             (long long)c->indices[p]);
                return fail(c, "a feature appears twice in the line", what,
                            what + (n > 0 ? n : 0));
            }
        }
    }
    if ((status = reserve_rows(c, c->n_rows + 1)) != FM_OK)
        return status;
    c->labels[c->n_rows] = label;
    c->qids[c->n_rows] = qid;
    c->has_qid |= qid >= 0;
    c->n_rows++;
    c->indptr[c->n_rows] = c->nnz;
    return FM_OK;
}

static int parse_part(const char *p, const char *end, int format, fm_text_chunk *c)
{
    int status;
    fm_text_chunk_reset(c);
    if ((status = reserve_rows(c, 1)) != FM_OK)
        return status;
    c->indptr[0] = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        c->n_lines++;
        if ((status = parse_line(p, line_end, format, c)) != FM_OK)
            return status;
        p = nl ? nl + 1 : end;
    }
    return FM_OK;
}

void fm_text_chunk_reset(fm_text_chunk *c)
{
    c->n_rows = 0;
    c->nnz = 0;
    c->n_lines = 0;
    c->has_qid = 0;
    c->min_index = -1;
    c->max_index = -1;
    c->max_field = -1;
    c->error_line = 0;
    c->error_what = NULL;
    c->error_text[0] = '\0';
}

void fm_text_chunk_free(fm_text_chunk *c)
{
    free(c->indptr);
    free(c->indices);
    free(c->values);
    free(c->fields);
    free(c->labels);
    free(c->qids);
    c->indptr = c->indices = c->qids = NULL;
    c->values = c->labels = NULL;
    c->fields = NULL;
    c->cap_rows = c->cap_nnz = 0;
    fm_text_chunk_reset(c);
}

int fm_text_parse(const char *buf, size_t len, int format, int n_parts, fm_text_chunk *chunks)
{
    size_t bounds[FM_TEXT_MAX_PARTS + 1];
    int statuses[FM_TEXT_MAX_PARTS];
    int used, status = FM_OK;

    if (!chunks || (!buf && len > 0))
        return FM_ERR_NULL;
    if (format != FM_TEXT_SVMLIGHT && format != FM_TEXT_LIBFFM)
        return FM_ERR_PARAM;
    if (n_parts < 1 || n_parts > FM_TEXT_MAX_PARTS)
        return FM_ERR_PARAM;
    used = fm_clamp_threads(n_parts);
    if ((size_t)used > len / FM_TEXT_MIN_PART_BYTES)
        used = len < 2 * FM_TEXT_MIN_PART_BYTES ? 1 : (int)(len / FM_TEXT_MIN_PART_BYTES);

    /* part p is [bounds[p], bounds[p + 1]), cut just after a '\n' */
    bounds[0] = 0;
    for (int p = 1; p < used; p++) {
        size_t at = len / (size_t)used * (size_t)p;
        const char *nl;
        if (at < bounds[p - 1])
            at = bounds[p - 1];
        nl = at < len ? memchr(buf + at, '\n', len - at) : NULL;
        bounds[p] = nl ? (size_t)(nl - buf) + 1 : len;
    }
    bounds[used] = len;
    for (int p = used; p < n_parts; p++)
        fm_text_chunk_reset(&chunks[p]);
    for (int p = 0; p < n_parts; p++)
        statuses[p] = FM_OK;

#ifdef _OPENMP
#pragma omp parallel for num_threads(used) schedule(static, 1)
#endif
    for (int p = 0; p < used; p++)
        statuses[p] = parse_part(buf + bounds[p], buf + bounds[p + 1], format, &chunks[p]);

    for (int p = 0; p < used; p++) {
        if (statuses[p] == FM_ERR_NOMEM)
            return FM_ERR_NOMEM;
        if (statuses[p] != FM_OK && status == FM_OK)
            status = statuses[p];
    }
    /* parts without rows still need indptr[0] for the caller */
    for (int p = used; p < n_parts; p++) {
        if (reserve_rows(&chunks[p], 1) != FM_OK)
            return FM_ERR_NOMEM;
        chunks[p].indptr[0] = 0;
    }
    return status;
}
