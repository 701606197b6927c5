#!/usr/bin/python3
"""Checks the hand-written layers of models.py against PyTorch's own modules.

models.py writes conv2d, maxpool2d, LSTM, Bidirectional(LSTM), pow and
Keras's Adam by hand, in Keras's layouts (conv1d goes through F.conv1d;
it is checked against torch.nn.Conv1d and the one-row conv2d). This script compares each with an
independent computation in float64 -- torch.nn.LSTM (gates i, f, g, o,
weights [4u, in]), torch.nn.functional.conv2d on NCHW with the "same"
padding applied explicitly by F.pad, F.max_pool2d, a plain Adam loop -- on
random weights and inputs, forward values and gradients. Then it runs every
case of examples/next/ once (forward, backward, 5 Adam steps) on random
tensors of the cases' shapes (n = 8) and checks that the loss, the
gradients and the stepped weights are finite.

Run with /usr/bin/python3 (PyTorch). One line per check; exit 1 on any failure.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

F64 = torch.float64
failures = 0


def report(name, err, tol):
    global failures
    ok = err <= tol and not math.isnan(err)
    if not ok:
        failures += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max error {err:.3g} (tolerance {tol:g})")


def rel(a, b):
    """Largest |a - b| relative to the largest |b| (0 when both are 0)."""
    a, b = a.detach().double(), b.detach().double()
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def leaf(*shape, scale=1.0, dtype=F64):
    return (scale * (2 * torch.rand(*shape, dtype=dtype) - 1)).requires_grad_(True)


TOL = 1e-10  # float64 against float64


# ---- LSTM ----------------------------------------------------------------


def torch_lstm_params(kernel, recurrent_kernel, bias):
    """Keras layout -> torch.nn.LSTM: the gate blocks i, f, c(g), o are in the
    same order; weight_ih = kernel^T [4u, in], weight_hh = recurrent^T,
    bias_ih = bias, bias_hh = 0."""
    return kernel.detach().t(), recurrent_kernel.detach().t(), bias.detach(), torch.zeros_like(bias)


def check_lstm(n, steps, inp, u):
    kernel, rec, bias = leaf(inp, 4 * u), leaf(u, 4 * u), leaf(4 * u)
    x = leaf(n, steps, inp)
    g = torch.randn(n, u, dtype=F64)
    h = models.lstm_run(kernel, rec, bias, x)
    (h * g).sum().backward()

    ref = torch.nn.LSTM(inp, u, batch_first=True).double()
    w_ih, w_hh, b_ih, b_hh = torch_lstm_params(kernel, rec, bias)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(w_ih)
        ref.weight_hh_l0.copy_(w_hh)
        ref.bias_ih_l0.copy_(b_ih)
        ref.bias_hh_l0.copy_(b_hh)
    x2 = x.detach().clone().requires_grad_(True)
    out, (h_n, c_n) = ref(x2)
    (h_n[0] * g).sum().backward()
    name = f"lstm in={inp} units={u} steps={steps}"
    report(name + " h", rel(h, h_n[0]), TOL)
    report(name + " h == output[:, -1]", rel(h, out[:, -1]), TOL)
    report(name + " d kernel", rel(kernel.grad, ref.weight_ih_l0.grad.t()), TOL)
    report(name + " d recurrent_kernel", rel(rec.grad, ref.weight_hh_l0.grad.t()), TOL)
    # bias_ih and bias_hh enter z the same way: Keras's one bias gets either's gradient
    report(name + " d bias", rel(bias.grad, ref.bias_ih_l0.grad), TOL)
    report(name + " d input", rel(x.grad, x2.grad), TOL)


def check_bidirectional(n, steps, inp, u):
    P = {}
    for d in ("forward", "backward"):
        P[f"bi.{d}.kernel"], P[f"bi.{d}.recurrent_kernel"], P[f"bi.{d}.bias"] = leaf(inp, 4 * u), leaf(u, 4 * u), leaf(4 * u)
    x = leaf(n, steps, inp)
    g = torch.randn(n, 2 * u, dtype=F64)
    y = models.bidirectional_lstm(P, "bi", x)
    (y * g).sum().backward()

    ref = torch.nn.LSTM(inp, u, batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for d, suffix in (("forward", "l0"), ("backward", "l0_reverse")):
            w_ih, w_hh, b_ih, b_hh = torch_lstm_params(P[f"bi.{d}.kernel"], P[f"bi.{d}.recurrent_kernel"], P[f"bi.{d}.bias"])
            getattr(ref, "weight_ih_" + suffix).copy_(w_ih)
            getattr(ref, "weight_hh_" + suffix).copy_(w_hh)
            getattr(ref, "bias_ih_" + suffix).copy_(b_ih)
            getattr(ref, "bias_hh_" + suffix).copy_(b_hh)
    x2 = x.detach().clone().requires_grad_(True)
    out, (h_n, _) = ref(x2)
    y_ref = torch.cat([h_n[0], h_n[1]], dim=-1)  # [forward final, backward final]
    (y_ref * g).sum().backward()
    name = f"bidirectional lstm in={inp} units={u} steps={steps}"
    report(name + " [fwd, bwd]", rel(y, y_ref), TOL)
    # torch's output[:, 0, u:] is the backward direction's state after it has read
    # the whole sequence (it ends at step 0): the same as h_n[1]
    report(name + " bwd == output[:, 0, u:]", rel(y[:, u:], out[:, 0, u:]), TOL)
    for d, suffix in (("forward", "l0"), ("backward", "l0_reverse")):
        report(f"{name} d {d}.kernel", rel(P[f"bi.{d}.kernel"].grad, getattr(ref, "weight_ih_" + suffix).grad.t()), TOL)
        report(f"{name} d {d}.recurrent_kernel",
               rel(P[f"bi.{d}.recurrent_kernel"].grad, getattr(ref, "weight_hh_" + suffix).grad.t()), TOL)
        report(f"{name} d {d}.bias", rel(P[f"bi.{d}.bias"].grad, getattr(ref, "bias_ih_" + suffix).grad), TOL)
    report(name + " d input", rel(x.grad, x2.grad), TOL)


def check_fast_conv(n, h, w, c, f, k, padding, strides):
    """models.FAST's conv2d (F.conv2d) and maxpool2d (F.max_pool2d)
    against the written-out forms: output and gradients (random data, so no
    ties in the pooling windows)."""
    P = {"c.kernel": leaf(k, k, c, f), "c.bias": leaf(f)}
    x = leaf(n, h, w, c)
    results = {}
    saved = models.FAST
    try:
        for fast in (False, True):
            models.FAST = fast
            for t in (P["c.kernel"], P["c.bias"], x):
                t.grad = None
            y = models.maxpool2d(models.conv2d(P, "c", x, padding=padding, strides=strides, activation="relu"), 2)
            g = torch.linspace(-1, 1, y.numel(), dtype=F64).reshape(y.shape)
            (y * g).sum().backward()
            results[fast] = (y.detach(), P["c.kernel"].grad, P["c.bias"].grad, x.grad)
    finally:
        models.FAST = saved
    name = f"FAST conv2d+maxpool {h}x{w}x{c} -> {f}, {k}x{k} {padding} strides {strides}"
    for what, a, b in zip(("y", "d kernel", "d bias", "d input"), results[True], results[False]):
        report(f"{name} {what}", rel(a, b) if a is not None else float("inf"), TOL)


def check_fast_rnn(n, steps, inp, u):
    """models.FAST (lstm_run through torch._VF.lstm, which bench.py uses)
    against the loop (the checked reference): output and gradients."""
    kernel, rec, bias = leaf(inp, 4 * u), leaf(u, 4 * u), leaf(4 * u)
    x = leaf(n, steps, inp)
    g = torch.randn(n, u, dtype=F64)
    results = {}
    saved = models.FAST
    try:
        for fast in (False, True):
            models.FAST = fast
            for t in (kernel, rec, bias, x):
                t.grad = None
            h = models.lstm_run(kernel, rec, bias, x)
            (h * g).sum().backward()
            results[fast] = (h.detach(), kernel.grad, rec.grad, bias.grad, x.grad)
    finally:
        models.FAST = saved
    name = f"FAST lstm n={n} in={inp} units={u} steps={steps}"
    for what, a, b in zip(("h", "d kernel", "d recurrent_kernel", "d bias", "d input"), results[True], results[False]):
        report(f"{name} {what}", rel(a, b) if a is not None else float("inf"), TOL)


# ---- conv2d and maxpool --------------------------------------------------

# TensorFlow's "same" rule written out per case, (before, after) on one axis:
# out = ceil(size / s); total = max((out - 1) s + k - size, 0); before = total // 2.
SAME_PADS = {
    # (size, k, s): (before, after)
    (8, 3, 1): (1, 1),
    (7, 3, 1): (1, 1),
    (8, 4, 1): (1, 2),
    (7, 2, 1): (0, 1),
    (8, 3, 2): (0, 1),
    (7, 3, 2): (1, 1),
    (9, 4, 2): (1, 2),
    (6, 1, 3): (0, 0),
    (5, 5, 3): (1, 2),
    (32, 3, 1): (1, 1),
}


def check_conv(n, h, w, cin, cout, kh, kw, stride, padding):
    P = {"c.kernel": leaf(kh, kw, cin, cout), "c.bias": leaf(cout)}
    x = leaf(n, h, w, cin)
    y = models.conv2d(P, "c", x, padding=padding, strides=stride)

    x2 = x.detach().clone().requires_grad_(True)
    k2 = P["c.kernel"].detach().clone().requires_grad_(True)
    b2 = P["c.bias"].detach().clone().requires_grad_(True)
    xn = x2.permute(0, 3, 1, 2)  # NCHW
    if padding == "same":
        top, bottom = SAME_PADS[(h, kh, stride)]
        left, right = SAME_PADS[(w, kw, stride)]
        xn = F.pad(xn, (left, right, top, bottom))
    ref = F.conv2d(xn, k2.permute(3, 2, 0, 1), b2, stride=stride).permute(0, 2, 3, 1)  # weight [out, in, kh, kw]
    name = f"conv2d {padding} {h}x{w}x{cin}->{cout} k={kh}x{kw} s={stride}"
    if y.shape != ref.shape:
        report(name + f" shape {tuple(y.shape)} vs {tuple(ref.shape)}", float("inf"), 0)
        return
    if padding == "same":
        expect = (n, -(-h // stride), -(-w // stride), cout)
        report(name + " shape ceil(H/s)", 0.0 if tuple(y.shape) == expect else float("inf"), 0)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    (ref * g).sum().backward()
    report(name + " y", rel(y, ref), TOL)
    report(name + " d kernel", rel(P["c.kernel"].grad, k2.grad), TOL)
    report(name + " d bias", rel(P["c.bias"].grad, b2.grad), TOL)
    report(name + " d input", rel(x.grad, x2.grad), TOL)


def check_conv1d(n, steps, cin, cout, k, stride, padding):
    """models.conv1d (F.conv1d) against torch.nn.Conv1d with the kernel
    transposed to [out, in, k] and TF's same padding from SAME_PADS, and
    against models.conv2d's written-out sum on the one-row image [n, 1, T, C]."""
    P = {"c.kernel": leaf(k, cin, cout), "c.bias": leaf(cout)}
    x = leaf(n, steps, cin)
    y = models.conv1d(P, "c", x, padding=padding, strides=stride)
    name = f"conv1d {padding} {steps}x{cin}->{cout} k={k} s={stride}"
    module = torch.nn.Conv1d(cin, cout, k, stride=stride, dtype=F64)
    with torch.no_grad():
        module.weight.copy_(P["c.kernel"].permute(2, 1, 0))
        module.bias.copy_(P["c.bias"])
    x2 = x.detach().clone().requires_grad_(True)
    xn = x2.permute(0, 2, 1)  # [n, C, T]
    if padding == "same":
        xn = F.pad(xn, SAME_PADS[(steps, k, stride)])
    ref = module(xn).permute(0, 2, 1)
    P3 = {"c.kernel": P["c.kernel"].detach().clone()[None].requires_grad_(True),
          "c.bias": P["c.bias"].detach().clone().requires_grad_(True)}
    x3 = x.detach().clone().requires_grad_(True)
    ref3 = models.conv2d(P3, "c", x3[:, None], padding=padding, strides=(1, stride))[:, 0]
    if y.shape != ref.shape or y.shape != ref3.shape:
        report(name + f" shape {tuple(y.shape)} vs {tuple(ref.shape)}, {tuple(ref3.shape)}", float("inf"), 0)
        return
    g = torch.randn_like(y)
    (y * g).sum().backward()
    (ref * g).sum().backward()
    (ref3 * g).sum().backward()
    report(name + " y (nn.Conv1d)", rel(y, ref), TOL)
    report(name + " d kernel (nn.Conv1d)", rel(P["c.kernel"].grad, module.weight.grad.permute(2, 1, 0)), TOL)
    report(name + " d bias (nn.Conv1d)", rel(P["c.bias"].grad, module.bias.grad), TOL)
    report(name + " d input (nn.Conv1d)", rel(x.grad, x2.grad), TOL)
    report(name + " y (conv2d on one row)", rel(y, ref3), TOL)
    report(name + " d kernel (conv2d on one row)", rel(P["c.kernel"].grad, P3["c.kernel"].grad[0]), TOL)
    report(name + " d input (conv2d on one row)", rel(x.grad, x3.grad), TOL)


