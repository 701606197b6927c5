/* main.c — two models compiled by mnc, linked into one program.
 *
 * two_concat.mn (a classifier: two float inputs, bce) and num_cat.mn (a
 * regression: float features next to a category id, mse) are mnc's own
 * examples (../two_concat.mn and ../num_cat.mn from here). Both projects,
 * make/ and cmake/, build this one file. The build runs mnc on each (every
 * symbol carries the
 * model's name, so both live side by side), compiles the generated C and
 * links the runtime through pkg-config. Each model trains on its own
 * synthetic task, seeded; the program prints each model's loss on its whole
 * data set before and after training and a few predictions, and exits 0
 * only when both losses are finite and fell to half or less (and the
 * classifier's accuracy is above 80%).
 */
#include <math.h>
#include <stdio.h>

#include "num_cat.h"
#include "two_concat.h"

#define SAMPLES 1024
#define EPOCHS 20

/* Static storage: the structs hold weights, optimizer state and arena. */
static two_concat clf;
static num_cat reg;

static float x1[SAMPLES][10], x2[SAMPLES][5], label[SAMPLES][1], prob[SAMPLES][1];
static float numbers[SAMPLES][10], value[SAMPLES][1], estimate[SAMPLES][1];
static int32_t cat[SAMPLES][1];

static float uniform(mn_rng *r, double lo, double hi) { return (float)(lo + (hi - lo) * mn_rng_uniform(r)); }

static void make_data(void) {
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (int i = 0; i < SAMPLES; i++) {
        /* classifier: a noise-free rule with one interaction */
        double s = 0;
        for (int j = 0; j < 10; j++) x1[i][j] = uniform(&r, -1, 1);
        for (int j = 0; j < 5; j++) x2[i][j] = uniform(&r, -1, 1);
        for (int j = 0; j < 5; j++) s += x1[i][j];
        label[i][0] = 0.8 * s - x2[i][0] + 0.5 * x2[i][1] * x1[i][9] > 0 ? 1.0f : 0.0f;
        /* regression: a linear part plus an offset per category */
        double v = 0;
        for (int j = 0; j < 10; j++) {
            numbers[i][j] = uniform(&r, -1, 1);
            v += (j % 2 ? 0.3 : -0.2) * numbers[i][j];
        }
        cat[i][0] = (int32_t)mn_rng_below(&r, 100);
        value[i][0] = (float)(v + sin(cat[i][0]));
    }
}

/* The loss over the whole set, BATCH samples at a time; accuracy if asked. */
static double clf_loss(double *accuracy) {
    double loss = 0, acc = 0;
    for (int b = 0; b < SAMPLES; b += TWO_CONCAT_BATCH) {
        int n = SAMPLES - b < TWO_CONCAT_BATCH ? SAMPLES - b : TWO_CONCAT_BATCH;
        two_concat_inputs in = {x1[b], x2[b]};
        two_concat_targets tg = {label[b]};
        float metrics[TWO_CONCAT_NUM_METRICS];
        loss += two_concat_evaluate(&clf, &in, &tg, n, metrics) * n;
        acc += metrics[0] * n;
    }
    if (accuracy) *accuracy = acc / SAMPLES;
    return loss / SAMPLES;
}

static double reg_loss(void) {
    double loss = 0;
    for (int b = 0; b < SAMPLES; b += NUM_CAT_BATCH) {
        int n = SAMPLES - b < NUM_CAT_BATCH ? SAMPLES - b : NUM_CAT_BATCH;
        num_cat_inputs in = {numbers[b], cat[b]};
        num_cat_targets tg = {value[b]};
        loss += num_cat_evaluate(&reg, &in, &tg, n, NULL) * n;
    }
    return loss / SAMPLES;
}

/* EPOCHS passes over the data, the two models' steps interleaved. */
static int train(void) {
    int steps = 0;
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        for (int b = 0; b + TWO_CONCAT_BATCH <= SAMPLES; b += TWO_CONCAT_BATCH) {
            two_concat_inputs in = {x1[b], x2[b]};
            two_concat_targets tg = {label[b]};
            two_concat_train_step(&clf, &in, &tg, TWO_CONCAT_BATCH);
            steps++;
        }
        for (int b = 0; b + NUM_CAT_BATCH <= SAMPLES; b += NUM_CAT_BATCH) {
            num_cat_inputs in = {numbers[b], cat[b]};
            num_cat_targets tg = {value[b]};
            num_cat_train_step(&reg, &in, &tg, NUM_CAT_BATCH);
        }
    }
    return steps;
}

static int fell(const char *name, double before, double after) {
    int ok = isfinite(before) && isfinite(after) && after <= 0.5 * before;
    if (!ok) fprintf(stderr, "%s: the loss did not fall to half (%g -> %g)\n", name, before, after);
    return ok;
}

int main(void) {
    make_data();
    two_concat_init(&clf, TWO_CONCAT_SEED);
    num_cat_init(&reg, NUM_CAT_SEED);

    double acc0, acc1;
    double clf0 = clf_loss(&acc0), reg0 = reg_loss();
    int steps = train();
    double clf1 = clf_loss(&acc1), reg1 = reg_loss();

    two_concat_inputs cin = {x1[0], x2[0]};
    two_concat_outputs cout = {prob[0]};
    two_concat_predict(&clf, &cin, SAMPLES, &cout);
    num_cat_inputs rin = {numbers[0], cat[0]};
    num_cat_outputs rout = {estimate[0]};
    num_cat_predict(&reg, &rin, SAMPLES, &rout);

    printf("two_concat: %d weights, loss %.4f -> %.4f after %d steps, accuracy %.1f%% -> %.1f%%\n",
           TWO_CONCAT_NUM_PARAMS, clf0, clf1, steps, 100 * acc0, 100 * acc1);
    printf("            p = %.3f %.3f %.3f (labels %.0f %.0f %.0f)\n", prob[0][0], prob[1][0], prob[2][0],
           label[0][0], label[1][0], label[2][0]);
    printf("num_cat:    %d weights, loss %.4f -> %.4f after %d steps\n", NUM_CAT_NUM_PARAMS, reg0, reg1,
           EPOCHS * (SAMPLES / NUM_CAT_BATCH));
    printf("            y = %.3f %.3f %.3f (targets %.3f %.3f %.3f)\n", estimate[0][0], estimate[1][0],
           estimate[2][0], value[0][0], value[1][0], value[2][0]);

    int ok = fell("two_concat", clf0, clf1) & fell("num_cat", reg0, reg1);
    if (!(acc1 > 0.8)) {
        fprintf(stderr, "two_concat: accuracy %.1f%%, expected above 80%%\n", 100 * acc1);
        ok = 0;
    }
    for (int i = 0; i < SAMPLES; i++)
        if (!(prob[i][0] >= 0 && prob[i][0] <= 1) || !isfinite(estimate[i][0])) {
            fprintf(stderr, "sample %d: prediction out of range (%g, %g)\n", i, prob[i][0], estimate[i][0]);
            ok = 0;
            break;
        }
    printf("%s\n", ok ? "ok: both models trained and predicted side by side" : "FAILED");
    return ok ? 0 : 1;
}
