"""Keras 3's per-sample accuracy functions (``accuracy``, ``binary_accuracy``,
``categorical_accuracy``, ``sparse_categorical_accuracy``): one value per sample, 1.0 for
a hit. Targets are aligned to the predictions as the losses align them
(:mod:`.loss_prepare`); a shape that still disagrees is a ShapeError naming the metric,
the user's line, the expected and the given shapes.
"""
from __future__ import annotations

from ..ir.builder import user_site
from ..ir.errors import ShapeError
from ..ir.types import dims_compatible
from . import guards, ops
from .loss_prepare import _shape_str, sized_as, squeeze_or_expand_to_same_rank


def _like(y_true, dims: tuple):
    """``y_true`` typed with ``dims`` when its shape is compatible with them (a fixed
    length against a symbolic one: :func:`.loss_prepare.sized_as`); as it is otherwise, for the
    comparison's shape rule to judge."""
    if y_true.ndim == len(dims) and all(map(dims_compatible, y_true.type.shape, dims)):
        return sized_as(y_true, dims)
    return y_true


def accuracy(y_true, y_pred):
    """mean(y_true == y_pred, axis=-1): exact matches (labels against labels)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.type.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_true = _like(y_true, y_pred.type.shape)
    return ops.mean(ops.cast(ops.equal(y_true, y_pred), "float32"), axis=-1)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """mean(y_true == (y_pred > threshold), axis=-1)."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_true = _like(y_true, y_pred.type.shape)
    predicted = ops.cast(ops.greater(y_pred, threshold), y_true.type.dtype)
    return ops.mean(ops.cast(ops.equal(y_true, predicted), "float32"), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """argmax(y_true) == argmax(y_pred) over the last axis: one value per sample."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if y_true.ndim != y_pred.ndim or not all(map(dims_compatible, y_true.type.shape,
                                                 y_pred.type.shape)):
        raise ShapeError(f"{user_site()}: metric 'categorical_accuracy': y_true has shape "
                         f"{_shape_str(y_true)} but y_pred has shape {_shape_str(y_pred)}; "
                         f"expected one-hot targets of shape {_shape_str(y_pred)} (for "
                         f"integer labels use sparse_categorical_accuracy)")
    y_true = sized_as(y_true, y_pred.type.shape)
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)),
                    "float32")


def sparse_categorical_accuracy(y_true, y_pred):
    """y_true == argmax(y_pred, axis=-1) with integer (or float) labels of shape
    ``y_pred.shape[:-1]`` or that plus a trailing 1."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.ndim >= 1 and y_true.type.shape[-1] == 1:
        y_true = ops.squeeze_axes(y_true, (-1,))
    expected = y_pred.type.shape[:-1]
    if y_true.ndim != len(expected) or not all(map(dims_compatible, y_true.type.shape,
                                                   expected)):
        raise ShapeError(f"{user_site()}: metric 'sparse_categorical_accuracy': y_true has "
                         f"shape {_shape_str(y_true)}; expected integer class indices of "
                         f"shape {tuple(y_pred.shape[:-1])} or {tuple(y_pred.shape[:-1]) + (1,)} "
                         f"for y_pred of shape {_shape_str(y_pred)}")
    y_true = sized_as(y_true, expected)
    if isinstance(y_pred.type.shape[-1], int):
        guards.require_class_indices(y_true, y_pred.type.shape[-1],
                                     "metric 'sparse_categorical_accuracy'")
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), y_true.type.dtype)
    return ops.cast(ops.equal(y_true, predicted), "float32")

