/* tolerances.h — how close mnc's float32 numbers must be to the PyTorch
 * reference: stated once, here, per quantity. An element passes when
 *
 *     |mnc - reference| <= atol + rtol * |reference|
 *
 * The atol floors cover values that are zero up to rounding (a gradient of
 * a unit that is almost off, a weight that barely moved); they sit orders
 * of magnitude below the typical values of each quantity.
 */
#ifndef TOLERANCES_H
#define TOLERANCES_H

typedef struct Tolerance {
    const char *quantity;
    double rtol, atol;
} Tolerance;

static const Tolerance TOL_OUTPUT = {"output", 1e-5, 1e-6};       /* predict's outputs */
static const Tolerance TOL_LOSS = {"loss", 1e-5, 1e-7};           /* the loss of the batch */
static const Tolerance TOL_METRIC = {"metric", 0, 1e-6};         /* accuracy: a count over the batch */
static const Tolerance TOL_GRAD = {"gradient", 1e-4, 1e-6};       /* d loss / d weight */
/* Weights after 5 Adam steps: where a weight's gradient is about Adam's
 * epsilon (1e-7), m / (sqrt(v) + eps) turns float32 rounding in the
 * gradient into a visible change of the step, and the reference itself is
 * that far from the exact answer. Measured: PyTorch's own float32 run of
 * conv_bias ends 1.2e-6 from its float64 run (image_text 7.3e-7), so two
 * correct float32 programs may differ by twice that. The floor, 5e-6, is
 * 0.5% of one step at lr 1e-3: a wrong moment, bias correction or sign
 * is off by a whole step. */
static const Tolerance TOL_STEP5 = {"weights after 5 steps", 1e-4, 5e-6};

#endif
