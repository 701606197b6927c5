/* mn_internal.h — helpers shared by the runtime's own files; not installed,
 * not for generated code (their names end in _ and are not part of the API). */
#ifndef MN_INTERNAL_H
#define MN_INTERNAL_H

#include <stddef.h>

/* Writes a formatted one-line reason into err (when the caller gave one)
 * and returns code, so that failures read `return mn_fail_(...)`. Control
 * characters (a tensor name or a CSV cell may hold them) become '?' to keep
 * the message on one line. */
#if defined(__GNUC__)
int mn_fail_(int code, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#else
int mn_fail_(int code, char *err, size_t errlen, const char *fmt, ...);
#endif

#endif /* MN_INTERNAL_H */
