"""Conv1D and Conv2D (channels_last), lowered to a gather and one matmul (im2col).

There is no convolution primitive: a convolution is traced as a composition of the
existing ones, so every pass and backend handles it already and its gradients come
from their VJP rules.

1. ``pad`` the input with zeros (the "same"/"causal" amounts; nothing for "valid").
2. ``reshape`` it to (batch, positions, channels): the spatial axes flattened.
3. Gather every window: the flat position of tap ``k`` of output ``o`` along each
   spatial axis is ``o * stride + k * dilation`` (times that axis' row length), built
   from a few ``iota`` ops and integer arithmetic, not as a literal index array in the
   traced graph (it would grow with the image: a 28x28 image with 3x3 kernels has 7056
   indices, and the printed IR with it; the compile pipeline's constant folding may
   still materialize it, once, for the backend). ``take`` of the flat input at those
   indices gives (batch, *out, *kernel, channels).
4. ``reshape`` the patches to (batch, out positions, kh*kw*c) and contract them with the
   kernel reshaped to (kh*kw*c, filters) in ONE ``matmul``.

Why this form: the arithmetic lands in a single contraction, which the backends hand to
BLAS (cuBLAS on the GPU), the part of a convolution worth optimizing; the gather is pure
data movement. The gradients need nothing new: the matmul's VJP gives the kernel's
gradient (patches^T @ g) and the patches' gradient (g @ kernel^T), and ``take``'s VJP,
``scatter_add``, sums the patches' gradient back into the input positions each one was
read from (overlapping windows accumulate), then ``pad``'s VJP (a slice) drops the
padding. Patches cost memory (kh*kw times the input); that is the usual im2col trade.
The batch axis stays an axis of its own (it may be symbolic, and a reshape cannot merge
a symbolic axis into a known one), so the forward matmul is (batch, positions, taps) @
(taps, filters), and the kernel's gradient is a batched patches^T @ g summed over the
batch by the autodiff driver.

Padding follows Keras (TensorFlow's rule): "valid" keeps whole windows only, out =
floor((n - span) / stride) + 1 with span = (k - 1) * dilation + 1; "same" gives out =
ceil(n / stride) and pads max((out - 1) * stride + span - n, 0) zeros, the smaller half
before; Conv1D's "causal" pads span - 1 zeros before. The spatial sizes must be known
when the layer is traced (the batch axis may be symbolic).

:func:`window_patches` is shared with the pooling layers.
"""
from __future__ import annotations

import numpy as np

from ...ir import Sym, emit
from ...ir.builder import user_site
from .. import activations, constraints, initializers, ops, regularizers
from ..checks import check_bool
from ..layer import Layer
from ..ops_coerce import _wrap as ops_wrap
from .core import incompatible


def normalize_tuple(value, rank: int, name: str, layer_name: str, minimum: int = 1) -> tuple:
    """An int or a sequence of ``rank`` ints, each at least ``minimum`` (1: positive, as
    kernel sizes and strides; 0: an output padding), as a tuple (Keras's rule)."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != rank or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                       and v >= minimum for v in values):
        one, many = (("a positive int", "positive ints") if minimum == 1 else
                     (f"an int >= {minimum}", f"ints >= {minimum}"))
        raise ValueError(f"{user_site()}: {layer_name}: `{name}` must be {one} or a "
                         f"tuple of {rank} {many}, got {value!r}")
    return tuple(int(v) for v in values)


def normalize_padding(padding, allowed, layer_name: str) -> str:
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in allowed:
        raise ValueError(f"{user_site()}: {layer_name}: `padding` must be one of "
                         f"{', '.join(repr(a) for a in allowed)}, got {padding!r}")
    return mode


def check_data_format(data_format, layer_name: str) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{user_site()}: {layer_name}: only data_format='channels_last' "
                         f"(batch, ..., channels) is supported, got {data_format!r}; "
                         f"transpose the input to channels_last")


def set_window_arguments(layer, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias) -> None:
    """Check a convolution's window arguments (Keras's rules, errors naming the layer's
    class) and set them on ``layer`` as normalized tuples, the padding mode, the
    activation function and ``use_bias``."""
    kind = type(layer).__name__
    check_data_format(data_format, kind)
    layer.kernel_size = normalize_tuple(kernel_size, layer.rank, "kernel_size", kind)
    layer.strides = normalize_tuple(strides, layer.rank, "strides", kind)
    layer.dilation_rate = normalize_tuple(dilation_rate, layer.rank, "dilation_rate", kind)
    if max(layer.strides) > 1 and max(layer.dilation_rate) > 1:
        raise ValueError(f"{user_site()}: {kind}: strides > 1 together with "
                         f"dilation_rate > 1 is not supported (as in Keras), got "
                         f"strides={layer.strides}, dilation_rate={layer.dilation_rate}")
    layer.padding = normalize_padding(padding, layer.paddings, kind)
    layer.data_format = "channels_last"
    layer.activation = activations.get(activation)
    check_bool(f"{user_site()}: {kind}", "use_bias", use_bias)
    layer.use_bias = bool(use_bias)


def check_build_shape(layer, input_shape) -> None:
    """A ShapeError naming ``layer`` unless ``input_shape`` is (batch, ``layer.rank``
    spatial axes, channels) with a known channel count."""
    if len(input_shape) != layer.rank + 2:
        raise incompatible(layer, f"expected a rank-{layer.rank + 2} input (batch, "
                                  f"{layer.rank} spatial axes, channels)", input_shape)
    if input_shape[-1] is None:
        raise incompatible(layer, "the channel axis (last) must have a known size", input_shape)


def checked_conv_input(layer, inputs, channels: int):
    """``inputs`` as a float tensor, after checking its rank and ``channels`` against the
    built layer's (a ShapeError naming the layer)."""
    if inputs.ndim != layer.rank + 2 or inputs.shape[-1] != channels:
        raise incompatible(layer, f"expected a rank-{layer.rank + 2} input with {channels} "
                                  f"channels (last axis)", inputs.shape)
    return inputs if inputs.type.dtype.is_float else ops.cast(inputs, layer.dtype)


