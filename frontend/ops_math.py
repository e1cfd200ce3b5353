"""``fg.ops``'s arithmetic: elementwise functions (with ``where`` and ``clip``),
reductions (``sum``, ``mean``, ``argmax``, ...) and ``matmul``; each call coerces its
operands (:mod:`.ops_coerce`) and emits one op or a small composition of ops. See
:mod:`.ops` for the dtype and axis rules.
"""
from __future__ import annotations

import numpy as np

from ..ir import emit
from .ops_coerce import (_binary, _coerce_pair, _error, _float, _unary, _wrap, cast,
                         convert_to_tensor, normalize_axes)
from .ops_shape import _flat, expand_dims, squeeze_axes


# --- elementwise --------------------------------------------------------------------
def add(x1, x2): return _binary("add", x1, x2)
def subtract(x1, x2): return _binary("sub", x1, x2)
def multiply(x1, x2): return _binary("mul", x1, x2)
def maximum(x1, x2): return _binary("maximum", x1, x2)
def minimum(x1, x2): return _binary("minimum", x1, x2)
def equal(x1, x2): return _binary("eq", x1, x2)
def not_equal(x1, x2): return _binary("ne", x1, x2)
def less(x1, x2): return _binary("lt", x1, x2)
def less_equal(x1, x2): return _binary("le", x1, x2)
def greater(x1, x2): return _binary("gt", x1, x2)
def greater_equal(x1, x2): return _binary("ge", x1, x2)
def logical_and(x1, x2): return _binary("logical_and", cast(x1, "bool"), cast(x2, "bool"))
def logical_or(x1, x2): return _binary("logical_or", cast(x1, "bool"), cast(x2, "bool"))
def logical_not(x): return _unary("logical_not", cast(x, "bool"))


def divide(x1, x2):
    """True division; integer operands give float32."""
    a, b = _coerce_pair(x1, x2)
    return _binary("div", _float(a), _float(b))


def power(x1, x2):
    a, b = _coerce_pair(x1, x2)
    return _binary("pow", _float(a), _float(b))


def negative(x): return _unary("neg", x)
def abs(x): return _unary("abs", x)  # noqa: A001  (keras.ops name)
def sign(x): return _unary("sign", x)
def exp(x): return _unary("exp", _float(x))
def log(x): return _unary("log", _float(x))
def sqrt(x): return _unary("sqrt", _float(x))
def rsqrt(x): return _unary("rsqrt", _float(x))
def tanh(x): return _unary("tanh", _float(x))
def sigmoid(x): return _unary("sigmoid", _float(x))
def erf(x): return _unary("erf", _float(x))
def sin(x): return _unary("sin", _float(x))
def cos(x): return _unary("cos", _float(x))
def floor(x): return _unary("floor", _float(x))
def square(x): return multiply(x, x)


def log1p(x):
    """log(1 + x), accurate for tiny x: with u = 1 + x rounded, log(u) * x / (u - 1) cancels
    the rounding of u (Goldberg's identity); u == 1 gives x. (A simplification pass must not
    fold (1 + x) - 1 into x.)"""
    x = _float(x)
    u = add(x, 1.0)
    d = subtract(u, 1.0)
    exact = equal(d, 0.0)
    return where(exact, x, divide(multiply(x, log(u)), where(exact, 1.0, d)))


def reciprocal(x): return divide(1.0, x)


def clip(x, x_min, x_max):
    return minimum(maximum(x, x_min), x_max)


def where(condition, x1, x2):
    cond = cast(condition, "bool")
    a, b = _coerce_pair(x1, x2)
    return _wrap(emit("where", cond.value, a.value, b.value), (cond, a, b))


def stop_gradient(x):
    return _unary("stop_gradient", x)


# --- reductions -----------------------------------------------------------------------
def _reduce(kind, x, axis, keepdims):
    x = convert_to_tensor(x)
    axes = normalize_axes(axis, x.ndim, op=kind)
    return _wrap(emit(kind, x.value, axes=axes, keepdims=keepdims), (x,))


def sum(x, axis=None, keepdims=False): return _reduce("reduce_sum", x, axis, keepdims)  # noqa: A001
def max(x, axis=None, keepdims=False): return _reduce("reduce_max", x, axis, keepdims)  # noqa: A001
def min(x, axis=None, keepdims=False): return _reduce("reduce_min", x, axis, keepdims)  # noqa: A001
def mean(x, axis=None, keepdims=False): return _reduce("reduce_mean", _float(x), axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    """Whether every element is true (nonzero) over ``axis``: a bool tensor."""
    return cast(min(cast(cast(x, "bool"), "int32"), axis, keepdims), "bool")


def any(x, axis=None, keepdims=False):  # noqa: A001
    """Whether some element is true (nonzero) over ``axis``: a bool tensor."""
    return cast(max(cast(cast(x, "bool"), "int32"), axis, keepdims), "bool")


def _arg(kind, x, axis, keepdims):
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = _flat(kind, x), 0
    if not isinstance(axis, (int, np.integer)):
        raise _error(kind, f"axis must be an int or None, got {axis!r}", TypeError)
    (axis,) = normalize_axes(axis, x.ndim, op=kind)
    return _wrap(emit(kind, x.value, axis=axis, keepdims=keepdims), (x,))


def argmax(x, axis=None, keepdims=False): return _arg("argmax", x, axis, keepdims)
def argmin(x, axis=None, keepdims=False): return _arg("argmin", x, axis, keepdims)


# --- contraction ----------------------------------------------------------------------
def matmul(x1, x2):
    """numpy matmul; a rank-1 operand is treated as a row (left) or column (right)."""
    a, b = _coerce_pair(x1, x2)
    squeeze = []
    if a.ndim == 1:
        a = expand_dims(a, 0)
        squeeze.append(-2)
    if b.ndim == 1:
        b = expand_dims(b, 1)
        squeeze.append(-1)
    out = _wrap(emit("matmul", a.value, b.value), (a, b))
    return squeeze_axes(out, squeeze) if squeeze else out


dot = matmul

