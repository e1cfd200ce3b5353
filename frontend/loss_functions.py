"""Keras's per-sample loss functions (``mean_squared_error``, the cross-entropies,
``kl_divergence`` and their short names): one loss per sample, the mean (or, for
cross-entropies, the sum) over the last (class) axis, shape ``y_pred.shape[:-1]``. Each
runs eagerly on arrays outside a trace (:func:`.dispatch.eager_or_traced`). The numerics
are described in :mod:`.losses`.
"""
from __future__ import annotations

import numpy as np

from ..ir import Sym
from ..ir.builder import user_site
from ..ir.types import dims_compatible
from . import guards, nn, ops
from .dispatch import eager_or_traced
from .loss_prepare import (EPSILON, _class_axis, _float_tensor, _prepare, _shape_error, _shape_str,
                           sized_as)


def _log_probs(y_pred, axis: int, from_logits: bool):
    """log of the class probabilities: log_softmax of logits, or the log of the rescaled,
    clipped probabilities."""
    if from_logits:
        return nn.log_softmax(y_pred, axis=axis)
    probs = ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True))
    return ops.log(ops.clip(probs, EPSILON, 1.0 - EPSILON))


# --- per-sample functions -----------------------------------------------------------
@eager_or_traced(data=("y_true", "y_pred"))  # the other arguments are static
def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred)^2, axis=-1): one value per sample."""
    y_true, y_pred = _prepare("mean_squared_error", y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|, axis=-1): one value per sample."""
    y_true, y_pred = _prepare("mean_absolute_error", y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)


def _binary_from_probs(y_true, probs):
    """The element-wise binary cross-entropy of probabilities, clipped to [1e-7, 1 - 1e-7]."""
    p = ops.clip(probs, EPSILON, 1.0 - EPSILON)
    return ops.negative(ops.add(
        ops.multiply(y_true, ops.log(p)),
        ops.multiply(ops.subtract(1.0, y_true), ops.log(ops.subtract(1.0, p)))))


def _smooth_binary(y_true, label_smoothing):
    """Binary label smoothing: ``z*(1-s) + s/2``."""
    if not label_smoothing:
        return y_true
    return ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)


