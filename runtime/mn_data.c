/* mn_data.c — data sets for the trainer: CSV and NumPy files read into one
 * array per input and target, every value checked against the model's
 * descriptors (mn_io_info) before anything is trained on it.
 *
 * CSV (docs/trainer.md): the first non-empty line is the header; commas
 * separate fields; a field may be quoted ("..." with "" for a quote, on one
 * line); spaces around a field are ignored; CRLF line ends and a UTF-8 BOM
 * are accepted; empty lines are skipped. An input or target of one value per
 * sample is the column NAME; one of k > 1 values is the k columns NAME_0 ..
 * NAME_{k-1}, in row-major order of its per-sample shape. Columns may come
 * in any order; a column the model does not know is an error (a typo would
 * otherwise go unnoticed), and so is a missing one.
 *
 * NumPy: "NAME=FILE.npy,..." with one file per input (and target): format
 * 1.0, 2.0 or 3.0, C order, little-endian (or one-byte) f4, f8, i1..i8,
 * u1..u8 or b1 elements, shape (N, dims...) with dims the declared per-sample
 * shape, or (N,) for one value per sample; the same N in every file.
 *
 * Errors are one line: "FILE:LINE:COLUMN: error: ..." for CSV (the column is
 * the 1-based character position of the field in its line; the message also
 * names the column's header), "FILE: error: element [i, j]: ..." for NumPy.
 */
#define _POSIX_C_SOURCE 200809L

#include "mn_runtime.h"
#include "mn_internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CELL 512 /* longest field, quotes removed */

/* ---- messages ------------------------------------------------------------ */

/* A cell's text for a message: at most 40 characters, then "...". */
static const char *shown(const char *cell, char *buf, size_t len)
{
    if (strlen(cell) <= 40)
        return cell;
    snprintf(buf, len, "%.37s...", cell);
    return buf;
}

/* ---- one value: parsing and checking --------------------------------------- */

/* Parses a whole cell as a finite number (surrounding spaces allowed).
 * Returns NULL, or the reason it is not one. */
static const char *parse_number(const char *cell, double *out)
{
    const char *p = cell;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return "empty cell";
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p)
        return "is not a number";
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return "is not a number";
    if (isnan(v) || isinf(v))
        return "is not a finite number";
    *out = v;
    return NULL;
}

/* Checks v against what io accepts; writes the reason into why and returns
 * 0 when it does not. what: "input" or "target". */
static int check_value(const mn_io_info *io, const char *what, double v, char *why, size_t len)
{
    if (io->dtype == MN_I32) {
        if (v != floor(v)) {
            snprintf(why, len, "is not an integer (%s '%s' is int)", what, io->name);
            return 0;
        }
        double lo = io->has_range ? io->lo : (io->int_bound > 0 ? 0 : (double)INT32_MIN);
        double hi = io->has_range ? io->hi : (double)INT32_MAX;
        if (io->int_bound > 0 && (double)(io->int_bound - 1) < hi)
            hi = (double)(io->int_bound - 1);
        lo = lo < (double)INT32_MIN ? (double)INT32_MIN : lo;
        hi = hi > (double)INT32_MAX ? (double)INT32_MAX : hi;
        if (v < lo || v > hi) {
            snprintf(why, len, "is out of range: %s '%s' takes ids in [%.0f, %.0f]", what, io->name, lo, hi);
            return 0;
        }
        return 1;
    }
    if (io->dtype == MN_F32 && fabs(v) > FLT_MAX) {
        snprintf(why, len, "is too large for a float");
        return 0;
    }
    if (io->has_range && (v < io->lo || v > io->hi)) {
        snprintf(why, len, "is out of the declared range [%.17g, %.17g] of %s '%s'", io->lo, io->hi, what, io->name);
        return 0;
    }
    if ((io->kind == MN_DATA_BINARY || io->kind == MN_DATA_ONEHOT) && (v < 0 || v > 1)) {
        snprintf(why, len, "is not in [0, 1] (target '%s' is read by %s)", io->name,
                 io->kind == MN_DATA_BINARY ? "bce" : "cce");
        return 0;
    }
    return 1;
}

