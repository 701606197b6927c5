/* mn_safetensors.c — weights saved and loaded as safetensors files.
 *
 * File layout (https://github.com/huggingface/safetensors):
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   a JSON object, padded with spaces so that 8 + N is a multiple
 *             of 8: {"__metadata__":{"format":"mnc"},
 *                    "name":{"dtype":"F32","shape":[10,64],"data_offsets":[b,e]},...}
 *   the data  every tensor's elements, little-endian, row-major; b and e are
 *             byte offsets from the start of the data, and the tensors tile
 *             the data exactly (no gaps, no overlaps, nothing after).
 *
 * Saving writes a temporary file next to the destination and renames it over
 * the destination, so a crash or a full disk never leaves a half-written
 * weights file. Loading reads the length and the header, checks them
 * (well-formedness first, then agreement with the model, then the file's
 * size), and only then reads the data, whose size the model fixes, into a
 * staging buffer; it copies one byte into the caller's buffer only after all
 * of that succeeded. A hostile file therefore costs at most a small multiple
 * of MN_SAFETENSORS_MAX_HEADER (mn_internal.h) in memory, whatever its size.
 *
 * No global state: every function works on its arguments and its stack.
 */
#define _POSIX_C_SOURCE 200809L

#include "mn_runtime.h"
#include "mn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors -------------------------------------------------------------- */

/* One short English phrase per error code, for messages. */
const char *mn_strerror(int code)
{
    switch (code) {
    case MN_OK: return "success";
    case MN_ERR_IO: return "input/output error";
    case MN_ERR_FORMAT: return "not a well-formed safetensors file";
    case MN_ERR_MISMATCH: return "file does not match the model";
    case MN_ERR_NOMEM: return "out of memory";
    case MN_ERR_ARG: return "invalid argument";
    default: return "unknown error";
    }
}

int mn_fail_(int code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(err, errlen, "%s", mn_strerror(code));
        return code;
    }
    size_t len = 0;
    for (char *c = err; *c != '\0'; c++, len++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    if ((size_t)n >= errlen) {
        /* Cut short: drop a multi-byte character the cut split. */
        size_t lead = len;
        while (lead > 0 && ((unsigned char)err[lead - 1] & 0xc0) == 0x80)
            lead--;
        if (lead > 0 && (unsigned char)err[lead - 1] >= 0xc0) {
            unsigned c = (unsigned char)err[lead - 1];
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (len - (lead - 1) < need)
                err[lead - 1] = '\0';
        }
    }
    return code;
}

/* The text of errno value e, through the reentrant strerror_r. */
static const char *errno_text(int e, char *buf, size_t len)
{
    if (strerror_r(e, buf, len) != 0)
        snprintf(buf, len, "error %d", e);
    return buf;
}

/* Room for a name from a file as printable_name writes it. */
#define PRINTABLE_NAME_BYTES 400

/* Writes a string from a file (a tensor name, a dtype: len bytes, valid
 * UTF-8, maybe holding NUL) into buf, of PRINTABLE_NAME_BYTES, for a
 * message: NUL and the other control characters as \u00XX, so that a
 * hostile name can neither end the message early nor break its line, and at
 * most 64 bytes of it, cut at a character boundary and followed by "...".
 * Returns buf. */
static const char *printable_name(char *buf, const char *name, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const size_t shown = 64;
    size_t o = 0, i = 0;
    for (; i < len && i < shown; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) {
            char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            memcpy(buf + o, escaped, 6);
            o += 6;
        } else {
            buf[o++] = (char)c;
        }
    }
    if (i < len) {
        while (o > 0 && i > 0 && ((unsigned char)name[i] & 0xc0) == 0x80
               && ((unsigned char)buf[o - 1] & 0x80) != 0) {
            o--;    /* back to the first byte of the character cut in two */
            i--;
        }
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- dtypes and byte order ------------------------------------------------ */

/* Bytes per element of a model dtype; 0 for a value outside the enum. */
static size_t model_dtype_size(mn_dtype dtype)
{
    switch (dtype) {
    case MN_F32: return 4;
    case MN_F64: return 8;
    case MN_I32: return 4;
    }
    return 0;
}

/* The safetensors dtype string of a model dtype. */
static const char *model_dtype_name(mn_dtype dtype)
{
    switch (dtype) {
    case MN_F32: return "F32";
    case MN_F64: return "F64";
    case MN_I32: return "I32";
    }
    return "?";
}

/* Every dtype the safetensors format defines, with its element size: a file
 * may hold any of them and still be well formed (then it is a mismatch, not
 * a format error, when the model wants another). */
static const struct {
    const char *name;
    unsigned size;
} safetensors_dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2},  {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8},  {"U64", 8},     {"F64", 8},
};
#define NUM_SAFETENSORS_DTYPES ((int)(sizeof safetensors_dtypes / sizeof safetensors_dtypes[0]))

/* Whether this host stores integers least significant byte first; decided
 * at run time from the bytes of a known value (compilers fold it). */
static int host_is_little_endian(void)
{
    const uint32_t probe = 1;
    unsigned char first_byte;
    memcpy(&first_byte, &probe, 1);
    return first_byte == 1;
}

/* Copies nbytes of elements of elem_size bytes from src to dst, converting
 * between host order and little-endian (the same operation both ways). */
static void copy_little_endian(unsigned char *dst, const unsigned char *src,
                               size_t nbytes, size_t elem_size)
{
    if (host_is_little_endian() || elem_size == 1) {
        memcpy(dst, src, nbytes);
        return;
    }
    for (size_t at = 0; at + elem_size <= nbytes; at += elem_size)
        for (size_t b = 0; b < elem_size; b++)
            dst[at + b] = src[at + elem_size - 1 - b];
}

/* Stores v as 8 little-endian bytes, whatever the host order. */
static void put_u64_le(unsigned char out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(v >> (8 * i));
}

/* Reads 8 little-endian bytes as an integer, whatever the host order. */
static uint64_t get_u64_le(const unsigned char in[8])
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | in[i];
    return v;
}

/* ---- checking the caller's tensor list ------------------------------------ */

