"""``pad`` and ``scatter_add``: the transposes of ``slice`` and ``take``; ``segment_rows``
and ``gather_rows``: a row scatter into zeros in two halves.

``pad`` and ``scatter_add`` are primitive because the gradients of slicing and gathering
need them: a slice's cotangent is padded back with zeros (interior padding undoes a
stride), and a gather's cotangent is summed back into the rows it read (repeated indices
accumulate).

``scatter_add(zeros[V, D], ids, updates)`` (an Embedding's table gradient) is
``gather_rows(*reversed(segment_rows(ids, updates, rows=V)))`` with the same float
additions in the same order: ``segment_rows`` sums the update rows of each id (in index
order, from zero) into the row of its first occurrence and says, for each table row,
where its sum is (or -1); ``gather_rows`` spreads the sums over the table, zeros
elsewhere. Backends may run the second half inside a kernel (the kernel contract admits
a ``gather_rows`` of region parameters, :mod:`.region`), so the dense table gradient is
never written: :mod:`fusegraph.passes.sparse_rows`. Autodiff never makes them (they have
no VJP).
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..errors import ShapeError, UnsupportedError
from ..opdef import MOVEMENT, ROW_GATHER, Attr, OpDef, register
from ..types import DType, Sym, TensorType
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


def _segment_rows_infer(types, attrs):
    idx, updates = types
    require_dtype(idx, INTS, "indices")
    if not updates.dtype.is_float:
        raise ShapeError(f"updates must be floats, got {updates}")
    if updates.shape[:-1] != idx.shape or updates.rank != idx.rank + 1:
        raise ShapeError(f"updates must be the indices' shape and one row dim, "
                         f"{fmt((idx,))} [..., D], got {updates}")
    if attrs["rows"] < 0:
        raise ShapeError(f"rows must be >= 0, got {attrs['rows']}")
    return TensorType((attrs["rows"], 1), DType.i32), updates


def _segment_rows_ref(xs, attrs):
    idx, updates = xs
    rows = attrs["rows"]
    check_indices("segment_rows", idx, rows, 0)
    flat = idx.reshape(-1)
    sums = np.zeros((flat.size, updates.shape[-1]), updates.dtype)
    slots = np.full((rows, 1), -1, np.int32)
    ids, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    slots[ids, 0] = first
    np.add.at(sums, first[inverse.reshape(-1)], updates.reshape(sums.shape))   # index order
    return slots, sums.reshape(updates.shape)


def _after_autodiff_vjp(op, cts):
    raise UnsupportedError(f"cannot differentiate {op.kind}: passes make it after autodiff; "
                           f"take gradients of the graph before them")


register(OpDef("segment_rows", _segment_rows_infer, _segment_rows_ref, 2,
               attrs={"rows": Attr("int")}, vjp=_after_autodiff_vjp,
               doc="(slots i32[rows, 1], sums): the update rows of each index summed, in "
                   "index order from zero, into the row of its first occurrence (other rows "
                   "zero); slots[r] = that occurrence's flat position, -1 for an unused row"))


def _gather_rows_infer(types, attrs):
    sums, slots = types
    if slots.dtype != DType.i32 or slots.rank != 2 or slots.shape[1] != 1:
        raise ShapeError(f"slots must be i32[rows, 1], got {slots}")
    if not sums.dtype.is_float or sums.rank < 1:
        raise ShapeError(f"sums must be floats [..., D], got {sums}")
    return TensorType((slots.shape[0], sums.shape[-1]), sums.dtype)


def _gather_rows_ref(xs, attrs):
    sums, slots = xs
    flat = sums.reshape(int(np.prod(sums.shape[:-1])), sums.shape[-1])
    s = slots[:, 0]
    out = np.zeros((s.size, flat.shape[1]), sums.dtype)
    hit = s >= 0
    out[hit] = flat[s[hit]]
    return out


register(OpDef("gather_rows", _gather_rows_infer, _gather_rows_ref, 2,
               traits=frozenset({ROW_GATHER}), vjp=_after_autodiff_vjp,
               doc="row r is row slots[r] of sums (flattened to [N, D]), or zeros where "
                   "slots[r] is negative"))
