"""Neural-network functions traced as compositions of primitives: activations, softmax,
log-softmax, moments. (Keras puts these in ``keras.ops`` and ``keras.activations``;
``fg.ops.nn`` mirrors TensorFlow's ``tf.nn`` names for the same functions.)

Each is written in its numerically stable form (max-subtracted softmax, log-sum-exp,
softplus via ``log1p(exp(-|x|))``), so fusion has nothing to fix up later. Softmax is one
composite op with its own VJP (:mod:`fusegraph.ir.ops.composite`). The max
subtracted for stability goes through ``stop_gradient``: the results do not depend on it
(exactly, in real arithmetic), so its gradient is zero, and autodiff would otherwise
build a dead-weight backward for it (a ``-sum(g)`` per row routed through an ``eq``
mask of the maxima: 1.2 ms of the Transformer block's 145 ms step). TensorFlow's
softmax gradient and JAX's ``jax.nn.softmax`` likewise leave the max out.
"""
from __future__ import annotations

import math

from ..ir import emit
from . import ops
from .ops_coerce import _float, _wrap


def relu(x):
    return ops.maximum(x, 0.0)


def relu6(x):
    return ops.minimum(ops.maximum(x, 0.0), 6.0)


def leaky_relu(x, negative_slope=0.2):
    return ops.where(ops.greater(x, 0.0), x, ops.multiply(x, negative_slope))


def elu(x, alpha=1.0):
    """x if x > 0 else alpha * (e^x - 1); the exp sees min(x, 0), so the branch ``where``
    drops cannot overflow (an inf there would make its gradient 0 * inf = nan)."""
    negative = ops.multiply(ops.subtract(ops.exp(ops.minimum(x, 0.0)), 1.0), alpha)
    return ops.where(ops.greater(x, 0.0), x, negative)


def softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|)."""
    return ops.add(relu(x), ops.log1p(ops.exp(ops.negative(ops.abs(x)))))


def softsign(x):
    return ops.divide(x, ops.add(ops.abs(x), 1.0))


def silu(x):
    return ops.multiply(x, ops.sigmoid(x))


swish = silu


def gelu(x, approximate=True):
    """Keras's gelu: the tanh approximation by default (``keras.ops.gelu``)."""
    if approximate:
        inner = ops.multiply(ops.add(x, ops.multiply(ops.power(x, 3.0), 0.044715)),
                             math.sqrt(2.0 / math.pi))
        return ops.multiply(ops.multiply(x, 0.5), ops.add(ops.tanh(inner), 1.0))
    return ops.multiply(ops.multiply(x, 0.5), ops.add(ops.erf(ops.divide(x, math.sqrt(2.0))), 1.0))


def hard_sigmoid(x):
    return ops.clip(ops.add(ops.divide(x, 6.0), 0.5), 0.0, 1.0)


def _row_max(x, axes):
    """The max over ``axes`` (kept as size-1 dims) that a stable form subtracts, with no
    gradient (the module docstring says why)."""
    return ops.stop_gradient(ops.max(x, axis=axes, keepdims=True))


def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) over ``axis``: one ``softmax`` op, whose VJP
    reads only its result (:mod:`fusegraph.ir.ops.composite`); integers become float32."""
    x = _float(ops.convert_to_tensor(x))
    axes = ops.normalize_axes(axis, x.ndim, op="softmax")
    return _wrap(emit("softmax", x.value, axes=axes), (x,))


def log_softmax(x, axis=-1):
    """x - max - log(sum(exp(x - max))) over ``axis``."""
    x = ops.convert_to_tensor(x)
    axis = ops.normalize_axes(axis, x.ndim, op="log_softmax")
    shifted = ops.subtract(x, _row_max(x, axis))
    return ops.subtract(shifted, ops.log(ops.sum(ops.exp(shifted), axis=axis, keepdims=True)))


def logsumexp(x, axis=None, keepdims=False):
    x = ops.convert_to_tensor(x)
    axes = ops.normalize_axes(axis, x.ndim, op="logsumexp")
    m = _row_max(x, axes)
    out = ops.add(ops.log(ops.sum(ops.exp(ops.subtract(x, m)), axis=axes, keepdims=True)), m)
    return out if keepdims else ops.squeeze_axes(out, axes)


def moments(x, axes, keepdims=False):
    """(mean, variance) over ``axes``; variance as the mean of squared deviations."""
    axes_ = ops.normalize_axes(axes, ops.convert_to_tensor(x).ndim, op="moments")
    mean = ops.mean(x, axis=axes_, keepdims=True)
    variance = ops.mean(ops.square(ops.subtract(x, mean)), axis=axes_, keepdims=True)
    if keepdims:
        return mean, variance
    return ops.squeeze_axes(mean, axes_), ops.squeeze_axes(variance, axes_)


def normalize(x, axis=-1, order=2, epsilon=None):
    """``keras.ops.normalize``: ``x`` divided by its ``order``-norm (1 or 2) along
    ``axis``; for order 2, ``x * min(rsqrt(sum(x**2)), 1 / epsilon)`` as Keras computes it,
    that is ``x * rsqrt(max(sum(x**2), epsilon**2))`` (``epsilon`` default 1e-7, Keras's
    backend epsilon), for order 1 ``x / max(sum(|x|), epsilon)``."""
    x = _float(x)
    epsilon = 1e-7 if epsilon is None else epsilon
    axes = ops.normalize_axes(axis, x.ndim, op="normalize")
    if order == 2:
        return l2_normalize(x, axes, epsilon * epsilon)
    if order == 1:
        return ops.divide(x, ops.maximum(ops.sum(ops.abs(x), axis=axes, keepdims=True), epsilon))
    raise ValueError(f"fg.ops.normalize: order must be 1 or 2, got {order!r}")


def l2_normalize(x, axis=None, epsilon=1e-12):
    """``tf.math.l2_normalize``: ``x * rsqrt(max(sum(x**2, axis), epsilon))`` (every axis
    when ``axis`` is None)."""
    x = _float(x)
    axes = ops.normalize_axes(axis, x.ndim, op="l2_normalize")
    square_sum = ops.sum(ops.square(x), axis=axes, keepdims=True)
    return ops.multiply(x, ops.rsqrt(ops.maximum(square_sum, epsilon)))
