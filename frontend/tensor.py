"""Symbolic tensors: what Keras-style code manipulates while fusegraph traces it.

A :class:`SymbolicTensor` wraps one IR :class:`~fusegraph.ir.Value` (typed at birth) and
remembers how it was made (:class:`CallRecord`: the layer, or None for a plain op, and
the tensors it was called on), so a functional ``Model`` can find its layers. Python
operators emit ops through :mod:`.ops`. Using a symbolic tensor where Python needs a
concrete value (``if``, ``bool()``, ``for``, ``len``, ``int``, ``np.asarray``) raises :class:`TraceError`
naming the user's line and what to write instead.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..ir import Sym, TensorType, Value
from ..ir.builder import register_internal_dir, user_site
from ..ir.errors import FusegraphError

_call_counter = itertools.count()
# numpy calls back into tensors (``__array__``, reflected operators); its frames are never
# the user's line.
register_internal_dir(np.__file__)


class TraceError(FusegraphError, TypeError):
    """A symbolic tensor was used where Python needs a concrete value."""


@dataclass(eq=False)
class CallRecord:
    """One call of a layer (``layer`` set) or of a plain op (``layer`` None).
    ``updates``: (variable, new symbolic value) pairs the call made outside any trace
    (a model built from the call carries them; see :mod:`.state`). ``arguments``: a
    layer call's (args, kwargs) as given (a functional model's config names them); None
    for a plain op."""

    layer: object
    inputs: tuple
    outputs: tuple = ()
    seq: int = field(default_factory=lambda: next(_call_counter))
    updates: tuple = ()
    arguments: tuple | None = None


class SymbolicTensor:
    """A traced tensor. ``shape`` follows Keras: unknown sizes (symbols) are ``None``.
    ``concrete``: whether it also has a value (an eager tensor, :mod:`.eager`)."""

    __array_priority__ = 1000  # numpy defers ``ndarray + tensor`` to our operators
    concrete = False
    _keras_mask = None         # its mask (a bool tensor, batch and steps), as Keras's

    def __init__(self, value: Value, record: CallRecord | None = None, name: str | None = None):
        self.value = value
        self.record = record
        self.name = name or value.name

    # --- type information -------------------------------------------------------
    @property
    def type(self) -> TensorType:
        return self.value.type

    @property
    def shape(self) -> tuple:
        return tuple(None if isinstance(d, Sym) else d for d in self.value.type.shape)

    @property
    def dtype(self) -> str:
        return self.value.type.dtype.keras_name

    @property
    def ndim(self) -> int:
        return self.value.type.rank

    def __repr__(self) -> str:
        name = f" name={self.name}" if self.name else ""
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype}{name}>"

    # --- operators --------------------------------------------------------------
    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().subtract(self, other)
    def __rsub__(self, other): return _ops().subtract(other, self)
    def __mul__(self, other): return _ops().multiply(self, other)
    def __rmul__(self, other): return _ops().multiply(other, self)
    def __truediv__(self, other): return _ops().divide(self, other)
    def __rtruediv__(self, other): return _ops().divide(other, self)
    def __matmul__(self, other): return _ops().matmul(self, other)
    def __rmatmul__(self, other): return _ops().matmul(other, self)
    def __pow__(self, other): return _ops().power(self, other)
    def __rpow__(self, other): return _ops().power(other, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)
    def __lt__(self, other): return _ops().less(self, other)
    def __le__(self, other): return _ops().less_equal(self, other)
    def __gt__(self, other): return _ops().greater(self, other)
    def __ge__(self, other): return _ops().greater_equal(self, other)
    def __eq__(self, other): return _ops().equal(self, other)
    def __ne__(self, other): return _ops().not_equal(self, other)
    def __and__(self, other): return _ops().logical_and(self, other)
    def __or__(self, other): return _ops().logical_or(self, other)
    def __invert__(self): return _ops().logical_not(self)
    def __getitem__(self, key): return _ops().getitem(self, key)
    __hash__ = object.__hash__

    # --- Python control flow is not traced ----------------------------------------
    def __bool__(self):
        raise TraceError(
            f"{user_site()}: a symbolic tensor ({self._describe()}) was used as a Python bool "
            f"(in an `if`, `while`, `and`/`or` or `bool()`); its value is unknown while "
            f"tracing. Choose elementwise with fg.ops.where(condition, x, y), or branch on "
            f"Python values (shapes, layer config) instead.")

    def __iter__(self):
        raise TraceError(
            f"{user_site()}: cannot iterate over a symbolic tensor ({self._describe()}) while "
            f"tracing. Index it explicitly (x[:, i] for i in range(n), with n a Python int "
            f"such as x.shape[1]) or use an op that works on the whole tensor.")

    def __len__(self):
        raise TraceError(
            f"{user_site()}: len() of a symbolic tensor ({self._describe()}) is unknown while "
            f"tracing; use x.shape[0] (None for the batch dimension).")

    def _no_scalar(self, *_):
        raise TraceError(
            f"{user_site()}: a symbolic tensor ({self._describe()}) was converted to a Python "
            f"number (int(), float(), range() or a list index) {_when()}. Keep it a tensor (fg.ops.* on it; choose values "
            f"with fg.ops.where(condition, x, y)), or use a Python int such as a size from "
            f"x.shape.")

    __index__ = __int__ = __float__ = _no_scalar

    def __array__(self, *_, **__):
        raise TraceError(
            f"{user_site()}: a symbolic tensor ({self._describe()}) was passed to numpy "
            f"(np.asarray or an np.* function) {_when()}. Use the fg.ops function of the same name (fg.ops.mean, ...).")

    def _describe(self) -> str:
        name = f"'{self.name}' " if self.name else ""
        return f"{name}of type {self.type}"


def _when() -> str:
    """Why a symbolic tensor has no values here: inside a trace, they exist once the
    graph runs; outside one, the tensor is a graph value that nothing will run as it is."""
    from . import state
    if state.current() is not None:
        return "while tracing; its value is unknown until the model runs"
    return ("outside any traced function: it is a value of a graph being built (an "
            "fg.Input, or a layer or fg.ops called on one), not a result. Call the model "
            "built from it on arrays, or run fg.ops on arrays or eager tensors (they compute "
            "at once), or trace the computation with fg.function and call that on arrays")


def _ops():
    from . import ops
    return ops


def is_symbolic(x) -> bool:
    """A tensor of a graph being built or traced, with no value (not an eager tensor)."""
    return isinstance(x, SymbolicTensor) and not x.concrete


def is_tensor(x) -> bool:
    """A symbolic or an eager tensor: what the ``fg.ops`` functions take as an operand."""
    return isinstance(x, SymbolicTensor)
