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
