"""Concatenate and Add, as layers and as functions (``fg.layers.concatenate([...])``).

A merge layer is called on a list (or tuple) of tensors: at least one for Concatenate,
at least two for Add, as in Keras. Anything else is a ValueError naming the layer, the
user's line, what it takes and what it got (a lone tensor, a list too short)."""
from __future__ import annotations

from functools import reduce

from ...ir.builder import user_site
from .. import ops
from ..layer import Layer
from ..tensor import is_symbolic


class _Merge(Layer):
    """Base of the merge layers: ``call`` gets the checked list of input tensors."""

    min_inputs = 1

    def _inputs(self, inputs) -> list:
        expected = (f"a list of at least {self.min_inputs} tensor"
                    + ("s" if self.min_inputs > 1 else ""))
        if not isinstance(inputs, (list, tuple)):
            got = f"one tensor {inputs!r}" if is_symbolic(inputs) else \
                f"{type(inputs).__name__} {inputs!r}"
            raise ValueError(f"{user_site()}: layer '{self.name}' ({type(self).__name__}) "
                             f"takes {expected} to merge, got {got}; pass [a, b, ...]")
        if len(inputs) < self.min_inputs:
            raise ValueError(f"{user_site()}: layer '{self.name}' ({type(self).__name__}) "
                             f"takes {expected} to merge, got {len(inputs)}")
        return list(inputs)


class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return ops.concatenate(self._inputs(inputs), axis=self.axis)


class Add(_Merge):
    min_inputs = 2

    def call(self, inputs):
        return reduce(ops.add, self._inputs(inputs))


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)