/* Bytes of one element of io's data. */
static size_t elem_size(const mn_io_info *io)
{
    return io->dtype == MN_F64 ? sizeof(double) : io->dtype == MN_F32 ? sizeof(float) : sizeof(int32_t);
}

static void store(const mn_io_info *io, void *base, size_t at, double v)
{
    if (io->dtype == MN_I32)
        ((int32_t *)base)[at] = (int32_t)v;
    else if (io->dtype == MN_F32)
        ((float *)base)[at] = (float)v;
    else
        ((double *)base)[at] = v;
}

/* ---- the fields of a data set --------------------------------------------- */

/* One input or target as the loader sees it. */
typedef struct slot {
    const mn_io_info *io;
    const char *what;   /* "input" or "target" */
    void **dest;        /* where the array goes in the mn_dataset */
    void *data;         /* n * size elements */
    unsigned char *seen; /* CSV: per element, whether a column holds it */
} slot;

typedef struct loader {
    const char *path;
    slot *slots;
    int nslots;
    char *err;
    size_t errlen;
} loader;

/* The slots of the wanted inputs and targets; 0 or an error code. */
static int make_slots(loader *L, const mn_io_info *inputs, int ninputs, const mn_io_info *targets, int ntargets,
                      int want_targets, mn_dataset *out)
{
    out->input = calloc((size_t)ninputs + 1, sizeof(void *));
    out->target = calloc((size_t)ntargets + 1, sizeof(void *));
    L->slots = calloc((size_t)(ninputs + ntargets) + 1, sizeof(slot));
    if (out->input == NULL || out->target == NULL || L->slots == NULL)
        return mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", L->path);
    for (int i = 0; i < ninputs; i++)
        L->slots[L->nslots++] = (slot){&inputs[i], "input", &out->input[i], NULL, NULL};
    if (want_targets)
        for (int i = 0; i < ntargets; i++)
            L->slots[L->nslots++] = (slot){&targets[i], "target", &out->target[i], NULL, NULL};
    return MN_OK;
}

/* Allocates every slot's array for n samples. */
static int alloc_slots(loader *L, long n)
{
    for (int s = 0; s < L->nslots; s++) {
        size_t count = (size_t)n * L->slots[s].io->size;
        L->slots[s].data = calloc(count ? count : 1, elem_size(L->slots[s].io));
        if (L->slots[s].data == NULL)
            return mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory for %ld samples", L->path, n);
    }
    return MN_OK;
}

static void free_slots(loader *L)
{
    for (int s = 0; s < L->nslots; s++) {
        free(L->slots[s].data);
        free(L->slots[s].seen);
    }
    free(L->slots);
}

/* Reads a whole file, NUL-terminated. */
static int read_all(const char *path, char **data, size_t *size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return mn_fail_(MN_ERR_IO, err, errlen, "%s: error: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            fclose(f);
            return mn_fail_(MN_ERR_NOMEM, err, errlen, "%s: error: out of memory", path);
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (grown == NULL)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return mn_fail_(MN_ERR_IO, err, errlen, "%s: error: cannot read", path);
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return MN_OK;
}

/* ---- CSV ---------------------------------------------------------------------- */

/* One field of a line: its text (quotes removed) and 1-based column. */
typedef struct csv_field {
    char text[MAX_CELL];
    int col;
} csv_field;

/* Reads the field that starts at line[*pos]; leaves *pos after its comma
 * (or at the end). Returns NULL or the reason the field is malformed. */
static const char *next_field(const char *line, size_t len, size_t *pos, csv_field *f)
{
    size_t p = *pos, n = 0;
    while (p < len && (line[p] == ' ' || line[p] == '\t'))
        p++;
    f->col = (int)p + 1;
    if (p < len && line[p] == '"') {
        for (p++;; p++) {
            if (p >= len)
                return "unterminated quoted field";
            if (line[p] == '"') {
                if (p + 1 < len && line[p + 1] == '"')
                    p++;
                else
                    break;
            }
            if (n + 1 >= MAX_CELL)
                return "field too long";
            f->text[n++] = line[p];
        }
        p++;
        while (p < len && (line[p] == ' ' || line[p] == '\t'))
            p++;
        if (p < len && line[p] != ',')
            return "text after a quoted field";
    } else {
        while (p < len && line[p] != ',') {
            if (line[p] == '"')
                return "a quote inside an unquoted field";
            if (n + 1 >= MAX_CELL)
                return "field too long";
            f->text[n++] = line[p++];
        }
        while (n > 0 && (f->text[n - 1] == ' ' || f->text[n - 1] == '\t'))
            n--;
    }
    f->text[n] = '\0';
    *pos = p + 1; /* past the comma; len + 1 after the last field */
    return NULL;
}

/* A header column: the slot and element it fills, or slot -1 (ignored). */
typedef struct column {
    int slot;
    size_t elem;
    char *name;
} column;

/* Whether name is "PREFIX_INDEX" for this io's name with a canonical
 * decimal index; sets *index. */
static int split_indexed(const char *name, const char *io_name, size_t *index)
{
    size_t k = strlen(io_name);
    if (strncmp(name, io_name, k) != 0 || name[k] != '_')
        return 0;
    const char *d = name + k + 1;
    if (*d == '\0' || (*d == '0' && d[1] != '\0'))
        return 0;
    size_t v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || v > SIZE_MAX / 10 - 1)
            return 0;
        v = v * 10 + (size_t)(*d - '0');
    }
    *index = v;
    return 1;
}

