"""LayerNormalization, BatchNormalization and GroupNormalization (Keras defaults: axis
-1, epsilon 1e-3, center and scale; BatchNormalization momentum 0.99; GroupNormalization
32 groups)."""
from __future__ import annotations

import numpy as np

from ...ir.builder import user_site
from .. import collectives, constraints, initializers, nn, ops, regularizers
from ..checks import check_bool, check_number
from ..context import training_flag
from ..layer import Layer
from .core import incompatible


def _check_flags_and_initializers(owner: str, center, scale, **initializer_args) -> None:
    check_bool(owner, "center", center)
    check_bool(owner, "scale", scale)
    initializers.check(owner, **initializer_args)


class LayerNormalization(Layer):
    """``x * inv + (beta - mean * inv)`` with ``inv = gamma / sqrt(var + epsilon)``, the
    moments taken over ``axis`` (Keras 3's formula)."""

    supports_masking = True      # the input's mask passes through (Keras)

    single_input = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        check_number(f"{user_site()}: LayerNormalization", "epsilon", epsilon, low=0.0,
                     open_low=True)
        _check_flags_and_initializers(f"{user_site()}: LayerNormalization", center, scale,
                                      beta_initializer=beta_initializer,
                                      gamma_initializer=gamma_initializer)
        self.axis, self.epsilon, self.center, self.scale = axis, epsilon, center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer

    def build(self, input_shape):
        self.axes = ops.normalize_axes(self.axis, len(input_shape))
        shape = tuple(input_shape[a] for a in self.axes)
        if None in shape:
            raise incompatible(self, f"the normalized axes {self.axes} must have known sizes",
                               input_shape)
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


class BatchNormalization(Layer):
    """Normalizes each feature along ``axis`` with batch statistics in training and with
    moving statistics otherwise (Keras 3's layer, its defaults and weight order: gamma,
    beta, moving_mean, moving_variance; the last two non-trainable).

    Training (``training=True``, as ``fit`` calls the model): the batch mean and the
    biased batch variance over every axis but ``axis`` normalize the input, and
    ``moving = moving * momentum + batch * (1 - momentum)`` is assigned to each moving
    statistic (``variable.assign``: inside a traced step the update becomes part of the
    step graph, written back after the step). Inference (``training=False``, predict,
    evaluate): the moving statistics. ``training`` left open (a functional model being
    built): both are traced and the graph's ``training`` flag selects the statistics, and
    the assigned value is ``where(flag, updated, unchanged)``, so a run in inference
    leaves the moving statistics as they were. Such an update, made while the model is
    being built, is kept on the call and reaches every step the model runs in (see
    ``Model.call``). A non-trainable layer (``trainable = False``) always runs in
    inference mode and updates nothing, as in Keras. (A functional model's graph is
    traced when the model is built, so set ``trainable`` before that, or call the built
    model with ``training=False`` inside a new one, Keras's fine-tuning recipe; Keras
    would also apply a later change at the next ``compile``.)

    The output is ``x * inv + (beta - mean * inv)`` with ``inv = gamma / sqrt(var +
    epsilon)``; integer inputs are cast to the layer's dtype.
    """

    supports_masking = True      # the input's mask passes through (Keras)

    single_input = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: BatchNormalization"
        check_number(owner, "momentum", momentum, low=0.0, high=1.0)
        check_number(owner, "epsilon", epsilon, low=0.0, open_low=True)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"BatchNormalization axis must be an int, got {axis!r}")
        axis = int(axis)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        _check_flags_and_initializers(owner, center, scale, beta_initializer=beta_initializer,
                                      gamma_initializer=gamma_initializer,
                                      moving_mean_initializer=moving_mean_initializer,
                                      moving_variance_initializer=moving_variance_initializer)
        self.center, self.scale = center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer

    def build(self, input_shape):
        (self.feature_axis,) = ops.normalize_axes(self.axis, len(input_shape))
        size = input_shape[self.feature_axis]
        if size is None:
            raise incompatible(self, f"axis {self.axis} must have a known size", input_shape)
        shape = (size,)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, name="beta")
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer,
                                           trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer,
                                               trainable=False, name="moving_variance")

    def _broadcastable(self, tensor, rank):
        shape = [1] * rank
        shape[self.feature_axis] = tensor.type.shape[0]
        return ops.reshape(tensor, tuple(shape))

    def call(self, inputs, training=None):
        size = self.moving_mean.shape[0]
        if inputs.ndim <= self.feature_axis or inputs.shape[self.feature_axis] != size:
            raise incompatible(self, f"expected axis {self.axis} of the input to have size "
                                     f"{size}", inputs.shape)
        x = inputs if inputs.type.dtype.is_float else ops.cast(inputs, self.dtype)
        if not self.trainable:
            training = False
        moving_mean = ops.cast(ops.convert_to_tensor(self.moving_mean), x.type.dtype)
        moving_variance = ops.cast(ops.convert_to_tensor(self.moving_variance), x.type.dtype)
        if training is False:
            mean, variance = moving_mean, moving_variance
        else:
            axes = tuple(a for a in range(x.ndim) if a != self.feature_axis)
            mean, variance = collectives.moments(x, axes)   # the global batch's, replicated
            new_mean = ops.add(ops.multiply(moving_mean, self.momentum),
                               ops.multiply(mean, 1.0 - self.momentum))
            new_variance = ops.add(ops.multiply(moving_variance, self.momentum),
                                   ops.multiply(variance, 1.0 - self.momentum))
            if training is None:   # open: the run's training flag decides
                flag = training_flag()
                new_mean = ops.where(flag, new_mean, moving_mean)
                new_variance = ops.where(flag, new_variance, moving_variance)
                mean = ops.where(flag, mean, moving_mean)
                variance = ops.where(flag, variance, moving_variance)
            self.moving_mean.assign(new_mean)
            self.moving_variance.assign(new_variance)
        inv = ops.rsqrt(ops.add(variance, self.epsilon))
        if self.scale:
            inv = ops.multiply(inv, ops.cast(ops.convert_to_tensor(self.gamma), x.type.dtype))
        shift = ops.negative(ops.multiply(mean, inv))
        if self.center:
            shift = ops.add(shift, ops.cast(ops.convert_to_tensor(self.beta), x.type.dtype))
        return ops.add(ops.multiply(x, self._broadcastable(inv, x.ndim)),
                       self._broadcastable(shift, x.ndim))