/* A name with its length, for sorting names to find duplicates and to
 * match the file's names against the model's in O(n log n). */
typedef struct name_ref {
    const char *name;
    size_t len;
    int index;      /* into the array the name came from */
} name_ref;

/* Orders name_refs by their bytes (shorter first on a common prefix). */
static int compare_name_refs(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    size_t common = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, common);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Whether two name_refs hold the same name. */
static int same_name(const name_ref *a, const name_ref *b)
{
    return a->len == b->len && memcmp(a->name, b->name, a->len) == 0;
}

/* Checks the model's tensor list (names, ranks, dims against count, no
 * name twice) and fills sorted_names with the names in byte order (the
 * caller provides room for ntensors). A bad list is the caller's bug:
 * MN_ERR_ARG. */
static int check_tensor_list(const mn_tensor_info *tensors, int ntensors, size_t elem_size,
                             name_ref *sorted_names, char *err, size_t errlen)
{
    for (int i = 0; i < ntensors; i++) {
        const mn_tensor_info *t = &tensors[i];
        if (t->name == NULL)
            return mn_fail_(MN_ERR_ARG, err, errlen, "tensor #%d has no name", i);
        if (t->rank < 0 || t->rank > MN_MAX_RANK)
            return mn_fail_(MN_ERR_ARG, err, errlen, "tensor '%s': rank %d is outside 0..%d",
                        t->name, t->rank, MN_MAX_RANK);
        uint64_t product = 1;
        for (int d = 0; d < t->rank; d++) {
            if (t->dims[d] < 0)
                return mn_fail_(MN_ERR_ARG, err, errlen, "tensor '%s': dimension %d is negative",
                            t->name, d);
            uint64_t dim = (uint64_t)t->dims[d];
            if (dim != 0 && product > UINT64_MAX / dim)
                return mn_fail_(MN_ERR_ARG, err, errlen, "tensor '%s': too many elements", t->name);
            product *= dim;
        }
        if (product != (uint64_t)t->count)
            return mn_fail_(MN_ERR_ARG, err, errlen,
                        "tensor '%s': count is %zu, its shape holds %" PRIu64,
                        t->name, t->count, product);
        if (t->count > SIZE_MAX / elem_size)
            return mn_fail_(MN_ERR_ARG, err, errlen, "tensor '%s': too many bytes", t->name);
        sorted_names[i].name = t->name;
        sorted_names[i].len = strlen(t->name);
        sorted_names[i].index = i;
    }
    if (ntensors > 0)
        qsort(sorted_names, (size_t)ntensors, sizeof *sorted_names, compare_name_refs);
    for (int i = 1; i < ntensors; i++)
        if (same_name(&sorted_names[i - 1], &sorted_names[i]))
            return mn_fail_(MN_ERR_ARG, err, errlen, "tensor '%s' is listed twice",
                        sorted_names[i].name);
    return MN_OK;
}

/* Checks the arguments common to save and load, then the tensor list.
 * On success *sorted_names is a malloc'ed array the caller frees. */
static int check_arguments(const char *path, const mn_tensor_info *tensors, int ntensors,
                           const void *base, mn_dtype dtype, name_ref **sorted_names,
                           char *err, size_t errlen)
{
    *sorted_names = NULL;
    if (path == NULL)
        return mn_fail_(MN_ERR_ARG, err, errlen, "no path given");
    if (ntensors < 0 || (ntensors > 0 && tensors == NULL))
        return mn_fail_(MN_ERR_ARG, err, errlen, "no tensor list given");
    if (ntensors > 0 && base == NULL)
        return mn_fail_(MN_ERR_ARG, err, errlen, "no weight buffer given");
    size_t elem_size = model_dtype_size(dtype);
    if (elem_size == 0)
        return mn_fail_(MN_ERR_ARG, err, errlen, "unknown dtype %d", (int)dtype);
    name_ref *names = malloc(ntensors > 0 ? (size_t)ntensors * sizeof *names : 1);
    if (names == NULL)
        return mn_fail_(MN_ERR_NOMEM, err, errlen, "out of memory");
    int rc = check_tensor_list(tensors, ntensors, elem_size, names, err, errlen);
    if (rc != MN_OK) {
        free(names);
        return rc;
    }
    *sorted_names = names;
    return MN_OK;
}

/* ---- saving --------------------------------------------------------------- */

/* A growable byte string for building the header. A failed allocation sets
 * out_of_memory and makes every later append a no-op, so the builder is
 * checked once at the end. */
typedef struct text {
    char *data;
    size_t len, cap;
    int out_of_memory;
} text;

