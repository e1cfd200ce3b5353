"""Reductions over a set of axes: sum, mean, max, min; argmax/argmin over one axis;
``dim_size``, the size of one axis.

``reduce_mean`` is primitive (not sum / n) because ``n`` may be a symbolic dimension
such as the batch size, unknown until the graph runs. ``axes`` are stored
non-negative and sorted; ``keepdims`` keeps reduced axes as size 1. Each REDUCTION op
says how it folds (:class:`~fusegraph.ir.opdef.Reduction`: its combining elementwise op,
its identity per dtype, whether it divides by the count), which is all that fusion and
the kernel generators need: a new reduction is one ``_reduce`` line here.

``argmax``/``argmin`` (ARG_REDUCTION) reduce along one ``axis`` to an index; no kernel
computes them.

``dim_size`` is how a graph counts elements along an axis whose size is symbolic (the
batch size for a running mean, ``n`` in the gradient of a mean): it reads the size from
the operand's shape, never its data, so it costs nothing per element.
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..errors import ShapeError
from ..opdef import (ARG_REDUCTION, NO_GRADIENT, REDUCTION, SHAPE_ONLY, Attr, OpDef, Reduction,
                     register)
from ..types import DType, Sym, TensorType
from .vjp_utils import const, expand_reduced
from ._rules import FLOATS, NUMERIC, check_axes, require_dtype


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_rule(allowed):
    def infer(types, attrs):
        (t,) = types
        require_dtype(t, allowed, "operand")
        check_axes(t, attrs["axes"])
        return TensorType(reduced_shape(t.shape, attrs["axes"], attrs["keepdims"]), t.dtype)
    return infer


def _reduce(name, fn, allowed, doc, vjp, reduction: Reduction):
    def ref(xs, attrs):
        x = xs[0]
        return np.asarray(fn(x, axis=attrs["axes"], keepdims=attrs["keepdims"]), dtype=x.dtype)
    register(OpDef(name, _reduce_rule(allowed), ref, 1,
                   attrs={"axes": Attr("ints"), "keepdims": Attr("bool", False)},
                   traits=frozenset({REDUCTION}), doc=doc, vjp=vjp, reduction=reduction))


def _lowest(dtype: DType):
    return -np.inf if dtype.is_float else int(np.iinfo(dtype.numpy).min)


def _highest(dtype: DType):
    return np.inf if dtype.is_float else int(np.iinfo(dtype.numpy).max)


def _zero(dtype: DType):
    return 0


def _expanded_cotangent(op, cts):
    x = op.operands[0]
    return expand_reduced(cts[0], x.type, op.attrs["axes"], op.attrs["keepdims"])


def _sum_vjp(op, cts):
    return (_expanded_cotangent(op, cts),)


def _mean_vjp(op, cts):
    """g / n: n is the product of the reduced dims, a constant for the static ones times
    ``dim_size`` of each symbolic one (read from the shape when the graph runs)."""
    x, axes = op.operands[0], op.attrs["axes"]
    g = _expanded_cotangent(op, cts)
    dtype, shape = x.type.dtype, x.type.shape
    static = [shape[a] for a in axes if not isinstance(shape[a], Sym)]
    symbolic = [a for a in axes if isinstance(shape[a], Sym)]
    n = const(int(np.prod(static, dtype=np.int64)), dtype) if static or not symbolic else None
    for a in symbolic:
        size = emit("dim_size", x, axis=a, dtype=dtype)
        n = size if n is None else emit("mul", n, size)
    return (emit("div", g, n),)


def _extremum_vjp(op, cts):
    """The gradient is shared equally by the elements that attain the max (or min)."""
    x, axes = op.operands[0], op.attrs["axes"]
    y = expand_reduced(op.results[0], x.type, axes, op.attrs["keepdims"])
    hit = emit("cast", emit("eq", x, y), dtype=x.type.dtype)
    count = emit("reduce_sum", hit, axes=axes, keepdims=True)
    return (emit("mul", _expanded_cotangent(op, cts), emit("div", hit, count)),)


_reduce("reduce_sum", np.sum, NUMERIC, "sum over axes", _sum_vjp,
        Reduction("add", _zero, rounds=True))
_reduce("reduce_mean", np.mean, FLOATS, "mean over axes (floats only)", _mean_vjp,
        Reduction("add", _zero, mean=True, rounds=True))
_reduce("reduce_max", np.max, NUMERIC, "max over axes", _extremum_vjp,
        Reduction("maximum", _lowest))
_reduce("reduce_min", np.min, NUMERIC, "min over axes", _extremum_vjp,
        Reduction("minimum", _highest))


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
                   traits=frozenset({ARG_REDUCTION}), doc=doc, vjp=NO_GRADIENT))


_arg("argmax", np.argmax, "index of the first max along axis (i32)")
_arg("argmin", np.argmin, "index of the first min along axis (i32)")


def _dim_size_infer(types, attrs):
    (t,) = types
    axis = attrs["axis"]
    if not 0 <= axis < t.rank:
        raise ShapeError(f"dim_size axis must be in [0, {t.rank}), got {axis} for {t}")
    if attrs["dtype"] == DType.bool:
        raise ShapeError("dim_size dtype must be f32/f64/i32/i64, got bool")
    return TensorType((), attrs["dtype"])


def _dim_size_ref(xs, attrs):
    return np.array(xs[0].shape[attrs["axis"]], dtype=attrs["dtype"].numpy)


register(OpDef("dim_size", _dim_size_infer, _dim_size_ref, 1,
               attrs={"axis": Attr("int"), "dtype": Attr("dtype", DType.f32)},
               traits=frozenset({SHAPE_ONLY}),
               doc="the size of axis `axis` of the operand as a scalar (reads the shape, "
                   "not the data; counts along symbolic dims)",
               vjp=NO_GRADIENT))
