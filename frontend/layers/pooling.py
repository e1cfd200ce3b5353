"""Pooling: global pooling over the steps or spatial axes, and windowed max/average
pooling over (batch, *spatial, channels) inputs (channels_last).

Windowed pooling is a composition, like the convolutions (:mod:`.convolutional`):

* strides equal to the pool size with "valid" padding (the usual 2x2 pool), or "same"
  padding when the sizes divide: a ``reshape`` that splits each spatial axis into
  (out, pool) (after a ``slice`` dropping a remainder that fits no whole window) and one
  reduction over the pool axes. No gather at all.
* otherwise: the windows are gathered (``window_patches``: iota-built indices, one
  ``take``) and reduced over their window axes. For "same" padding a max pool reads a
  padded tap at the nearest real position of its window (Keras pads with -inf: neither
  changes the max); an average pool pads with zeros and divides each sum by the number of
  real positions in its window, as Keras does (padding is not counted).

Padding sizes follow Keras (see :mod:`.convolutional`); ``strides`` default to the pool
size.
"""
from __future__ import annotations

from ...ir import Sym
from .. import ops
from ..layer import Layer
from .convolutional import (check_data_format, normalize_padding, normalize_tuple,
                            window_geometry, window_patches)
from .core import incompatible


class _GlobalPooling(Layer):
    single_input = True

    rank = 1

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format is None:
            data_format = "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}")
        first = 1 if data_format == "channels_last" else 2
        self.data_format = data_format
        self.pool_axes = tuple(range(first, first + self.rank))
        self.keepdims = keepdims

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            raise incompatible(self, f"expected a rank-{self.rank + 2} input (batch, "
                                     f"{'steps' if self.rank == 1 else 'height, width'}, "
                                     f"channels)", inputs.shape)
        return self.reduce(inputs, axis=self.pool_axes, keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps axis: (batch, steps, c) -> (batch, c); with a mask (batch,
    steps), the mean of the unmasked steps (Keras), and no mask after it."""

    rank = 1
    reduce = staticmethod(ops.mean)
    supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        axis = self.pool_axes[0]
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype),
                                  2 if self.data_format == "channels_last" else 1)
        return ops.divide(ops.sum(ops.multiply(inputs, weights), axis=axis, keepdims=self.keepdims),
                          ops.sum(weights, axis=axis, keepdims=self.keepdims))

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps axis: (batch, steps, c) -> (batch, c). A mask is not read, as
    in Keras 3.15 (its call takes none and it does not support masking): masked steps
    count in the max, the mask stops here with Keras's warning, and ``mask=`` is a
    TypeError."""

    rank = 1
    reduce = staticmethod(ops.max)


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (batch, h, w, c) -> (batch, c) (or (batch, 1, 1, c)
    with ``keepdims``)."""

    rank = 2
    reduce = staticmethod(ops.mean)


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: (batch, h, w, c) -> (batch, c)."""

    rank = 2
    reduce = staticmethod(ops.max)


class _Pooling(Layer):
    """Max or average over windows of the spatial axes; see the module docstring."""

    single_input = True

    rank = 2
    mode = "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        check_data_format(data_format, kind)
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", kind)
        self.strides = self.pool_size if strides is None else \
            normalize_tuple(strides, self.rank, "strides", kind)
        self.padding = normalize_padding(padding, ("valid", "same"), kind)
        self.data_format = "channels_last"

    def call(self, inputs):
        n = self.rank
        if inputs.ndim != n + 2:
            raise incompatible(self, f"expected a rank-{n + 2} input (batch, {n} spatial "
                                     f"axes, channels)", inputs.shape)
        spatial = inputs.type.shape[1:1 + n]
        if any(isinstance(d, Sym) for d in spatial):
            raise incompatible(self, "the spatial axes must have known sizes", inputs.shape)
        x = inputs if self.mode == "max" or inputs.type.dtype.is_float else \
            ops.cast(inputs, self.dtype)
        if self.strides == self.pool_size and (self.padding == "valid" or all(
                d % k == 0 for d, k in zip(spatial, self.pool_size))):
            return self._tiled(x, spatial)
        window_axes = tuple(range(1 + n, 1 + 2 * n))
        if self.mode == "max":
            patches = window_patches(x, self.pool_size, self.strides, (1,) * n, self.padding,
                                     self, fill="edge")
            return ops.max(patches, axis=window_axes)
        patches = window_patches(x, self.pool_size, self.strides, (1,) * n, self.padding, self)
        if self.padding == "valid":
            return ops.mean(patches, axis=window_axes)
        return ops.divide(ops.sum(patches, axis=window_axes), self._counts(spatial, x.type.dtype))

    def _tiled(self, x, spatial):
        """Non-overlapping windows: split each axis into (out, pool) and reduce."""
        n = self.rank
        out = [d // k for d, k in zip(spatial, self.pool_size)]
        if any(o == 0 for o in out):
            raise incompatible(self, f"each spatial axis must hold at least one window of "
                                     f"pool size {self.pool_size}", x.shape)
        if any(o * k != d for o, k, d in zip(out, self.pool_size, spatial)):
            x = ops.getitem(x, (slice(None),) + tuple(slice(0, o * k) for o, k in
                                                      zip(out, self.pool_size)))
        split = (x.type.shape[0],)
        for o, k in zip(out, self.pool_size):
            split += (o, k)
        x = ops.reshape(x, split + (x.type.shape[-1],))
        axes = tuple(2 + 2 * a for a in range(n))
        return ops.max(x, axis=axes) if self.mode == "max" else ops.mean(x, axis=axes)

    def _counts(self, spatial, dtype):
        """(1, *out, 1): how many real (unpadded) positions each window covers, as the
        product over axes of min(start + k, size) - max(start, 0), start = o*s - before."""
        n = self.rank
        counts = None
        for a, (d, k, s) in enumerate(zip(spatial, self.pool_size, self.strides)):
            out, before, _ = window_geometry(d, k, s, 1, self.padding)
            shape = [1] * (n + 2)
            shape[1 + a] = out
            start = ops.subtract(ops.multiply(ops.iota(tuple(shape), 1 + a, dtype), float(s)),
                                 float(before))
            count = ops.subtract(ops.minimum(ops.add(start, float(k)), float(d)),
                                 ops.maximum(start, 0.0))
            counts = count if counts is None else ops.multiply(counts, count)
        return counts


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of (batch, h, w, c), moved by ``strides`` (default:
    the pool size)."""

    rank, mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of (batch, h, w, c); with "same" padding the mean
    of the real positions of each window."""

    rank, mode = 2, "average"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_Pooling):
    """Max over ``pool_size`` windows of (batch, steps, c)."""

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over ``pool_size`` windows of (batch, steps, c)."""

    rank, mode = 1, "average"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
