"""The four workloads as framework-neutral facts: sizes, one fixed batch, initial weights.

Every framework module (``fusegraph_models``, ``torch_models``, ``jax_models``) builds the
same math from these: the same layer sizes, losses and optimizer settings, the same
initial weights and the same batch, so that the first step's loss agrees across
frameworks (the runner prints it) and the timings compare like with like.

Weights are a dict ``layer name -> list of arrays`` in Keras's layout and per-layer order
(Dense: kernel ``(in, out)``, bias; Embedding: the table; LSTM: kernel ``(in, 4u)``,
recurrent kernel ``(u, 4u)``, bias ``(4u,)`` with gate blocks input, forget, cell, output;
MultiHeadAttention: query, key, value kernels ``(d, heads, key_dim)`` each followed by
its bias ``(heads, key_dim)``, then the output kernel ``(heads, key_dim, d)`` and bias;
LayerNormalization: gamma, beta). Initializers follow Keras's defaults (Glorot-uniform
kernels, zero biases, uniform(-0.05, 0.05) embeddings, orthogonal recurrent kernels, the
LSTM forget-gate bias 1, LayerNorm gamma 1), drawn from one seeded numpy generator.
"""
from __future__ import annotations

import dataclasses

import numpy as np

SEED = 0
LEARNING_RATE = 1e-3
# Keras 3's defaults, used by every framework.
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7)
RMSPROP = dict(rho=0.9, epsilon=1e-7)
LAYER_NORM_EPSILON = 1e-3


@dataclasses.dataclass(frozen=True)
class MLPSizes:
    batch: int = 128
    widths: tuple = (784, 512, 512, 10)


@dataclasses.dataclass(frozen=True)
class TicketSizes:
    """The ticket model (pooled or LSTM): token ids for title and body, float tags."""
    batch: int = 32
    vocab: int = 10000
    embed: int = 64
    title_len: int = 10
    body_len: int = 100
    tags: int = 100
    hidden: int = 64
    departments: int = 4
    title_units: int = 128     # LSTM variant only
    body_units: int = 32       # LSTM variant only


@dataclasses.dataclass(frozen=True)
class TransformerSizes:
    batch: int = 32
    vocab: int = 20000
    seq_len: int = 128
    embed: int = 128
    dense: int = 512
    heads: int = 4             # key_dim = embed, as the Keras course's TransformerEncoder


@dataclasses.dataclass(frozen=True)
class Workload:
    """One workload: its name, a title for tables, its optimizer (``"adam"`` or
    ``"rmsprop"``, Keras's defaults, learning rate ``LEARNING_RATE``), its full sizes and
    the tiny sizes the tests use."""
    name: str
    title: str
    optimizer: str
    sizes: object
    tiny: object


WORKLOADS = {
    "mlp": Workload("mlp", "MLP 784-512-512-10, batch 128, Adam", "adam", MLPSizes(),
                    MLPSizes(batch=8, widths=(12, 16, 16, 5))),
    "ticket": Workload("ticket", "ticket model, Embedding(10000,64) + GlobalAveragePooling1D, "
                                 "2 losses, RMSprop, batch 32", "rmsprop", TicketSizes(),
                       TicketSizes(batch=4, vocab=50, embed=8, title_len=3, body_len=5, tags=6,
                                   hidden=8, departments=4)),
    "lstm": Workload("lstm", "ticket model with LSTM(128) title / LSTM(32) body, T=10/100, "
                             "RMSprop, batch 32", "rmsprop", TicketSizes(),
                     TicketSizes(batch=4, vocab=50, embed=8, title_len=3, body_len=5, tags=6,
                                 hidden=8, departments=4, title_units=6, body_units=4)),
    "transformer": Workload("transformer", "Transformer encoder block (vocab 20000, len 128, "
                                           "width 128, 4 heads, ff 512), batch 32, Adam",
                            "adam", TransformerSizes(),
                            TransformerSizes(batch=4, vocab=30, seq_len=6, embed=8, dense=12,
                                             heads=2)),
}


