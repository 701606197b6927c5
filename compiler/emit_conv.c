/* emit_conv.c — images, channels last: im2col and col2im (a convolution is
 * im2col then a product), max and average pools and their gradients.
 */
#include "emit.h"

/* ---- images: x [n, H, W, C], windows k, strides s, padding pad (top, left) ---- */

typedef struct Geometry {
    int H, W, C, Ho, Wo;
} Geometry;

/* The sizes of an image x and of the windowed output y. */
static Geometry geometry(const Node *x, const Node *y) {
    Geometry g = {x->shape.dims[0], x->shape.dims[1], x->shape.dims[2], y->shape.dims[0], y->shape.dims[1]};
    return g;
}

/* The loops over samples, output cells and window cells, with (iy, ix)
 * the input cell; `inside` tells a padding cell from a real one. */
static void window_loops(Emit *E, Node *n, Geometry g) {
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int ky = 0; ky < %d; ky++)", n->k[0]);
    out(E, "    for (int kx = 0; kx < %d; kx++) {", n->k[1]);
    out(E, "        const int iy = oy * %d - %d + ky, ix = ox * %d - %d + kx;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "        const int inside = iy >= 0 && iy < %d && ix >= 0 && ix < %d;", g.H, g.W);
}

/* cols[b, oy, ox, (ky, kx, c)] = x[b, iy, ix, c], 0 in the padding. The
 * kx cells of one window row are next to each other in x (kw * C floats),
 * so a row inside the image is one copy and only the border cells go one
 * by one. */
void emit_im2col(Emit *E, Node *n) {
    Geometry g = geometry(in(E, n, 0), n);
    int kw = n->k[1], run = n->k[1] * g.C;
    long K = (long)n->k[0] * run;
    const char *x = ptr(E, n->in[0]), *T = E->T;
    head(E, n, xsprintf("im2col %dx%d stride %dx%d", n->k[0], n->k[1], n->s[0], n->s[1]));
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int ky = 0; ky < %d; ky++) {", n->k[0]);
    out(E, "        const int iy = oy * %d - %d + ky, ix = ox * %d - %d;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "        %s *col = %s + (((size_t)b * %d + oy) * %d + ox) * %ld + ky * %d;", T, ptr(E, (int)(n - E->g->nodes)),
        g.Ho, g.Wo, K, run);
    out(E, "        if (iy < 0 || iy >= %d) {", g.H);
    out(E, "            memset(col, 0, sizeof(%s) * %d);", T, run);
    out(E, "        } else if (ix >= 0 && ix + %d <= %d) {", kw, g.W);
    out(E, "            memcpy(col, %s + (((size_t)b * %d + iy) * %d + ix) * %d, sizeof(%s) * %d);", x, g.H, g.W, g.C, T, run);
    out(E, "        } else {");
    out(E, "            for (int kx = 0; kx < %d; kx++) {", kw);
    out(E, "                if (ix + kx >= 0 && ix + kx < %d)", g.W);
    out(E, "                    memcpy(col + kx * %d, %s + (((size_t)b * %d + iy) * %d + ix + kx) * %d, sizeof(%s) * %d);",
        g.C, x, g.H, g.W, g.C, T, g.C);
    out(E, "                else");
    out(E, "                    memset(col + kx * %d, 0, sizeof(%s) * %d);", g.C, T, g.C);
    out(E, "            }");
    out(E, "        }");
    out(E, "    }");
}

/* dx[b, iy, ix, c] += dcols[b, oy, ox, (ky, kx, c)] */
void emit_col2im(Emit *E, Node *n) {
    Geometry g = geometry(n, in(E, n, 0));
    long K = (long)n->k[0] * n->k[1] * g.C;
    int v = (int)(n - E->g->nodes);
    head(E, n, "col2im");
    out(E, "    memset(%s, 0, sizeof(%s) * (size_t)n * %ld);", ptr(E, v), E->T, (long)g.H * g.W * g.C);
    window_loops(E, n, g);
    out(E, "        if (!inside) continue;");
    out(E, "        const %s *col = %s + (((size_t)b * %d + oy) * %d + ox) * %ld + (ky * %d + kx) * %d;", E->T,
        ptr(E, n->in[0]), g.Ho, g.Wo, K, n->k[1], g.C);
    out(E, "        %s *dx = %s + (((size_t)b * %d + iy) * %d + ix) * %d;", E->T, ptr(E, v), g.H, g.W, g.C);
    out(E, "        for (int c = 0; c < %d; c++) dx[c] += col[c];", g.C);
    out(E, "    }");
}

