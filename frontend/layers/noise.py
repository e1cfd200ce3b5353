"""Keras's regularizing noise layers: SpatialDropout1D/2D (Dropout of whole channels),
AlphaDropout (dropped values set to SELU's negative saturation, then an affine map that
keeps a standard normal input's mean and variance), GaussianNoise (``x + N(0, stddev)``)
and GaussianDropout (``x * N(1, sqrt(rate / (1 - rate)))``), each active in training
only. Called with ``training`` unknown (a functional
model being built), a layer selects with the graph's ``training`` flag, as Dropout does;
the draws come from the in-graph random stream (:mod:`..random`)."""
from __future__ import annotations

import math

from .. import ops, random
from ..checks import check_number
from ..context import training_flag
from ..layer import Layer
from ..layer_config import layer_config
from .core import Dropout, incompatible


class _SpatialDropout(Dropout):
    def get_config(self) -> dict:
        """Keras 3's SpatialDropout configs: no ``trainable`` (its constructor takes
        none), the dtype by name."""
        config = layer_config(self, with_arguments=True)
        del config["trainable"]
        config["dtype"] = self.dtype
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of (batch, steps, channels): one draw per sample and channel."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, noise_shape=(None, 1, None), seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of (batch, rows, cols, channels)."""

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        from .convolutional import check_data_format
        check_data_format(data_format, "SpatialDropout2D")
        super().__init__(rate, noise_shape=(None, 1, 1, None), seed=seed, **kwargs)


class AlphaDropout(Dropout):
    """Keras 3's formula: with ``alpha' = -1.6732632423543772 * 1.0507009873554805``
    (SELU's negative saturation), ``a = ((1 - rate) * (1 + rate * alpha'**2)) ** -0.5``
    and ``b = -a * alpha' * rate``, a kept value x becomes ``a * x + b`` and a dropped
    one ``a * alpha' + b``; ``noise_shape`` as Dropout's. ``rate`` must be < 1 (Keras
    takes 1 and outputs infinities)."""

    SATURATION = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946

    def drop(self, inputs, keep):
        alpha, rate = self.SATURATION, float(self.rate)
        a = ((1.0 - rate) * (1.0 + rate * alpha ** 2)) ** -0.5
        return ops.add(ops.multiply(ops.where(keep, inputs, alpha), a), -a * alpha * rate)


class _Noise(Layer):
    """A layer whose output in training is :meth:`noisy` of its input, else the input."""

    single_input = True
    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not inputs.type.dtype.is_float:
            raise incompatible(self, f"{type(self).__name__} takes float inputs, got "
                                     f"{inputs.dtype}", inputs.shape)
        if training is False or self.inactive():
            return inputs
        noisy = self.noisy(inputs)
        return noisy if training else ops.where(training_flag(), noisy, inputs)

    def inactive(self) -> bool:
        return False


class GaussianNoise(_Noise):
    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        check_number("GaussianNoise", "stddev", stddev, 0, None)
        self.stddev = float(stddev)

    def inactive(self) -> bool:
        return self.stddev == 0

    def noisy(self, inputs):
        return ops.add(inputs, random.normal(inputs.type.shape, 0.0, self.stddev,
                                             inputs.dtype, self.seed_generator))


class GaussianDropout(_Noise):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        check_number("GaussianDropout", "rate", rate, 0, 1)
        if rate == 1:
            raise ValueError("GaussianDropout: `rate` must be < 1, got 1")
        self.rate = float(rate)

    def inactive(self) -> bool:
        return self.rate == 0

    def noisy(self, inputs):
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return ops.multiply(inputs, random.normal(inputs.type.shape, 1.0, stddev,
                                                  inputs.dtype, self.seed_generator))