def window_geometry(size: int, kernel: int, stride: int, dilation: int, padding: str):
    """(output size, padding before, padding after) of one spatial axis; None when the
    input is smaller than one window (no output)."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        before = after = 0
    elif padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        before, after = total // 2, total - total // 2
    elif padding == "causal":
        before, after = span - 1, 0
    else:
        raise ValueError(f"unknown padding {padding!r}")
    padded = size + before + after
    if padded < span:
        return None
    return (padded - span) // stride + 1, before, after


def window_patches(x, kernel_size, strides, dilation_rate, padding, layer, fill="zeros"):
    """The windows of ``x`` (batch, *spatial, channels): (batch, *out, *kernel, channels).

    ``fill`` says what padded positions hold: "zeros" pads the input with zeros (a
    convolution; an average pool, which then divides by the count of real positions), or
    "edge": no padding, a padded tap reads the nearest real position of its axis instead,
    which is always inside the same window, so a max over the window is unchanged (a max
    pool pads with -inf in Keras; the max ignores both)."""
    n = len(kernel_size)
    shape = x.type.shape
    spatial = shape[1:1 + n]
    if x.ndim != n + 2:
        raise incompatible(layer, f"expected a rank-{n + 2} input (batch, {n} spatial axes, "
                                  f"channels)", x.shape)
    if any(isinstance(d, Sym) for d in spatial + (shape[-1],)):
        raise incompatible(layer, "the spatial and channel axes must have known sizes", x.shape)
    geometry = [window_geometry(d, k, s, r, padding) for d, k, s, r in
                zip(spatial, kernel_size, strides, dilation_rate)]
    if any(g is None for g in geometry):
        raise incompatible(layer, f"each spatial axis must hold at least one window of "
                                  f"kernel size {kernel_size} and dilation {dilation_rate} "
                                  f"with padding '{padding}'", x.shape)
    out = tuple(g[0] for g in geometry)
    if fill == "zeros" and any(g[1] or g[2] for g in geometry):
        x = zero_pad(x, [g[1] for g in geometry], [g[2] for g in geometry])
    sizes = x.type.shape[1:1 + n]                         # padded for "zeros", else real
    channels = shape[-1]
    flat = ops.reshape(x, (shape[0], int(np.prod(sizes)), channels))
    index = _window_index(out, kernel_size, strides, dilation_rate, sizes,
                          [g[1] for g in geometry] if fill == "edge" else None)
    return ops.take(flat, index, axis=1)


def zero_pad(x, before, after, between=None):
    """``x`` with zeros before/after its spatial axes, and ``between`` zeros between
    neighbours along each (a transposed convolution's strides; default none): the
    ``pad`` primitive (keras.ops has no such op, so it is not in fg.ops)."""
    x = ops.convert_to_tensor(x)
    low, high = (0,) + tuple(before) + (0,), (0,) + tuple(after) + (0,)
    interior = (0,) + (tuple(between) if between is not None else (0,) * len(before)) + (0,)
    return ops_wrap(emit("pad", x.value, low=low, high=high, interior=interior), (x,))


def _window_index(out, kernel_size, strides, dilation_rate, sizes, clamp_before):
    """int32 (*out, *kernel): the flat position, in a (*sizes) grid, of every tap of every
    window, as iota arithmetic (a handful of ops whatever the image size). With
    ``clamp_before`` (per-axis padding before), positions are taken in the unpadded grid
    and clamped into it."""
    n = len(out)
    full = tuple(out) + tuple(kernel_size)
    index = None
    row = 1
    for a in reversed(range(n)):
        o_shape = [1] * (2 * n)
        o_shape[a] = out[a]
        k_shape = [1] * (2 * n)
        k_shape[n + a] = kernel_size[a]
        coord = ops.add(_times(ops.iota(tuple(o_shape), a), strides[a]),
                        _times(ops.iota(tuple(k_shape), n + a), dilation_rate[a]))
        if clamp_before is not None:
            coord = ops.clip(ops.subtract(coord, clamp_before[a]), 0, sizes[a] - 1)
        term = _times(coord, row)
        index = term if index is None else ops.add(index, term)
        row *= sizes[a]
    return ops.broadcast_to(index, full) if index.type.shape != full else index


def _times(x, factor: int):
    return x if factor == 1 else ops.multiply(x, factor)


class _Conv(Layer):
    """N-d convolution, channels_last; see the module docstring for the lowering."""

    single_input = True

    rank = 2
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        self.kernel_regularizer = regularizers.get(kwargs.pop("kernel_regularizer", None))
        self.bias_regularizer = regularizers.get(kwargs.pop("bias_regularizer", None))
        self.kernel_constraint = constraints.get(kwargs.pop("kernel_constraint", None))
        self.bias_constraint = constraints.get(kwargs.pop("bias_constraint", None))
        super().__init__(**kwargs)
        kind = type(self).__name__
        if not isinstance(filters, (int, np.integer)) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"{user_site()}: {kind}: `filters` must be a positive int, "
                             f"got {filters!r}")
        self.filters = int(filters)
        set_window_arguments(self, kernel_size, strides, padding, data_format, dilation_rate,
                             activation, use_bias)
        initializers.check(f"{user_site()}: {kind}", kernel_initializer=kernel_initializer,
                           bias_initializer=bias_initializer)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_shape):
        check_build_shape(self, input_shape)
        self.kernel = self.add_weight(self.kernel_shape(input_shape[-1]),
                                      self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def kernel_shape(self, channels: int) -> tuple:
        """The kernel's shape for ``channels`` input channels: (*kernel_size, channels,
        filters)."""
        return self.kernel_size + (channels, self.filters)

    def checked_input(self, inputs):
        """``inputs`` as a float tensor, after checking its rank and channels against the
        kernel's (a ShapeError naming the layer)."""
        return checked_conv_input(self, inputs, self.channels())

    def channels(self) -> int:
        """The input channels the built kernel takes."""
        return self.kernel.shape[-2]

    def call(self, inputs):
        x = self.checked_input(inputs)
        if all(k == 1 for k in self.kernel_size) and all(s == 1 for s in self.strides):
            patches, out = x, x.type.shape[1:-1]              # 1x1: every pixel is a window
        else:
            patches = window_patches(x, self.kernel_size, self.strides, self.dilation_rate,
                                     self.padding, self)
            out = patches.type.shape[1:1 + self.rank]
        return self.contract(patches, out, ops.convert_to_tensor(self.kernel))

    def contract(self, patches, out, kernel):
        """The layer's output from the windows ``patches`` (batch, *out, *kernel, c) and
        ``kernel`` (*kernel, c, filters): ONE matmul of the flattened windows with the
        flattened kernel, the bias, the activation."""
        batch, taps = patches.type.shape[0], int(np.prod(kernel.type.shape[:-1]))
        rows = ops.reshape(patches, (batch, int(np.prod(out)), taps))
        y = ops.matmul(rows, ops.reshape(kernel, (taps, self.filters)))
        if self.use_bias:
            y = ops.add(y, ops.convert_to_tensor(self.bias))
        y = ops.reshape(y, (batch,) + tuple(out) + (self.filters,))
        return self.activation(y)


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels); kernel (kh, kw, c, filters),
    bias (filters). Lowered to a window gather and one matmul (module docstring)."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, **kwargs)


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); kernel (k, c, filters), bias
    (filters). ``padding`` may also be "causal" (zeros before the sequence only, so output
    step t sees input steps <= t)."""

    rank = 1
    paddings = ("valid", "same", "causal")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, **kwargs)