class GroupNormalization(Layer):
    """Keras 3's GroupNormalization: the channels along ``axis`` split into ``groups``
    consecutive groups (-1: one group per channel, instance normalization); each
    sample's values in a group (every axis but the batch's, the channel axis restricted
    to the group) are normalized by their mean and biased variance, then scaled by
    ``gamma`` and shifted by ``beta`` (one per channel): ``x * inv + (beta - mean * inv)``
    with ``inv = gamma / sqrt(var + epsilon)``. The channel count must divide by
    ``groups``. Traced as a reshape splitting the channel axis into (groups, channels per
    group), the moments, and a reshape back; an unknown size other than the batch's is
    kept as a symbol."""

    supports_masking = True      # the input's mask passes through (Keras)

    single_input = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: GroupNormalization"
        if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or (
                groups <= 0 and groups != -1):
            raise ValueError(f"{owner}: `groups` must be a positive int (or -1 for instance "
                             f"normalization), got {groups!r}")
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"{owner}: `axis` must be an int, got {axis!r}")
        check_number(owner, "epsilon", epsilon, low=0.0, open_low=True)
        _check_flags_and_initializers(owner, center, scale, beta_initializer=beta_initializer,
                                      gamma_initializer=gamma_initializer)
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape):
        (self.channel_axis,) = ops.normalize_axes(self.axis, len(input_shape))
        if self.channel_axis == 0:
            raise incompatible(self, "axis must not be the batch axis 0", input_shape)
        channels = input_shape[self.channel_axis]
        if channels is None:
            raise incompatible(self, f"axis {self.axis} must have a known size", input_shape)
        groups = channels if self.groups == -1 else self.groups
        if channels < groups or channels % groups:
            raise incompatible(self, f"the {channels} channels of axis {self.axis} must split "
                                     f"into {groups} groups of equal size", input_shape)
        self.groups, self.channels = groups, channels
        if self.scale:
            self.gamma = self.add_weight((channels,), self.gamma_initializer, name="gamma",
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight((channels,), self.beta_initializer, name="beta",
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)

    def call(self, inputs):
        channels, a = self.channels, self.channel_axis
        if inputs.ndim <= a or inputs.shape[a] != channels:
            raise incompatible(self, f"expected axis {self.axis} of the input to have size "
                                     f"{channels}", inputs.shape)
        x = inputs if inputs.type.dtype.is_float else ops.cast(inputs, self.dtype)
        shape = x.type.shape
        split = shape[:a] + (self.groups, channels // self.groups) + shape[a + 1:]
        grouped = ops.reshape(x, split)
        axes = tuple(i for i in range(1, len(split)) if i != a)
        mean, variance = nn.moments(grouped, axes, keepdims=True)
        inv = ops.rsqrt(ops.add(variance, self.epsilon))
        per_channel = [1] * len(split)
        per_channel[a:a + 2] = [self.groups, channels // self.groups]
        if self.scale:
            inv = ops.multiply(inv, _per_channel(self.gamma, x, per_channel))
        shift = ops.negative(ops.multiply(mean, inv))
        if self.center:
            shift = ops.add(shift, _per_channel(self.beta, x, per_channel))
        return ops.reshape(ops.add(ops.multiply(grouped, inv), shift), shape)


def _per_channel(variable, x, shape):
    """``variable`` (one value per channel) in ``x``'s dtype, reshaped to ``shape``."""
    return ops.reshape(ops.cast(ops.convert_to_tensor(variable), x.type.dtype), tuple(shape))
