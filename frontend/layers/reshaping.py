"""Keras's reshaping and rescaling layers: Permute, RepeatVector, ZeroPadding1D/2D,
Cropping1D/2D, Rescaling, UnitNormalization. Arguments are checked at construction with
errors naming the layer; shapes follow Keras 3 (channels last)."""
from __future__ import annotations

from ...ir.builder import user_site
from .. import nn, ops
from ..checks import check_number
from ..layer import Layer
from .convolutional import check_data_format, normalize_tuple, zero_pad
from .core import incompatible


class Permute(Layer):
    """Reorders the non-batch axes: ``dims`` is a permutation of 1..rank-1 (Keras's)."""

    single_input = True

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"{user_site()}: Permute: `dims` must be a permutation of 1.."
                             f"{len(dims)} (the batch axis stays first), got {dims}")
        self.dims = dims

    def call(self, inputs):
        if inputs.ndim != len(self.dims) + 1:
            raise incompatible(self, f"expected a rank-{len(self.dims) + 1} input for dims "
                                     f"{self.dims}", inputs.shape)
        return ops.transpose(inputs, (0,) + self.dims)


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated ``n`` times."""

    single_input = True

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = normalize_tuple(n, 1, "n", "RepeatVector")[0]

    def call(self, inputs):
        if inputs.ndim != 2:
            raise incompatible(self, "expected a rank-2 input (batch, features)", inputs.shape)
        ones = ops.ones((1, self.n, 1), inputs.dtype)
        return ops.multiply(ops.expand_dims(inputs, 1), ones)


class _Padding(Layer):
    """Zeros before and after each spatial axis (``rank`` of them, channels last)."""

    single_input = True
    rank = 1

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.rank, type(self).__name__, "padding")

    def call(self, inputs):
        _check_rank(self, inputs)
        return zero_pad(inputs, [p[0] for p in self.padding], [p[1] for p in self.padding])


class ZeroPadding1D(_Padding):
    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, **kwargs)


class ZeroPadding2D(_Padding):
    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        check_data_format(data_format, "ZeroPadding2D")
        super().__init__(padding, **kwargs)


class _Cropping(Layer):
    """Drops entries before and after each spatial axis (``rank`` of them)."""

    single_input = True
    rank = 1

    def __init__(self, cropping, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, self.rank, type(self).__name__, "cropping")

    def call(self, inputs):
        _check_rank(self, inputs)
        key = [slice(None)]
        for axis, (before, after) in enumerate(self.cropping, start=1):
            size = inputs.shape[axis]
            if size is not None and before + after >= size:
                raise incompatible(self, f"cropping {before} + {after} leaves nothing of axis "
                                         f"{axis} (size {size})", inputs.shape)
            key.append(slice(before, -after if after else None))
        return inputs[tuple(key)]


class Cropping1D(_Cropping):
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        check_data_format(data_format, "Cropping2D")
        super().__init__(cropping, **kwargs)


class Rescaling(Layer):
    """``inputs * scale + offset`` (cast to the layer's float dtype first)."""

    single_input = True
    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        check_number("Rescaling", "scale", scale)
        check_number("Rescaling", "offset", offset)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs):
        x = ops.cast(inputs, self.dtype)
        return ops.add(ops.multiply(x, self.scale), self.offset)


class UnitNormalization(Layer):
    """Each sample scaled to unit L2 norm over ``axis`` (Keras's: ``x * rsqrt(max(sum(x**2),
    1e-12))``)."""

    single_input = True
    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return nn.l2_normalize(ops.cast(inputs, self.dtype), axis=self.axis, epsilon=1e-12)


def _pairs(value, rank: int, layer: str, name: str) -> tuple:
    """An int (both sides of every axis), ``rank`` ints (both sides of each axis), or
    ``rank`` pairs (before, after) as a tuple of pairs of ints >= 0."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * rank
    value = tuple(value)
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        value = (value,)                     # 1-D: one (before, after) pair
    pairs = tuple((v, v) if isinstance(v, int) and not isinstance(v, bool) else tuple(v)
                  for v in value)
    if len(pairs) != rank or not all(len(p) == 2 and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in p)
            for p in pairs):
        raise ValueError(f"{user_site()}: {layer}: `{name}` must be an int, {rank} ints or "
                         f"{rank} (before, after) pairs of ints >= 0, got {value!r}")
    return pairs


def _check_rank(layer, inputs) -> None:
    if inputs.ndim != layer.rank + 2:
        raise incompatible(layer, f"expected a rank-{layer.rank + 2} input (batch, "
                                  f"{layer.rank} spatial axes, channels)", inputs.shape)
