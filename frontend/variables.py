"""Variables: named, shaped numpy state (weights) that graphs read as parameters."""
from __future__ import annotations

import weakref

import numpy as np

from ..ir import TensorType, Value, as_dtype
from ..ir.builder import current_layer_path, user_site
from . import state
from .naming import unique_path
from .tensor import SymbolicTensor, TraceError, is_symbolic

_BY_SYMBOL: "weakref.WeakValueDictionary[int, Variable]" = weakref.WeakValueDictionary()


def variable_of(value: Value) -> "Variable | None":
    """The Variable whose parameter Value is ``value``, if any."""
    return _BY_SYMBOL.get(id(value))


class Variable:
    """A weight. ``symbol`` is the IR parameter Value every graph that reads it uses, so a
    layer called twice shares its weights. ``path`` is unique in the session
    (``dense/kernel``) and is the parameter's name in printed IR."""

    def __init__(self, value, name: str, path: str, trainable: bool = True, dtype="float32"):
        self.dtype = as_dtype(dtype)
        self._value = np.array(value, dtype=self.dtype.numpy)
        self.name = name
        self.path = unique_path(path)
        self.trainable = trainable
        self.symbol = Value(TensorType(self._value.shape, self.dtype), name=self.path)
        _BY_SYMBOL[id(self.symbol)] = self

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def value(self) -> np.ndarray:
        return self._value

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def read_value(self):
        """The variable as a symbolic tensor: its latest value assigned in the current
        trace, else its parameter."""
        trace = state.current()
        latest = trace.latest(self) if trace is not None else None
        return latest if latest is not None else SymbolicTensor(self.symbol, None, self.path)

    def assign(self, value) -> None:
        """Replace the value. A symbolic value (inside a traced function or step) is
        recorded as an update the runtime applies after the step; an array is applied
        now. The shape must stay the same; it is checked before anything changes.
        Another Variable stands for its value (inside a trace, its latest value there)."""
        if isinstance(value, Variable):
            value = value.read_value() if state.current() is not None else value.value
        if is_symbolic(value):
            self._assign_symbolic(value)
            return
        array = np.asarray(value)
        if array.shape != self._value.shape:
            raise ValueError(f"cannot assign a value of shape {array.shape} to variable "
                             f"'{self.path}' of shape {self._value.shape}")
        self._value = array.astype(self.dtype.numpy, copy=True)

    def adopt(self, array: np.ndarray) -> None:
        """Take ``array`` as the new value without copying it, when it owns its data, is
        C-contiguous and has the variable's dtype and shape (a step's fresh result); else
        copy as ``assign`` does. The runtime's commit uses this: no per-step copy of every
        weight. Only for an array nobody else holds: a graph run's results are such
        arrays (``TracedGraph.run`` copies a result that is one of the run's arguments —
        the caller's input, another variable's value — or that repeats another result);
        a view is copied here."""
        if (isinstance(array, np.ndarray) and array.base is None and array.flags.c_contiguous
                and array.dtype == self.dtype.numpy and array.shape == self._value.shape):
            self._value = array
        else:
            self.assign(array)

    def _assign_symbolic(self, tensor) -> None:
        trace = state.current()
        if trace is None or not trace.accepts(self):
            layer = current_layer_path()
            where = (f" (in layer '{layer}', whose call is traced to build a model: only "
                     f"its own weights' updates become part of the model's step; this "
                     f"variable's would have no step to happen in)" if layer else "")
            raise TraceError(f"{user_site()}: variable '{self.path}' was assigned a symbolic "
                             f"value outside a traced step{where}; assign inside fg.function "
                             f"or train_step, or assign a numpy array")
        if tensor.type.shape != self.symbol.type.shape:
            raise ValueError(f"{user_site()}: cannot assign a value of shape {tensor.shape} to "
                             f"variable '{self.path}' of shape {self.shape}")
        from . import ops
        trace.assign(self, ops.cast(tensor, self.dtype))

    def assign_add(self, delta) -> None:
        self._update(delta, "add")

    def assign_sub(self, delta) -> None:
        self._update(delta, "subtract")

    def _update(self, delta, how: str) -> None:
        """Inside a trace (or with a symbolic delta) an op and a recorded update, as
        ``assign``; outside one, numpy now (an add needs no compiled graph)."""
        from . import ops
        from .dispatch import traced_call
        if traced_call(delta):
            self.assign(getattr(ops, how)(self.read_value(), delta))
        else:
            self.assign(getattr(np, how)(self._value, np.asarray(delta, self.dtype.numpy)))

    def __repr__(self) -> str:
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype.keras_name}>"