def check_same_padding_rule():
    bad = [(k, models.same_padding(*k), v) for k, v in SAME_PADS.items() if models.same_padding(*k) != v]
    report("same_padding against the table" + (f" {bad}" if bad else ""), float(len(bad)), 0)


def check_maxpool(n, h, w, c, pool, ties):
    if ties:  # few distinct values, so windows hold equal maxima
        x = torch.randint(0, 3, (n, h, w, c)).to(F64).requires_grad_(True)
    else:
        x = leaf(n, h, w, c)
    y = models.maxpool2d(x, pool)
    x2 = x.detach().clone().requires_grad_(True)
    ref = F.max_pool2d(x2.permute(0, 3, 1, 2), pool, stride=pool).permute(0, 2, 3, 1)
    g = torch.rand_like(ref) + 0.5
    (y * g).sum().backward()
    (ref * g).sum().backward()
    name = f"maxpool2d({pool}) {h}x{w}x{c}{' with ties' if ties else ''}"
    report(name + " y", rel(y, ref), 0.0)
    report(name + " d input (first maximum)", rel(x.grad, x2.grad), 0.0)


# ---- pow -------------------------------------------------------------------


def check_pow():
    x = torch.tensor([0.0, 0.25, 0.5, 0.999, 0.0, 1e-30], dtype=F64)
    for pv in (1.0, 0.5, 2.5):
        p = torch.tensor(pv, dtype=F64, requires_grad=True)
        y = models.pow_learned(x, p)
        y.sum().backward()
        expect_y = torch.tensor([0.0 if pv > 0 else 1.0] + [v ** pv for v in x.tolist()[1:4]] + [0.0, 1e-30 ** pv], dtype=F64)
        expect_dp = sum(v ** pv * math.log(v) for v in x.tolist() if v > 0)
        report(f"pow(x, p={pv}) value", rel(y, expect_y), TOL)
        report(f"pow(x, p={pv}) d/dp with 0^p -> 0 (finite)",
               abs(p.grad.item() - expect_dp) / abs(expect_dp) if math.isfinite(p.grad.item()) else float("inf"), TOL)
    # what torch's own pow gives at a zero base (for the report, not required)
    p = torch.tensor(0.5, dtype=F64, requires_grad=True)
    torch.pow(torch.tensor([0.0], dtype=F64), p).sum().backward()
    print(f"info torch.pow's own d/dp at x = 0, p = 0.5: {p.grad.item()}")
    # negative bases: the value is C pow (NaN unless p is an integer), d/dp is 0 as TF's _PowGrad
    xn = torch.tensor([-0.5], dtype=F64)
    for pv in (1.0, 1.001):
        p = torch.tensor(pv, dtype=F64, requires_grad=True)
        y = models.pow_learned(xn, p)
        y.sum().backward()
        print(f"info pow(-0.5, {pv}) = {y.item()}, d/dp = {p.grad.item()}")