/* Appends n bytes to t. */
static void text_append(text *t, const char *bytes, size_t n)
{
    if (t->out_of_memory)
        return;
    if (n > SIZE_MAX - t->len - 1) {
        t->out_of_memory = 1;
        return;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? t->len + n + 1 : cap * 2;
        char *grown = realloc(t->data, cap);
        if (grown == NULL) {
            t->out_of_memory = 1;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, bytes, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* Appends a NUL-terminated string to t. */
static void text_append_str(text *t, const char *s)
{
    text_append(t, s, strlen(s));
}

/* Appends an unsigned integer in decimal (deterministic: no locale). */
static void text_append_u64(text *t, uint64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    text_append(t, digits, (size_t)n);
}

/* Appends s as a JSON string literal: quotes, backslashes and control
 * characters escaped; other bytes (UTF-8 included) as they are. */
static void text_append_json_string(text *t, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    text_append(t, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            char escaped[2] = {'\\', (char)*c};
            text_append(t, escaped, 2);
        } else if (*c < 0x20) {
            char escaped[6] = {'\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15]};
            text_append(t, escaped, 6);
        } else {
            text_append(t, (const char *)c, 1);
        }
    }
    text_append(t, "\"", 1);
}

/* Builds the JSON header for the tensors, in the order given, padded with
 * spaces to a multiple of 8 bytes. Returns MN_OK or MN_ERR_NOMEM. */
static int build_header(text *header, const mn_tensor_info *tensors, int ntensors,
                        mn_dtype dtype)
{
    const size_t elem_size = model_dtype_size(dtype);
    uint64_t data_offset = 0;
    text_append_str(header, "{\"__metadata__\":{\"format\":\"mnc\"}");
    for (int i = 0; i < ntensors; i++) {
        const mn_tensor_info *t = &tensors[i];
        uint64_t nbytes = (uint64_t)t->count * elem_size;
        text_append_str(header, ",");
        text_append_json_string(header, t->name);
        text_append_str(header, ":{\"dtype\":\"");
        text_append_str(header, model_dtype_name(dtype));
        text_append_str(header, "\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            if (d > 0)
                text_append_str(header, ",");
            text_append_u64(header, (uint64_t)t->dims[d]);
        }
        text_append_str(header, "],\"data_offsets\":[");
        text_append_u64(header, data_offset);
        text_append_str(header, ",");
        text_append_u64(header, data_offset + nbytes);
        text_append_str(header, "]}");
        data_offset += nbytes;
    }
    text_append_str(header, "}");
    while (!header->out_of_memory && header->len % 8 != 0)
        text_append_str(header, " ");
    return header->out_of_memory ? MN_ERR_NOMEM : MN_OK;
}

/* Writes the whole file to f: header length, header, then each tensor's
 * elements in little-endian order. Returns 0, or -1 on a write error. */
static int write_contents(FILE *f, const text *header, const mn_tensor_info *tensors,
                          int ntensors, const void *base, size_t elem_size)
{
    unsigned char length_bytes[8];
    put_u64_le(length_bytes, (uint64_t)header->len);
    if (fwrite(length_bytes, 1, 8, f) != 8)
        return -1;
    if (fwrite(header->data, 1, header->len, f) != header->len)
        return -1;
    for (int i = 0; i < ntensors; i++) {
        const unsigned char *src = (const unsigned char *)base + tensors[i].offset * elem_size;
        size_t nbytes = tensors[i].count * elem_size;
        if (host_is_little_endian()) {
            if (nbytes > 0 && fwrite(src, 1, nbytes, f) != nbytes)
                return -1;
            continue;
        }
        /* Big-endian host: convert a block at a time. 4096 is a multiple
         * of every element size. */
        unsigned char block[4096];
        for (size_t at = 0; at < nbytes; at += sizeof block) {
            size_t n = nbytes - at < sizeof block ? nbytes - at : sizeof block;
            copy_little_endian(block, src + at, n, elem_size);
            if (fwrite(block, 1, n, f) != n)
                return -1;
        }
    }
    return 0;
}

/* Flushes the directory that holds path to disk, so that a rename in it
 * survives a crash. Best effort: some file systems refuse, and the file
 * itself is already safe. */
static void sync_parent_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (slash == NULL)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (dir == NULL)
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* The permission bits for the new file: those of the file it replaces, or
 * rw-r--r-- for a new one (mkstemp creates 0600, and reading the umask
 * would mean changing it, which is process-global state). */
static mode_t mode_for_new_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return st.st_mode & 07777;
    return 0644;
}

/* Writes the file atomically: a temporary file in the destination's
 * directory, written, flushed and fsync'ed, closed, then renamed over path.
 * On any failure the temporary file is removed and path is untouched. */
static int write_file_atomically(const char *path, const text *header,
                                 const mn_tensor_info *tensors, int ntensors,
                                 const void *base, size_t elem_size, char *err, size_t errlen)
{
    static const char suffix[] = ".tmp.XXXXXX";
    char reason[256];
    size_t path_len = strlen(path);
    char *temp_path = malloc(path_len + sizeof suffix);
    if (temp_path == NULL)
        return mn_fail_(MN_ERR_NOMEM, err, errlen, "out of memory");
    memcpy(temp_path, path, path_len);
    memcpy(temp_path + path_len, suffix, sizeof suffix);

    int fd = mkstemp(temp_path);
    if (fd < 0) {
        int e = errno;
        free(temp_path);
        return mn_fail_(MN_ERR_IO, err, errlen, "cannot create a temporary file for '%s': %s",
                    path, errno_text(e, reason, sizeof reason));
    }
    (void)fchmod(fd, mode_for_new_file(path));
    FILE *f = fdopen(fd, "wb");
    if (f == NULL) {
        int e = errno;
        close(fd);
        unlink(temp_path);
        free(temp_path);
        return mn_fail_(MN_ERR_IO, err, errlen, "cannot write '%s': %s", path,
                    errno_text(e, reason, sizeof reason));
    }

    int write_failed = write_contents(f, header, tensors, ntensors, base, elem_size) != 0
                    || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !write_failed) {
        write_failed = 1;
        e = errno;
    }
    if (write_failed) {
        unlink(temp_path);
        free(temp_path);
        return mn_fail_(MN_ERR_IO, err, errlen, "cannot write '%s': %s", path,
                    errno_text(e, reason, sizeof reason));
    }
    if (rename(temp_path, path) != 0) {
        e = errno;
        unlink(temp_path);
        free(temp_path);
        return mn_fail_(MN_ERR_IO, err, errlen, "cannot rename the temporary file to '%s': %s",
                    path, errno_text(e, reason, sizeof reason));
    }
    free(temp_path);
    sync_parent_directory(path);
    return MN_OK;
}

/* Saves the tensors as a safetensors file (see mn_runtime.h). */
int mn_save_safetensors(const char *path, const mn_tensor_info *tensors, int ntensors,
                        const void *base, mn_dtype dtype, char *err, size_t errlen)
{
    name_ref *sorted_names;
    int rc = check_arguments(path, tensors, ntensors, base, dtype, &sorted_names, err, errlen);
    if (rc != MN_OK)
        return rc;
    free(sorted_names);   /* only needed to find duplicate names */

    text header = {0};
    rc = build_header(&header, tensors, ntensors, dtype);
    if (rc != MN_OK) {
        free(header.data);
        return mn_fail_(rc, err, errlen, "out of memory");
    }
    rc = write_file_atomically(path, &header, tensors, ntensors, base,
                               model_dtype_size(dtype), err, errlen);
    free(header.data);
    return rc;
}

/* ---- reading the header --------------------------------------------------- */

/* One tensor as the file's header describes it. */
typedef struct file_entry {
    const char *name;           /* decoded, in the parser's arena; not NUL-terminated */
    size_t name_len;
    int dtype;                  /* index into safetensors_dtypes */
    int rank;                   /* may exceed MN_MAX_RANK (then only a mismatch) */
    uint64_t dims[MN_MAX_RANK]; /* the first MN_MAX_RANK dimensions */
    uint64_t elements;          /* product of the shape (1 for a scalar) */
    uint64_t nbytes;            /* elements times the element size */
    int size_overflows;         /* elements or nbytes beyond 64 bits */
    uint64_t begin, end;        /* data_offsets */
    int model_index;            /* the model tensor it matched, or -1 */
} file_entry;

/* A strict recursive-descent parser for the safetensors header: an object
 * of tensor entries and one optional __metadata__ value (any JSON, skipped).
 * On the first error it records the reason and every caller unwinds. */
typedef struct header_parser {
    const char *start, *p, *end;
    char *arena;                /* decoded strings; as large as the header */
    size_t arena_used;
    file_entry *entries;
    size_t nentries, capacity;
    int status;                 /* MN_OK, MN_ERR_FORMAT or MN_ERR_NOMEM */
    char *err;
    size_t errlen;
} header_parser;

/* Records a format error at the current position (a byte offset in the
 * file: the header starts at byte 8) and returns -1. */
static int parse_error(header_parser *hp, const char *what)
{
    if (hp->status == MN_OK)
        hp->status = mn_fail_(MN_ERR_FORMAT, hp->err, hp->errlen,
                          "header: %s at byte %zu", what, (size_t)(hp->p - hp->start) + 8);
    return -1;
}

/* Skips JSON whitespace. */
static void skip_whitespace(header_parser *hp)
{
    while (hp->p < hp->end
           && (*hp->p == ' ' || *hp->p == '\t' || *hp->p == '\n' || *hp->p == '\r'))
        hp->p++;
}

/* Consumes the character c (after whitespace), or fails. */
static int expect_char(header_parser *hp, char c, const char *what)
{
    skip_whitespace(hp);
    if (hp->p >= hp->end || *hp->p != c)
        return parse_error(hp, what);
    hp->p++;
    return 0;
}

/* Whether the next character (after whitespace) is c; consumes it if so. */
static int accept_char(header_parser *hp, char c)
{
    skip_whitespace(hp);
    if (hp->p < hp->end && *hp->p == c) {
        hp->p++;
        return 1;
    }
    return 0;
}

/* The value of one hex digit, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the four hex digits of a \u escape (p is past the 'u'). */
static int parse_hex4(header_parser *hp, unsigned *out)
{
    if (hp->end - hp->p < 4)
        return parse_error(hp, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(hp->p[i]);
        if (h < 0)
            return parse_error(hp, "bad \\u escape");
        v = v * 16 + (unsigned)h;
    }
    hp->p += 4;
    *out = v;
    return 0;
}

/* Appends code point cp to the arena as UTF-8. The arena is as large as the
 * header and an escape is never shorter than its UTF-8, so it cannot fill. */
static void arena_put_utf8(header_parser *hp, unsigned cp)
{
    char *o = hp->arena + hp->arena_used;
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp; n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f)); n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
    }
    hp->arena_used += n;
}

