"""The conformance models in PyTorch, written from Keras's semantics.

Each case is a function (P, I, T) -> (outputs, loss):
  P  the weights, {mnc tensor name: float32 tensor requiring grad}, e.g.
     P["dense.kernel"] of shape [in, out] (Keras's layout: y = x @ W + b);
  I  the inputs by name (int inputs arrive as float and are cast here);
  T  the targets by name.
It returns predict's outputs by name and the scalar loss.

Keras's rules followed explicitly (docs/semantics.md):
  - Dense: x @ kernel + bias, kernel [in, out]; anonymous layers are named
    dense, dense_1, ... in order of appearance, as in the .mn file.
  - Embedding of int ids [n, 1] gives [n, 1, dim]; Flatten gives [n, dim].
  - bce on a sigmoid output and cce on a softmax output use the logits
    (Keras's from_logits path through the output's op); the losses are
    means over the batch (and over the last axis for bce and mse).
  - concatenate joins on the last axis; Multiply is elementwise.
Nothing here is derived from mnc's code: only the .mn files' meaning.
"""
import torch

F32 = torch.float32


def dense(P, name, x, activation=None):
    y = x @ P[name + ".kernel"] + P[name + ".bias"]
    return ACTIVATIONS[activation](y)


ACTIVATIONS = {
    None: lambda z: z,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda z: torch.softmax(z, dim=-1),
    # Keras's gelu with approximate=False: x * Phi(x), Phi the normal CDF
    "gelu": lambda z: torch.nn.functional.gelu(z, approximate="none"),
}


def embedding(P, name, ids):
    table = P[name + ".embeddings"]
    return table[ids.long()]


def flatten(x):
    return x.reshape(x.shape[0], -1)


# ---- Keras losses ------------------------------------------------------------


def bce_from_logits(z, t):
    # keras.losses.binary_crossentropy on a sigmoid output: mean over the
    # last axis, then over the batch, of max(z,0) - z t + log(1 + e^-|z|)
    per = torch.clamp(z, min=0) - z * t + torch.log1p(torch.exp(-torch.abs(z)))
    return per.mean(dim=-1).mean()


def cce_from_logits(z, t):
    # keras.losses.categorical_crossentropy on a softmax output
    return (-(t * torch.log_softmax(z, dim=-1)).sum(dim=-1)).mean()


def mse(y, t):
    return ((y - t) ** 2).mean(dim=-1).mean()


# ---- the cases (examples/<case>.mn) -----------------------------------------------


def two_concat(P, I, T):
    a = dense(P, "dense", I["input_1"], "relu")
    b = dense(P, "dense_1", I["input_2"], "relu")
    z = dense(P, "dense_2", torch.cat([a, b], dim=-1))
    return {"y": torch.sigmoid(z)}, bce_from_logits(z, T["label"])


def shared_layer(P, I, T):
    x1 = dense(P, "shared", I["input_1"], "relu")
    x2 = dense(P, "shared", I["input_2"], "relu")
    z = dense(P, "dense", torch.cat([x1, x2], dim=-1))
    return {"y": torch.sigmoid(z)}, bce_from_logits(z, T["label"])


def interaction(P, I, T):
    x_a = dense(P, "dense", I["input_a"], "relu")
    x_b = dense(P, "dense_1", I["input_b"], "relu")
    inter = x_a * x_b
    z = dense(P, "dense_2", torch.cat([x_a, x_b, inter], dim=-1))
    return {"y": torch.sigmoid(z)}, bce_from_logits(z, T["label"])


def num_cat(P, I, T):
    n = dense(P, "dense_1", dense(P, "dense", I["numbers"], "relu"), "relu")
    c = flatten(embedding(P, "embedding", I["cat"]))
    y = dense(P, "dense_2", torch.cat([n, c], dim=-1))
    return {"y": y}, mse(y, T["value"])