# ---- Adam ------------------------------------------------------------------


def check_adam():
    """models.KerasAdam (float32, as conformance runs it) against a plain
    float64 loop of the Keras formula, two steps with fixed gradients. The
    float64 loop uses Keras's float32 constants (0.9f, 0.999f, 1e-7f, and
    1 - beta computed in float32) so that only the arithmetic differs."""
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    b1, b2, eps, lr = f32(0.9), f32(0.999), f32(1e-7), f32(1e-3)
    one_b1, one_b2 = float(np.float32(1) - np.float32(0.9)), float(np.float32(1) - np.float32(0.999))
    shapes = [(5, 7), (3,), ()]
    w0 = [(torch.rand(s, dtype=F64) + 0.5) * torch.where(torch.rand(s) < 0.5, -1.0, 1.0).double() for s in shapes]
    w0 = [w.float().double() for w in w0]  # representable in float32
    grads = [[(torch.randn(s, dtype=F64) * 10 ** torch.randint(-3, 2, s).double()).float().double() for s in shapes]
             for _ in range(2)]
    grads[0][0][0, 0] = 0.0  # a zero gradient on the first step

    params = [w.float().clone() for w in w0]
    opt = models.KerasAdam(params, lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7)
    for step in range(2):
        for p, g in zip(params, grads[step]):
            p.grad = g.float()
        opt.step()

    w = [x.clone() for x in w0]
    m = [torch.zeros_like(x) for x in w0]
    v = [torch.zeros_like(x) for x in w0]
    for t in (1, 2):
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for k in range(len(w)):
            g = grads[t - 1][k]
            m[k] = b1 * m[k] + one_b1 * g
            v[k] = b2 * v[k] + one_b2 * g * g
            w[k] = w[k] - lr_t * m[k] / (torch.sqrt(v[k]) + eps)

    def elementwise_rel(a, b):
        a, b = a.double(), b.double()
        return ((a - b).abs() / b.abs().clamp(min=1e-30)).max().item() if b.numel() else 0.0

    for k, s in enumerate(shapes):
        report(f"adam 2 steps w{list(s)} weights", elementwise_rel(params[k], w[k]), 1e-6)
        report(f"adam 2 steps w{list(s)} m", rel(opt.m[k], m[k]), 1e-6)
        report(f"adam 2 steps w{list(s)} v", rel(opt.v[k], v[k]), 1e-6)
    # not vacuous: two steps of size about lr each moved every weight
    moved = min((params[k].double() - w0[k]).abs().max().item() for k in range(len(shapes)))
    report("adam 2 steps: the weights moved (at least 1e-5)", 0.0 if moved > 1e-5 else float("inf"), 0)


