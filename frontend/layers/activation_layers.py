"""Keras's activation layers with arguments: ReLU, LeakyReLU, PReLU (a learned slope),
ELU, Softmax, and the Identity layer. Each passes its input's mask through, as Keras's
do (Softmax reads it: masked positions get no probability)."""
from __future__ import annotations

import numpy as np

from ...ir import Sym
from ...ir.builder import user_site
from .. import constraints, initializers, nn, ops, regularizers
from ..checks import check_number
from ..layer import Layer
from .core import incompatible

# What Keras 3 adds to a masked logit before a softmax (float32's "large negative").
MASKED_LOGIT = -1e9


class _Elementwise(Layer):
    single_input = True
    supports_masking = True


class ReLU(_Elementwise):
    """``max_value`` where ``x >= max_value``; ``x`` from ``threshold`` on; below it
    ``negative_slope * (x - threshold)`` (Keras's ``relu`` with its three arguments)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            check_number(f"ReLU '{self.name}'", "max_value", max_value, 0, None)
        check_number(f"ReLU '{self.name}'", "negative_slope", negative_slope, 0, None)
        check_number(f"ReLU '{self.name}'", "threshold", threshold)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        below = (ops.multiply(ops.subtract(inputs, self.threshold), float(self.negative_slope))
                 if self.negative_slope else 0.0)          # +0.0 below, as max(x, 0)
        out = ops.where(ops.greater_equal(inputs, self.threshold), inputs, below)
        return out if self.max_value is None else ops.minimum(out, float(self.max_value))


class LeakyReLU(_Elementwise):
    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        check_number(f"LeakyReLU '{self.name}'", "negative_slope", negative_slope, 0, None)
        self.negative_slope = negative_slope

    def call(self, inputs):
        return nn.leaky_relu(inputs, negative_slope=float(self.negative_slope))


class PReLU(_Elementwise):
    """``max(x, 0) - alpha * max(-x, 0)`` with a learned ``alpha`` (Keras's weight
    ``alpha``, one per input position: shape ``input_shape[1:]``, 1 along each of
    ``shared_axes``, which count from the batch axis 0). Its non-batch axes that are not
    shared must have known sizes."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: PReLU"
        initializers.check(owner, alpha_initializer=alpha_initializer)
        if shared_axes is not None:
            shared_axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) \
                else [shared_axes]
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= 1
                       for a in shared_axes):
                raise ValueError(f"{owner}: `shared_axes` must be an int or a list of ints >= 1 "
                                 f"(axes after the batch axis), got {shared_axes!r}")
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        self.shared_axes = shared_axes

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if axis >= len(input_shape):
                raise incompatible(self, f"shared axis {axis} is not an axis of the input",
                                   input_shape)
            shape[axis - 1] = 1
        if any(d is None or isinstance(d, Sym) for d in shape):
            raise incompatible(self, "the axes after the batch axis that are not in "
                                     "shared_axes must have known sizes", input_shape)
        self.alpha = self.add_weight(tuple(shape), self.alpha_initializer, name="alpha",
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)

    def call(self, inputs):
        alpha = ops.convert_to_tensor(self.alpha)
        if inputs.ndim != alpha.ndim + 1 or any(
                a not in (1, d) for a, d in zip(alpha.type.shape, inputs.type.shape[1:])):
            raise incompatible(self, f"expected an input of shape (batch, "
                                     f"{', '.join(map(str, alpha.type.shape))}) (1: any size)",
                               inputs.shape)
        return ops.subtract(nn.relu(inputs), ops.multiply(alpha, nn.relu(ops.negative(inputs))))


class ELU(_Elementwise):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        check_number(f"ELU '{self.name}'", "alpha", alpha)
        self.alpha = alpha

    def call(self, inputs):
        return nn.elu(inputs, alpha=float(self.alpha))


class Softmax(_Elementwise):
    """softmax over ``axis``; with a mask, masked positions get ``MASKED_LOGIT`` added
    first (Keras's way), so they get no probability."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, tuple, list)) or isinstance(axis, bool):
            raise TypeError(f"{user_site()}: Softmax: axis must be an int or a tuple of ints, "
                            f"got {axis!r}")
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = ops.add(inputs, ops.multiply(
                ops.subtract(1.0, ops.cast(mask, inputs.dtype)), MASKED_LOGIT))
        return nn.softmax(inputs, axis=self.axis)


class Identity(_Elementwise):
    def call(self, inputs):
        return inputs
