/* capture.h — how the unit suites read diagnostics: capture_begin() sends
 * them to a memory stream and resets the error and warning counts;
 * capture_end() stops and returns what was printed (an arena copy). */
#ifndef CAPTURE_H
#define CAPTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "mnc.h"

static char *capture_text;
static size_t capture_size;
static FILE *capture_file;

static void capture_begin(void) {
    capture_file = open_memstream(&capture_text, &capture_size);
    diag_set_stream(capture_file);
    diag_reset_counts();
}

static const char *capture_end(void) {
    fclose(capture_file);
    diag_set_stream(NULL);
    const char *copy = xstrdup(capture_text);
    free(capture_text);
    capture_text = NULL;
    return copy;
}

#endif