# ---- smoke test of the new cases --------------------------------------------

N = 8
# each case: weights {name: shape}, inputs {name: (shape, int bound or None)}, targets {name: (shape, kind)}
NEXT_SHAPES = {
    "text_category": (
        {"embedding.embeddings": (10000, 128),
         **{f"bidirectional.{d}.{w}": s for d in ("forward", "backward")
            for w, s in (("kernel", (128, 256)), ("recurrent_kernel", (64, 256)), ("bias", (256,)))},
         "embedding_1.embeddings": (5, 64), "dense.kernel": (192, 1), "dense.bias": (1,)},
        {"text": ((200,), 10000), "category": ((1,), 5)},
        {"label": ((1,), "binary")}),
    "ts_const": (
        {"lstm.kernel": (1, 128), "lstm.recurrent_kernel": (32, 128), "lstm.bias": (128,),
         "dense.kernel": (1, 32), "dense.bias": (32,), "dense_1.kernel": (32, 1), "dense_1.bias": (1,)},
        {"series": ((50, 1), None), "temp": ((1,), None)},
        {"value": ((1,), "float")}),
    "conv_bias": (
        {"channel_bias": (32,), "conv2d.kernel": (3, 3, 3, 32), "conv2d.bias": (32,),
         "dense.kernel": (32 * 32 * 32, 10), "dense.bias": (10,)},
        {"image": ((32, 32, 3), None)},
        {"classes": ((10,), "onehot")}),
    "image_text": (
        {"conv2d.kernel": (3, 3, 3, 32), "conv2d.bias": (32,), "embedding.embeddings": (10000, 64),
         "lstm.kernel": (64, 128), "lstm.recurrent_kernel": (32, 128), "lstm.bias": (128,),
         "dense.kernel": (31 * 31 * 32 + 32, 10), "dense.bias": (10,)},
        {"image": ((64, 64, 3), None), "text": ((100,), 10000)},
        {"classes": ((10,), "onehot")}),
    "learned_reg": (
        {"lam1": (), "lam2": (), "dense.kernel": (784, 64), "dense.bias": (64,), "dense_1.kernel": (64, 32),
         "dense_1.bias": (32,), "dense_2.kernel": (32, 10), "dense_2.bias": (10,)},
        {"x": ((784,), None)},
        {"classes": ((10,), "onehot")}),
    "learned_power": (
        {"p": (), "dense.kernel": (10, 64), "dense.bias": (64,), "dense_1.kernel": (64, 1), "dense_1.bias": (1,)},
        {"x": ((10,), "unit")},
        {"label": ((1,), "binary")}),
    "loss_weights": (
        {"w1": (), "w2": (), "dense.kernel": (10, 64), "dense.bias": (64,), "dense_1.kernel": (64, 10),
         "dense_1.bias": (10,)},
        {"x": ((10,), None)},
        {"labels": ((10,), "onehot")}),
}
INITIAL = {"lam1": 0.01, "lam2": 0.01, "p": 1.0, "w1": 1.0, "w2": 1.0}


