"""The four workloads in JAX: a pure loss function of a parameter dict, ``value_and_grad``,
and Keras's optimizer rules written out in ``jax.numpy`` (no optax), all in one
``jax.jit`` step whose parameter and slot buffers are donated (updated in place).

The math is Keras's: softmax/sigmoid outputs with losses on probabilities clipped to
[1e-7, 1 - 1e-7] (as fusegraph computes them), LayerNormalization with epsilon 1e-3, the
LSTM's gates i, f, c, o with the input projection of all time steps done before a
``lax.scan`` over the recurrent part, MultiHeadAttention as einsums over Keras's
``(d, heads, key_dim)`` kernels. Adam: ``m += (g - m)(1 - b1)``, ``v += (g^2 - v)(1 - b2)``,
``w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``; RMSprop: ``v = rho v + (1 -
rho) g^2``, ``w -= lr g / sqrt(v + eps)``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from . import specs

_EPS = 1e-7     # Keras's backend epsilon, the clip of probabilities in its losses


def _dense(p, x):
    kernel, bias = p
    return x @ kernel + bias


def _clip(p):
    return jnp.clip(p, _EPS, 1 - _EPS)


def _lstm(p, x):
    """Last hidden state of an LSTM over ``x`` (B, T, in)."""
    kernel, recurrent, bias = p
    units = recurrent.shape[0]
    projected = jnp.einsum("bti,ig->tbg", x, kernel) + bias     # all steps at once

    def cell(carry, z_x):
        h, c = carry
        z = z_x + h @ recurrent
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return (jax.nn.sigmoid(o) * jnp.tanh(c), c), None

    zeros = jnp.zeros((x.shape[0], units), x.dtype)
    (h, _), _ = jax.lax.scan(cell, (zeros, zeros), projected)
    return h


def _layer_norm(p, x):
    gamma, beta = p
    mean = x.mean(-1, keepdims=True)
    variance = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(variance + specs.LAYER_NORM_EPSILON) * gamma + beta


def _attention(p, x):
    qk, qb, kk, kb, vk, vb, ok, ob = p
    q = (jnp.einsum("btd,dhk->bhtk", x, qk) + qb[:, None, :]) / jnp.sqrt(qk.shape[-1])
    k = jnp.einsum("btd,dhk->bhtk", x, kk) + kb[:, None, :]
    v = jnp.einsum("btd,dhk->bhtk", x, vk) + vb[:, None, :]
    probs = jax.nn.softmax(jnp.einsum("bhtk,bhsk->bhts", q, k), axis=-1)
    context = jnp.einsum("bhts,bhsk->bhtk", probs, v)
    return jnp.einsum("bhtk,hkd->btd", context, ok) + ob


def _loss_mlp(w, data):
    x = data["x"]
    last = len(w) - 1
    for i in range(last):
        x = jax.nn.relu(_dense(w[f"dense_{i}"], x))
    probs = _clip(jax.nn.softmax(_dense(w[f"dense_{last}"], x)))
    return -jnp.log(jnp.take_along_axis(probs, data["y"][:, None], axis=1)).mean()


def _loss_ticket(w, data):
    title = w["title_embedding"][0][data["title"]]
    body = w["body_embedding"][0][data["body"]]
    if "title_lstm" in w:
        title, body = _lstm(w["title_lstm"], title), _lstm(w["body_lstm"], body)
    else:
        title, body = title.mean(1), body.mean(1)
    x = jax.nn.relu(_dense(w["hidden"], jnp.concatenate([title, body, data["tags"]], 1)))
    priority = jax.nn.sigmoid(_dense(w["priority"], x))
    department = _clip(jax.nn.softmax(_dense(w["department"], x)))
    return (jnp.square(priority - data["priority"]).mean()
            - (data["department"] * jnp.log(department)).sum(1).mean())


def _loss_transformer(w, data):
    x = w["embedding"][0][data["tokens"]]
    x = _layer_norm(w["layernorm_1"], x + _attention(w["attention"], x))
    ffn = _dense(w["ffn_2"], jax.nn.relu(_dense(w["ffn_1"], x)))
    x = _layer_norm(w["layernorm_2"], x + ffn)
    p = _clip(jax.nn.sigmoid(_dense(w["output"], x.max(1))))
    y = data["label"]
    return -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p)).mean()


_LOSSES = {"mlp": _loss_mlp, "ticket": _loss_ticket, "lstm": _loss_ticket,
           "transformer": _loss_transformer}


def _adam(w, g, slots, t):
    a, lr = specs.ADAM, specs.LEARNING_RATE
    m = jax.tree.map(lambda m, g: m + (g - m) * (1 - a["beta_1"]), slots["m"], g)
    v = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - a["beta_2"]), slots["v"], g)
    alpha = lr * jnp.sqrt(1 - a["beta_2"] ** t) / (1 - a["beta_1"] ** t)
    w = jax.tree.map(lambda w, m, v: w - alpha * m / (jnp.sqrt(v) + a["epsilon"]), w, m, v)
    return w, {"m": m, "v": v}


def _rmsprop(w, g, slots, t):
    r, lr = specs.RMSPROP, specs.LEARNING_RATE
    v = jax.tree.map(lambda v, g: r["rho"] * v + (1 - r["rho"]) * g * g, slots["v"], g)
    w = jax.tree.map(lambda w, g, v: w - lr * g / jnp.sqrt(v + r["epsilon"]), w, g, v)
    return w, {"v": v}


def build(name: str, sizes=None):
    """``(params, step)``: workload ``name`` at ``sizes`` (default: its full sizes) with
    the shared initial weights; ``step()`` runs the jitted training step on the shared
    batch (on the device once) and returns the loss computed before the update, as a
    float, after the whole step is done."""
    sizes = sizes or specs.WORKLOADS[name].sizes
    if name not in _LOSSES:
        raise KeyError(f"unknown workload {name!r}; expected one of {sorted(specs.WORKLOADS)}")
    kind = specs.WORKLOADS[name].optimizer
    update = _adam if kind == "adam" else _rmsprop
    params = jax.tree.map(jnp.asarray, specs.initial_weights(name, sizes))
    zeros = lambda: jax.tree.map(jnp.zeros_like, params)            # noqa: E731
    slots = {"m": zeros(), "v": zeros()} if kind == "adam" else {"v": zeros()}
    inputs, targets = specs.batch(name, sizes)
    data = {k: jnp.asarray(v) for k, v in {**inputs, **targets}.items()}
    loss_grad = jax.value_and_grad(_LOSSES[name])

    def train_step(params, slots, t, data):
        loss, grads = loss_grad(params, data)
        params, slots = update(params, grads, slots, t)
        return params, slots, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))
    state = {"params": params, "slots": slots, "t": 0}

    def step() -> float:
        state["t"] += 1
        t = jnp.float32(state["t"])
        state["params"], state["slots"], loss = jax.block_until_ready(
            train_step(state["params"], state["slots"], t, data))
        return float(loss)
    return state, step
