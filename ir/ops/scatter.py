"""``pad`` and ``scatter_add``: the transposes of ``slice`` and ``take``.

They are primitive because the gradients of slicing and gathering need them: a slice's
cotangent is padded back with zeros (interior padding undoes a stride), and a gather's
cotangent is summed back into the rows it read (repeated indices accumulate).
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..errors import ShapeError
from ..opdef import MOVEMENT, Attr, OpDef, register
from ..types import Sym, TensorType
from ._rules import INTS, fmt, require_dtype, same_dtype
from .movement import check_indices


def _pad_infer(types, attrs):
    (t,) = types
    low, high, interior = attrs["low"], attrs["high"], attrs["interior"]
    if not len(low) == len(high) == len(interior) == t.rank:
        raise ShapeError(f"pad needs low/high/interior of length {t.rank} for {t}, got "
                         f"{low} {high} {interior}")
    out = []
    for a, (d, lo, hi, mid) in enumerate(zip(t.shape, low, high, interior)):
        if min(lo, hi, mid) < 0:
            raise ShapeError(f"pad amounts must be >= 0, got {lo}/{hi}/{mid} on axis {a}")
        if isinstance(d, Sym):
            if lo or hi or mid:
                raise ShapeError(f"cannot pad symbolic dim {d} (axis {a}) of {t}")
            out.append(d)
        else:
            out.append(lo + hi + d + max(d - 1, 0) * mid)
    return TensorType(tuple(out), t.dtype)


def _pad_index(shape, attrs):
    """Where the operand's elements land: lo, lo + mid + 1, ... (nothing for an empty axis;
    all of a symbolic axis, which is never padded)."""
    return tuple(slice(None) if isinstance(d, Sym) else
                 slice(lo, lo + (d - 1) * (mid + 1) + 1 if d else lo, mid + 1)
                 for d, lo, mid in zip(shape, attrs["low"], attrs["interior"]))


def _pad_ref(xs, attrs):
    x = xs[0]
    out = np.zeros(tuple(lo + hi + d + max(d - 1, 0) * mid for d, lo, hi, mid in
                         zip(x.shape, attrs["low"], attrs["high"], attrs["interior"])), x.dtype)
    out[_pad_index(x.shape, attrs)] = x
    return out


def _pad_vjp(op, cts):
    x = op.operands[0].type
    axes = tuple(a for a in range(x.rank) if not isinstance(x.shape[a], Sym))
    index = _pad_index(x.shape, op.attrs)
    return (emit("slice", cts[0], axes=axes, begin=tuple(index[a].start for a in axes),
                 end=tuple(index[a].stop for a in axes), stride=tuple(index[a].step for a in axes)),)


register(OpDef("pad", _pad_infer, _pad_ref, 1,
               attrs={"low": Attr("ints"), "high": Attr("ints"), "interior": Attr("ints")},
               traits=frozenset({MOVEMENT}), vjp=_pad_vjp,
               doc="zero padding: low/high elements before/after, interior between elements"))


def _scatter_add_infer(types, attrs):
    x, idx, updates = types
    require_dtype(idx, INTS, "indices")
    same_dtype((x, updates), "")
    axis = attrs["axis"]
    if not 0 <= axis < x.rank:
        raise ShapeError(f"axis must be in [0, {x.rank}), got {axis} for {x}")
    expected = x.shape[:axis] + idx.shape + x.shape[axis + 1:]
    if updates.shape != expected:
        raise ShapeError(f"updates must have shape {TensorType(expected, x.dtype)} for "
                         f"{fmt((x, idx))}, got {updates}")
    return x


def _scatter_add_ref(xs, attrs):
    x, idx, updates = xs
    axis = attrs["axis"]
    check_indices("scatter_add", idx, x.shape[axis], axis)
    out = x.copy()
    moved = np.moveaxis(out, axis, 0)   # a view: adding into it adds into out
    np.add.at(moved, idx, np.moveaxis(updates, list(range(axis, axis + idx.ndim)),
                                      list(range(idx.ndim))))
    return out


def _scatter_add_vjp(op, cts):
    _, idx, _ = op.operands
    return cts[0], None, emit("take", cts[0], idx, axis=op.attrs["axis"])


register(OpDef("scatter_add", _scatter_add_infer, _scatter_add_ref, 3,
               attrs={"axis": Attr("int")}, traits=frozenset({MOVEMENT}), vjp=_scatter_add_vjp,
               doc="x with updates added at indices along axis (repeats accumulate)"))
