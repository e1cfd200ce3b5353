"""``fg.ops``'s constructors: ``full``/``zeros``/``ones`` (and their ``_like`` forms),
``arange`` and ``iota``; tensors made from a shape and a value, not from operands. A shape
may hold dimension symbols (the batch ``B`` from ``fg.ops.shape``). See :mod:`.ops`.
"""
from __future__ import annotations

import numpy as np

from ..ir import Sym, as_dtype, emit
from .ops_coerce import _error, _wrap, convert_to_tensor
from .ops_math import add, multiply
from .ops_shape import broadcast_to


def full(shape, fill_value, dtype="float32"):
    """A tensor of ``shape`` (an int, or a tuple of ints and symbols from ``fg.ops.shape``)
    filled with a number."""
    shape = (shape,) if isinstance(shape, (int, np.integer, Sym)) else tuple(shape)
    return broadcast_to(convert_to_tensor(fill_value, dtype), shape)


def zeros(shape, dtype="float32"):
    return full(shape, 0, dtype)


def ones(shape, dtype="float32"):
    return full(shape, 1, dtype)


def full_like(x, fill_value, dtype=None):
    x = convert_to_tensor(x)
    return full(x.type.shape, fill_value, dtype or x.type.dtype)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)


def arange(start, stop=None, step=1, dtype=None):
    """numpy's arange; ``dtype`` None gives int32 for int arguments, else float32."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise _error("arange", "step must be nonzero, got 0", ValueError)
    if dtype is None:
        dtype = "int32" if all(isinstance(v, (int, np.integer)) for v in (start, stop, step)) \
            else "float32"
    n = int(np.ceil((stop - start) / step)) if (stop - start) * step > 0 else 0
    ramp = _wrap(emit("iota", shape=(n,), axis=0, dtype=as_dtype(dtype)), ())
    if step != 1:
        ramp = multiply(ramp, step)
    return add(ramp, start) if start else ramp


def iota(shape, axis, dtype="int32"):
    """0, 1, 2, ... along ``axis`` of a tensor of ``shape`` (fusegraph extension)."""
    return _wrap(emit("iota", shape=tuple(shape), axis=axis, dtype=as_dtype(dtype)), ())

