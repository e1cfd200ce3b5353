"""Dense, Activation, Dropout, Flatten, Reshape."""
from __future__ import annotations

import numpy as np

from ...ir import Sym
from ...ir.builder import user_site
from ...ir.errors import ShapeError
from .. import activations, constraints, initializers, ops, random, regularizers
from ..checks import check_bool, check_positive_int
from ..context import training_flag
from ..layer import Layer


def incompatible(layer: Layer, what: str, got) -> ShapeError:
    """The Keras-style error for an input a layer cannot take, with the user's line."""
    return ShapeError(f"{user_site()}: input of layer '{layer.name}' ({type(layer).__name__}) "
                      f"is incompatible: {what}, but it was called on shape {got}")


def _sizes(owner: str, key: str, sizes, none: bool = False, minus_one: bool = False) -> tuple:
    """``sizes`` as a tuple of Python ints >= 0 (numpy ints too; None entries when
    ``none``, -1 entries when ``minus_one``), else a ValueError naming ``key``."""
    def ok(d):
        return (d is None and none) or (
            isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))
            and (d >= 0 or (minus_one and d == -1)))
    if not isinstance(sizes, (tuple, list)) or not all(ok(d) for d in sizes):
        extra = ", None" if none else ", -1 once" if minus_one else ""
        raise ValueError(f"{owner}: `{key}` must be a tuple of sizes (ints >= 0{extra}), "
                         f"got {sizes!r}")
    return tuple(None if d is None else int(d) for d in sizes)


def _known_rest(layer: Layer, inputs) -> tuple:
    """The non-batch sizes of ``inputs`` (Flatten, Reshape): all known, after a batch axis."""
    if inputs.ndim == 0:
        raise incompatible(layer, "expected an input with a batch axis (rank >= 1)", inputs.shape)
    rest = inputs.type.shape[1:]
    if any(isinstance(d, Sym) for d in rest):
        raise incompatible(layer, "all non-batch dimensions must have known sizes", inputs.shape)
    return rest


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` over the last axis."""

    supports_masking = True      # the input's mask passes through (Keras)

    single_input = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        owner = f"{user_site()}: Dense"
        check_positive_int(owner, "units", units)
        check_bool(owner, "use_bias", use_bias)
        initializers.check(owner, kernel_initializer=kernel_initializer,
                           bias_initializer=bias_initializer)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_shape):
        if not input_shape or input_shape[-1] is None:
            raise incompatible(self, "the last axis must have a known size", input_shape)
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def call(self, inputs):
        expected = self.kernel.shape[0]
        if inputs.shape[-1] != expected:
            raise incompatible(self, f"expected axis -1 of the input to have size {expected}",
                               inputs.shape)
        x = ops.matmul(inputs, ops.convert_to_tensor(self.kernel))
        if self.use_bias:
            x = ops.add(x, ops.convert_to_tensor(self.bias))
        return self.activation(x)


class Activation(Layer):
    single_input = True
    supports_masking = True      # the input's mask passes through (Keras)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)


class Dropout(Layer):
    """Zeroes a ``rate`` fraction of the inputs in training and scales the rest by
    1 / (1 - rate); identity outside training. The mask comes from the in-graph random
    stream (:mod:`..random`). Called with ``training`` unknown (a functional model being
    built), it selects between both behaviours with the graph's ``training`` flag."""

    supports_masking = True      # the input's mask passes through (Keras)

    single_input = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
                or not 0 <= rate < 1:
            raise ValueError(f"{user_site()}: Dropout rate must be a number in [0, 1), got "
                             f"{rate!r}")
        if noise_shape is not None:
            noise_shape = _sizes(f"{user_site()}: Dropout", "noise_shape", noise_shape,
                                 none=True)
        self.rate, self.noise_shape = rate, noise_shape
        self.seed_generator = random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not inputs.type.dtype.is_float:
            raise incompatible(self, f"Dropout takes float inputs, got {inputs.dtype}",
                               inputs.shape)
        if self.noise_shape is not None and (len(self.noise_shape) != inputs.ndim or any(
                n not in (None, 1, d) for n, d in zip(self.noise_shape, inputs.type.shape))):
            raise incompatible(self, f"noise_shape {self.noise_shape} must have one entry per "
                                     f"axis of the input, each None, 1 or the axis's size",
                               inputs.shape)
        if self.rate == 0 or training is False:
            return inputs
        shape = inputs.type.shape if self.noise_shape is None else tuple(
            d if n is None else n for d, n in zip(inputs.type.shape, self.noise_shape))
        keep = random.dropout_mask(shape, self.rate, inputs.type.dtype, self.seed_generator)
        dropped = self.drop(inputs, keep)
        return dropped if training else ops.where(training_flag(), dropped, inputs)

    def drop(self, inputs, keep):
        """The training output from the inputs and ``keep`` (bool, True with probability
        1 - rate, broadcasting against them): kept values scaled by 1 / (1 - rate)."""
        return ops.where(keep, ops.divide(inputs, 1.0 - self.rate), 0.0)


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...); the non-batch dims must be known."""

    single_input = True

    def call(self, inputs):
        rest = _known_rest(self, inputs)
        return ops.reshape(inputs, (inputs.type.shape[0], int(np.prod(rest, dtype=np.int64))))


class Reshape(Layer):
    """Reshape the non-batch dims to ``target_shape`` (one -1 allowed). The -1 is resolved
    here from the input's non-batch sizes (as Keras does), so the batch dim stays its own."""

    single_input = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _sizes(f"{user_site()}: Reshape", "target_shape", target_shape,
                                   minus_one=True)
        if list(self.target_shape).count(-1) > 1:
            raise ValueError(f"Reshape target_shape may contain one -1, got {self.target_shape}")

    def call(self, inputs):
        rest = _known_rest(self, inputs)
        size = int(np.prod(rest, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        target = self.target_shape
        if -1 in target and known and size % known == 0:
            target = tuple(size // known if d == -1 else d for d in target)
        if int(np.prod(target, dtype=np.int64)) != size:
            raise incompatible(self, f"target_shape {self.target_shape} does not hold the "
                                     f"{size} values of each sample", inputs.shape)
        return ops.reshape(inputs, (inputs.type.shape[0],) + target)


class Masking(Layer):
    """Masks the steps whose features all equal ``mask_value`` (Keras): the output is the
    input with those steps zeroed, and carries a (batch, steps) mask for the layers after
    it (recurrent layers, pooling, attention)."""

    single_input = True
    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def call(self, inputs):
        keep = self._keep(inputs)
        return ops.multiply(inputs, ops.cast(ops.expand_dims(keep, -1), inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def _keep(self, inputs):
        """(batch, steps) bool: some feature differs from ``mask_value``."""
        differs = ops.cast(ops.not_equal(inputs, self.mask_value), "float32")
        return ops.greater(ops.max(differs, axis=-1), 0)
