/* malloc_count.c — an LD_PRELOAD shim for the PyTorch side of make bench.
 *
 * Interposes malloc, calloc, realloc, free, posix_memalign, aligned_alloc
 * and memalign (forwarding to glibc's __libc_ functions), counts the
 * allocating calls, and tracks the bytes live (malloc_usable_size) and
 * their peak. bench/bench.py reads them through ctypes:
 *   mc_calls()  allocating calls so far     mc_current()  bytes live now
 *   mc_peak()   the most bytes live since mc_reset_peak() (which sets it to now)
 * Build: cc -O2 -shared -fPIC bench/malloc_count.c -o build/bench/malloc_count.so
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static long calls;
static long current, peak;

static void *note(void *p) {
    if (p) {
        long now = __atomic_add_fetch(&current, (long)malloc_usable_size(p), __ATOMIC_RELAXED);
        long old = __atomic_load_n(&peak, __ATOMIC_RELAXED);
        while (now > old && !__atomic_compare_exchange_n(&peak, &old, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    }
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    return p;
}
static void unnote(void *p) {
    if (p) __atomic_sub_fetch(&current, (long)malloc_usable_size(p), __ATOMIC_RELAXED);
}

void *malloc(size_t n) { return note(__libc_malloc(n)); }
void *calloc(size_t n, size_t s) { return note(__libc_calloc(n, s)); }
void *realloc(void *p, size_t n) {
    unnote(p);
    return note(__libc_realloc(p, n));
}
void free(void *p) {
    unnote(p);
    __libc_free(p);
}
void *memalign(size_t a, size_t n) { return note(__libc_memalign(a, n)); }
void *aligned_alloc(size_t a, size_t n) { return note(__libc_memalign(a, n)); }
int posix_memalign(void **out, size_t a, size_t n) {
    void *p = note(__libc_memalign(a, n));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

long mc_calls(void) { return __atomic_load_n(&calls, __ATOMIC_RELAXED); }
long mc_current(void) { return __atomic_load_n(&current, __ATOMIC_RELAXED); }
long mc_peak(void) { return __atomic_load_n(&peak, __ATOMIC_RELAXED); }
void mc_reset_peak(void) { __atomic_store_n(&peak, __atomic_load_n(&current, __ATOMIC_RELAXED), __ATOMIC_RELAXED); }