def masked_input(P, I, T):
    b = I["b"]
    b_or_zero = torch.where(I["b_present"] == 1, b, torch.zeros_like(b))
    h = dense(P, "dense", torch.cat([I["a"], b_or_zero], dim=-1), "relu")
    y = dense(P, "dense_1", h)
    return {"y": y}, mse(y, T["value"])


def label_embed(P, I, T):
    f = dense(P, "dense", I["features"], "relu")
    e = flatten(embedding(P, "embedding", I["label_in"]))
    z = dense(P, "dense_1", torch.cat([f, e], dim=-1))
    return {"y": torch.softmax(z, dim=-1)}, cce_from_logits(z, T["classes"])


def label_cond(P, I, T):
    f = dense(P, "dense", I["features"], "relu")
    scale = flatten(embedding(P, "embedding", I["label_in"]))
    z = dense(P, "dense_1", f * scale)
    return {"y": torch.softmax(z, dim=-1)}, cce_from_logits(z, T["classes"])


def label_branch(P, I, T):
    f = dense(P, "dense", I["features"], "relu")
    label = I["label_in"].to(F32)  # cast(label_in, float)
    l = dense(P, "dense_2", dense(P, "dense_1", label, "relu"), "relu")
    z = dense(P, "dense_3", torch.cat([f, l], dim=-1))
    return {"y": torch.softmax(z, dim=-1)}, cce_from_logits(z, T["classes"])


CASES = {
    f.__name__: f
    for f in [two_concat, shared_layer, interaction, num_cat, masked_input, label_embed, label_cond, label_branch]
}

# The metrics of every case: name -> (output, target), as in its `metric` line.
METRICS = {
    "two_concat": {"accuracy": ("y", "label")},
    "shared_layer": {"accuracy": ("y", "label")},
    "interaction": {"accuracy": ("y", "label")},
    "label_embed": {"accuracy": ("y", "classes")},
    "label_cond": {"accuracy": ("y", "classes")},
    "label_branch": {"accuracy": ("y", "classes")},
}


def keras_accuracy(y, t):
    """Keras's "accuracy": binary_accuracy (threshold 0.5, compared with the
    target as it is) for one output unit, categorical_accuracy (argmax of
    both) for one-hot targets, sparse_categorical_accuracy for ids."""
    if y.shape[-1] == 1:
        return (t == (y > 0.5).to(t.dtype)).to(F32).mean()
    if t.shape[-1] == y.shape[-1]:
        return (torch.argmax(y, dim=-1) == torch.argmax(t, dim=-1)).to(F32).mean()
    return (torch.argmax(y, dim=-1) == t.reshape(y.shape[:-1]).long()).to(F32).mean()


# The optimizer of every case (from its train block).
OPTIMIZERS = {name: ("adam", {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}) for name in CASES}


class KerasAdam:
    """Keras's Adam in float32, as TensorFlow's ApplyAdam computes it:
    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2)
    w -= lr_t * m / (sqrt(v) + epsilon)
    with beta1, beta2, epsilon and 1 - beta as float32 constants.
    (PyTorch's own Adam puts epsilon elsewhere and keeps the bias
    correction separate; it is not used.)"""

    def __init__(self, params, lr, beta1, beta2, epsilon):
        self.params = params
        self.lr = torch.tensor(lr, dtype=F32)
        self.b1 = torch.tensor(beta1, dtype=F32)
        self.b2 = torch.tensor(beta2, dtype=F32)
        self.eps = torch.tensor(epsilon, dtype=F32)
        self.one = torch.tensor(1.0, dtype=F32)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1_power = torch.pow(self.b1, float(self.t))
        b2_power = torch.pow(self.b2, float(self.t))
        lr_t = self.lr * torch.sqrt(self.one - b2_power) / (self.one - b1_power)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m += (g - m) * (self.one - self.b1)
            v += (g * g - v) * (self.one - self.b2)
            p -= lr_t * m / (torch.sqrt(v) + self.eps)


