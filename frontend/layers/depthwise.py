"""DepthwiseConv2D and SeparableConv2D (channels_last), Keras 3's layers.

A depthwise convolution filters each input channel on its own with ``depth_multiplier``
kernels: kernel (kh, kw, c, m), and output channel ``i * m + j`` is input channel ``i``
convolved with ``kernel[..., i, j]`` (Keras's, and TensorFlow's, channel order), so the
output has ``c * m`` channels and the bias that many entries.

Lowering: as the other convolutions (:mod:`.convolutional`), there is no convolution
primitive. The windows come from the shared gather, ``window_patches``: (batch, *out,
kh, kw, c), reshaped to (batch, positions, taps, c, 1); multiplied elementwise by the
kernel as (taps, c, m) (broadcasting) and summed over the taps, they give (batch,
positions, c, m), reshaped to (batch, *out, c * m). This is not a matmul: a depthwise
convolution does kh*kw multiply-adds per output, which an elementwise product and a sum
(fusable, no BLAS) carry well; a grouped matmul would need c tiny matmuls. Gradients
come from the ops' rules (the product's, the sum's, and the gather's ``scatter_add``).

A separable convolution is a depthwise convolution (without bias or activation)
followed by a 1x1 convolution, the pointwise kernel (1, 1, c * m, filters): ONE matmul
of the depthwise output with it, then the bias (filters) and the activation. Weights in
Keras's order: depthwise_kernel, pointwise_kernel, bias.
"""
from __future__ import annotations

import numpy as np

from ...ir.builder import user_site
from .. import constraints, initializers, ops, regularizers
from ..checks import check_positive_int
from ..layer import Layer
from .convolutional import (check_build_shape, checked_conv_input, set_window_arguments,
                            window_patches)


def depthwise_convolve(layer, x, kernel):
    """``x`` (batch, *spatial, c) convolved channel by channel with ``kernel`` (*k, c, m)
    over ``layer``'s window arguments: (batch, *out, c * m), channel ``i * m + j`` from
    input channel ``i`` and ``kernel[..., i, j]`` (module docstring)."""
    rank = layer.rank
    channels, multiplier = kernel.type.shape[-2:]
    patches = window_patches(x, layer.kernel_size, layer.strides, layer.dilation_rate,
                             layer.padding, layer)
    batch, out = patches.type.shape[0], patches.type.shape[1:1 + rank]
    taps = int(np.prod(layer.kernel_size))
    rows = ops.reshape(patches, (batch, int(np.prod(out)), taps, channels, 1))
    products = ops.multiply(rows, ops.reshape(kernel, (taps, channels, multiplier)))
    return ops.reshape(ops.sum(products, axis=2), (batch,) + tuple(out) + (channels * multiplier,))


class _DepthwiseWindows(Layer):
    """The depthwise part both layers share: window arguments, ``depth_multiplier``, the
    depthwise kernel (``depthwise_name``: its weight's name) and the bias. Subclasses
    say how the depthwise output becomes the layer's (:meth:`finish`)."""

    single_input = True
    rank = 2
    paddings = ("valid", "same")
    depthwise_name = "kernel"

    def __init__(self, kernel_size, strides, padding, depth_multiplier, data_format,
                 dilation_rate, activation, use_bias, depthwise_initializer, bias_initializer,
                 depthwise_regularizer, bias_regularizer, depthwise_constraint,
                 bias_constraint, **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: {type(self).__name__}"
        set_window_arguments(self, kernel_size, strides, padding, data_format, dilation_rate,
                             activation, use_bias)
        check_positive_int(owner, "depth_multiplier", depth_multiplier)
        initializers.check(owner, depthwise_initializer=depthwise_initializer,
                           bias_initializer=bias_initializer)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        check_build_shape(self, input_shape)
        channels = input_shape[-1]
        kernel = self.add_weight(self.kernel_size + (channels, self.depth_multiplier),
                                 self.depthwise_initializer, name=self.depthwise_name,
                                 regularizer=self.depthwise_regularizer,
                                 constraint=self.depthwise_constraint)
        setattr(self, self.depthwise_name, kernel)
        self.build_after_depthwise(channels * self.depth_multiplier)
        if self.use_bias:
            self.bias = self.add_weight((self.bias_size(),), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def build_after_depthwise(self, depthwise_channels: int) -> None:
        """Weights between the depthwise kernel and the bias (none here)."""

    def bias_size(self) -> int:
        return self.depthwise_kernel_shape()[-2] * self.depth_multiplier

    def depthwise_kernel_shape(self) -> tuple:
        return getattr(self, self.depthwise_name).shape

    def call(self, inputs):
        x = checked_conv_input(self, inputs, self.depthwise_kernel_shape()[-2])
        y = self.finish(depthwise_convolve(
            self, x, ops.convert_to_tensor(getattr(self, self.depthwise_name))))
        if self.use_bias:
            y = ops.add(y, ops.convert_to_tensor(self.bias))
        return self.activation(y)

    def finish(self, depthwise):
        """The layer's output before the bias from the depthwise convolution's."""
        return depthwise


class DepthwiseConv2D(_DepthwiseWindows):
    """Each input channel convolved with its own ``depth_multiplier`` kernels; kernel
    (kh, kw, c, depth_multiplier) named ``kernel`` (as Keras names it), bias (c *
    depth_multiplier). See the module docstring."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         depthwise_constraint, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)


class SeparableConv2D(_DepthwiseWindows):
    """A depthwise convolution then a pointwise (1x1) one to ``filters`` channels;
    weights depthwise_kernel (kh, kw, c, depth_multiplier), pointwise_kernel (1, 1, c *
    depth_multiplier, filters), bias (filters), in that order (Keras's)."""

    depthwise_name = "depthwise_kernel"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         depthwise_constraint, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        owner = f"{user_site()}: SeparableConv2D"
        check_positive_int(owner, "filters", filters)
        initializers.check(owner, pointwise_initializer=pointwise_initializer)
        self.filters = int(filters)
        self.pointwise_initializer = pointwise_initializer
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build_after_depthwise(self, depthwise_channels: int) -> None:
        self.pointwise_kernel = self.add_weight(
            (1, 1, depthwise_channels, self.filters), self.pointwise_initializer,
            name="pointwise_kernel", regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)

    def bias_size(self) -> int:
        return self.filters

    def finish(self, depthwise):
        """ONE matmul of the depthwise output's channels with the pointwise kernel."""
        shape = depthwise.type.shape
        kernel = ops.reshape(ops.convert_to_tensor(self.pointwise_kernel),
                             (shape[-1], self.filters))
        return ops.matmul(depthwise, kernel)
