"""Concatenate and Add, as layers and as functions (``fg.layers.concatenate([...])``)."""
from __future__ import annotations

from functools import reduce

from .. import ops
from ..layer import Layer


class Concatenate(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return ops.concatenate(list(inputs), axis=self.axis)


class Add(Layer):
    def call(self, inputs):
        return reduce(ops.add, list(inputs))


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)