/* Finds what a header name means. Returns 1 (found: *slot_out, *elem_out;
 * slot -1 for an input or target the loader does not read), 0 unknown, -1
 * ambiguous. */
static int lookup_column(const loader *L, const mn_io_info *inputs, int ninputs, const mn_io_info *targets,
                         int ntargets, const char *name, int *slot_out, size_t *elem_out)
{
    int found = 0;
    for (int t = 0; t < 2; t++) {
        const mn_io_info *list = t ? targets : inputs;
        int n = t ? ntargets : ninputs;
        for (int i = 0; i < n; i++) {
            const mn_io_info *io = &list[i];
            size_t elem = 0;
            int match = io->size == 1 ? strcmp(name, io->name) == 0
                                      : split_indexed(name, io->name, &elem) && elem < io->size;
            if (!match)
                continue;
            if (found)
                return -1;
            found = 1;
            *slot_out = -1;
            *elem_out = elem;
            for (int s = 0; s < L->nslots; s++)
                if (L->slots[s].io == io)
                    *slot_out = s;
        }
    }
    return found;
}

/* "'x' (columns x_0 .. x_9)" or "'x' (column x)", for messages. */
static void describe_columns(const mn_io_info *io, char *buf, size_t len)
{
    if (io->size == 1)
        snprintf(buf, len, "column '%s'", io->name);
    else
        snprintf(buf, len, "columns '%s_0' .. '%s_%zu'", io->name, io->name, io->size - 1);
}