/* Parses a JSON string (after whitespace) and decodes it into the arena:
 * *out and *len give the decoded bytes. Escapes, surrogate pairs included,
 * are decoded; raw control characters and lone surrogates are refused. */
static int parse_string(header_parser *hp, const char **out, size_t *len)
{
    if (expect_char(hp, '"', "expected a string") != 0)
        return -1;
    const size_t first = hp->arena_used;
    for (;;) {
        if (hp->p >= hp->end)
            return parse_error(hp, "unterminated string");
        unsigned char c = (unsigned char)*hp->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return parse_error(hp, "control character in a string");
        if (c != '\\') {
            hp->arena[hp->arena_used++] = (char)c;
            continue;
        }
        if (hp->p >= hp->end)
            return parse_error(hp, "unterminated string");
        char e = *hp->p++;
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return parse_error(hp, "bad escape in a string");
        }
        if (simple != 0) {
            hp->arena[hp->arena_used++] = simple;
            continue;
        }
        unsigned cp;
        if (parse_hex4(hp, &cp) != 0)
            return -1;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return parse_error(hp, "lone low surrogate in a string");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned low;
            if (hp->end - hp->p < 2 || hp->p[0] != '\\' || hp->p[1] != 'u')
                return parse_error(hp, "lone high surrogate in a string");
            hp->p += 2;
            if (parse_hex4(hp, &low) != 0)
                return -1;
            if (low < 0xdc00 || low > 0xdfff)
                return parse_error(hp, "bad surrogate pair in a string");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        arena_put_utf8(hp, cp);
    }
    *out = hp->arena + first;
    *len = hp->arena_used - first;
    return 0;
}

/* Parses a non-negative JSON integer (no sign, fraction, exponent or
 * leading zero) that fits in 64 bits. */
