"""``fg.ops``'s shape and movement functions: ``shape``, ``reshape`` (a -1 may stand for
the batch symbol), ``expand_dims``/``squeeze``, ``transpose``, ``broadcast_to``,
``concatenate``/``stack``, ``take``, ``one_hot`` and ``x[key]`` (:func:`getitem`). They
move or select elements without arithmetic; shapes are checked here, before the op is
emitted, with errors naming the function and the user's line. See :mod:`.ops`.
"""
from __future__ import annotations

import numpy as np

from ..ir import Sym, as_dtype, emit
from ..ir.types import symbolic_size
from .ops_coerce import _error, _wrap, cast, convert_to_tensor, normalize_axes, result_dtype
from .tensor import is_tensor
from .variables import Variable


def shape(x) -> tuple:
    """The static shape: ints, and dimension symbols (such as the batch ``B``) where the
    size is known only at run time; pass it on to ``reshape``, ``broadcast_to`` or
    ``fg.random`` functions."""
    return convert_to_tensor(x).type.shape


def dim_size(x, axis: int = 0, dtype="float32"):
    """The size of axis ``axis`` of ``x`` as a scalar tensor of ``dtype``, read from its
    shape when the graph runs, so a symbolic axis (the batch ``B``) is counted too. Not
    in ``fg.ops`` (Keras has no such op): the running means and losses count with it."""
    x = convert_to_tensor(x)
    (axis,) = normalize_axes(int(axis), x.ndim, op="dim_size")
    return _wrap(emit("dim_size", x.value, axis=axis, dtype=as_dtype(dtype)), (x,))


def _flat(kind, x):
    """``x`` as one axis (for axis=None), which needs every dimension known."""
    if x.type.symbols:
        raise _error(kind, f"axis=None flattens the tensor, but {x.type} has dims of unknown "
                           f"size {list(map(str, x.type.symbols))}; pass an axis")
    return reshape(x, (-1,))


# --- movement -------------------------------------------------------------------------
def reshape(x, newshape):
    """Reshape; a -1 stands for the one inferred size, which may be the batch dim."""
    x = convert_to_tensor(x)
    target = tuple(-1 if d is None else d for d in ((newshape,) if isinstance(newshape, int) else newshape))
    if target == x.type.shape:
        return x
    target = _place_symbols(x, target)
    return _wrap(emit("reshape", x.value, shape=target), (x,))


def _place_symbols(x, target):
    """Put the input's dimension symbols into a user's -1 (Keras code writes
    ``reshape(x, (-1, 4, 8))`` meaning "the batch dim")."""
    if -1 not in target or not x.type.symbols:
        return target
    n_in, syms = symbolic_size(x.type.shape)
    n_out, _ = symbolic_size(tuple(d for d in target if d != -1))
    if len(syms) == 1 and n_out == n_in:
        return tuple(Sym(syms[0]) if d == -1 else d for d in target)
    if n_out and n_in % n_out == 0 and len(syms) == 0:
        return target
    if len(syms) == 1:
        raise _error("reshape", f"cannot reshape {x.type} to {newshape_str(target)}: the -1 "
                                f"stands for the unknown dim {syms[0]}, so the other sizes must "
                                f"multiply to {n_in} (the size of {x.type} per {syms[0]}), "
                                f"got {n_out}")
    raise _error("reshape", f"cannot reshape {x.type} to {newshape_str(target)}: a -1 can stand "
                            f"for one unknown dim only, and {x.type} has {list(syms)}; keep "
                            f"each as its own axis")


