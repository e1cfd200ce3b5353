"""LayerNormalization (Keras defaults: axis -1, epsilon 1e-3, center and scale)."""
from __future__ import annotations

from .. import nn, ops
from ..layer import Layer


class LayerNormalization(Layer):
    """``x * inv + (beta - mean * inv)`` with ``inv = gamma / sqrt(var + epsilon)``, the
    moments taken over ``axis`` (Keras 3's formula)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, epsilon, center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer

    def build(self, input_shape):
        self.axes = ops.normalize_axes(self.axis, len(input_shape))
        shape = tuple(input_shape[a] for a in self.axes)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, name="beta")

    def _broadcastable(self, variable, rank):
        shape = [1] * rank
        for a, d in zip(self.axes, variable.shape):
            shape[a] = d
        return ops.reshape(ops.convert_to_tensor(variable), tuple(shape))

    def call(self, inputs):
        x = ops.cast(inputs, "float32") if not inputs.type.dtype.is_float else inputs
        mean, variance = nn.moments(x, self.axes, keepdims=True)
        inv = ops.rsqrt(ops.add(variance, self.epsilon))
        if self.scale:
            inv = ops.multiply(inv, self._broadcastable(self.gamma, x.ndim))
        shift = ops.negative(ops.multiply(mean, inv))
        if self.center:
            shift = ops.add(shift, self._broadcastable(self.beta, x.ndim))
        return ops.add(ops.multiply(x, inv), shift)
