"""Data-movement primitives: reshape, transpose, broadcast_to, concatenate, slice, take,
one_hot, iota. (Their gradients' primitives, pad and scatter_add, are in :mod:`.scatter`.)

They move or index data without arithmetic. Squeeze/expand_dims/flatten are reshapes;
stack is reshape + concatenate; Python indexing is slice (+ reshape for int indices);
an embedding lookup is take. ``reshape`` and ``broadcast_to`` targets may name
dimension symbols (``shape=(B, 4, 8)``): the backend binds them from the graph's inputs.
A reshape without -1 may also give a symbol a size (``(B, 3)`` to ``(4, 3)``, and
back): numpy checks the element count when it runs.
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..errors import ShapeError
from ..opdef import EXPANSION, MOVEMENT, NO_GRADIENT, Attr, OpDef, register
from ..types import DType, Sym, TensorType, mismatch, symbolic_size
from .vjp_utils import unbroadcast, zeros
from ._rules import INTS, fmt, require_dtype, same_dtype


def _reshape_infer(types, attrs):
    (t,) = types
    target = attrs["shape"]
    if sum(d == -1 for d in target) > 1:
        raise ShapeError(f"reshape target {target} has more than one -1")
    n_in, syms_in = symbolic_size(t.shape)
    n_out, syms_out = symbolic_size(tuple(d for d in target if d != -1))
    if syms_in != syms_out:
        if -1 in target or not _sizes_symbols(n_in, syms_in, n_out, syms_out):
            raise ShapeError(f"cannot reshape {t} to {target}: symbolic dims "
                             f"{list(syms_in)} must all reappear in the target, "
                             f"got {list(syms_out)}")
        return TensorType(target, t.dtype)
    if -1 in target:
        if n_out == 0 or n_in % n_out:
            raise ShapeError(f"cannot reshape {t} to {target}: {n_in} elements per "
                             f"symbolic slice do not divide by {n_out}")
        target = tuple(n_in // n_out if d == -1 else d for d in target)
    elif n_in != n_out:
        raise ShapeError(f"cannot reshape {t} ({n_in} elements per symbolic slice) "
                         f"to {target} ({n_out})")
    return TensorType(target, t.dtype)


def _sizes_symbols(n_in: int, syms_in: tuple, n_out: int, syms_out: tuple) -> bool:
    """Whether a reshape without -1 may drop symbols of its operand (``(B, 3)`` to
    ``(4, 3)``: the target gives them sizes) or only add symbols (the reverse, its
    gradient; the added ones are bound by the graph's inputs): when one side's symbols
    are among the other's and the static element counts divide accordingly. numpy's
    reshape checks the element count when the graph runs, so the sizes are checked:
    exactly when one symbol is dropped or added and the other dims are not empty."""
    def within(small: tuple, big: tuple) -> bool:
        rest = list(big)
        for s in small:
            if s not in rest:
                return False
            rest.remove(s)
        return True

    if within(syms_out, syms_in):
        return n_out % n_in == 0 if n_in else n_out == 0
    if within(syms_in, syms_out):
        return n_in % n_out == 0 if n_out else n_in == 0
    return False


def _reshape_vjp(op, cts):
    return (emit("reshape", cts[0], shape=op.operands[0].type.shape),)


register(OpDef("reshape", _reshape_infer, lambda xs, attrs: np.reshape(xs[0], attrs["shape"]), 1,
               attrs={"shape": Attr("shape")}, traits=frozenset({MOVEMENT}),
               doc="same elements, new shape (one -1 may stand for an inferred size)",
               vjp=_reshape_vjp))


def _transpose_infer(types, attrs):
    (t,) = types
    perm = attrs["perm"]
    if sorted(perm) != list(range(t.rank)):
        raise ShapeError(f"perm {perm} is not a permutation of the {t.rank} axes of {t}")
    return TensorType(tuple(t.shape[p] for p in perm), t.dtype)


def _transpose_vjp(op, cts):
    inverse = tuple(int(i) for i in np.argsort(op.attrs["perm"]))
    return (emit("transpose", cts[0], perm=inverse),)


register(OpDef("transpose", _transpose_infer, lambda xs, attrs: np.transpose(xs[0], attrs["perm"]), 1,
               attrs={"perm": Attr("ints")}, traits=frozenset({MOVEMENT}),
               doc="permute axes: result axis i is operand axis perm[i]",
               vjp=_transpose_vjp))


def _broadcast_to_infer(types, attrs):
    (t,) = types
    target = attrs["shape"]
    if -1 in target:
        raise ShapeError(f"broadcast_to target {target} may not contain -1")
    if t.rank > len(target):
        raise ShapeError(f"cannot broadcast {t} to {target}: the target has fewer axes")
    lead = len(target) - t.rank
    for i, (d, want) in enumerate(zip(t.shape, target[lead:])):
        if d not in (1, want):
            raise ShapeError(f"cannot broadcast {t} to {target}: axis {i} of the operand is "
                             f"neither 1 nor the target's dim {mismatch(d, want)}")
    return TensorType(target, t.dtype)


register(OpDef("broadcast_to", _broadcast_to_infer,
               lambda xs, attrs: np.broadcast_to(xs[0], attrs["shape"]).copy(), 1,
               attrs={"shape": Attr("shape")}, traits=frozenset({MOVEMENT, EXPANSION}),
               doc="numpy broadcast to an explicit shape",
               vjp=lambda op, cts: (unbroadcast(cts[0], op.operands[0].type),)))


def _concatenate_infer(types, attrs):
    dtype = same_dtype(types, "")
    rank = types[0].rank
    if any(t.rank != rank for t in types):
        raise ShapeError(f"concatenate needs operands of one rank, got {fmt(types)}")
    axis = attrs["axis"]
    if not 0 <= axis < rank:
        raise ShapeError(f"axis must be in [0, {rank}), got {axis}")
    out = list(types[0].shape)
    for t in types[1:]:
        for i, (a, b) in enumerate(zip(out, t.shape)):
            if i != axis and a != b:
                raise ShapeError(f"concatenate on axis {axis}: dim {i} differs in {fmt(types)} "
                                 f"{mismatch(a, b)}")
    along = [t.shape[axis] for t in types]
    if any(isinstance(d, Sym) for d in along):
        raise ShapeError(f"cannot concatenate along symbolic dim {axis} of {fmt(types)}")
    out[axis] = sum(along)
    return TensorType(tuple(out), dtype)


def _concatenate_vjp(op, cts):
    axis, grads, start = op.attrs["axis"], [], 0
    for x in op.operands:
        size = x.type.shape[axis]
        grads.append(emit("slice", cts[0], axes=(axis,), begin=(start,), end=(start + size,),
                          stride=(1,)))
        start += size
    return tuple(grads)


register(OpDef("concatenate", _concatenate_infer,
               lambda xs, attrs: np.concatenate(xs, axis=attrs["axis"]), None,
               attrs={"axis": Attr("int")}, traits=frozenset({MOVEMENT}),
               doc="join operands along axis",
               vjp=_concatenate_vjp))


def _slice_infer(types, attrs):
    (t,) = types
    axes, begin, end, stride = attrs["axes"], attrs["begin"], attrs["end"], attrs["stride"]
    if not len(axes) == len(begin) == len(end) == len(stride):
        raise ShapeError(f"slice axes/begin/end/stride lengths differ: {axes} {begin} {end} {stride}")
    out = list(t.shape)
    for a, b, e, s in zip(axes, begin, end, stride):
        if not 0 <= a < t.rank:
            raise ShapeError(f"slice axis {a} out of range for {t}")
        if isinstance(t.shape[a], Sym):
            raise ShapeError(f"cannot slice symbolic dim {t.shape[a]} (axis {a}) of {t}")
        if s <= 0 or not 0 <= b <= e <= t.shape[a]:
            raise ShapeError(f"slice of axis {a} needs 0 <= begin <= end <= {t.shape[a]} and "
                             f"stride > 0, got {b}:{e}:{s}")
        out[a] = len(range(b, e, s))
    return TensorType(tuple(out), t.dtype)


def _slice_ref(xs, attrs):
    index = [slice(None)] * xs[0].ndim
    for a, b, e, s in zip(attrs["axes"], attrs["begin"], attrs["end"], attrs["stride"]):
        index[a] = slice(b, e, s)
    return xs[0][tuple(index)].copy()


def _slice_vjp(op, cts):
    """Pad the cotangent back into the operand's shape: the sliced elements sit at
    begin, begin + stride, ...; everything else gets zero."""
    x, out = op.operands[0].type, op.results[0].type
    if any(out.shape[a] == 0 for a in op.attrs["axes"]):
        return (zeros(x),)
    low, high, interior = [0] * x.rank, [0] * x.rank, [0] * x.rank
    for a, b, s in zip(op.attrs["axes"], op.attrs["begin"], op.attrs["stride"]):
        low[a], interior[a] = b, s - 1
        high[a] = x.shape[a] - (b + (out.shape[a] - 1) * s + 1)
    return (emit("pad", cts[0], low=tuple(low), high=tuple(high), interior=tuple(interior)),)


register(OpDef("slice", _slice_infer, _slice_ref, 1,
               attrs={"axes": Attr("ints"), "begin": Attr("ints"), "end": Attr("ints"),
                      "stride": Attr("ints")},
               traits=frozenset({MOVEMENT}),
               doc="x[begin:end:stride] on the listed (concrete) axes, in-range non-negative bounds",
               vjp=_slice_vjp))


def _take_infer(types, attrs):
    x, idx = types
    require_dtype(idx, INTS, "indices")
    axis = attrs["axis"]
    if not 0 <= axis < x.rank:
        raise ShapeError(f"axis must be in [0, {x.rank}), got {axis} for {x}")
    return TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)


def check_indices(kind: str, idx: np.ndarray, size: int, axis: int) -> None:
    """IndexError unless every index is in [0, size)."""
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = idx[(idx < 0) | (idx >= size)].flat[0]
        raise IndexError(f"{kind}: index {bad} is out of range [0, {size}) on axis {axis}")


def _take_ref(xs, attrs):
    x, idx = xs
    check_indices("take", idx, x.shape[attrs["axis"]], attrs["axis"])
    return np.take(x, idx, axis=attrs["axis"])


def _take_vjp(op, cts):
    x, idx = op.operands
    return emit("scatter_add", zeros(x.type), idx, cts[0], axis=op.attrs["axis"]), None


register(OpDef("take", _take_infer, _take_ref, 2,
               attrs={"axis": Attr("int")}, traits=frozenset({MOVEMENT}),
               doc="gather slices of x along axis at indices in [0, size) (others are an error)",
               vjp=_take_vjp))


def _one_hot_infer(types, attrs):
    (idx,) = types
    require_dtype(idx, INTS, "indices")
    if attrs["depth"] <= 0:
        raise ShapeError(f"one_hot depth must be positive, got {attrs['depth']}")
    return TensorType(idx.shape + (attrs["depth"],), attrs["dtype"])


def _one_hot_ref(xs, attrs):
    return (xs[0][..., None] == np.arange(attrs["depth"])).astype(attrs["dtype"].numpy)


register(OpDef("one_hot", _one_hot_infer, _one_hot_ref, 1,
               attrs={"depth": Attr("int"), "dtype": Attr("dtype", DType.f32)},
               traits=frozenset({MOVEMENT}),
               doc="indices -> one-hot vectors of length depth (out-of-range rows are zero)",
               vjp=NO_GRADIENT))


def _iota_infer(types, attrs):
    shape, axis = attrs["shape"], attrs["axis"]
    if -1 in shape:
        raise ShapeError(f"iota shape {shape} may not contain -1")
    if not 0 <= axis < len(shape):
        raise ShapeError(f"iota axis must be in [0, {len(shape)}), got {axis}")
    if attrs["dtype"] == DType.bool:
        raise ShapeError("iota dtype must be f32/f64/i32/i64, got bool")
    return TensorType(shape, attrs["dtype"])


def _iota_ref(xs, attrs):
    shape, axis = attrs["shape"], attrs["axis"]
    ramp = np.arange(shape[axis], dtype=attrs["dtype"].numpy)
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return np.broadcast_to(ramp.reshape(view), shape).copy()


register(OpDef("iota", _iota_infer, _iota_ref, 0,
               attrs={"shape": Attr("shape"), "axis": Attr("int"), "dtype": Attr("dtype", DType.i32)},
               traits=frozenset({MOVEMENT}),
               doc="0, 1, 2, ... along axis, broadcast to shape (masks, positions)",
               vjp=NO_GRADIENT))