def random_data(shape, kind):
    if kind is None or kind == "float":  # as the harness: uniform [-1, 1], one in five exactly 0
        x = 2 * torch.rand(N, *shape) - 1
        return torch.where(torch.rand(N, *shape) < 0.2, torch.zeros_like(x), x)
    if kind == "unit":  # [0, 1) with exact zeros, learned_power's documented range
        return torch.where(torch.rand(N, *shape) < 0.2, torch.zeros(N, *shape), torch.rand(N, *shape))
    if kind == "binary":
        return (torch.rand(N, *shape) < 0.5).float()
    if kind == "onehot":
        return F.one_hot(torch.randint(0, shape[-1], (N,)), shape[-1]).float()
    return torch.randint(0, kind, (N, *shape)).float()  # int ids, delivered as float


def smoke(case):
    weights, inputs, targets = NEXT_SHAPES[case]
    P = {}
    for name, shape in weights.items():
        if name in INITIAL:
            P[name] = torch.tensor(INITIAL[name], dtype=torch.float32)
        else:
            P[name] = 0.1 * (2 * torch.rand(shape) - 1)
        P[name].requires_grad_(True)
    I = {name: random_data(s, k) for name, (s, k) in inputs.items()}
    T = {name: random_data(s, k) for name, (s, k) in targets.items()}
    forward = models.CASES[case]
    outputs, loss = forward(P, I, T)
    loss.backward()
    problems = []
    if loss.dim() != 0 or not torch.isfinite(loss):
        problems.append(f"loss {loss}")
    for name, out in outputs.items():
        if out.shape[0] != N or not torch.isfinite(out).all():
            problems.append(f"output {name} {tuple(out.shape)}")
    for name, p in P.items():
        if p.grad is None or p.grad.shape != p.shape or not torch.isfinite(p.grad).all():
            problems.append(f"grad {name}")
        elif p.grad.abs().max() == 0:
            problems.append(f"grad {name} all zero")
    for metric, (output, target) in models.METRICS.get(case, {}).items():
        a = models.keras_accuracy(outputs[output], T[target])
        if not (0 <= a.item() <= 1):
            problems.append(f"metric {metric}")
    kind, hyper = models.OPTIMIZERS[case]
    opt = models.KerasAdam(list(P.values()), **hyper)
    for step in range(5):
        if step > 0:
            for p in P.values():
                p.grad = None
            _, loss = forward(P, I, T)
            loss.backward()
        opt.step()
    if not all(torch.isfinite(p).all() for p in P.values()):
        problems.append("weights after 5 steps")
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in outputs.items())
    report(f"smoke {case}: loss {loss.item():.6g}, {shapes}, {len(P)} weights"
           + (f" PROBLEMS {problems}" if problems else ""), float(len(problems)), 0)


