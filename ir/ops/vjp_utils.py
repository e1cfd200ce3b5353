"""Helpers the VJP rules share: constants, zeros, reading constants back, and undoing
broadcasts. (The simplify pass reads constants with the same helpers.)"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..core import Value
from ..types import DType, TensorType


def const(value, dtype: DType) -> Value:
    """A scalar constant of ``dtype``."""
    return emit("constant", value=float(value) if dtype.is_float else int(value), dtype=dtype)


def zeros(t: TensorType) -> Value:
    return emit("broadcast_to", const(0, t.dtype), shape=t.shape)


def constant_value(v: Value) -> np.ndarray | None:
    """The array a ``constant`` op makes (in its dtype), or None for any other value."""
    op = v.producer
    if op is None or op.kind != "constant":
        return None
    return np.array(op.attrs["value"], dtype=op.attrs["dtype"].numpy)


def splat_value(v: Value) -> np.ndarray | None:
    """The constant behind ``v``: :func:`constant_value` of ``v``, or of the operand of the
    ``broadcast_to`` that makes ``v`` (what :func:`zeros` builds); None otherwise."""
    if v.producer is not None and v.producer.kind == "broadcast_to":
        v = v.producer.operands[0]
    return constant_value(v)


def is_all(v: Value, number) -> bool:
    """Whether ``v`` is a constant (or a broadcast of one) whose elements all equal
    ``number`` (by ``==``: -0.0 counts as 0). The autodiff driver's cotangent of an
    unused result is ``is_all(ct, 0)``."""
    c = splat_value(v)
    return c is not None and bool(np.all(c == number))


def swap_last_two(x: Value) -> Value:
    perm = tuple(range(x.type.rank - 2)) + (x.type.rank - 1, x.type.rank - 2)
    return emit("transpose", x, perm=perm)


def transpose_to(x: Value, axes: list) -> Value:
    """``x``, whose axis ``k`` is axis ``axes[k]`` of the wanted layout, transposed into
    that layout (no op when it already is)."""
    perm = tuple(axes.index(i) for i in range(len(axes)))
    return x if perm == tuple(range(len(axes))) else emit("transpose", x, perm=perm)


def keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def expand_reduced(g: Value, x: TensorType, axes: tuple, keepdims: bool) -> Value:
    """A reduction's cotangent broadcast back over the reduced axes of ``x``."""
    if not keepdims:
        g = emit("reshape", g, shape=keepdims_shape(x.shape, axes))
    return emit("broadcast_to", g, shape=x.shape)


def unbroadcast(g: Value, target: TensorType) -> Value:
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``target``'s
    shape (and cast to its dtype). Broadcasting keeps every other dim as it is (a symbol
    broadcasts only against itself or 1), so what is left after the sum is ``target``'s
    shape, behind the added axes (which a reshape drops)."""
    shape, want = g.type.shape, target.shape
    lead = len(shape) - len(want)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(want) if d == 1 and shape[lead + i] != 1)
    if axes:
        g = emit("reduce_sum", g, axes=axes, keepdims=True)
    if lead:
        g = emit("reshape", g, shape=want)
    if g.type.dtype != target.dtype:
        g = emit("cast", g, dtype=target.dtype)
    return g