static int load_csv(loader *L, const mn_io_info *inputs, int ninputs, const mn_io_info *targets, int ntargets,
                    mn_dataset *out)
{
    char *text;
    size_t size;
    int rc = read_all(L->path, &text, &size, L->err, L->errlen);
    if (rc != MN_OK)
        return rc;
    if (strlen(text) != size) {
        free(text);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: contains a NUL byte: not a CSV text file", L->path);
    }
    long max_rows = 1;
    for (size_t i = 0; i < size; i++)
        max_rows += text[i] == '\n';
    char *p = text;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
        p += 3;

    column *cols = NULL;
    int ncols = 0;
    long rows = 0;
    csv_field *f = malloc(sizeof *f);
    char why[256], cellbuf[48];
    rc = f == NULL ? mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", L->path) : MN_OK;
    for (long line_no = 1; rc == MN_OK && *p != '\0'; line_no++) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *next = nl ? nl + 1 : p + len;
        if (len > 0 && p[len - 1] == '\r')
            len--;
        size_t blank = 0;
        while (blank < len && (p[blank] == ' ' || p[blank] == '\t'))
            blank++;
        if (blank == len) { /* an empty line */
            p = next;
            continue;
        }
        size_t pos = 0;
        if (cols == NULL) { /* the header */
            int cap = 16, oom = 0;
            cols = calloc((size_t)cap, sizeof *cols);
            oom = cols == NULL;
            while (!oom && pos <= len && rc == MN_OK) {
                const char *bad = next_field(p, len, &pos, f);
                if (bad) {
                    rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%d: error: %s", L->path, line_no, f->col, bad);
                    break;
                }
                if (ncols == cap) {
                    column *grown = realloc(cols, (size_t)cap * 2 * sizeof *cols);
                    if ((oom = grown == NULL))
                        break;
                    cols = grown;
                    cap *= 2;
                }
                column *c = &cols[ncols];
                if ((oom = (c->name = strdup(f->text)) == NULL))
                    break;
                ncols++;
                int found = lookup_column(L, inputs, ninputs, targets, ntargets, f->text, &c->slot, &c->elem);
                if (found == 0)
                    rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                              "%s:%ld:%d: error: unknown column '%s' (the first line must be a header naming "
                              "the model's inputs and targets)",
                              L->path, line_no, f->col, shown(f->text, cellbuf, sizeof cellbuf));
                else if (found < 0)
                    rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                              "%s:%ld:%d: error: column '%s' is ambiguous: two of the model's inputs and "
                              "targets have a column of that name",
                              L->path, line_no, f->col, f->text);
                else if (c->slot >= 0) {
                    slot *s = &L->slots[c->slot];
                    if (s->seen == NULL && (oom = (s->seen = calloc(s->io->size, 1)) == NULL))
                        break;
                    if (s->seen[c->elem])
                        rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%d: error: column '%s' appears twice",
                                  L->path, line_no, f->col, f->text);
                    s->seen[c->elem] = 1;
                }
            }
            if (rc == MN_OK && oom)
                rc = mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", L->path);
            for (int s = 0; rc == MN_OK && s < L->nslots; s++) {
                const mn_io_info *io = L->slots[s].io;
                for (size_t e = 0; e < io->size; e++) {
                    if (L->slots[s].seen != NULL && L->slots[s].seen[e])
                        continue;
                    char cols_text[160];
                    describe_columns(io, cols_text, sizeof cols_text);
                    if (io->size == 1)
                        rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen, "%s:%ld: error: no column '%s' (%s '%s')",
                                  L->path, line_no, io->name, L->slots[s].what, io->name);
                    else
                        rc = mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                                  "%s:%ld: error: no column '%s_%zu' (%s '%s' has %zu values per sample: %s)",
                                  L->path, line_no, io->name, e, L->slots[s].what, io->name, io->size, cols_text);
                    break;
                }
            }
            if (rc == MN_OK)
                rc = alloc_slots(L, max_rows);
            p = next;
            continue;
        }
        int j = 0;
        while (pos <= len && rc == MN_OK) {
            const char *bad = next_field(p, len, &pos, f);
            if (bad) {
                rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%d: error: %s", L->path, line_no, f->col, bad);
                break;
            }
            if (j == ncols) {
                rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen,
                          "%s:%ld:%d: error: more fields than the header's %d columns", L->path, line_no, f->col,
                          ncols);
                break;
            }
            column *c = &cols[j++];
            if (c->slot < 0)
                continue;
            slot *s = &L->slots[c->slot];
            double v;
            const char *reason = parse_number(f->text, &v);
            if (reason == NULL && !check_value(s->io, s->what, v, why, sizeof why))
                reason = why;
            if (reason != NULL) {
                if (f->text[0] == '\0')
                    rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%d: error: column '%s': empty cell",
                              L->path, line_no, f->col, c->name);
                else
                    rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%d: error: column '%s': '%s' %s", L->path,
                              line_no, f->col, c->name, shown(f->text, cellbuf, sizeof cellbuf), reason);
                break;
            }
            store(s->io, s->data, (size_t)rows * s->io->size + c->elem, v);
        }
        if (rc == MN_OK && j < ncols)
            rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s:%ld:%d: error: %d fields, the header has %d columns",
                      L->path, line_no, (int)len + 1, j, ncols);
        rows++;
        p = next;
    }
    if (rc == MN_OK && cols == NULL)
        rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: empty file (no header)", L->path);
    else if (rc == MN_OK && rows == 0)
        rc = mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: no data rows after the header", L->path);
    for (int j = 0; j < ncols; j++)
        free(cols[j].name);
    free(cols);
    free(f);
    free(text);
    out->n = rows;
    return rc;
}

/* ---- NumPy ------------------------------------------------------------------- */

