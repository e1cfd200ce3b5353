"""UpSampling1D and UpSampling2D (channels_last): repeats, or bilinear interpolation, as
gathers along each spatial axis.

``UpSampling1D(size)`` repeats each step ``size`` times (Keras's ``ops.repeat``).
``UpSampling2D(size, interpolation="nearest")`` repeats each row and column;
``interpolation="bilinear"`` interpolates as Keras 3 does (``ops.image.resize``, JAX's
and TensorFlow's half-pixel centres): output index ``i`` of an axis of length ``n``
scaled by ``f`` samples the input at ``(i + 0.5) / f - 0.5``, between its two neighbours
``floor`` and ``floor + 1`` with weights ``1 - w`` and ``w``, clamped at the edges (a
sample before the first or past the last element takes that element). Each axis is two
``take``s and a weighted sum with constant weights, so gradients come from those ops.
Other interpolations (bicubic, lanczos, area) are not built: a ValueError says so.
"""
from __future__ import annotations

import numpy as np

from ...ir.builder import user_site
from .. import ops
from ..layer import Layer
from .convolutional import check_data_format, normalize_tuple
from .core import incompatible

INTERPOLATIONS = ("nearest", "bilinear")


def repeat_axis(x, axis: int, factor: int):
    """``x`` with each element along ``axis`` repeated ``factor`` times."""
    n = x.type.shape[axis]
    return ops.take(x, np.arange(n * factor, dtype=np.int32) // factor, axis=axis)


def bilinear_axis(x, axis: int, factor: int):
    """``x`` scaled ``factor`` times along ``axis`` by linear interpolation with half-pixel
    centres, clamped at the edges (module docstring)."""
    n = x.type.shape[axis]
    source = (np.arange(n * factor) + 0.5) / factor - 0.5
    low = np.floor(source)
    weight = (source - low).astype(x.type.dtype.numpy)
    below = np.clip(low, 0, n - 1).astype(np.int32)
    above = np.clip(low + 1, 0, n - 1).astype(np.int32)
    shape = [1] * x.ndim
    shape[axis] = n * factor
    weight = weight.reshape(shape)
    return (ops.take(x, below, axis=axis) * (1 - weight)
            + ops.take(x, above, axis=axis) * weight)


class UpSampling1D(Layer):
    """Repeats each step of (batch, steps, features) ``size`` times."""

    single_input = True

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        (self.size,) = normalize_tuple(size, 1, "size", "UpSampling1D")

    def call(self, inputs):
        if inputs.ndim != 3 or inputs.shape[1] is None:
            raise incompatible(self, "expected a rank-3 input (batch, steps, features) with "
                                     "a known number of steps", inputs.shape)
        return repeat_axis(inputs, 1, self.size)


class UpSampling2D(Layer):
    """Scales (batch, height, width, channels) by ``size`` (rows, columns): repeats
    (``interpolation="nearest"``) or bilinear interpolation (module docstring)."""

    single_input = True

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, "UpSampling2D")
        self.size = normalize_tuple(size, 2, "size", "UpSampling2D")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{user_site()}: UpSampling2D: `interpolation` must be one of "
                             f"{', '.join(repr(i) for i in INTERPOLATIONS)} (Keras's bicubic, "
                             f"lanczos and area are not built), got {interpolation!r}")
        self.data_format = "channels_last"
        self.interpolation = interpolation

    def call(self, inputs):
        if inputs.ndim != 4 or None in inputs.shape[1:3]:
            raise incompatible(self, "expected a rank-4 input (batch, height, width, "
                                     "channels) with known height and width", inputs.shape)
        scale = repeat_axis if self.interpolation == "nearest" else bilinear_axis
        x = inputs if inputs.type.dtype.is_float or scale is repeat_axis else \
            ops.cast(inputs, self.dtype)
        return scale(scale(x, 1, self.size[0]), 2, self.size[1])