def _glorot(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _dense(rng, n_in, n_out):
    return [_glorot(rng, (n_in, n_out), n_in, n_out), np.zeros(n_out, np.float32)]


def _embedding(rng, vocab, width):
    return [rng.uniform(-0.05, 0.05, (vocab, width)).astype(np.float32)]


def _orthogonal(rng, rows, cols):
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return (q if rows >= cols else q.T).astype(np.float32)


def _lstm(rng, n_in, units):
    bias = np.zeros(4 * units, np.float32)
    bias[units:2 * units] = 1.0                      # Keras's unit_forget_bias
    return [_glorot(rng, (n_in, 4 * units), n_in, 4 * units),
            _orthogonal(rng, units, 4 * units), bias]


def _attention(rng, d, heads, key_dim):
    out = []
    for _ in ("query", "key", "value"):
        out += [_glorot(rng, (d, heads, key_dim), d, heads * key_dim),
                np.zeros((heads, key_dim), np.float32)]
    return out + [_glorot(rng, (heads, key_dim, d), heads * key_dim, d), np.zeros(d, np.float32)]


def _layer_norm(width):
    return [np.ones(width, np.float32), np.zeros(width, np.float32)]


def initial_weights(name: str, sizes) -> dict:
    """``layer name -> [arrays]`` (Keras layout, see the module docstring) for workload
    ``name`` at ``sizes``; the same numbers in every process."""
    rng = np.random.default_rng(SEED)
    s = sizes
    if name == "mlp":
        return {f"dense_{i}": _dense(rng, a, b)
                for i, (a, b) in enumerate(zip(s.widths[:-1], s.widths[1:]))}
    if name in ("ticket", "lstm"):
        out = {"title_embedding": _embedding(rng, s.vocab, s.embed),
               "body_embedding": _embedding(rng, s.vocab, s.embed)}
        features = s.embed * 2 + s.tags
        if name == "lstm":
            out["title_lstm"] = _lstm(rng, s.embed, s.title_units)
            out["body_lstm"] = _lstm(rng, s.embed, s.body_units)
            features = s.title_units + s.body_units + s.tags
        out["hidden"] = _dense(rng, features, s.hidden)
        out["priority"] = _dense(rng, s.hidden, 1)
        out["department"] = _dense(rng, s.hidden, s.departments)
        return out
    if name == "transformer":
        return {"embedding": _embedding(rng, s.vocab, s.embed),
                "attention": _attention(rng, s.embed, s.heads, s.embed),
                "layernorm_1": _layer_norm(s.embed),
                "ffn_1": _dense(rng, s.embed, s.dense),
                "ffn_2": _dense(rng, s.dense, s.embed),
                "layernorm_2": _layer_norm(s.embed),
                "output": _dense(rng, s.embed, 1)}
    raise KeyError(f"unknown workload {name!r}; expected one of {sorted(WORKLOADS)}")


def batch(name: str, sizes) -> tuple[dict, dict]:
    """``(inputs, targets)``: one fixed batch of numpy arrays by name (token ids int32,
    everything else float32, class labels int32), the same in every process.

    mlp: ``x (B, 784)``, ``y (B,)`` labels. ticket/lstm: ``title (B, 10)``, ``body (B,
    100)``, ``tags (B, 100)``; ``priority (B, 1)`` in [0, 1), ``department (B, 4)``
    one-hot. transformer: ``tokens (B, 128)``; ``label (B, 1)`` in {0, 1}."""
    rng = np.random.default_rng(SEED + 1)
    s = sizes
    if name == "mlp":
        return ({"x": rng.random((s.batch, s.widths[0]), dtype=np.float32)},
                {"y": rng.integers(0, s.widths[-1], s.batch).astype(np.int32)})
    if name in ("ticket", "lstm"):
        inputs = {"title": rng.integers(0, s.vocab, (s.batch, s.title_len)).astype(np.int32),
                  "body": rng.integers(0, s.vocab, (s.batch, s.body_len)).astype(np.int32),
                  "tags": rng.integers(0, 2, (s.batch, s.tags)).astype(np.float32)}
        department = rng.integers(0, s.departments, s.batch)
        return inputs, {"priority": rng.random((s.batch, 1), dtype=np.float32),
                        "department": np.eye(s.departments, dtype=np.float32)[department]}
    if name == "transformer":
        return ({"tokens": rng.integers(0, s.vocab, (s.batch, s.seq_len)).astype(np.int32)},
                {"label": rng.integers(0, 2, (s.batch, 1)).astype(np.float32)})
    raise KeyError(f"unknown workload {name!r}; expected one of {sorted(WORKLOADS)}")


def matmul_flops(name: str, sizes) -> float | None:
    """Floating-point operations of one training step's matmuls (forward, the weight
    gradients, and the input gradients of every layer but the first), for the workloads
    whose step is mostly matmuls (the MLP); None for the others."""
    if name != "mlp":
        return None
    pairs = list(zip(sizes.widths[:-1], sizes.widths[1:]))
    forward = sum(2.0 * sizes.batch * a * b for a, b in pairs)
    input_grads = sum(2.0 * sizes.batch * a * b for a, b in pairs[1:])
    return 2 * forward + input_grads