def harness_range_power():
    """For the report, not a check: learned_power on the harness's float
    data, uniform in [-1, 1] (negative bases), instead of [0, 1)."""
    weights, inputs, targets = NEXT_SHAPES["learned_power"]
    P = {n: (torch.tensor(INITIAL[n]) if n in INITIAL else 0.1 * (2 * torch.rand(s) - 1)).requires_grad_(True)
         for n, s in weights.items()}
    I = {"x": random_data((10,), None)}
    T = {"label": random_data((1,), "binary")}
    opt = models.KerasAdam(list(P.values()), lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7)
    losses = []
    for step in range(3):
        for p in P.values():
            p.grad = None
        _, loss = models.learned_power(P, I, T)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            dp = P["p"].grad.item()
        opt.step()
    print(f"info learned_power with x in [-1, 1]: d loss/dp at p = 1: {dp:.6g}; "
          f"loss at steps 0, 1, 2: {losses} (p after 1 step = {1 - 1e-3 * (1 if dp > 0 else -1):g})")


def exchange_roundtrip(case):
    """The case through conformance.run_reference, as the live comparison
    runs it: a synthesized exchange file (float32 weights, batch and empty
    slots, laid out as driver.c writes it) in, reference file out."""
    import tempfile

    import conformance
    import st

    weights, inputs, targets = NEXT_SHAPES[case]
    names, tensors = [], {}

    def put(name, value):
        names.append(name)
        tensors[name] = np.array(value, dtype=np.float32)  # (ascontiguousarray would make a scalar 1-d)

    for n, shape in weights.items():
        put("weights0." + n, np.full(shape, INITIAL[n]) if n in INITIAL else 0.1 * (2 * np.random.rand(*shape) - 1))
    for n, (shape, kind) in inputs.items():
        put("input." + n, random_data(shape, kind).numpy())
    for n, (shape, kind) in targets.items():
        put("target." + n, random_data(shape, kind).numpy())
    put("output.y", np.zeros((N,) + tuple(inputs and models.CASES[case](
        {k: torch.tensor(v) for k, v in ((n[9:], tensors[n]) for n in names if n.startswith("weights0."))},
        {n[6:]: torch.tensor(tensors[n]) for n in names if n.startswith("input.")},
        {n[7:]: torch.tensor(tensors[n]) for n in names if n.startswith("target.")})[0]["y"].shape[1:])))
    put("loss", np.zeros(()))
    for metric in models.METRICS.get(case, {}):
        put("metric." + metric, np.zeros(()))
    for n, shape in weights.items():
        put("grad." + n, np.zeros(shape))
    for n, shape in weights.items():
        put("step5." + n, np.zeros(shape))
    with tempfile.TemporaryDirectory() as tmp:
        exchange, out = os.path.join(tmp, "exchange.safetensors"), os.path.join(tmp, "reference.safetensors")
        st.write(exchange, names, tensors, {"format": "mnc-conformance"})
        conformance.run_reference(case, exchange, out)
        got_names, got, _ = st.read(out)
    problems = [n for n in names if n not in got or got[n].shape != tensors[n].shape]
    problems += [n for n in got_names if not np.isfinite(got[n]).all()]
    problems += [n for n in got_names if n.startswith("step5.") and np.array_equal(got[n], tensors["weights0." + n[6:]])]
    report(f"exchange {case}: run_reference fills {len(got_names)} tensors, loss {float(got['loss']):.6g}"
           + (f" PROBLEMS {problems}" if problems else ""), float(len(problems)), 0)


