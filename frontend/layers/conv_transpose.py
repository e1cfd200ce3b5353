"""Conv1DTranspose and Conv2DTranspose (channels_last), lowered to a stride-1 convolution.

A transposed convolution spreads each input position over a window of the output; it is
the gradient of a convolution with respect to its input. Written with the primitives
the convolutions already use (:mod:`.convolutional`): the input gets ``stride - 1``
zeros between neighbours along each spatial axis and ``left``/``right`` zeros at the
ends (one ``pad``), and a stride-1 "valid" convolution with the kernel flipped along
each spatial axis (a ``take`` with reversed indices) and its two channel axes swapped
runs over it (the window gather and ONE matmul). Gradients come from those ops' rules.

Keras's semantics, per spatial axis, with ``span = (kernel - 1) * dilation + 1`` (the
padding JAX's ``conv_transpose`` is given by Keras 3): for ``padding="valid"``, ``left =
span - 1`` and ``right = span - 1 + output_padding`` (``output_padding`` defaulting to
``max(span, stride) - span``); for ``"same"``, ``pad = stride + span - 2`` (or ``span +
span % 2 - 2 + output_padding`` when it is given), ``left = min(ceil(pad / 2), span -
1)``, ``right = pad - left``. The output length is then ``(n - 1) * stride + 1 + left +
right - span + 1``: ``n * stride + max(span - stride, 0)`` for "valid" and ``n *
stride`` for "same" by default, as ``keras.layers.Conv2DTranspose`` gives. With the
defaults, a transposed convolution is exactly the adjoint of ``Conv2D`` with the same
kernel, strides, dilation and padding (tested). ``output_padding`` must be smaller than
the stride along its axis. Kernel layout: (*kernel_size, filters, input channels), bias
(filters), as Keras.
"""
from __future__ import annotations

import numpy as np

from ...ir.builder import user_site
from .. import ops
from .convolutional import _Conv, normalize_tuple, window_patches, zero_pad


def transpose_padding(kernel: int, stride: int, dilation: int, padding: str,
                      output_padding: int | None) -> tuple[int, int]:
    """(zeros before, zeros after) of one spatial axis of the strided input (module
    docstring)."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, span - 1)
    return left, total - left


class _ConvTranspose(_Conv):
    """N-d transposed convolution, channels_last (module docstring)."""

    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, **kwargs)
        kind = type(self).__name__
        if output_padding is None:
            self.output_padding = None
        else:
            values = normalize_tuple(output_padding, self.rank, "output_padding", kind, minimum=0)
            if any(p >= s for p, s in zip(values, self.strides)):
                raise ValueError(f"{user_site()}: {kind}: `output_padding` {values} "
                                 f"must be smaller than `strides` {self.strides} along each "
                                 f"axis")
            self.output_padding = values

    def kernel_shape(self, channels: int) -> tuple:
        """(*kernel_size, filters, channels): Keras's transposed layout."""
        return self.kernel_size + (self.filters, channels)

    def channels(self) -> int:
        return self.kernel.shape[-1]

    def call(self, inputs):
        x = self.checked_input(inputs)
        given = self.output_padding or (None,) * self.rank
        pads = [transpose_padding(k, s, d, self.padding, p) for k, s, d, p in
                zip(self.kernel_size, self.strides, self.dilation_rate, given)]
        spread = zero_pad(x, [p[0] for p in pads], [p[1] for p in pads],
                          [s - 1 for s in self.strides])
        ones = (1,) * self.rank
        patches = window_patches(spread, self.kernel_size, ones, self.dilation_rate, "valid",
                                 self)
        kernel = ops.convert_to_tensor(self.kernel)
        for axis, k in enumerate(self.kernel_size):             # flip each spatial axis
            kernel = ops.take(kernel, np.arange(k - 1, -1, -1, dtype=np.int32), axis=axis)
        order = tuple(range(self.rank)) + (self.rank + 1, self.rank)
        return self.contract(patches, patches.type.shape[1:1 + self.rank],
                             ops.transpose(kernel, order))


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution over (batch, height, width, channels); kernel (kh, kw,
    filters, channels), bias (filters). Lowered to a stride-1 convolution of the input
    spread by the strides (module docstring)."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, **kwargs)


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution over (batch, steps, channels); kernel (k, filters,
    channels), bias (filters)."""

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, **kwargs)