static int parse_uint(header_parser *hp, uint64_t *out)
{
    skip_whitespace(hp);
    if (hp->p >= hp->end || *hp->p < '0' || *hp->p > '9')
        return parse_error(hp, "expected a non-negative integer");
    if (*hp->p == '0' && hp->end - hp->p > 1 && hp->p[1] >= '0' && hp->p[1] <= '9')
        return parse_error(hp, "leading zero in a number");
    uint64_t v = 0;
    while (hp->p < hp->end && *hp->p >= '0' && *hp->p <= '9') {
        unsigned digit = (unsigned)(*hp->p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return parse_error(hp, "integer too large");
        v = v * 10 + digit;
        hp->p++;
    }
    if (hp->p < hp->end && (*hp->p == '.' || *hp->p == 'e' || *hp->p == 'E'))
        return parse_error(hp, "expected an integer, not a fraction");
    *out = v;
    return 0;
}

/* Skips any JSON number, checking its grammar. */
static int skip_number(header_parser *hp)
{
    if (hp->p < hp->end && *hp->p == '-')
        hp->p++;
    if (hp->p >= hp->end || *hp->p < '0' || *hp->p > '9')
        return parse_error(hp, "bad number");
    if (*hp->p == '0')
        hp->p++;
    else
        while (hp->p < hp->end && *hp->p >= '0' && *hp->p <= '9')
            hp->p++;
    if (hp->p < hp->end && *hp->p == '.') {
        hp->p++;
        if (hp->p >= hp->end || *hp->p < '0' || *hp->p > '9')
            return parse_error(hp, "bad number");
        while (hp->p < hp->end && *hp->p >= '0' && *hp->p <= '9')
            hp->p++;
    }
    if (hp->p < hp->end && (*hp->p == 'e' || *hp->p == 'E')) {
        hp->p++;
        if (hp->p < hp->end && (*hp->p == '+' || *hp->p == '-'))
            hp->p++;
        if (hp->p >= hp->end || *hp->p < '0' || *hp->p > '9')
            return parse_error(hp, "bad number");
        while (hp->p < hp->end && *hp->p >= '0' && *hp->p <= '9')
            hp->p++;
    }
    return 0;
}

/* Skips the literal word (true, false, null) if it is next. */
static int skip_word(header_parser *hp, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(hp->end - hp->p) < n || memcmp(hp->p, word, n) != 0)
        return parse_error(hp, "unexpected character");
    hp->p += n;
    return 0;
}

/* Skips any JSON value, checking its grammar; nesting is limited to
 * MN_SAFETENSORS_MAX_DEPTH so that a hostile file cannot exhaust the stack. Decoded
 * strings are dropped from the arena again. */
static int skip_value(header_parser *hp, int depth)
{
    if (depth > MN_SAFETENSORS_MAX_DEPTH)
        return parse_error(hp, "nested too deeply");
    skip_whitespace(hp);
    if (hp->p >= hp->end)
        return parse_error(hp, "expected a value");
    const char *s;
    size_t len;
    size_t arena_mark = hp->arena_used;
    switch (*hp->p) {
    case '"':
        if (parse_string(hp, &s, &len) != 0)
            return -1;
        hp->arena_used = arena_mark;
        return 0;
    case '{':
        hp->p++;
        if (accept_char(hp, '}'))
            return 0;
        do {
            if (parse_string(hp, &s, &len) != 0)
                return -1;
            hp->arena_used = arena_mark;
            if (expect_char(hp, ':', "expected ':'") != 0 || skip_value(hp, depth + 1) != 0)
                return -1;
        } while (accept_char(hp, ','));
        return expect_char(hp, '}', "expected ',' or '}'");
    case '[':
        hp->p++;
        if (accept_char(hp, ']'))
            return 0;
        do {
            if (skip_value(hp, depth + 1) != 0)
                return -1;
        } while (accept_char(hp, ','));
        return expect_char(hp, ']', "expected ',' or ']'");
    case 't': return skip_word(hp, "true");
    case 'f': return skip_word(hp, "false");
    case 'n': return skip_word(hp, "null");
    default: return skip_number(hp);
    }
}

/* Parses "shape": an array of non-negative integers. Keeps the first
 * MN_MAX_RANK dimensions, the rank and the number of elements (the product
 * of all dimensions, 1 for a scalar, with an overflow flag). */
static int parse_shape(header_parser *hp, file_entry *entry)
{
    uint64_t product = 1;       /* of the dimensions, while it fits */
    int overflows = 0, has_zero = 0;
    entry->rank = 0;
    if (expect_char(hp, '[', "expected '[' for the shape") != 0)
        return -1;
    if (!accept_char(hp, ']')) {
        do {
            uint64_t dim;
            if (parse_uint(hp, &dim) != 0)
                return -1;
            if (entry->rank == INT32_MAX)
                return parse_error(hp, "shape too long");
            if (entry->rank < MN_MAX_RANK)
                entry->dims[entry->rank] = dim;
            entry->rank++;
            if (dim == 0)
                has_zero = 1;
            else if (product > UINT64_MAX / dim)
                overflows = 1;
            else
                product *= dim;
        } while (accept_char(hp, ','));
        if (expect_char(hp, ']', "expected ',' or ']' in the shape") != 0)
            return -1;
    }
    /* A zero dimension empties the tensor, however large the others. */
    entry->elements = has_zero ? 0 : product;
    entry->size_overflows = !has_zero && overflows;
    return 0;
}

/* Parses "data_offsets": exactly two non-negative integers. */
static int parse_data_offsets(header_parser *hp, file_entry *entry)
{
    return expect_char(hp, '[', "expected '[' for data_offsets")
        || parse_uint(hp, &entry->begin)
        || expect_char(hp, ',', "data_offsets must hold exactly two integers")
        || parse_uint(hp, &entry->end)
        || expect_char(hp, ']', "data_offsets must hold exactly two integers") ? -1 : 0;
}

/* Parses one tensor's object: "dtype", "shape" and "data_offsets", each
 * exactly once, in any order, and nothing else. Sets entry->nbytes. */
