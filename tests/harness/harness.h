/* harness.h — what the generic test programs share: random data shaped by
 * a generated model's own descriptors, so one harness drives any model.
 *
 * Each harness is compiled against a model generated with `--prefix m`
 * (header m.h); nothing here knows which model it is.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m.h"

typedef m_real real;

/* A check that counts into the harness's own `static int failures`. */
#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

typedef struct Data {
    int n;                                  /* samples */
    void *input[M_NUM_INPUTS + 1];
    void *target[M_NUM_TARGETS + 1];
} Data;

static inline void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Fills one input or target buffer of n samples. Float inputs are uniform
 * in [-1, 1] with one value in five exactly 0 (so masks take both branches),
 * or uniform in their declared range (with some exact zeros when 0 is in
 * it); int data is uniform over [lo, int_bound) (10 when unbounded);
 * targets take the form their loss expects. */
static inline void *make_buffer(const mn_io_info *io, int n, mn_rng *r) {
    size_t count = (size_t)n * io->size;
    if (io->dtype == MN_I32) {
        int32_t *b = xcalloc(count, sizeof *b);
        int64_t lo = io->has_range ? (int64_t)io->lo : 0;
        uint64_t bound = io->int_bound > lo ? (uint64_t)(io->int_bound - lo) : 10;
        for (size_t i = 0; i < count; i++) b[i] = (int32_t)(lo + (int64_t)mn_rng_below(r, bound));
        return b;
    }
    real *b = xcalloc(count, sizeof *b);
    size_t last = io->rank ? (size_t)io->dims[io->rank - 1] : 1;
    switch (io->kind) {
    case MN_DATA_BINARY:
        for (size_t i = 0; i < count; i++) b[i] = mn_rng_uniform(r) < 0.5 ? 0 : 1;
        break;
    case MN_DATA_ONEHOT:
        for (size_t row = 0; row < count / last; row++) b[row * last + mn_rng_below(r, last)] = 1;
        break;
    default:
        if (io->has_range) { /* the declared range, its ends and 0 (when inside) included now and then */
            for (size_t i = 0; i < count; i++) {
                double u = mn_rng_uniform(r);
                b[i] = (real)(u < 0.1 && io->lo <= 0 && io->hi >= 0 ? 0 : io->lo + (io->hi - io->lo) * mn_rng_uniform(r));
            }
        } else {
            for (size_t i = 0; i < count; i++)
                b[i] = mn_rng_uniform(r) < 0.2 ? 0 : (real)(2 * mn_rng_uniform(r) - 1);
        }
    }
    return b;
}

/* Points the field of an _inputs/_targets struct at a buffer. */
static inline void set_field(void *strct, const mn_io_info *io, void *buf) {
    if (io->dtype == MN_I32) {
        const int32_t *p = buf;
        memcpy((char *)strct + io->field_offset, &p, sizeof p);
    } else {
        const real *p = buf;
        memcpy((char *)strct + io->field_offset, &p, sizeof p);
    }
}

static inline void data_make(Data *d, int n, uint64_t seed) {
    mn_rng r;
    mn_rng_seed(&r, seed);
    d->n = n;
    for (int i = 0; i < M_NUM_INPUTS; i++) d->input[i] = make_buffer(&m_input_info[i], n, &r);
    for (int i = 0; i < M_NUM_TARGETS; i++) d->target[i] = make_buffer(&m_target_info[i], n, &r);
}

/* The structs for samples [first, first + count) of d. */
static inline void data_view(const Data *d, int first, m_inputs *in, m_targets *tg) {
    memset(in, 0, sizeof *in);
    memset(tg, 0, sizeof *tg);
    for (int i = 0; i < M_NUM_INPUTS; i++) {
        const mn_io_info *io = &m_input_info[i];
        size_t elem = io->dtype == MN_I32 ? sizeof(int32_t) : sizeof(real);
        set_field(in, io, (char *)d->input[i] + (size_t)first * io->size * elem);
    }
    for (int i = 0; i < M_NUM_TARGETS; i++) {
        const mn_io_info *io = &m_target_info[i];
        size_t elem = io->dtype == MN_I32 ? sizeof(int32_t) : sizeof(real);
        set_field(tg, io, (char *)d->target[i] + (size_t)first * io->size * elem);
    }
}

static inline void data_free(Data *d) {
    for (int i = 0; i < M_NUM_INPUTS; i++) free(d->input[i]);
    for (int i = 0; i < M_NUM_TARGETS; i++) free(d->target[i]);
}

/* A model instance on the heap (the struct holds the arena: it can be large). */
static inline m *model_new(uint64_t seed) {
    m *model = xcalloc(1, sizeof *model);
    m_init(model, seed);
    return model;
}

#endif