# ---- the layers of examples/next/ (conv2d, maxpool2d, lstm, bidirectional, pow) ----
#
# Written from Keras's semantics only (shared/design/CONFORMANCE.md,
# docs/semantics.md section 14); tests/reference/selftest.py checks each of
# them against PyTorch's own modules (other layouts) so that they can be
# trusted. Everything stays in the tensors' dtype (float32 in conformance).


def same_padding(size, k, s):
    """TensorFlow's padding="same" on one axis: (before, after), the odd
    pixel after (bottom/right)."""
    out = -(-size // s)  # ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(P, name, x, padding="valid", strides=1, activation=None):
    """Keras Conv2D on NHWC: kernel [kh, kw, in, filters], bias [filters];
    the activation after the bias. Written as a sum over the kernel taps of
    strided NHWC windows times kernel[di, dj] ([in, filters])."""
    kernel = P[name + ".kernel"]
    kh, kw = kernel.shape[0], kernel.shape[1]
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    if FAST:
        return ACTIVATIONS[activation](conv2d_fused(x, kernel, P[name + ".bias"], padding, sh, sw))
    if padding == "same":
        top, bottom = same_padding(x.shape[1], kh, sh)
        left, right = same_padding(x.shape[2], kw, sw)
        n, h, w, c = x.shape
        padded = x.new_zeros(n, h + top + bottom, w + left + right, c)
        padded[:, top : top + h, left : left + w, :] = x
        x = padded
    elif padding != "valid":
        raise ValueError(padding)
    ho = (x.shape[1] - kh) // sh + 1
    wo = (x.shape[2] - kw) // sw + 1
    y = None
    for di in range(kh):
        for dj in range(kw):
            window = x[:, di : di + (ho - 1) * sh + 1 : sh, dj : dj + (wo - 1) * sw + 1 : sw, :]
            term = window @ kernel[di, dj]
            y = term if y is None else y + term
    y = y + P[name + ".bias"]
    return ACTIVATIONS[activation](y)


def conv2d_fused(x, kernel, bias, padding, sh, sw):
    """conv2d's product through F.conv2d (NCHW, weight [filters, in, kh, kw];
    TensorFlow's "same" padding, odd pixel after, as an explicit F.pad)."""
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        top, bottom = same_padding(x.shape[1], kernel.shape[0], sh)
        left, right = same_padding(x.shape[2], kernel.shape[1], sw)
        xc = torch.nn.functional.pad(xc, (left, right, top, bottom))
    elif padding != "valid":
        raise ValueError(padding)
    y = torch.nn.functional.conv2d(xc, kernel.permute(3, 2, 0, 1), bias, stride=(sh, sw))
    return y.permute(0, 2, 3, 1)


def maxpool2d(x, pool=2):
    """Keras MaxPooling2D(pool) on NHWC: strides = pool, padding valid (the
    rows/columns that do not fill a window are dropped). The gradient goes to
    the first maximum of each window in row-major order (one position, as
    TF's MaxPoolGrad; not split between ties)."""
    if FAST:
        return torch.nn.functional.max_pool2d(x.permute(0, 3, 1, 2), pool).permute(0, 2, 3, 1)
    n, h, w, c = x.shape
    ho, wo = h // pool, w // pool
    windows = x[:, : ho * pool, : wo * pool, :].reshape(n, ho, pool, wo, pool, c)
    windows = windows.permute(0, 1, 3, 5, 2, 4).reshape(n, ho, wo, c, pool * pool)
    first = torch.argmax(windows, dim=-1, keepdim=True)  # first maximum
    return torch.gather(windows, -1, first).squeeze(-1)


def lstm_weights(P, name):
    return P[name + ".kernel"], P[name + ".recurrent_kernel"], P[name + ".bias"]


# Opt-in: lstm_run through PyTorch's own fused LSTM (torch._VF.lstm, what
# torch.nn.LSTM calls) instead of the step-by-step loop below, and conv2d and
# maxpool2d through F.conv2d and F.max_pool2d instead of sums of windows. The
# written-out forms are the checked reference and stay the default
# (conformance uses them); bench.py sets this so that PyTorch's speed is
# measured fairly. selftest.py checks that both give the same output and
# gradients.
FAST = False


def lstm_run_fused(kernel, recurrent_kernel, bias, x):
    """lstm_run through torch._VF.lstm: Keras's gate blocks i, f, c, o are
    PyTorch's i, f, g, o, so w_ih = kernel^T [4u, in], w_hh =
    recurrent_kernel^T, b_ih = bias, b_hh = 0 (the transposes carry the
    gradients back to the Keras-layout tensors)."""
    u = recurrent_kernel.shape[0]
    h0 = x.new_zeros(1, x.shape[0], u)
    c0 = x.new_zeros(1, x.shape[0], u)
    weights = [kernel.t(), recurrent_kernel.t(), bias, bias.new_zeros(bias.shape)]
    # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    _, h_n, _ = torch._VF.lstm(x, (h0, c0), weights, True, 1, 0.0, torch.is_grad_enabled(), False, True)
    return h_n[0]


def lstm_run(kernel, recurrent_kernel, bias, x):
    """Keras LSTM (return_sequences=False) over x [n, steps, in]: gates in
    the column blocks i, f, c, o; recurrent activation sigmoid, activation
    tanh; zero initial state; returns the last h [n, units]."""
    if FAST:
        return lstm_run_fused(kernel, recurrent_kernel, bias, x)
    u = recurrent_kernel.shape[0]
    n = x.shape[0]
    h = x.new_zeros(n, u)
    c = x.new_zeros(n, u)
    xk = x @ kernel + bias  # [n, steps, 4u], the input part of every step
    for t in range(x.shape[1]):
        z = xk[:, t, :] + h @ recurrent_kernel
        i = torch.sigmoid(z[:, 0 * u : 1 * u])
        f = torch.sigmoid(z[:, 1 * u : 2 * u])
        g = torch.tanh(z[:, 2 * u : 3 * u])
        o = torch.sigmoid(z[:, 3 * u : 4 * u])
        c = f * c + i * g
        h = o * torch.tanh(c)
    return h


def lstm(P, name, x):
    return lstm_run(*lstm_weights(P, name), x)


def bidirectional_lstm(P, name, x):
    """Keras Bidirectional(LSTM(u)), merge_mode="concat": [forward's last h,
    backward's last h], the backward LSTM (go_backwards) reading the
    sequence from its end, so its last h is the one after step 0."""
    fwd = lstm_run(*lstm_weights(P, name + ".forward"), x)
    bwd = lstm_run(*lstm_weights(P, name + ".backward"), torch.flip(x, dims=[1]))
    return torch.cat([fwd, bwd], dim=-1)


def pow_learned(x, p):
    """pow(x, p) with a trainable exponent, as tf.pow and its gradient
    (TF's _PowGrad): the value is torch.pow(x, p) (C pow: NaN for a negative
    base with a non-integer exponent, 0^p = 0 for p > 0); d/dp = x^p log x
    where x > 0 and exactly 0 where x <= 0 (TF masks log x to 0 there), so
    0^p never gives NaN. No gradient is needed for x (an input)."""
    positive = x > 0
    safe = torch.where(positive, x, torch.ones_like(x))
    return torch.where(positive, torch.pow(safe, p), torch.pow(x, p.detach()))


def l2(w):
    # keras.regularizers.L2 without its factor: sum of squares, not averaged
    return (w * w).sum()


def scalar(t):
    return t.reshape(())


# ---- the cases of examples/next/ ---------------------------------------------


def text_category(P, I, T):
    t = bidirectional_lstm(P, "bidirectional", embedding(P, "embedding", I["text"]))
    c = flatten(embedding(P, "embedding_1", I["category"]))
    z = dense(P, "dense", torch.cat([t, c], dim=-1))
    return {"y": torch.sigmoid(z)}, bce_from_logits(z, T["label"])


def ts_const(P, I, T):
    s = lstm(P, "lstm", I["series"])
    c = dense(P, "dense", I["temp"])
    y = dense(P, "dense_1", s + c)
    return {"y": y}, mse(y, T["value"])


def conv_bias(P, I, T):
    features = conv2d(P, "conv2d", I["image"], padding="same")
    z = dense(P, "dense", flatten(features + P["channel_bias"]))
    return {"y": torch.softmax(z, dim=-1)}, cce_from_logits(z, T["classes"])


def image_text(P, I, T):
    i = flatten(maxpool2d(conv2d(P, "conv2d", I["image"], activation="relu"), 2))
    t = lstm(P, "lstm", embedding(P, "embedding", I["text"]))
    z = dense(P, "dense", torch.cat([i, t], dim=-1))
    return {"y": torch.softmax(z, dim=-1)}, cce_from_logits(z, T["classes"])


def learned_reg(P, I, T):
    h = dense(P, "dense_1", dense(P, "dense", I["x"], "relu"), "relu")
    z = dense(P, "dense_2", h)
    loss = cce_from_logits(z, T["classes"])
    # the kernel regularizers, added after the loss's own terms, in layer order
    loss = loss + scalar(P["lam1"]) * l2(P["dense.kernel"])
    loss = loss + scalar(P["lam2"]) * l2(P["dense_1.kernel"])
    return {"y": torch.softmax(z, dim=-1)}, loss


def learned_power(P, I, T):
    x = pow_learned(I["x"], scalar(P["p"]))
    z = dense(P, "dense_1", dense(P, "dense", x, "relu"))
    return {"y": torch.sigmoid(z)}, bce_from_logits(z, T["label"])


def loss_weights(P, I, T):
    z = dense(P, "dense_1", dense(P, "dense", I["x"], "relu"))
    y = torch.softmax(z, dim=-1)
    # cce on the softmax output in the logits form; mse on the probabilities
    loss = scalar(P["w1"]) * cce_from_logits(z, T["labels"]) + scalar(P["w2"]) * mse(y, T["labels"])
    return {"y": y}, loss


NEXT_CASES = [text_category, ts_const, conv_bias, image_text, learned_reg, learned_power, loss_weights]
CASES.update({f.__name__: f for f in NEXT_CASES})
METRICS.update({
    "text_category": {"accuracy": ("y", "label")},
    "conv_bias": {"accuracy": ("y", "classes")},
    "image_text": {"accuracy": ("y", "classes")},
    "learned_reg": {"accuracy": ("y", "classes")},
    "learned_power": {"accuracy": ("y", "label")},
    "loss_weights": {"accuracy": ("y", "labels")},
})
OPTIMIZERS.update({f.__name__: ("adam", {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}) for f in NEXT_CASES})


# ---- extra cases (tests/conformance/cases/): layers no seed model uses ----------------


def gru_run(P, name, x, reverse=False):
    """Keras GRU, reset_after=True: kernel [in, 3u], recurrent_kernel [u, 3u],
    bias [2, 3u] (input row, recurrent row), gates z, r, h:
      z = sigmoid(x Wz + b0z + h Uz + b1z); r likewise;
      hh = tanh(x Wh + b0h + r * (h Uh + b1h)); h = z * h + (1 - z) * hh.
    Returns every h in processing order and the last one."""
    W, U, B = P[name + ".kernel"], P[name + ".recurrent_kernel"], P[name + ".bias"]
    u = U.shape[0]
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    h = torch.zeros(x.shape[0], u, dtype=F32)
    outs = []
    for t in steps:
        xm = x[:, t, :] @ W + B[0]
        inner = h @ U + B[1]
        z = torch.sigmoid(xm[:, :u] + inner[:, :u])
        r = torch.sigmoid(xm[:, u : 2 * u] + inner[:, u : 2 * u])
        hh = torch.tanh(xm[:, 2 * u :] + r * inner[:, 2 * u :])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return torch.stack(outs, dim=1), h


def rnn_gru(P, I, T):
    seq, _ = gru_run(P, "gru", I["seq"])
    _, y = gru_run(P, "gru_1", seq, reverse=True)
    return {"y": y}, mse(y, T["t"])


def batchnorm_train(P, name, x, momentum=0.99, epsilon=1e-3):
    """Keras BatchNormalization in training: the batch's mean and (biased)
    variance per feature; the moving averages move by `momentum` (updated in
    place, as the layer's non-trainable weights)."""
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)
    with torch.no_grad():
        P[name + ".moving_mean"].mul_(momentum).add_((1 - momentum) * mean)
        P[name + ".moving_variance"].mul_(momentum).add_((1 - momentum) * var)
    return (x - mean) / torch.sqrt(var + epsilon) * P[name + ".gamma"] + P[name + ".beta"]