static int parse_tensor_entry(header_parser *hp, file_entry *entry)
{
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (expect_char(hp, '{', "expected '{' for a tensor") != 0)
        return -1;
    if (!accept_char(hp, '}')) {
        do {
            const char *key;
            size_t key_len;
            size_t arena_mark = hp->arena_used;
            if (parse_string(hp, &key, &key_len) != 0
                || expect_char(hp, ':', "expected ':'") != 0)
                return -1;
            hp->arena_used = arena_mark;
            if (key_len == 5 && memcmp(key, "dtype", 5) == 0 && !have_dtype) {
                const char *name;
                size_t name_len;
                if (parse_string(hp, &name, &name_len) != 0)
                    return -1;
                hp->arena_used = arena_mark;
                entry->dtype = -1;
                for (int d = 0; d < NUM_SAFETENSORS_DTYPES; d++)
                    if (strlen(safetensors_dtypes[d].name) == name_len
                        && memcmp(safetensors_dtypes[d].name, name, name_len) == 0)
                        entry->dtype = d;
                if (entry->dtype < 0) {
                    char what[PRINTABLE_NAME_BYTES + 32], shown[PRINTABLE_NAME_BYTES];
                    snprintf(what, sizeof what, "unknown dtype \"%s\"",
                             printable_name(shown, name, name_len));
                    return parse_error(hp, what);
                }
                have_dtype = 1;
            } else if (key_len == 5 && memcmp(key, "shape", 5) == 0 && !have_shape) {
                if (parse_shape(hp, entry) != 0)
                    return -1;
                have_shape = 1;
            } else if (key_len == 12 && memcmp(key, "data_offsets", 12) == 0 && !have_offsets) {
                if (parse_data_offsets(hp, entry) != 0)
                    return -1;
                have_offsets = 1;
            } else {
                return parse_error(hp, "unknown or repeated field in a tensor");
            }
        } while (accept_char(hp, ','));
        if (expect_char(hp, '}', "expected ',' or '}'") != 0)
            return -1;
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return parse_error(hp, "a tensor needs dtype, shape and data_offsets");
    uint64_t size = safetensors_dtypes[entry->dtype].size;
    if (entry->size_overflows || entry->elements > UINT64_MAX / size) {
        entry->size_overflows = 1;
        entry->nbytes = 0;
    } else {
        entry->nbytes = entry->elements * size;
    }
    return 0;
}

/* Adds a zeroed entry to the parser's list and returns it (NULL when out
 * of memory). */
static file_entry *new_entry(header_parser *hp)
{
    if (hp->nentries == hp->capacity) {
        size_t capacity = hp->capacity ? hp->capacity * 2 : 16;
        file_entry *grown = realloc(hp->entries, capacity * sizeof *grown);
        if (grown == NULL) {
            hp->status = MN_ERR_NOMEM;
            return NULL;
        }
        hp->entries = grown;
        hp->capacity = capacity;
    }
    file_entry *entry = &hp->entries[hp->nentries++];
    memset(entry, 0, sizeof *entry);
    entry->dtype = -1;
    entry->model_index = -1;
    return entry;
}

/* The length of the longest prefix of s (len bytes) that is valid UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF);
 * len when all of it is. */
static size_t valid_utf8_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        unsigned lo = 0x80, hi = 0xbf;     /* range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0) lo = 0xa0;       /* overlong */
            if (c == 0xed) hi = 0x9f;       /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0) lo = 0x90;       /* overlong */
            if (c == 0xf4) hi = 0x8f;       /* above U+10FFFF */
        } else {
            return i;
        }
        if (len - i - 1 < more || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += more + 1;
    }
    return len;
}

/* Parses the whole header: valid UTF-8 (as JSON must be), one object, then
 * nothing but whitespace (the padding). Fills hp->entries in file order. */
static int parse_header(header_parser *hp)
{
    int have_metadata = 0;
    size_t header_len = (size_t)(hp->end - hp->start);
    size_t valid = valid_utf8_prefix((const unsigned char *)hp->start, header_len);
    if (valid != header_len) {
        hp->p = hp->start + valid;
        return parse_error(hp, "invalid UTF-8");
    }
    if (expect_char(hp, '{', "expected '{' at the start of the header") != 0)
        return -1;
    if (!accept_char(hp, '}')) {
        do {
            const char *key;
            size_t key_len;
            if (parse_string(hp, &key, &key_len) != 0
                || expect_char(hp, ':', "expected ':'") != 0)
                return -1;
            if (key_len == 12 && memcmp(key, "__metadata__", 12) == 0) {
                if (have_metadata)
                    return parse_error(hp, "__metadata__ appears twice");
                have_metadata = 1;
                hp->arena_used -= key_len;
                skip_whitespace(hp);
                if (hp->p >= hp->end || *hp->p != '{')
                    return parse_error(hp, "__metadata__ must be an object");
                if (skip_value(hp, 1) != 0)
                    return -1;
                continue;
            }
            file_entry *entry = new_entry(hp);
            if (entry == NULL)
                return -1;
            entry->name = key;
            entry->name_len = key_len;
            if (parse_tensor_entry(hp, entry) != 0)
                return -1;
        } while (accept_char(hp, ','));
        if (expect_char(hp, '}', "expected ',' or '}'") != 0)
            return -1;
    }
    skip_whitespace(hp);
    if (hp->p != hp->end)
        return parse_error(hp, "unexpected text after the header object");
    return 0;
}

/* ---- loading -------------------------------------------------------------- */

/* Reads exactly n bytes of f into buf. Returns MN_OK, or MN_ERR_IO with a
 * reason: a read error, or the file ended early (it shrank after fstat). */
static int read_exactly(FILE *f, const char *path, void *buf, size_t n, char *err,
                        size_t errlen)
{
    if (n == 0 || fread(buf, 1, n, f) == n)
        return MN_OK;
    char reason[256];
    if (ferror(f)) {
        int e = errno;
        return mn_fail_(MN_ERR_IO, err, errlen, "cannot read '%s': %s", path,
                    errno_text(e, reason, sizeof reason));
    }
    return mn_fail_(MN_ERR_IO, err, errlen, "cannot read '%s': it changed while being read",
                path);
}

/* One tensor's byte range in the data section, for the tiling check. */
typedef struct span {
    uint64_t begin, end;
    size_t index;
} span;

/* Orders spans by begin, then end. */
static int compare_spans(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return (x->begin > y->begin) - (x->begin < y->begin);
    return (x->end > y->end) - (x->end < y->end);
}