def check_names():
    """Every weight a new case reads is in its shape table (a misspelled
    name would raise KeyError in smoke; this catches weights never read)."""
    for case, (weights, inputs, targets) in NEXT_SHAPES.items():
        read = set()

        class Spy(dict):
            def __getitem__(self, k):
                read.add(k)
                return dict.__getitem__(self, k)

        P = Spy({n: (torch.tensor(INITIAL[n]) if n in INITIAL else 0.1 * torch.rand(s)) for n, s in weights.items()})
        I = {n: random_data(s, k) for n, (s, k) in inputs.items()}
        T = {n: random_data(s, k) for n, (s, k) in targets.items()}
        with torch.no_grad():
            models.CASES[case](P, I, T)
        unused = sorted(set(weights) - read)
        report(f"names {case}: every weight used" + (f" UNUSED {unused}" if unused else ""), float(len(unused)), 0)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(4)
    check_lstm(3, 5, 4, 6)
    check_lstm(2, 1, 1, 3)
    check_bidirectional(3, 6, 4, 5)
    check_fast_rnn(5, 7, 3, 4)
    check_fast_conv(2, 9, 8, 3, 4, 3, "same", 2)
    check_fast_conv(2, 8, 8, 2, 3, 3, "valid", 1)
    check_same_padding_rule()
    for h, w, k, s in [(8, 7, 3, 1), (8, 7, 4, 1), (7, 8, 2, 1), (8, 7, 3, 2), (9, 6, 4, 2), (6, 6, 1, 3), (5, 5, 5, 3)]:
        if (h, k, s) in SAME_PADS and (w, k, s) in SAME_PADS:
            check_conv(2, h, w, 3, 4, k, k, s, "same")
    check_conv(2, 8, 7, 3, 4, 3, 3, 1, "valid")
    check_conv(2, 9, 8, 2, 3, 4, 2, 2, "valid")
    check_conv(2, 8, 8, 3, 5, 3, 3, 1, "same")
    for steps, k, s in [(9, 4, 2), (7, 2, 1), (8, 3, 2), (7, 3, 2), (6, 1, 3), (5, 5, 3)]:
        check_conv1d(2, steps, 3, 4, k, s, "same")
    check_conv1d(2, 9, 3, 4, 3, 1, "valid")
    check_conv1d(2, 9, 2, 3, 3, 2, "valid")
    check_maxpool(2, 8, 8, 3, 2, False)
    check_maxpool(2, 7, 9, 3, 2, False)
    check_maxpool(2, 6, 9, 2, 3, False)
    check_maxpool(3, 8, 7, 4, 2, True)
    check_pow()
    check_adam()
    torch.set_num_threads(1)
    check_names()
    for case in models.NEXT_CASES:
        smoke(case.__name__)
    for case in models.NEXT_CASES:
        exchange_roundtrip(case.__name__)
    harness_range_power()
    print(f"{'FAILED' if failures else 'passed'}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