/* An .npy file's header, as far as the loader needs it. */
typedef struct npy_header {
    char kind;          /* 'f', 'i', 'u', 'b' */
    int size;           /* bytes per element */
    int rank;
    uint64_t shape[8];
    size_t data_start;
} npy_header;

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    return p;
}

/* Parses the dictionary {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), }.
 * Returns NULL or what is wrong. */
static const char *parse_npy_dict(const char *p, npy_header *h)
{
    int have = 0;
    p = skip_spaces(p);
    if (*p++ != '{')
        return "the header is not a dictionary";
    for (;;) {
        p = skip_spaces(p);
        if (*p == '}')
            break;
        char q = *p;
        if (q != '\'' && q != '"')
            return "malformed header";
        const char *key = ++p;
        while (*p && *p != q)
            p++;
        if (*p == '\0')
            return "malformed header";
        size_t klen = (size_t)(p - key);
        p = skip_spaces(p + 1);
        if (*p++ != ':')
            return "malformed header";
        p = skip_spaces(p);
        if (klen == 5 && !strncmp(key, "descr", 5)) {
            char vq = *p;
            if (vq != '\'' && vq != '"')
                return "the dtype is not a simple type (a structured array?)";
            const char *d = ++p;
            while (*p && *p != vq)
                p++;
            if (*p == '\0')
                return "malformed header";
            size_t dlen = (size_t)(p++ - d);
            if (dlen < 3 || dlen > 4 || !strchr("<|=>", d[0]) || !strchr("fiub", d[1]))
                return "unsupported dtype (use float32, float64, an integer type or bool)";
            h->kind = d[1];
            h->size = atoi(d + 2);
            if (d[0] == '>' && h->size > 1)
                return "big-endian data is not supported";
            if (!(h->size == 1 || h->size == 2 || h->size == 4 || h->size == 8) ||
                (h->kind == 'f' && h->size < 4) || (h->kind == 'b' && h->size != 1))
                return "unsupported dtype (use float32, float64, an integer type or bool)";
            have |= 1;
        } else if (klen == 13 && !strncmp(key, "fortran_order", 13)) {
            if (!strncmp(p, "False", 5))
                p += 5;
            else if (!strncmp(p, "True", 4))
                return "Fortran order is not supported (save a C-ordered array)";
            else
                return "malformed header";
            have |= 2;
        } else if (klen == 5 && !strncmp(key, "shape", 5)) {
            if (*p++ != '(')
                return "malformed shape";
            h->rank = 0;
            for (;;) {
                p = skip_spaces(p);
                if (*p == ')')
                    break;
                if (*p < '0' || *p > '9')
                    return "malformed shape";
                if (h->rank == 8)
                    return "too many dimensions";
                char *end;
                errno = 0;
                unsigned long long v = strtoull(p, &end, 10);
                if (errno)
                    return "malformed shape";
                h->shape[h->rank++] = v;
                p = skip_spaces(end);
                if (*p == ',')
                    p++;
                else if (*p != ')')
                    return "malformed shape";
            }
            p++;
            have |= 4;
        } else {
            return "unknown key in the header";
        }
        p = skip_spaces(p);
        if (*p == ',')
            p++;
        else if (*p != '}')
            return "malformed header";
    }
    return have == 7 ? NULL : "the header lacks descr, fortran_order or shape";
}