/* Writes "[d0, d1, ...]" into buf (for messages). */
static void format_shape(char *buf, size_t len, int rank, const uint64_t *dims)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < rank && used < len; d++) {
        if (d == MN_MAX_RANK) {
            used += (size_t)snprintf(buf + used, len - used, ", ...");
            break;
        }
        used += (size_t)snprintf(buf + used, len - used, "%s%" PRIu64, d ? ", " : "", dims[d]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* Checks that the parsed entries describe a consistent file of file_size
 * bytes: sizes agree with dtype and shape, names are unique, the data
 * offsets tile the data section exactly and the file has no more and no
 * fewer bytes than that. Anything wrong is MN_ERR_FORMAT. */
static int check_file_consistency(header_parser *hp, uint64_t header_len, uint64_t file_size,
                                  name_ref *sorted_file_names)
{
    file_entry *entries = hp->entries;
    size_t n = hp->nentries;
    char shown[PRINTABLE_NAME_BYTES];
    for (size_t i = 0; i < n; i++) {
        file_entry *e = &entries[i];
        if (e->size_overflows)
            return mn_fail_(MN_ERR_FORMAT, hp->err, hp->errlen,
                        "tensor '%s': its shape holds more than 2^64 bytes",
                        printable_name(shown, e->name, e->name_len));
        if (e->end < e->begin)
            return mn_fail_(MN_ERR_FORMAT, hp->err, hp->errlen,
                        "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before "
                        "they begin", printable_name(shown, e->name, e->name_len),
                        e->begin, e->end);
        if (e->end - e->begin != e->nbytes)
            return mn_fail_(MN_ERR_FORMAT, hp->err, hp->errlen,
                        "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] do not hold "
                        "the %" PRIu64 " bytes its dtype and shape need",
                        printable_name(shown, e->name, e->name_len), e->begin, e->end,
                        e->nbytes);
        sorted_file_names[i].name = e->name;
        sorted_file_names[i].len = e->name_len;
        sorted_file_names[i].index = (int)i;
    }
    if (n > 0)
        qsort(sorted_file_names, n, sizeof *sorted_file_names, compare_name_refs);
    for (size_t i = 1; i < n; i++)
        if (same_name(&sorted_file_names[i - 1], &sorted_file_names[i]))
            return mn_fail_(MN_ERR_FORMAT, hp->err, hp->errlen,
                        "tensor '%s' appears twice in the header",
                        printable_name(shown, sorted_file_names[i].name,
                                       sorted_file_names[i].len));

    span *spans = malloc(n > 0 ? n * sizeof *spans : 1);
    if (spans == NULL)
        return mn_fail_(MN_ERR_NOMEM, hp->err, hp->errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        spans[i].begin = entries[i].begin;
        spans[i].end = entries[i].end;
        spans[i].index = i;
    }
    if (n > 0)
        qsort(spans, n, sizeof *spans, compare_spans);
    uint64_t data_size = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].begin != data_size) {
            const file_entry *e = &entries[spans[i].index];
            int rc = mn_fail_(MN_ERR_FORMAT, hp->err, hp->errlen,
                          "tensor '%s': its data begins at byte %" PRIu64 " of the data, "
                          "the data before it ends at %" PRIu64,
                          printable_name(shown, e->name, e->name_len), spans[i].begin,
                          data_size);
            free(spans);
            return rc;
        }
        data_size = spans[i].end;
    }
    free(spans);

    uint64_t described = 8 + header_len;
    described = data_size > UINT64_MAX - described ? UINT64_MAX : described + data_size;
    if (described != file_size)
        return mn_fail_(MN_ERR_FORMAT, hp->err, hp->errlen,
                    "file is %" PRIu64 " bytes, the header describes %" PRIu64,
                    file_size, described);
    return MN_OK;
}

/* Matches the file's entries with the model's tensors (both lists sorted
 * by name) and checks every model tensor is present with the model's dtype
 * and shape, and the file holds nothing else. Anything wrong is
 * MN_ERR_MISMATCH. On success model_to_entry[i] is tensor i's entry. */
static int check_against_model(header_parser *hp, const mn_tensor_info *tensors, int ntensors,
                               mn_dtype dtype, const name_ref *sorted_model_names,
                               const name_ref *sorted_file_names, size_t *model_to_entry)
{
    file_entry *entries = hp->entries;
    size_t n = hp->nentries;
    const size_t none = (size_t)-1;
    for (int i = 0; i < ntensors; i++)
        model_to_entry[i] = none;

    size_t f = 0;
    for (int m = 0; m < ntensors && f < n;) {
        int c = compare_name_refs(&sorted_model_names[m], &sorted_file_names[f]);
        if (c < 0) {
            m++;
        } else if (c > 0) {
            f++;
        } else {
            model_to_entry[sorted_model_names[m].index] = (size_t)sorted_file_names[f].index;
            entries[sorted_file_names[f].index].model_index = sorted_model_names[m].index;
            m++;
            f++;
        }
    }

    const char *want_dtype = model_dtype_name(dtype);
    for (int i = 0; i < ntensors; i++) {
        const mn_tensor_info *t = &tensors[i];
        if (model_to_entry[i] == none)
            return mn_fail_(MN_ERR_MISMATCH, hp->err, hp->errlen,
                        "tensor '%s' expected, not in the file", t->name);
        const file_entry *e = &entries[model_to_entry[i]];
        const char *file_dtype = safetensors_dtypes[e->dtype].name;
        if (strcmp(file_dtype, want_dtype) != 0)
            return mn_fail_(MN_ERR_MISMATCH, hp->err, hp->errlen,
                        "tensor '%s': dtype %s in the file, %s expected",
                        t->name, file_dtype, want_dtype);
        int same_shape = e->rank == t->rank;
        for (int d = 0; same_shape && d < t->rank; d++)
            same_shape = e->dims[d] == (uint64_t)t->dims[d];
        if (!same_shape) {
            uint64_t want_dims[MN_MAX_RANK];
            for (int d = 0; d < t->rank; d++)
                want_dims[d] = (uint64_t)t->dims[d];
            char found[160], wanted[160];
            format_shape(found, sizeof found, e->rank, e->dims);
            format_shape(wanted, sizeof wanted, t->rank, want_dims);
            return mn_fail_(MN_ERR_MISMATCH, hp->err, hp->errlen,
                        "tensor '%s': shape %s in the file, %s expected", t->name, found, wanted);
        }
    }
    char shown[PRINTABLE_NAME_BYTES];
    for (size_t i = 0; i < n; i++)
        if (entries[i].model_index < 0)
            return mn_fail_(MN_ERR_MISMATCH, hp->err, hp->errlen,
                        "tensor '%s' in the file is not a weight of this model",
                        printable_name(shown, entries[i].name, entries[i].name_len));
    return MN_OK;
}

