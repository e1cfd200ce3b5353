"""Reductions over a set of axes: sum, mean, max, min; argmax/argmin over one axis.

``reduce_mean`` is primitive (not sum / n) because ``n`` may be a symbolic dimension
such as the batch size, unknown until the graph runs. ``axes`` are stored
non-negative and sorted; ``keepdims`` keeps reduced axes as size 1.
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..errors import ShapeError
from ..opdef import NO_GRADIENT, REDUCTION, Attr, OpDef, register
from ..types import DType, Sym, TensorType
from .vjp_utils import const, expand_reduced
from ._rules import FLOATS, NUMERIC, check_axis, require_dtype


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_rule(allowed):
    def infer(types, attrs):
        (t,) = types
        require_dtype(t, allowed, "operand")
        axes = attrs["axes"]
        if list(axes) != sorted(set(axes)) or any(not 0 <= a < t.rank for a in axes):
            raise ShapeError(f"axes must be sorted, unique and in [0, {t.rank}), got {axes} for {t}")
        return TensorType(reduced_shape(t.shape, axes, attrs["keepdims"]), t.dtype)
    return infer


def _reduce(name, fn, allowed, doc, vjp):
    def ref(xs, attrs):
        x = xs[0]
        return np.asarray(fn(x, axis=attrs["axes"], keepdims=attrs["keepdims"]), dtype=x.dtype)
    register(OpDef(name, _reduce_rule(allowed), ref, 1,
                   attrs={"axes": Attr("ints"), "keepdims": Attr("bool", False)},
                   traits=frozenset({REDUCTION}), doc=doc, vjp=vjp))


def _expanded_cotangent(op, cts):
    x = op.operands[0]
    return expand_reduced(cts[0], x.type, op.attrs["axes"], op.attrs["keepdims"])


def _sum_vjp(op, cts):
    return (_expanded_cotangent(op, cts),)


def _mean_vjp(op, cts):
    """g / n; n is a constant unless a reduced dim is symbolic (then counted at run time)."""
    x, axes = op.operands[0], op.attrs["axes"]
    g = _expanded_cotangent(op, cts)
    reduced = [x.type.shape[a] for a in axes]
    if any(isinstance(d, Sym) for d in reduced):
        ones = emit("broadcast_to", const(1, x.type.dtype), shape=x.type.shape)
        return (emit("div", g, emit("reduce_sum", ones, axes=axes, keepdims=True)),)
    return (emit("div", g, const(int(np.prod(reduced, dtype=np.int64)), x.type.dtype)),)


def _extremum_vjp(op, cts):
    """The gradient is shared equally by the elements that attain the max (or min)."""
    x, axes = op.operands[0], op.attrs["axes"]
    y = expand_reduced(op.results[0], x.type, axes, op.attrs["keepdims"])
    hit = emit("cast", emit("eq", x, y), dtype=x.type.dtype)
    count = emit("reduce_sum", hit, axes=axes, keepdims=True)
    return (emit("mul", _expanded_cotangent(op, cts), emit("div", hit, count)),)


_reduce("reduce_sum", np.sum, NUMERIC, "sum over axes", _sum_vjp)
_reduce("reduce_mean", np.mean, FLOATS, "mean over axes (floats only)", _mean_vjp)
_reduce("reduce_max", np.max, NUMERIC, "max over axes", _extremum_vjp)
_reduce("reduce_min", np.min, NUMERIC, "min over axes", _extremum_vjp)


def _arg_rule(types, attrs):
    (t,) = types
    require_dtype(t, NUMERIC, "operand")
    axis = attrs["axis"]
    if not 0 <= axis < t.rank:
        raise ShapeError(f"axis must be in [0, {t.rank}), got {axis} for {t}")
    return TensorType(reduced_shape(t.shape, (axis,), attrs["keepdims"]), DType.i32)


def _arg(name, fn, doc):
    def ref(xs, attrs):
        return fn(xs[0], axis=attrs["axis"], keepdims=attrs["keepdims"]).astype(np.int32)
    register(OpDef(name, _arg_rule, ref, 1,
                   attrs={"axis": Attr("int"), "keepdims": Attr("bool", False)},
                   traits=frozenset({REDUCTION}), doc=doc, vjp=NO_GRADIENT))


_arg("argmax", np.argmax, "index of the first max along axis (i32)")
_arg("argmin", np.argmin, "index of the first min along axis (i32)")