/* The element at index i as a double (little-endian bytes). */
static double npy_element(const unsigned char *data, const npy_header *h, size_t i)
{
    const unsigned char *b = data + i * (size_t)h->size;
    uint64_t u = 0;
    for (int k = h->size - 1; k >= 0; k--)
        u = (u << 8) | b[k];
    if (h->kind == 'f') {
        if (h->size == 4) {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, 4);
            return f;
        }
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    if (h->kind == 'i' && h->size < 8 && (u >> (8 * h->size - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * h->size); /* sign-extend */
    if (h->kind == 'i')
        return (double)(int64_t)u;
    return (double)u;
}

/* Loads one .npy file into slot s; *n is the samples of the files read so
 * far (-1 before the first), first_path the file that set it. */
static int load_npy_file(loader *L, slot *s, const char *path, long *n, const char **first_path)
{
    char *text;
    size_t size;
    int rc = read_all(path, &text, &size, L->err, L->errlen);
    if (rc != MN_OK)
        return rc;
    const unsigned char *u = (const unsigned char *)text;
    npy_header h = {0};
    const char *bad = NULL;
    size_t hlen = 0, hstart = 0;
    if (size < 10 || memcmp(text, "\x93NUMPY", 6) != 0)
        bad = "not a NumPy .npy file";
    else if (u[6] == 1) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8;
        hstart = 10;
    } else if ((u[6] == 2 || u[6] == 3) && size >= 12) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        hstart = 12;
    } else
        bad = "unsupported .npy format version";
    if (!bad && hlen > size - hstart)
        bad = "truncated header";
    if (!bad) {
        char *hdr = strndup(text + hstart, hlen);
        bad = hdr == NULL ? "out of memory" : parse_npy_dict(hdr, &h);
        free(hdr);
    }
    if (bad) {
        free(text);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: %s", path, bad);
    }
    h.data_start = hstart + hlen;
    const mn_io_info *io = s->io;
    /* shape (N, dims...) or (N,) for one value per sample */
    int ok = h.rank >= 1;
    if (ok && h.rank == 1)
        ok = io->size == 1;
    else if (ok) {
        ok = h.rank - 1 == io->rank;
        for (int d = 0; ok && d < io->rank; d++)
            ok = h.shape[d + 1] == (uint64_t)io->dims[d];
    }
    if (!ok) {
        char got[256] = "", want[256] = ""; /* at most 8 and 6 numbers of 20 digits */
        size_t at = 0;
        for (int d = 0; d < h.rank; d++)
            at += (size_t)snprintf(got + at, sizeof got - at, "%s%llu", d ? ", " : "",
                                   (unsigned long long)h.shape[d]);
        at = 0;
        for (int d = 0; d < io->rank; d++)
            at += (size_t)snprintf(want + at, sizeof want - at, ", %lld", (long long)io->dims[d]);
        free(text);
        return mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen,
                    "%s: error: shape (%s%s) does not match %s '%s': expected (N%s)%s", path, got,
                    h.rank == 1 ? "," : "", s->what, io->name, want, io->size == 1 ? " or (N,)" : "");
    }
    if (h.shape[0] == 0 || h.shape[0] > (uint64_t)INT32_MAX) {
        free(text);
        return mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen, "%s: error: %llu samples (at least 1, at most %d)", path,
                    (unsigned long long)h.shape[0], INT32_MAX);
    }
    long samples = (long)h.shape[0];
    if (*n >= 0 && samples != *n) {
        free(text);
        return mn_fail_(MN_ERR_MISMATCH, L->err, L->errlen, "%s: error: %ld samples, but %s has %ld", path, samples,
                    *first_path, *n);
    }
    size_t count = (size_t)samples * io->size;
    if (size - h.data_start != count * (size_t)h.size) {
        free(text);
        return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: %zu bytes of data, the shape needs %zu (%s)", path,
                    size - h.data_start, count * (size_t)h.size,
                    size - h.data_start < count * (size_t)h.size ? "truncated" : "trailing bytes");
    }
    s->data = calloc(count, elem_size(io));
    if (s->data == NULL) {
        free(text);
        return mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "%s: error: out of memory", path);
    }
    char why[256];
    for (size_t i = 0; i < count; i++) {
        double v = npy_element(u + h.data_start, &h, i);
        const char *reason = NULL;
        if (isnan(v) || isinf(v))
            reason = "is not a finite number";
        else if (!check_value(io, s->what, v, why, sizeof why))
            reason = why;
        if (reason != NULL) {
            char index[256]; /* at most 7 numbers of 20 digits */
            size_t at = (size_t)snprintf(index, sizeof index, "%zu", i / io->size);
            size_t rest = i % io->size, stride = io->size;
            for (int d = 0; d < io->rank && h.rank > 1; d++) {
                stride /= (size_t)io->dims[d];
                if (at < sizeof index)
                    at += (size_t)snprintf(index + at, sizeof index - at, ", %zu", rest / stride);
                rest %= stride;
            }
            free(text);
            return mn_fail_(MN_ERR_FORMAT, L->err, L->errlen, "%s: error: element [%s]: %.17g %s", path, index, v,
                        reason);
        }
        store(io, s->data, i, v);
    }
    free(text);
    *n = samples;
    *first_path = path;
    return MN_OK;
}