/* max or mean of each window (mean over the cells inside the image, as
 * TensorFlow's same padding does) */
void emit_pool(Emit *E, Node *n) {
    Geometry g = geometry(in(E, n, 0), n);
    int v = (int)(n - E->g->nodes), is_max = n->op == OP_MAXPOOL2D;
    head(E, n, xsprintf("%s %dx%d stride %dx%d", op_info[n->op].name, n->k[0], n->k[1], n->s[0], n->s[1]));
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int c = 0; c < %d; c++) {", g.C);
    out(E, "        %s acc = %s;", E->T, is_max ? (E->g->f64 ? "-HUGE_VAL" : "-HUGE_VALF") : lit(E, 0));
    out(E, "        int cells = 0;");
    out(E, "        for (int ky = 0; ky < %d; ky++)", n->k[0]);
    out(E, "            for (int kx = 0; kx < %d; kx++) {", n->k[1]);
    out(E, "                const int iy = oy * %d - %d + ky, ix = ox * %d - %d + kx;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "                if (iy < 0 || iy >= %d || ix < 0 || ix >= %d) continue;", g.H, g.W);
    out(E, "                const %s x = %s[(((size_t)b * %d + iy) * %d + ix) * %d + c];", E->T, ptr(E, n->in[0]), g.H, g.W, g.C);
    if (is_max) out(E, "                acc = x > acc ? x : acc;");
    else out(E, "                acc += x;");
    out(E, "                cells++;");
    out(E, "            }");
    out(E, "        %s[(((size_t)b * %d + oy) * %d + ox) * %d + c] = %s;", ptr(E, v), g.Ho, g.Wo, g.C,
        is_max ? "acc" : xsprintf("acc / (%s)cells", E->T));
    out(E, "    }");
}

/* (x, y, dy) -> dx: max pooling routes dy to the first maximum of each
 * window; average pooling spreads it over the window's cells */
void emit_pool_grad(Emit *E, Node *n) {
    Node *xn = in(E, n, 0), *yn = in(E, n, 1);
    Geometry g = geometry(xn, yn);
    int v = (int)(n - E->g->nodes), is_max = n->loss == OP_MAXPOOL2D;
    const char *x = ptr(E, n->in[0]), *y = ptr(E, n->in[1]), *dy = ptr(E, n->in[2]), *dx = ptr(E, v);
    head(E, n, xsprintf("d %s / dx", op_info[n->loss].name));
    out(E, "    memset(%s, 0, sizeof(%s) * (size_t)n * %ld);", dx, E->T, (long)g.H * g.W * g.C);
    out(E, "    for (int b = 0; b < n; b++)");
    out(E, "    for (int oy = 0; oy < %d; oy++)", g.Ho);
    out(E, "    for (int ox = 0; ox < %d; ox++)", g.Wo);
    out(E, "    for (int c = 0; c < %d; c++) {", g.C);
    out(E, "        const size_t o = (((size_t)b * %d + oy) * %d + ox) * %d + c;", g.Ho, g.Wo, g.C);
    out(E, "        int cells = 0, done = 0;");
    if (!is_max) {
        out(E, "        for (int pass = 0; pass < 2; pass++)"); /* count, then spread */
    } else {
        out(E, "        (void)cells;");
        out(E, "        for (int pass = 1; pass < 2; pass++)");
    }
    out(E, "        for (int ky = 0; ky < %d; ky++)", n->k[0]);
    out(E, "            for (int kx = 0; kx < %d; kx++) {", n->k[1]);
    out(E, "                const int iy = oy * %d - %d + ky, ix = ox * %d - %d + kx;", n->s[0], n->pad[0], n->s[1], n->pad[1]);
    out(E, "                if (iy < 0 || iy >= %d || ix < 0 || ix >= %d) continue;", g.H, g.W);
    out(E, "                const size_t i = (((size_t)b * %d + iy) * %d + ix) * %d + c;", g.H, g.W, g.C);
    if (is_max) {
        out(E, "                if (!done && %s[i] == %s[o]) {", x, y);
        out(E, "                    %s[i] += %s[o];", dx, dy);
        out(E, "                    done = 1;");
        out(E, "                }");
    } else {
        out(E, "                (void)done;");
        out(E, "                if (pass == 0) cells++;");
        out(E, "                else %s[i] += %s[o] / (%s)cells;", dx, dy, E->T);
    }
    out(E, "            }");
    out(E, "    }");
}

/* ---- normalisation and dropout: train_step trains, predict and evaluate infer ---- */
