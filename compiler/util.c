/* util.c — the compiler's memory (one arena, freed once at exit), strings,
 * growable buffers and file reading.
 *
 * The arena is a list of blocks, each a header followed by the caller's
 * bytes. Nothing is ever freed on its own: mnc_free_all() releases every
 * block at once (chibicc's "allocate, never free", made tidy for ASan).
 */
#include "mnc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One arena block; the union keeps the payload maximally aligned. */
typedef union Block {
    union Block *next;
    max_align_t align;
} Block;

static Block *blocks;

/* Reports an allocation failure and stops: the compiler cannot go on. */
static _Noreturn void out_of_memory(size_t size) {
    fprintf(stderr, "mnc: out of memory (allocating %zu bytes)\n", size);
    abort();
}

/* Returns `size` zeroed bytes that live until mnc_free_all(). */
void *xalloc(size_t size) {
    if (size > SIZE_MAX - sizeof(Block))
        out_of_memory(size);
    Block *b = calloc(1, sizeof(Block) + size);
    if (!b)
        out_of_memory(size);
    b->next = blocks;
    blocks = b;
    return b + 1;
}

/* Room for element n of an array of n elements of `size` bytes: the array
 * itself, or a copy twice as large when n is a power of two (so appending n
 * elements costs O(n) in all, as ir_push). */
void *xgrow(void *items, int n, size_t size) {
    if (n & (n - 1))
        return items;
    int cap = n ? n * 2 : 4;
    void *grown = xalloc(size * (size_t)cap);
    if (n)
        memcpy(grown, items, size * (size_t)n);
    return grown;
}

/* Frees everything xalloc ever returned; called once, at exit. */
void mnc_free_all(void) {
    while (blocks) {
        Block *next = blocks->next;
        free(blocks);
        blocks = next;
    }
}

/* Copies at most n bytes of s into the arena, always NUL-terminated. */
char *xstrndup(const char *s, size_t n) {
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *p = xalloc(len + 1);
    memcpy(p, s, len);
    return p;
}

/* Copies s into the arena. */
char *xstrdup(const char *s) {
    return xstrndup(s, strlen(s));
}

/* printf into a fresh arena string of exactly its length (the emitter
 * makes one per operand of every op: no slack). */
char *xsprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        unreachable();
    char *s = xalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Makes room for `extra` more bytes plus a terminating NUL. Old storage
 * stays in the arena; doubling keeps the waste under 2x. */
static void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = xalloc(cap);
    if (b->len)
        memcpy(data, b->data, b->len);
    b->data = data;
    b->cap = cap;
}

/* Appends one character; the text stays NUL-terminated. */
void buf_putc(Buf *b, char c) {
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

/* Appends a string. */
void buf_puts(Buf *b, const char *s) {
    size_t n = strlen(s);
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Appends printf-formatted text. */
void buf_vprintf(Buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        unreachable();
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

/* Appends printf-formatted text. */
void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Reads a whole file into a NUL-terminated arena string; NULL and errno
 * on failure (EFBIG once it has read more than MN_MAX_SOURCE_BYTES). `len` (if not NULL) receives the length without the NUL. */
char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    Buf b = {0};
    buf_reserve(&b, 4096);
    for (;;) {
        size_t room = b.cap - b.len - 1;
        size_t n = fread(b.data + b.len, 1, room, fp);
        b.len += n;
        if (n < room)
            break;
        if (b.len > (size_t)MN_MAX_SOURCE_BYTES) { /* a pipe or device never ends: stop */
            fclose(fp);
            errno = EFBIG;
            return NULL;
        }
        buf_reserve(&b, b.cap);
    }
    int failed = ferror(fp);
    int saved = errno;
    fclose(fp);
    if (failed) {
        errno = saved ? saved : EIO;
        return NULL;
    }
    b.data[b.len] = '\0';
    if (len)
        *len = b.len;
    return b.data;
}

/* The target of unreachable(): an internal bug, never a wrong answer. */
_Noreturn void mnc_unreachable(const char *file, int line) {
    fflush(stdout);
    fprintf(stderr, "mnc: internal error at %s:%d\n", file, line);
    abort();
}

/* C's keywords (C99 and C11, and the macros of stdbool/stddef the generated
 * code may see): names that cannot become identifiers in generated C. */
int is_c_keyword(const char *name) {
    static const char *const keywords[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
        "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
        "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
        "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic",
        "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local", "bool", "true", "false", "NULL"};
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (!strcmp(name, keywords[i])) return 1;
    return 0;
}

/* ---- string maps -------------------------------------------------------------- */

static size_t str_hash(const char *s) { /* FNV-1a */
    size_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* The slot of `key` (its own, or the empty one where it would go). */
static size_t strmap_slot(const StrMap *m, const char *key) {
    size_t i = str_hash(key) & (m->cap - 1);
    while (m->key[i] && strcmp(m->key[i], key))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int *strmap_get(const StrMap *m, const char *key) {
    if (!m->cap)
        return NULL;
    size_t i = strmap_slot(m, key);
    return m->key[i] ? &m->val[i] : NULL;
}

int *strmap_put(StrMap *m, const char *key, int val) {
    if (2 * (m->count + 1) > m->cap) {
        StrMap big = {.cap = m->cap ? m->cap * 2 : 64};
        big.key = xalloc(sizeof *big.key * big.cap);
        big.val = xalloc(sizeof *big.val * big.cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) {
                size_t j = strmap_slot(&big, m->key[i]);
                big.key[j] = m->key[i];
                big.val[j] = m->val[i];
            }
        big.count = m->count;
        *m = big;
    }
    size_t i = strmap_slot(m, key);
    if (!m->key[i]) {
        m->key[i] = key;
        m->count++;
    }
    m->val[i] = val;
    return &m->val[i];
}