def batchnorm_infer(P, name, x, epsilon=1e-3):
    mm, mv = P[name + ".moving_mean"], P[name + ".moving_variance"]
    return (x - mm) / torch.sqrt(mv + epsilon) * P[name + ".gamma"] + P[name + ".beta"]


def layernorm(P, name, x, epsilon=1e-3):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + epsilon) * P[name + ".gamma"] + P[name + ".beta"]


def norm_layers(P, I, T, training=True):
    h = I["x"] @ P["dense.kernel"]  # dense(5, use_bias=false)
    h = batchnorm_train(P, "batchnorm", h) if training else batchnorm_infer(P, "batchnorm", h)
    h = layernorm(P, "layernorm", dense(P, "dense_1", h, "relu"))
    y = dense(P, "dense_2", h)
    return {"y": y}, mse(y, T["t"])


def gelu(P, I, T):
    a = dense(P, "dense", I["x"], "gelu")
    b = flatten(conv2d(P, "conv2d", I["image"], activation="gelu"))
    h = ACTIVATIONS["gelu"](dense(P, "dense_1", torch.cat([a, b], dim=-1)))
    y = dense(P, "dense_2", h)
    return {"y": y}, mse(y, T["t"])


def conv1d(P, name, x, padding="valid", strides=1, activation=None, use_bias=True):
    """Keras Conv1D on [n, steps, channels]: kernel [k, in, filters], bias
    [filters], the activation after the bias; through torch.nn.functional.conv1d
    (channels first [n, in, steps], weight [filters, in, k]), TensorFlow's
    "same" padding (odd step after) as an explicit F.pad, since PyTorch's own
    padding="same" is refused for strides > 1."""
    kernel = P[name + ".kernel"]
    xc = x.permute(0, 2, 1)
    if padding == "same":
        xc = torch.nn.functional.pad(xc, same_padding(x.shape[1], kernel.shape[0], strides))
    elif padding != "valid":
        raise ValueError(padding)
    bias = P[name + ".bias"] if use_bias else None
    y = torch.nn.functional.conv1d(xc, kernel.permute(2, 1, 0), bias, stride=strides)
    return ACTIVATIONS[activation](y.permute(0, 2, 1))


def conv1d_case(P, I, T):
    seq = I["seq"]
    a = conv1d(P, "conv1d", seq, activation="relu")
    a = conv1d(P, "conv1d_1", a, padding="same", strides=2, activation="tanh").mean(dim=1)  # global_avgpool1d
    b = flatten(conv1d(P, "conv1d_2", seq, padding="same", strides=2, use_bias=False))
    c = flatten(conv1d(P, "conv1d_3", seq, strides=2))
    y = dense(P, "dense", torch.cat([a, b, c], dim=-1))
    return {"y": y}, mse(y, T["t"])


EXTRA_CASES = {"rnn_gru": rnn_gru, "norm_layers": norm_layers, "gelu": gelu, "conv1d": conv1d_case}
CASES.update(EXTRA_CASES)
OPTIMIZERS.update({name: ("adam", {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}) for name in EXTRA_CASES})
# Cases whose outputs (predict) are computed in inference mode, unlike
# their loss and gradients (training mode).
INFERENCE_OUTPUTS = {"norm_layers": lambda P, I, T: norm_layers(P, I, T, training=False)}
