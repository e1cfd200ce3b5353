"""Keras's activation layers with arguments: ReLU, LeakyReLU, ELU, Softmax, and the
Identity layer. Each passes its input's mask through, as Keras's do (Softmax reads it:
masked positions get no probability)."""
from __future__ import annotations

from ...ir.builder import user_site
from .. import nn, ops
from ..checks import check_number
from ..layer import Layer

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
