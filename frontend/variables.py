"""Variables: named, shaped numpy state (weights) that graphs read as parameters."""
from __future__ import annotations

import weakref

import numpy as np

from ..ir import TensorType, Value, as_dtype
from .naming import unique_path

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

    def assign(self, value) -> None:
        """Replace the value; the shape must stay the same (checked before anything changes)."""
        array = np.asarray(value)
        if array.shape != self._value.shape:
            raise ValueError(f"cannot assign a value of shape {array.shape} to variable "
                             f"'{self.path}' of shape {self._value.shape}")
        self._value = array.astype(self.dtype.numpy, copy=True)

    def __repr__(self) -> str:
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype.keras_name}>"