@eager_or_traced(data=("y_true", "y_pred"))
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy of each element, averaged over ``axis`` (the last)."""
    name = "binary_crossentropy"
    y_true, y_pred = _prepare(name, y_true, y_pred)
    axis = _class_axis(name, y_pred, axis)
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        # max(x, 0) - x*z + log(1 + e^-|x|): no exp of a large positive number
        x = y_pred
        elementwise = ops.add(ops.subtract(ops.maximum(x, 0.0), ops.multiply(x, y_true)),
                              ops.log1p(ops.exp(ops.negative(ops.abs(x)))))
    else:
        elementwise = _binary_from_probs(y_true, y_pred)
    return ops.mean(elementwise, axis=axis)


@eager_or_traced(data=("y_true", "y_pred"))
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """Focal binary cross-entropy (Lin et al. 2018) of each element, averaged over ``axis``:
    ``(1 - p_t)^gamma * bce`` with ``p_t = z*p + (1-z)*(1-p)`` (``p`` the probability, the
    sigmoid of a logit, unclipped there; ``bce`` from the clipped ``p``, as Keras computes
    it, even from logits); with ``apply_class_balancing`` also times ``alpha`` for
    positives and ``1 - alpha`` for negatives. Labels are smoothed first (binary)."""
    name = "binary_focal_crossentropy"
    y_true, y_pred = _prepare(name, y_true, y_pred)
    axis = _class_axis(name, y_pred, axis)
    y_true = _smooth_binary(y_true, label_smoothing)
    probs = ops.sigmoid(y_pred) if from_logits else y_pred
    negative = ops.subtract(1.0, y_true)
    p_t = ops.add(ops.multiply(y_true, probs),
                  ops.multiply(negative, ops.subtract(1.0, probs)))
    focal = ops.multiply(ops.power(ops.subtract(1.0, p_t), gamma),
                         _binary_from_probs(y_true, probs))
    if apply_class_balancing:
        focal = ops.multiply(ops.add(ops.multiply(y_true, alpha),
                                     ops.multiply(negative, 1.0 - alpha)), focal)
    return ops.mean(focal, axis=axis)


def _prepare_one_hot(name: str, y_true, y_pred, axis, label_smoothing):
    """Targets and predictions of a categorical loss: one-hot (or any distribution)
    targets of ``y_pred``'s shape (a clear error for another class count, or integer
    labels), the class ``axis`` as a non-negative int, and the targets smoothed as Keras
    does: ``z*(1-s) + s/num_classes``, with ``num_classes`` the size of the LAST axis
    whatever ``axis`` is (Keras's rule)."""
    y_pred = _float_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if (y_true.ndim == y_pred.ndim and y_pred.ndim >= 1
            and not all(map(dims_compatible, y_true.type.shape, y_pred.type.shape))
            and all(map(dims_compatible, y_true.type.shape[:-1], y_pred.type.shape[:-1]))):
        raise _shape_error(name, f"y_true has {y_true.type.shape[-1]} classes (shape "
                                 f"{_shape_str(y_true)}) but y_pred has {y_pred.type.shape[-1]} "
                                 f"(shape {_shape_str(y_pred)}); expected one-hot targets of "
                                 f"shape {_shape_str(y_pred)}"
                                 + ("; for integer class labels in a (batch_size, 1) array use "
                                    "sparse_categorical_crossentropy"
                                    if y_true.type.shape[-1] == 1 else ""))
    y_true, y_pred = _prepare(name, y_true, y_pred,
                              hint="; for integer class labels use "
                                   "sparse_categorical_crossentropy")
    axis = _class_axis(name, y_pred, axis)
    if label_smoothing:
        num_classes = y_pred.type.shape[-1]
        if isinstance(num_classes, Sym):
            raise _shape_error(name, f"label_smoothing needs the number of classes, but the "
                                     f"last axis of y_pred {_shape_str(y_pred)} has unknown size")
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing),
                         label_smoothing / num_classes)
    return y_true, y_pred, axis


@eager_or_traced(data=("y_true", "y_pred"))
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log p, axis): one value per sample; ``y_true`` one-hot (or any
    distribution) of the same shape as ``y_pred``."""
    y_true, y_pred, axis = _prepare_one_hot("categorical_crossentropy", y_true, y_pred, axis,
                                            label_smoothing)
    return ops.negative(ops.sum(ops.multiply(y_true, _log_probs(y_pred, axis, from_logits)),
                                axis=axis))


@eager_or_traced(data=("y_true", "y_pred"))
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Focal categorical cross-entropy (Lin et al. 2018): ``sum(alpha * (1 - p)^gamma *
    -z * log p, axis)``, one value per sample. ``p``: the probabilities (softmax of logits,
    as Keras computes it, not a log-softmax) rescaled to sum to 1 over ``axis`` and clipped
    to [1e-7, 1 - 1e-7]. ``alpha`` is a number or one weight per class (a list or tuple
    as long as the last axis)."""
    name = "categorical_focal_crossentropy"
    y_true, y_pred, axis = _prepare_one_hot(name, y_true, y_pred, axis, label_smoothing)
    probs = nn.softmax(y_pred, axis=axis) if from_logits else y_pred
    probs = ops.clip(ops.divide(probs, ops.sum(probs, axis=axis, keepdims=True)),
                     EPSILON, 1.0 - EPSILON)
    crossentropy = ops.negative(ops.multiply(y_true, ops.log(probs)))
    weighting = ops.multiply(ops.power(ops.subtract(1.0, probs), gamma),
                             _class_weights(name, alpha, y_pred))
    return ops.sum(ops.multiply(weighting, crossentropy), axis=axis)


