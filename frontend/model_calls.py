"""What a model is called with: its inputs matched and checked, its other arguments keyed.

Inputs come as one tensor or array, a list, or a dict by input name
(:func:`match_inputs`). Arrays are checked against their input's rank and known sizes
and converted to its dtype where no information is lost (:func:`check_array`); inputs
sharing a size symbol (the batch axis) must agree on it (:func:`check_shared_sizes`).
Symbolic tensors are checked the same way and a float or int tensor for a float input
is cast (:func:`check_tensor`). Each error names the model, the input, what was expected
and what was given. An eager call's other arguments are keyed by :func:`call_key` (one
trace per key).
"""
from __future__ import annotations

import numpy as np

from ..ir import BATCH, Sym
from ..ir.builder import user_site
from ..ir.errors import ShapeError
from . import ops
from .checks import cast_in_range
from .function import _is_array, _leaf_key
from .naming import key_mismatch
from .nest import flatten, treedef
from .tensor import SymbolicTensor, is_symbolic


def call_key(extras, contents: bool = True) -> tuple:
    """A hashable key of an eager call's arguments other than its inputs: their nesting,
    then each leaf as ``fg.function`` keys a static argument (by value; a Variable by
    identity), an array by its dtype, shape and contents (it is a constant of the trace;
    without ``contents``, by its dtype and shape only)."""
    leaves = flatten(extras)
    return (treedef(extras),) + tuple(
        ("array", x.dtype.str, x.shape) + ((x.tobytes(),) if contents else ())
        if _is_array(x) else _leaf_key(x, False)
        for x in (np.asarray(leaf) if _is_array(leaf) else leaf for leaf in leaves))


def match_inputs(model_name: str, f, x, convert: bool) -> list:
    """The inputs of the model ``model_name`` (its traced graph ``f``), in order, from a
    tensor/array, a list, or a dict by name; with ``convert``, as checked arrays."""
    names = [t.name for t in f.flat_inputs]
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        unknown = [k for k in x if k not in names]
        if missing or unknown:
            raise KeyError(f"model '{model_name}': "
                           + key_mismatch("input", missing, unknown, names))
        items = [x[n] for n in names]
    else:
        items = flatten(x) if isinstance(x, (list, tuple)) else [x]
        if len(items) != len(names):
            nested = isinstance(x, list) and not any(
                _is_array(i) or is_symbolic(i) for i in items)
            raise ValueError(f"model '{model_name}' expects {len(names)} input(s) {names}, "
                             f"got {len(items)}" + (
                                 " (a Python list is read as a list of inputs: pass "
                                 "np.asarray(...) for one input)" if nested else ""))
    if not convert:
        return items
    arrays = [check_array(model_name, t, a) for t, a in zip(f.flat_inputs, items)]
    check_shared_sizes(model_name, f.flat_inputs, arrays)
    return arrays


def check_tensor(model_name: str, input_tensor, x) -> SymbolicTensor:
    """``x`` (a tensor the model ``model_name`` is called on) as a value for
    ``input_tensor``: of its rank, its sizes where both are known (a symbolic size against
    a fixed one is checked when the graph runs) and its dtype (a float or int tensor for a
    float input is cast, as arrays are), else an error naming the model, the input and the
    caller's line."""
    x = ops.convert_to_tensor(x)
    want, got = input_tensor.type, x.type
    where = f"{user_site()}: model '{model_name}', input '{input_tensor.name}'"
    expected = tuple(None if isinstance(d, Sym) else d for d in want.shape)
    if got.rank != want.rank or any(
            isinstance(w, int) and isinstance(g, int) and w != g
            for w, g in zip(want.shape, got.shape)):
        raise ShapeError(f"{where}: expected a tensor of shape {expected} (None = any "
                         f"size), got shape {x.shape}")
    if got.dtype != want.dtype:
        if want.dtype.is_int or got.dtype.numpy.kind not in "biuf":
            raise TypeError(f"{where}: expected {want.dtype.keras_name} values, got a "
                            f"{got.dtype.keras_name} tensor")
        x = ops.cast(x, want.dtype)
    return x


def check_shared_sizes(model_name: str, inputs, arrays) -> None:
    """Inputs sharing a size symbol (the batch axis) got arrays of one size there."""
    first: dict = {}
    for t, a in zip(inputs, arrays):
        for axis, d in enumerate(t.type.shape):
            if not isinstance(d, Sym):
                continue
            other = first.setdefault(d, (t.name, axis, a.shape[axis]))
            if other[2] != a.shape[axis]:
                what = "batch sizes" if d == BATCH else f"sizes of {d}"
                raise ValueError(f"model '{model_name}': the inputs have different {what}: "
                                 f"input '{other[0]}' has {other[2]} (axis {other[1]}), input "
                                 f"'{t.name}' has {a.shape[axis]} (axis {axis})")


def constant_note(x, args) -> str:
    """For an error tracing a model's call: which other positional arguments are arrays
    with the inputs' batch size, taken as constants of the trace."""
    batch = {np.shape(a)[0] for a in flatten(x) if np.ndim(a)}
    which = [f"argument {i + 2} (shape {np.shape(a)})" for i, a in enumerate(args)
             if _is_array(a) and np.ndim(a) and np.shape(a)[0] in batch]
    if not which:
        return ""
    return (f" (note: the model's inputs are its first argument only; its positional "
            f"{', '.join(which)} is a constant of the trace, with a fixed first axis, not an "
            f"input with a batch axis: pass several inputs as one list, model([a, b]), with "
            f"call(self, inputs) unpacking them)")


def check_array(model_name: str, tensor, x) -> np.ndarray:
    """``x`` as an array for the input ``tensor``: its rank and known sizes; numbers,
    converted to the input's dtype without loss (an int out of an int input's range, or
    floats for an int input, refused)."""
    array = np.asarray(x)
    t = tensor.type
    where = f"model '{model_name}', input '{tensor.name}'"
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected an array of numbers, got {brief(x)}")
    expected = tuple(None if isinstance(d, Sym) else d for d in t.shape)
    if array.ndim != t.rank or any(d is not None and d != n for d, n in zip(expected, array.shape)):
        raise ValueError(f"{where}: expected an array of shape {expected} (None = any size), "
                         f"got shape {array.shape}")
    if array.dtype != t.dtype.numpy:
        if t.dtype.is_int and array.dtype.kind == "f":
            raise TypeError(f"{where}: expected {t.dtype.keras_name} values, got {array.dtype}; "
                            f"cast them with .astype('{t.dtype.keras_name}') if they are indices")
        array = cast_in_range(array, t.dtype.numpy, where)
    return array


def brief(x) -> str:
    """``x`` for an error message: an array by its dtype and shape, else its repr (cut)."""
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."
