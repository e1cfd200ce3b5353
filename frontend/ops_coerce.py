"""Coercion of Python values to symbolic tensors, the dtype rules, and the helpers the
``fg.ops`` functions share (see :mod:`.ops` for the contract).

* :func:`convert_to_tensor` and :func:`cast`: a tensor, number or array as a symbolic
  tensor of a dtype; numbers that do not fit are a ValueError at the user's line.
* :func:`result_dtype` and ``_coerce_pair``: Keras's promotion and weak typing of Python
  numbers, so two operands reach an op with one dtype.
* :func:`normalize_axes`: an ``axis`` argument as sorted non-negative ints, checked.
* ``_error``, ``_wrap``, ``_unary``, ``_binary``, ``_float``: errors prefixed with the
  layer and the user's ``file:line``; one emitted op as a :class:`SymbolicTensor`.
"""
from __future__ import annotations

import numpy as np

from ..ir import DType, as_dtype, emit
from ..ir.builder import user_location
from ..ir.errors import ShapeError
from ..ir.types import promote
from .checks import cast_in_range
from . import eager
from .tensor import CallRecord, SymbolicTensor, is_symbolic, is_tensor
from .variables import Variable


# --- errors -----------------------------------------------------------------------
def _error(kind, message: str, error=ShapeError) -> Exception:
    """``error`` prefixed like emit's errors: ``layer 'dense' at model.py:12: reshape: ...``
    (the layer only inside one; ``kind`` may be None)."""
    loc = user_location()
    where = " ".join(part for part in (f"layer '{loc.layer}'" if loc.layer else "",
                                        f"at {loc.file}:{loc.line}" if loc.file else "") if part)
    return error(f"{where or 'fg.ops'}: " + (f"{kind}: " if kind else "") + message)


# --- conversion -------------------------------------------------------------------
def _wrap(value, inputs) -> SymbolicTensor:
    """The tensor of an emitted op's result: outside a trace, with every operand's value
    known, the op runs now (an eager tensor, :mod:`.eager`)."""
    if eager.running_eagerly():
        tensors = eager.run_op(value.producer, keep_history=False)
        if tensors is not None:
            return tensors[value.index]
        value = eager.leaves_as_constants(value.producer).results[value.index]
    return SymbolicTensor(value, CallRecord(None, tuple(t for t in inputs if is_symbolic(t))))


def convert_to_tensor(x, dtype=None) -> SymbolicTensor:
    """A symbolic tensor for ``x``: tensors pass through (cast if ``dtype`` differs);
    numbers and arrays become constants (integers default to int32). A number that does
    not fit an integer dtype is a ValueError at the user's line, not wrapped around;
    anything else (None, strings) a TypeError there."""
    if isinstance(x, Variable):
        x = x.read_value()
    if is_tensor(x) and not (x.concrete and not eager.running_eagerly()):
        return x if dtype is None or as_dtype(dtype) == x.type.dtype else cast(x, dtype)
    if is_tensor(x):            # an eager tensor in a trace: a constant of its value
        x = x.numpy()
    try:
        array = np.asarray(x)
    except ValueError:   # a ragged nested list
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":
        raise _error(None, f"expected a tensor, a number or an array of numbers, got "
                           f"{x!r:.60} ({type(x).__name__})", TypeError)
    if dtype is None:
        dtype = as_dtype("float32" if array.dtype.kind == "f" else
                         "bool" if array.dtype.kind == "b" else "int32")
    dtype = as_dtype(dtype)
    try:
        value = cast_in_range(array, dtype.numpy, f"a constant of dtype {dtype.keras_name}")
    except ValueError as error:
        fix = "cast the tensor to int64 first, or use a float" if dtype == DType.i32 \
            else "use a float"
        raise _error(None, f"{error} ({fix})", ValueError) from None
    if eager.running_eagerly():
        return eager.constant(value)            # a leaf: no constant op holding a list
    return _wrap(emit("constant", value=value.tolist(), dtype=dtype), ())


def _python_scalar_dtype(x, other: DType) -> DType:
    if isinstance(x, bool):
        return DType.bool
    if isinstance(x, int):
        return other if other != DType.bool else DType.i32
    return other if other.is_float else DType.f32


def _coerce_pair(a, b):
    """Two symbolic tensors of one dtype (Keras's weak typing for Python numbers)."""
    a, b = (convert_to_tensor(t) if isinstance(t, Variable) or is_tensor(t) else t
            for t in (a, b))
    if not is_tensor(a) and not is_tensor(b):
        a = convert_to_tensor(a)
    if not is_tensor(a):
        a = convert_to_tensor(a, _weak_dtype(a, b.type.dtype))
    if not is_tensor(b):
        b = convert_to_tensor(b, _weak_dtype(b, a.type.dtype))
    if a.type.dtype != b.type.dtype:
        dtype = result_dtype(a.type.dtype, b.type.dtype)
        a, b = cast(a, dtype), cast(b, dtype)
    return a, b


def result_dtype(a: DType, b: DType) -> DType:
    """Keras's promotion of two tensor dtypes: an int or bool with a float gives that float
    (int32 + float32 -> float32); otherwise numpy's rule (f32 + f64 -> f64)."""
    if a.is_float != b.is_float:
        return a if a.is_float else b
    return promote(a, b)


def _weak_dtype(x, other: DType) -> DType:
    """The dtype of a constant ``x`` meeting a tensor of dtype ``other``: Python numbers
    are weak (see :func:`_python_scalar_dtype`), float arrays take a float ``other``;
    int and bool arrays keep theirs (uint32/uint64 as int64, narrower ints as int32).
    Anything else is left to :func:`convert_to_tensor` to refuse."""
    if isinstance(x, (bool, int, float)):
        return _python_scalar_dtype(x, other)
    dtype = np.asarray(x).dtype
    if dtype.kind == "f":
        return other if other.is_float else DType.f32
    if dtype.kind == "b":
        return DType.bool
    if dtype.kind in "iu":
        return DType.i64 if dtype.itemsize == 8 or dtype == np.uint32 else DType.i32
    return other


def _unary(kind, x):
    x = convert_to_tensor(x)
    return _wrap(emit(kind, x.value), (x,))


def _binary(kind, a, b):
    a, b = _coerce_pair(a, b)
    return _wrap(emit(kind, a.value, b.value), (a, b))


def _float(x):
    x = convert_to_tensor(x)
    return x if x.type.dtype.is_float else cast(x, "float32")


def cast(x, dtype):
    x = convert_to_tensor(x)
    dtype = as_dtype(dtype)
    if x.type.dtype == dtype:
        return x
    return _wrap(emit("cast", x.value, dtype=dtype), (x,))


def normalize_axes(axis, rank: int, what: str = "axis", op=None) -> tuple:
    """``None`` -> all axes; an int or sequence -> sorted, non-negative, checked. Errors
    name ``op`` (the function the user called) and the user's line."""
    if axis is None:
        return tuple(range(rank))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise _error(op, f"{what} must be an int, a tuple of ints or None, got {axis!r}", TypeError)
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise _error(op, f"{what} {a} is out of range for a tensor of rank {rank}: "
                             f"expected an int in [{-rank}, {rank})")
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise _error(op, f"{what} {axis} repeats an axis (rank {rank})")
    return tuple(sorted(out))