/* Reads and checks the file open as f, file_size bytes long (its fstat),
 * and, only if everything agrees with the model, copies each tensor into
 * base. Reads the 8-byte length, then the header; parses and checks them
 * against the model and the file's size; only then reads the data, which
 * then has exactly the model's size. */
static int load_from_file(FILE *f, const char *path, uint64_t file_size,
                          const mn_tensor_info *tensors, int ntensors, void *base,
                          mn_dtype dtype, const name_ref *sorted_model_names,
                          char *err, size_t errlen)
{
    if (file_size < 8)
        return mn_fail_(MN_ERR_FORMAT, err, errlen,
                    "file is %" PRIu64 " bytes, too short for the 8-byte header length",
                    file_size);
    unsigned char length_bytes[8];
    int rc = read_exactly(f, path, length_bytes, 8, err, errlen);
    if (rc != MN_OK)
        return rc;
    uint64_t header_len = get_u64_le(length_bytes);
    if (header_len > MN_SAFETENSORS_MAX_HEADER)
        return mn_fail_(MN_ERR_FORMAT, err, errlen,
                    "header length %" PRIu64 " is beyond the limit of %u bytes",
                    header_len, MN_SAFETENSORS_MAX_HEADER);
    if (header_len > file_size - 8)
        return mn_fail_(MN_ERR_FORMAT, err, errlen,
                    "file is %" PRIu64 " bytes, the header length says %" PRIu64
                    " bytes of header", file_size, header_len);

    /* header_len <= MN_SAFETENSORS_MAX_HEADER: the sizes below fit. */
    header_parser hp = {0};
    hp.err = err;
    hp.errlen = errlen;
    char *header = malloc((size_t)header_len + 1);
    hp.arena = malloc((size_t)header_len + 1);
    name_ref *sorted_file_names = NULL;
    size_t *model_to_entry = NULL;
    unsigned char *data = NULL;
    if (header == NULL || hp.arena == NULL) {
        rc = mn_fail_(MN_ERR_NOMEM, err, errlen, "out of memory");
        goto done;
    }
    rc = read_exactly(f, path, header, (size_t)header_len, err, errlen);
    if (rc != MN_OK)
        goto done;
    hp.start = hp.p = header;
    hp.end = header + header_len;
    if (parse_header(&hp) != 0) {
        rc = hp.status == MN_ERR_NOMEM ? mn_fail_(MN_ERR_NOMEM, err, errlen, "out of memory")
                                       : hp.status;
        goto done;
    }
    sorted_file_names = malloc(hp.nentries > 0 ? hp.nentries * sizeof *sorted_file_names : 1);
    model_to_entry = malloc(ntensors > 0 ? (size_t)ntensors * sizeof *model_to_entry : 1);
    if (sorted_file_names == NULL || model_to_entry == NULL) {
        rc = mn_fail_(MN_ERR_NOMEM, err, errlen, "out of memory");
        goto done;
    }
    rc = check_file_consistency(&hp, header_len, file_size, sorted_file_names);
    if (rc != MN_OK)
        goto done;
    rc = check_against_model(&hp, tensors, ntensors, dtype, sorted_model_names,
                             sorted_file_names, model_to_entry);
    if (rc != MN_OK)
        goto done;

    /* The header matches the model and tiles the rest of the file, so the
     * data is exactly the model's bytes: read it, and make sure nothing
     * follows (the file did not grow since fstat). */
    uint64_t data_len = file_size - 8 - header_len;
    if (data_len > SIZE_MAX - 1) {
        rc = mn_fail_(MN_ERR_NOMEM, err, errlen, "'%s' is too large to load", path);
        goto done;
    }
    data = malloc((size_t)data_len + 1);
    if (data == NULL) {
        rc = mn_fail_(MN_ERR_NOMEM, err, errlen, "out of memory reading '%s'", path);
        goto done;
    }
    rc = read_exactly(f, path, data, (size_t)data_len, err, errlen);
    if (rc != MN_OK)
        goto done;
    if (fread(data + data_len, 1, 1, f) != 0 || ferror(f)) {
        rc = mn_fail_(MN_ERR_IO, err, errlen, "cannot read '%s': it changed while being read",
                  path);
        goto done;
    }

    /* Everything checked: now, and only now, write into base. */
    const size_t elem_size = model_dtype_size(dtype);
    for (int i = 0; i < ntensors; i++) {
        const file_entry *e = &hp.entries[model_to_entry[i]];
        copy_little_endian((unsigned char *)base + tensors[i].offset * elem_size,
                           data + e->begin, (size_t)e->nbytes, elem_size);
    }
    rc = MN_OK;
done:
    free(data);
    free(model_to_entry);
    free(sorted_file_names);
    free(hp.entries);
    free(hp.arena);
    free(header);
    return rc;
}

/* Loads a file written for exactly these tensors (see mn_runtime.h). */
int mn_load_safetensors(const char *path, const mn_tensor_info *tensors, int ntensors,
                        void *base, mn_dtype dtype, char *err, size_t errlen)
{
    name_ref *sorted_model_names;
    int rc = check_arguments(path, tensors, ntensors, base, dtype, &sorted_model_names,
                             err, errlen);
    if (rc != MN_OK)
        return rc;
    char reason[256];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        free(sorted_model_names);
        return mn_fail_(MN_ERR_IO, err, errlen, "cannot open '%s': %s", path,
                    errno_text(e, reason, sizeof reason));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0) {
        rc = mn_fail_(MN_ERR_IO, err, errlen, "'%s' is not a regular file", path);
    } else {
        rc = load_from_file(f, path, (uint64_t)st.st_size, tensors, ntensors, base, dtype,
                            sorted_model_names, err, errlen);
    }
    fclose(f);
    free(sorted_model_names);
    return rc;
}