def _class_weights(name: str, alpha, y_pred):
    """A focal loss's ``alpha``: a number, or a list/tuple of one weight per class (the
    last axis of ``y_pred``), as a float constant that broadcasts against it."""
    if not isinstance(alpha, (list, tuple, np.ndarray)):
        return float(alpha)
    weights = np.asarray(alpha, dtype=y_pred.type.dtype.numpy)
    num_classes = y_pred.type.shape[-1]
    if weights.ndim != 1 or (not isinstance(num_classes, Sym) and len(weights) != num_classes):
        raise _shape_error(name, f"alpha has shape {weights.shape}; expected one weight per "
                                 f"class, shape ({num_classes},), for y_pred of shape "
                                 f"{_shape_str(y_pred)}")
    return ops.convert_to_tensor(weights)


@eager_or_traced(data=("y_true", "y_pred"))
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Categorical cross-entropy with integer class labels: ``y_true`` of shape
    ``y_pred.shape`` without the class axis, or with it of size 1 (``(B,)`` or ``(B, 1)``
    for ``(B, C)`` predictions); int or float labels. Labels must be in ``[0, C)``: the
    graph cannot raise on values (such a label's one-hot row is empty, a loss of 0), so
    labels that are an argument of the traced function are checked on the host before
    each run (:func:`.guards.require_class_indices`), as Keras raises."""
    name = "sparse_categorical_crossentropy"
    if ignore_class is not None:
        raise NotImplementedError(f"{user_site()}: loss '{name}': ignore_class is not "
                                  f"supported yet; mask the labels with sample_weight instead")
    y_pred = _float_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    axis = _class_axis(name, y_pred, axis)
    if y_true.ndim == y_pred.ndim and y_true.type.shape[-1] == 1:
        y_true = ops.squeeze_axes(y_true, (-1,))
    expected = y_pred.type.shape[:axis] + y_pred.type.shape[axis + 1:]
    if y_true.ndim != len(expected) or not all(map(dims_compatible, y_true.type.shape,
                                                    expected)):
        shown = tuple(None if isinstance(d, Sym) else d for d in expected)
        with_one = shown[:axis] + (1,) + shown[axis:] if axis == y_pred.ndim - 1 else None
        alternatives = f"{shown}" + (f" or {with_one}" if with_one else "")
        raise _shape_error(name, f"y_true has shape {_shape_str(y_true)}; expected integer "
                                 f"class indices of shape {alternatives} for y_pred of shape "
                                 f"{_shape_str(y_pred)}"
                                 + ("; for one-hot targets use categorical_crossentropy"
                                    if y_true.ndim == y_pred.ndim else ""))
    y_true = sized_as(y_true, expected)
    labels = y_true if y_true.type.dtype.is_int else ops.cast(y_true, "int32")
    num_classes = y_pred.type.shape[axis]
    if isinstance(num_classes, Sym):
        raise _shape_error(name, f"the class axis {axis} of y_pred {_shape_str(y_pred)} has "
                                 f"unknown size; expected a known number of classes")
    guards.require_class_indices(y_true, num_classes, f"loss '{name}'")
    log_probs = _log_probs(y_pred, axis, from_logits)
    one_hot = ops.one_hot(labels, num_classes, axis=axis, dtype=y_pred.dtype)
    return ops.negative(ops.sum(ops.multiply(one_hot, log_probs), axis=axis))


@eager_or_traced(data=("y_true", "y_pred"))
def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [1e-7, 1]."""
    y_true, y_pred = _prepare("kl_divergence", y_true, y_pred)
    y_true = ops.clip(y_true, EPSILON, 1.0)
    y_pred = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def huber(y_true, y_pred, delta=1.0):
    """mean over the last axis of ``e^2 / 2`` where ``|e| <= delta``, else
    ``delta * |e| - delta^2 / 2`` (``e = y_pred - y_true``)."""
    y_true, y_pred = _prepare("huber", y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    magnitude = ops.abs(error)
    return ops.mean(ops.where(ops.less_equal(magnitude, delta),
                              ops.multiply(ops.square(error), 0.5),
                              ops.subtract(ops.multiply(magnitude, delta),
                                           0.5 * delta * delta)), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def log_cosh(y_true, y_pred):
    """mean over the last axis of ``log(cosh(e))``, as ``e + softplus(-2e) - log 2`` (no
    overflow for a large error)."""
    y_true, y_pred = _prepare("log_cosh", y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    return ops.mean(ops.subtract(ops.add(error, nn.softplus(ops.multiply(error, -2.0))),
                                 float(np.log(2.0))), axis=-1)


def _hinge_labels(y_true):
    """Labels in {0, 1} as {-1, 1} (Keras converts them when every label is 0 or 1)."""
    binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
    return ops.where(binary, ops.subtract(ops.multiply(y_true, 2.0), 1.0), y_true)


@eager_or_traced(data=("y_true", "y_pred"))
def hinge(y_true, y_pred):
    """mean over the last axis of ``max(1 - y_true * y_pred, 0)`` (labels -1/1, or 0/1)."""
    y_true, y_pred = _prepare("hinge", y_true, y_pred)
    margin = ops.subtract(1.0, ops.multiply(_hinge_labels(y_true), y_pred))
    return ops.mean(ops.maximum(margin, 0.0), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def squared_hinge(y_true, y_pred):
    """mean over the last axis of ``max(1 - y_true * y_pred, 0)^2``."""
    y_true, y_pred = _prepare("squared_hinge", y_true, y_pred)
    margin = ops.subtract(1.0, ops.multiply(_hinge_labels(y_true), y_pred))
    return ops.mean(ops.square(ops.maximum(margin, 0.0)), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)``: ``pos`` the prediction of the true class (one-hot
    targets), ``neg`` the largest prediction of the others."""
    y_true, y_pred = _prepare("categorical_hinge", y_true, y_pred)
    positive = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    negative = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.maximum(ops.add(ops.subtract(negative, positive), 1.0), 0.0)


@eager_or_traced(data=("y_true", "y_pred"))
def poisson(y_true, y_pred):
    """mean over the last axis of ``y_pred - y_true * log(y_pred + 1e-7)``."""
    y_true, y_pred = _prepare("poisson", y_true, y_pred)
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, ops.log(ops.add(y_pred, EPSILON)))),
                    axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(normalize(y_true) * normalize(y_pred), axis)``: -1 for the same direction
    (``fg.ops.normalize``, Keras's epsilon)."""
    y_true, y_pred = _prepare("cosine_similarity", y_true, y_pred)
    return ops.negative(ops.sum(ops.multiply(nn.normalize(y_true, axis=axis),
                                             nn.normalize(y_pred, axis=axis)), axis=axis))


@eager_or_traced(data=("y_true", "y_pred"))
def mean_squared_logarithmic_error(y_true, y_pred):
    """mean over the last axis of ``(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7)
    + 1))^2``."""
    y_true, y_pred = _prepare("mean_squared_logarithmic_error", y_true, y_pred)
    first = ops.log(ops.add(ops.maximum(y_pred, EPSILON), 1.0))
    second = ops.log(ops.add(ops.maximum(y_true, EPSILON), 1.0))
    return ops.mean(ops.square(ops.subtract(first, second)), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def mean_absolute_percentage_error(y_true, y_pred):
    """``100 *`` mean over the last axis of ``|y_true - y_pred| / max(|y_true|, 1e-7)``."""
    y_true, y_pred = _prepare("mean_absolute_percentage_error", y_true, y_pred)
    relative = ops.abs(ops.divide(ops.subtract(y_true, y_pred),
                                  ops.maximum(ops.abs(y_true), EPSILON)))
    return ops.multiply(ops.mean(relative, axis=-1), 100.0)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence = kl_divergence
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error
logcosh = log_cosh