def newshape_str(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def expand_dims(x, axis):
    x = convert_to_tensor(x)
    rank = x.ndim + 1
    if not isinstance(axis, (int, np.integer)) or not -rank <= axis < rank:
        raise _error("expand_dims", f"axis {axis!r} is out of range for {x.type}: expected an "
                                    f"int in [{-rank}, {rank})")
    shape = list(x.type.shape)
    shape.insert(axis % rank, 1)
    return _wrap(emit("reshape", x.value, shape=tuple(shape)), (x,))


def squeeze_axes(x, axes):
    axes = normalize_axes(tuple(axes), x.ndim, op="squeeze")
    for a in axes:
        if x.type.shape[a] != 1:
            raise _error("squeeze", f"cannot squeeze axis {a} of {x.type}: expected size 1, "
                                    f"its size is {x.type.shape[a]}")
    shape = tuple(d for i, d in enumerate(x.type.shape) if i not in axes)
    return _wrap(emit("reshape", x.value, shape=shape), (x,))


def squeeze(x, axis=None):
    x = convert_to_tensor(x)
    if axis is None:
        axis = [i for i, d in enumerate(x.type.shape) if d == 1]
    return squeeze_axes(x, (axis,) if isinstance(axis, int) else axis)


def transpose(x, axes=None):
    x = convert_to_tensor(x)
    if axes is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        normalize_axes(axes, x.ndim, op="transpose")  # ints, in range, no repeats
        perm = tuple(int(a) % x.ndim for a in axes)
        if len(perm) != x.ndim:
            raise _error("transpose", f"axes {tuple(axes)} must list each of the {x.ndim} axes "
                                      f"of {x.type} once")
    return _wrap(emit("transpose", x.value, perm=perm), (x,))


def broadcast_to(x, shape):
    x = convert_to_tensor(x)
    return _wrap(emit("broadcast_to", x.value, shape=tuple(shape)), (x,))


def concatenate(xs, axis=0):
    xs = [convert_to_tensor(t) for t in xs]
    if not xs:
        raise _error("concatenate", "expected a non-empty list of tensors, got none", ValueError)
    dtype = xs[0].type.dtype
    for t in xs[1:]:
        dtype = result_dtype(dtype, t.type.dtype)
    xs = [cast(t, dtype) for t in xs]
    (axis,) = normalize_axes(axis, xs[0].ndim, op="concatenate")
    return _wrap(emit("concatenate", *(t.value for t in xs), axis=axis), xs)


def stack(xs, axis=0):
    xs = [convert_to_tensor(t) for t in xs]
    return concatenate([expand_dims(t, axis) for t in xs], axis=axis)


def take(x, indices, axis=None):
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = _flat("take", x), 0
    (axis,) = normalize_axes(axis, x.ndim, op="take")
    dim = x.type.shape[axis]
    if not is_tensor(indices) and not isinstance(indices, Variable) and isinstance(dim, int):
        # indices known now: wrap negative ones (numpy's meaning) and check the range
        array = np.asarray(indices)
        if array.dtype.kind in "iu" and array.size:
            if array.min() < -dim or array.max() >= dim:
                raise _error("take", f"indices {array.tolist()} are out of range for axis "
                                     f"{axis} of {x.type}: expected ints in [{-dim}, {dim})",
                             IndexError)
            indices = np.where(array < 0, array + dim, array)
    idx = convert_to_tensor(indices)
    if not idx.type.dtype.is_int:
        idx = cast(idx, "int32")
    return _wrap(emit("take", x.value, idx.value, axis=axis), (x, idx))


def one_hot(x, num_classes, axis=-1, dtype="float32"):
    x = cast(x, "int32") if not convert_to_tensor(x).type.dtype.is_int else convert_to_tensor(x)
    out = _wrap(emit("one_hot", x.value, depth=int(num_classes), dtype=as_dtype(dtype)), (x,))
    if axis in (-1, out.ndim - 1):
        return out
    perm = list(range(out.ndim - 1))
    perm.insert(axis % out.ndim, out.ndim - 1)
    return transpose(out, perm)


def getitem(x, key):
    """``x[key]`` for ints, slices (positive step), ``None``, ``...``, and an int tensor or
    int array alone (a gather along axis 0)."""
    if is_tensor(key) or isinstance(key, (list, np.ndarray)):
        dtype = key.type.dtype.keras_name if is_tensor(key) else np.asarray(key).dtype.name
        if not dtype.startswith(("int", "uint")):
            raise _error("getitem", f"an index tensor must hold ints, got {dtype} values"
                         + ("; a boolean mask gives a shape that depends on the values: use "
                            "fg.ops.where(mask, x, 0) instead" if dtype == "bool" else ""),
                         IndexError)
        return take(x, key, axis=0)
    key = key if isinstance(key, tuple) else (key,)
    if len([k for k in key if k is Ellipsis]) > 1:
        raise _error("getitem", f"an index can have only one Ellipsis (...), got {key}", IndexError)
    used = len([k for k in key if k is not None and k is not Ellipsis])
    if used > x.ndim:
        raise _error("getitem", f"too many indices for {x.type}: expected at most {x.ndim}, "
                                f"got {used} in {key}", IndexError)
    ellipsis = [i for i, k in enumerate(key) if k is Ellipsis]  # `is`: keys may be arrays
    fill = (slice(None),) * (x.ndim - used)
    key = key[:ellipsis[0]] + fill + key[ellipsis[0] + 1:] if ellipsis else key + fill
    axes, begin, end, stride, out_shape = [], [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        dim = x.type.shape[axis]
        if isinstance(k, (int, np.integer)):
            size = _concrete(dim, axis, x)
            if not -size <= k < size:
                raise _error("getitem", f"index {k} is out of bounds for axis {axis} of {x.type}: "
                                        f"expected an int in [{-size}, {size})", IndexError)
            axes.append(axis); begin.append(int(k) % size); end.append(int(k) % size + 1); stride.append(1)
        elif isinstance(k, slice):
            if k == slice(None) or (isinstance(dim, Sym) and k in (slice(None, None, 1), slice(0, None))):
                out_shape.append(dim)
            else:
                b, e, s = k.indices(_concrete(dim, axis, x))
                if s <= 0:
                    raise _error("getitem", f"negative slice steps are not supported (axis "
                                            f"{axis}: {k}); expected a step > 0", IndexError)
                e = b if e < b else e
                axes.append(axis); begin.append(b); end.append(e); stride.append(s)
                out_shape.append(len(range(b, e, s)))
        else:
            raise _error("getitem", f"unsupported index {k!r} on axis {axis}: expected ints, "
                                    f"slices, None, ... or an int tensor", IndexError)
        axis += 1
    out = x
    if axes:
        out = _wrap(emit("slice", x.value, axes=tuple(axes), begin=tuple(begin), end=tuple(end),
                         stride=tuple(stride)), (x,))
    if tuple(out_shape) != out.type.shape:
        out = _wrap(emit("reshape", out.value, shape=tuple(out_shape)), (out,))
    return out


def _concrete(dim, axis, x) -> int:
    if isinstance(dim, Sym):
        raise _error("getitem", f"cannot index the symbolic dimension {dim} (axis {axis}) of "
                                f"{x.type} with an int or a partial slice: its size is unknown "
                                f"until the model runs; keep the whole axis (:)", IndexError)
    return dim
