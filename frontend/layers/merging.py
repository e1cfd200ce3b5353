"""The merge layers, as layers and as functions (``fg.layers.concatenate([...])``):
Concatenate, Dot (per-sample dot products), and the elementwise Add, Subtract,
Multiply, Average, Maximum, Minimum (inputs broadcast against each other, as Keras's ops
do).

A merge layer is called on a list (or tuple) of tensors: at least one for Concatenate,
exactly two for Subtract and Dot, at least two for the others, as in Keras. Anything else is a
ValueError naming the layer, the user's line, what it takes and what it got (a lone
tensor, a list too short or too long)."""
from __future__ import annotations

from functools import reduce

import numpy as np

from ...ir import Sym
from ...ir.builder import user_site
from .. import nn, ops
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


class Dot(_Merge):
    """Keras's ``Dot``: for each sample, the dot product of the two inputs along
    ``axes`` (one int for both, or one per input; never 0, the batch axis). The output
    has the first input's other axes, then the second's (its batch axis dropped), and
    is ``(batch, 1)`` when that leaves the batch axis alone, as Keras's ``batch_dot``.
    ``normalize=True`` L2-normalizes both along their axis first (the output is then the
    cosine similarity), as ``keras.ops.normalize`` does. Traced as one batched matmul:
    the first input's free axes are folded into one (they must then have known sizes
    when there are several), likewise the second's."""

    min_inputs = max_inputs = 2
    supports_masking = True       # masked inputs are taken; the output has no mask (Keras)

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: Dot"
        pair = tuple(axes) if isinstance(axes, (list, tuple)) else (axes, axes)
        if len(pair) != 2 or not all(isinstance(a, (int, np.integer))
                                     and not isinstance(a, bool) for a in pair):
            raise ValueError(f"{owner}: `axes` must be an int or a list of two ints, got "
                             f"{axes!r}")
        self.axes, self.normalize = axes, normalize

    def call(self, inputs):
        x, y = (ops.convert_to_tensor(t) for t in self._inputs(inputs))
        pair = self.axes if isinstance(self.axes, (list, tuple)) else (self.axes, self.axes)
        a, b = self._axis(x, pair[0]), self._axis(y, pair[1])
        if x.type.shape[a] != y.type.shape[b]:
            raise ValueError(f"{user_site()}: layer '{self.name}' (Dot): axis {a} of the first "
                             f"input (size {x.shape[a]}) and axis {b} of the second (size "
                             f"{y.shape[b]}) must have the same size; shapes {x.shape} and "
                             f"{y.shape}")
        if self.normalize:
            x, y = nn.normalize(x, a), nn.normalize(y, b)
        x_rest = x.type.shape[1:a] + x.type.shape[a + 1:]
        y_rest = y.type.shape[1:b] + y.type.shape[b + 1:]
        batch = x.type.shape[0]
        # x as (batch, rows, k), y as (batch, k, cols): one batched matmul
        x = ops.transpose(x, (0, *[i for i in range(1, x.ndim) if i != a], a))
        y = ops.transpose(y, (0, b, *[i for i in range(1, y.ndim) if i != b]))
        x = ops.reshape(x, (batch, self._fold(x_rest, x.shape, "first"), x.type.shape[-1]))
        y = ops.reshape(y, (batch, y.type.shape[1], self._fold(y_rest, y.shape, "second")))
        out_rest = x_rest + y_rest
        return ops.reshape(ops.matmul(x, y), (batch, *(out_rest or (1,))))

    def compute_mask(self, inputs, mask=None):
        return None

    def _axis(self, x, axis) -> int:
        """``axis`` of ``x`` as a non-negative int, checked: in range, not the batch axis."""
        if x.ndim < 2 or not -x.ndim <= axis < x.ndim or axis % x.ndim == 0:
            raise ValueError(f"{user_site()}: layer '{self.name}' (Dot): axis {axis} is not a "
                             f"non-batch axis of an input of shape {x.shape} (Dot takes inputs "
                             f"of rank >= 2 and never sums over axis 0)")
        return int(axis) % x.ndim

    def _fold(self, rest, shape, which):
        """The size of ``rest`` folded into one axis (1 when empty; the symbol itself when
        it is one unknown axis)."""
        if len(rest) == 1:
            return rest[0]
        if any(isinstance(d, Sym) for d in rest):
            raise ValueError(f"{user_site()}: layer '{self.name}' (Dot): the {which} input's "
                             f"axes other than the batch and summed axes must have known sizes "
                             f"when there are several of them, got shape {shape}")
        return int(np.prod(rest, dtype=np.int64))


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    return Dot(axes=axes, **kwargs)(inputs)


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