static int load_npy(loader *L, const mn_io_info *inputs, int ninputs, const mn_io_info *targets, int ntargets,
                    mn_dataset *out)
{
    char *spec = strdup(L->path);
    const char **paths = calloc((size_t)L->nslots + 1, sizeof *paths);
    int rc = spec && paths ? MN_OK : mn_fail_(MN_ERR_NOMEM, L->err, L->errlen, "error: out of memory");
    for (char *item = spec, *next; rc == MN_OK && item != NULL; item = next) {
        next = strchr(item, ',');
        if (next != NULL)
            *next++ = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "%s: error: give NAME=FILE.npy for each input and target", item);
            break;
        }
        *eq = '\0';
        int slot_index = -2;
        for (int t = 0; t < 2 && slot_index == -2; t++)
            for (int i = 0; i < (t ? ntargets : ninputs); i++)
                if (!strcmp((t ? targets : inputs)[i].name, item)) {
                    slot_index = -1;
                    for (int s = 0; s < L->nslots; s++)
                        if (L->slots[s].io == &(t ? targets : inputs)[i])
                            slot_index = s;
                }
        if (slot_index == -2)
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "%s: error: the model has no input or target '%s'", eq + 1, item);
        else if (slot_index >= 0 && paths[slot_index] != NULL)
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "%s: error: a second file for '%s' (the first: %s)", eq + 1,
                      item, paths[slot_index]);
        else if (slot_index >= 0)
            paths[slot_index] = eq + 1;
    }
    long n = -1;
    const char *first_path = NULL;
    for (int s = 0; rc == MN_OK && s < L->nslots; s++) {
        if (paths[s] == NULL)
            rc = mn_fail_(MN_ERR_ARG, L->err, L->errlen, "error: no file for %s '%s' (give %s=FILE.npy)",
                      L->slots[s].what, L->slots[s].io->name, L->slots[s].io->name);
        else
            rc = load_npy_file(L, &L->slots[s], paths[s], &n, &first_path);
    }
    out->n = n;
    free(paths);
    free(spec);
    return rc;
}

/* ---- the data set --------------------------------------------------------------- */

int mn_data_load(const char *source, const mn_io_info *inputs, int ninputs, const mn_io_info *targets,
                 int ntargets, int want_targets, mn_dataset *out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        return mn_fail_(MN_ERR_ARG, err, errlen, "error: no data set given");
    memset(out, 0, sizeof *out);
    if (source == NULL || *source == '\0')
        return mn_fail_(MN_ERR_ARG, err, errlen, "error: no data file given");
    loader L = {source, NULL, 0, err, errlen};
    out->ninputs = ninputs;
    out->ntargets = ntargets;
    int rc = make_slots(&L, inputs, ninputs, targets, ntargets, want_targets, out);
    if (rc == MN_OK)
        rc = strchr(source, '=') ? load_npy(&L, inputs, ninputs, targets, ntargets, out)
                                 : load_csv(&L, inputs, ninputs, targets, ntargets, out);
    void **owned = rc == MN_OK ? calloc((size_t)L.nslots + 1, sizeof *owned) : NULL;
    if (rc == MN_OK && owned == NULL)
        rc = mn_fail_(MN_ERR_NOMEM, err, errlen, "%s: error: out of memory", source);
    if (rc != MN_OK) {
        free_slots(&L);
        free(out->input);
        free(out->target);
        memset(out, 0, sizeof *out);
        return rc;
    }
    for (int s = 0; s < L.nslots; s++) {
        *L.slots[s].dest = L.slots[s].data;
        owned[s] = L.slots[s].data;
        L.slots[s].data = NULL;
    }
    free_slots(&L);
    out->owned = owned;
    return MN_OK;
}

void mn_data_free(mn_dataset *d)
{
    if (d == NULL)
        return;
    if (d->owned != NULL)
        for (void **p = d->owned; *p != NULL; p++)
            free(*p);
    free(d->owned);
    free(d->input);
    free(d->target);
    memset(d, 0, sizeof *d);
}
