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


def _one_hot_targets(y_true, y_pred, name: str):
    """``(y_true, y_pred)`` as tensors, one-hot targets of the predictions' shape (else a
    ShapeError naming metric ``name`` and pointing to its sparse form)."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if y_true.ndim != y_pred.ndim or not all(map(dims_compatible, y_true.type.shape,
                                                 y_pred.type.shape)):
        raise ShapeError(f"{user_site()}: metric '{name}': y_true has shape "
                         f"{_shape_str(y_true)} but y_pred has shape {_shape_str(y_pred)}; "
                         f"expected one-hot targets of shape {_shape_str(y_pred)} (for "
                         f"integer labels use sparse_{name})")
    return sized_as(y_true, y_pred.type.shape), y_pred


def _class_labels(y_true, y_pred, name: str):
    """``(y_true, y_pred)`` as tensors, integer (or float) class labels of shape
    ``y_pred.shape[:-1]`` (a trailing 1 dropped), checked against the class count (else
    a ShapeError naming metric ``name``)."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.ndim >= 1 and y_true.type.shape[-1] == 1:
        y_true = ops.squeeze_axes(y_true, (-1,))
    expected = y_pred.type.shape[:-1]
    if y_true.ndim != len(expected) or not all(map(dims_compatible, y_true.type.shape,
                                                   expected)):
        raise ShapeError(f"{user_site()}: metric '{name}': y_true has "
                         f"shape {_shape_str(y_true)}; expected integer class indices of "
                         f"shape {tuple(y_pred.shape[:-1])} or {tuple(y_pred.shape[:-1]) + (1,)} "
                         f"for y_pred of shape {_shape_str(y_pred)}")
    y_true = sized_as(y_true, expected)
    if isinstance(y_pred.type.shape[-1], int):
        guards.require_class_indices(y_true, y_pred.type.shape[-1], f"metric '{name}'")
    return y_true, y_pred


def categorical_accuracy(y_true, y_pred):
    """argmax(y_true) == argmax(y_pred) over the last axis: one value per sample."""
    y_true, y_pred = _one_hot_targets(y_true, y_pred, "categorical_accuracy")
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)),
                    "float32")


def sparse_categorical_accuracy(y_true, y_pred):
    """y_true == argmax(y_pred, axis=-1) with integer (or float) labels of shape
    ``y_pred.shape[:-1]`` or that plus a trailing 1."""
    y_true, y_pred = _class_labels(y_true, y_pred, "sparse_categorical_accuracy")
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), y_true.type.dtype)
    return ops.cast(ops.equal(y_true, predicted), "float32")


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class of one-hot targets is among the ``k`` largest
    predictions (ties at the boundary count as in, as TensorFlow's ``in_top_k``)."""
    y_true, y_pred = _one_hot_targets(y_true, y_pred, "top_k_categorical_accuracy")
    return _in_top_k(ops.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the label's class is among the ``k`` largest predictions."""
    y_true, y_pred = _class_labels(y_true, y_pred, "sparse_top_k_categorical_accuracy")
    return _in_top_k(y_true, y_pred, k)


def _in_top_k(labels, y_pred, k: int):
    """Whether fewer than ``k`` classes score strictly above the labelled one."""
    classes = y_pred.type.shape[-1]
    if not isinstance(classes, int):
        raise ShapeError(f"{user_site()}: top-k accuracy needs a known number of classes "
                         f"(the last axis of y_pred), got {_shape_str(y_pred)}")
    chosen = ops.one_hot(ops.cast(labels, "int32"), classes, dtype=y_pred.dtype)
    target = ops.sum(ops.multiply(chosen, y_pred), axis=-1, keepdims=True)
    above = ops.sum(ops.cast(ops.greater(y_pred, target), "int32"), axis=-1)
    return ops.cast(ops.less(above, k), "float32")

