"""The merge layers, as layers and as functions (``fg.layers.concatenate([...])``):
Concatenate, and the elementwise Add, Subtract, Multiply, Average, Maximum, Minimum
(inputs broadcast against each other, as Keras's ops do).

A merge layer is called on a list (or tuple) of tensors: at least one for Concatenate,
exactly two for Subtract, at least two for the others, as in Keras. Anything else is a
ValueError naming the layer, the user's line, what it takes and what it got (a lone
tensor, a list too short or too long)."""
from __future__ import annotations

from functools import reduce

from ...ir.builder import user_site
from .. import ops
from ..layer import Layer
from ..tensor import is_symbolic


class _Merge(Layer):
    """Base of the merge layers: ``call`` gets the checked list of input tensors."""

    min_inputs = 1
    max_inputs = None

    def _inputs(self, inputs) -> list:
        expected = (f"a list of {'at least ' if self.max_inputs is None else ''}"
                    f"{self.min_inputs} tensor" + ("s" if self.min_inputs > 1 else ""))
        if not isinstance(inputs, (list, tuple)):
            got = f"one tensor {inputs!r}" if is_symbolic(inputs) else \
                f"{type(inputs).__name__} {inputs!r}"
            raise ValueError(f"{user_site()}: layer '{self.name}' ({type(self).__name__}) "
                             f"takes {expected} to merge, got {got}; pass [a, b, ...]")
        if len(inputs) < self.min_inputs or len(inputs) > (self.max_inputs or len(inputs)):
            raise ValueError(f"{user_site()}: layer '{self.name}' ({type(self).__name__}) "
                             f"takes {expected} to merge, got {len(inputs)}")
        return list(inputs)


class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return ops.concatenate(self._inputs(inputs), axis=self.axis)


class _Elementwise(_Merge):
    """A merge folding its inputs with one elementwise ``op``, left to right."""

    min_inputs = 2
    op: staticmethod     # each subclass's elementwise op

    def call(self, inputs):
        return reduce(self.op, self._inputs(inputs))


class Add(_Elementwise):
    op = staticmethod(ops.add)


class Subtract(_Elementwise):
    max_inputs = 2
    op = staticmethod(ops.subtract)


class Multiply(_Elementwise):
    op = staticmethod(ops.multiply)


class Maximum(_Elementwise):
    op = staticmethod(ops.maximum)


class Minimum(_Elementwise):
    op = staticmethod(ops.minimum)


class Average(_Elementwise):
    def call(self, inputs):
        inputs = self._inputs(inputs)
        return ops.divide(reduce(ops.add, inputs), float(len(inputs)))


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)
