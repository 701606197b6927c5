/* demo.c — what `make demo` runs: the model of examples/two_concat.mn,
 * compiled by mnc, trained from C on a synthetic task.
 *
 * The task: 2048 samples with two inputs (10 and 5 features, uniform in
 * [-1, 1]); the label is 1 when 0.8 * (sum of the first five features of
 * input_1) - input_2[0] + 0.5 * input_2[1] * input_1[9] > 0. 1792 samples
 * train, 256 are held out. Everything is seeded: two runs print the same.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "two_concat.h"

#define SAMPLES 2048
#define TRAIN 1792

static float input_1[SAMPLES][10], input_2[SAMPLES][5], label[SAMPLES][1], prob[SAMPLES][1];
static two_concat model; /* weights, optimizer state and arena: no malloc anywhere */

static void make_data(void) {
    mn_rng r;
    mn_rng_seed(&r, 2024);
    for (int i = 0; i < SAMPLES; i++) {
        for (int j = 0; j < 10; j++) input_1[i][j] = (float)(2 * mn_rng_uniform(&r) - 1);
        for (int j = 0; j < 5; j++) input_2[i][j] = (float)(2 * mn_rng_uniform(&r) - 1);
        double s = 0;
        for (int j = 0; j < 5; j++) s += input_1[i][j];
        label[i][0] = 0.8 * s - input_2[i][0] + 0.5 * input_2[i][1] * input_1[i][9] > 0 ? 1.0f : 0.0f;
    }
}

/* Loss and accuracy over samples [first, first + count), BATCH at a time. */
static void evaluate(int first, int count, double *loss, double *accuracy) {
    double l = 0, acc = 0;
    for (int b = first; b < first + count; b += TWO_CONCAT_BATCH) {
        int n = first + count - b < TWO_CONCAT_BATCH ? first + count - b : TWO_CONCAT_BATCH;
        two_concat_inputs in = {input_1[b], input_2[b]};
        two_concat_targets tg = {label[b]};
        float metrics[TWO_CONCAT_NUM_METRICS];
        l += two_concat_evaluate(&model, &in, &tg, n, metrics) * n;
        acc += metrics[0] * n;
    }
    *loss = l / count;
    *accuracy = acc / count;
}

int main(void) {
    make_data();
    two_concat_init(&model, TWO_CONCAT_SEED);
    printf("two_concat (examples/two_concat.mn): %d weights, arena of %d floats, batch %d\n", TWO_CONCAT_NUM_PARAMS,
           TWO_CONCAT_ARENA_SIZE, TWO_CONCAT_BATCH);
    printf("training on %d samples, holding out %d\n\n", TRAIN, SAMPLES - TRAIN);
    printf("epoch   train loss   held-out loss   held-out accuracy\n");
    double loss, accuracy;
    evaluate(TRAIN, SAMPLES - TRAIN, &loss, &accuracy);
    printf("%5d   %10s   %13.4f   %16.1f%%\n", 0, "-", loss, 100 * accuracy);
    const int epochs = TWO_CONCAT_EPOCHS; /* from the train block */
    for (int epoch = 1; epoch <= epochs; epoch++) {
        double sum = 0;
        int steps = 0;
        for (int b = 0; b + TWO_CONCAT_BATCH <= TRAIN; b += TWO_CONCAT_BATCH) {
            two_concat_inputs in = {input_1[b], input_2[b]};
            two_concat_targets tg = {label[b]};
            sum += two_concat_train_step(&model, &in, &tg, TWO_CONCAT_BATCH);
            steps++;
        }
        evaluate(TRAIN, SAMPLES - TRAIN, &loss, &accuracy);
        printf("%5d   %10.4f   %13.4f   %16.1f%%\n", epoch, sum / steps, loss, 100 * accuracy);
    }
    /* predict a few held-out samples */
    two_concat_inputs in = {input_1[TRAIN], input_2[TRAIN]};
    two_concat_outputs out = {prob[TRAIN]};
    two_concat_predict(&model, &in, 5, &out);
    printf("\nfirst held-out samples: ");
    for (int i = 0; i < 5; i++) printf("p=%.3f (label %.0f)%s", prob[TRAIN + i][0], label[TRAIN + i][0], i < 4 ? ", " : "\n");
    if (two_concat_save(&model, "build/demo/two_concat.safetensors") == 0)
        printf("weights saved to build/demo/two_concat.safetensors\n");
    return 0;
}
