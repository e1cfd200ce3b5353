"""Keras's intersection-over-union metrics IoU and MeanIoU, from a running confusion
matrix.

State: ``total_confusion_matrix``, ``(num_classes, num_classes)``, rows the true class
and columns the predicted one, each cell the summed weight of its (true, predicted)
pairs. As Keras 3.15, its dtype (the metric's ``dtype``) defaults to ``"int32"``: the
classes and the sample weights are cast to it, so fractional weights truncate (a
warning says so, as Keras's); pass ``dtype="float32"`` for fractional weights. Labels
(``sparse_y_true``) and predictions (``sparse_y_pred``) are class ids, or scores whose
argmax along ``axis`` is the class; both are flattened, and a pair with an id outside
``[0, num_classes)`` or a true class equal to ``ignore_class`` is left out.

``result()`` is float32: per class, ``iou = tp / (tp + fp + fn + 1e-7)`` (true
positives on the diagonal, ``tp + fp + fn`` the row plus the column minus the
diagonal), 0 for a class never seen (denominator 0); then the mean of the ``iou`` of
``target_class_ids`` over those seen.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..ir import as_dtype
from ..ir.builder import user_site
from . import ops
from .checks import check_bool, check_int_at_least
from .loss_prepare import EPSILON
from .metric_base import Metric



class IoU(Metric):
    """The mean intersection-over-union of the classes ``target_class_ids`` (see the
    module)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1):
        owner = f"{user_site()}: {type(self).__name__}"
        check_int_at_least(owner, "num_classes", num_classes, 1)
        for key, value in (("ignore_class", ignore_class), ("axis", axis)):
            if (value is not None or key == "axis") and (
                    isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise ValueError(f"{owner}: `{key}` must be an int, got {value!r}")
        check_bool(owner, "sparse_y_true", sparse_y_true)
        check_bool(owner, "sparse_y_pred", sparse_y_pred)
        ids = list(target_class_ids) if isinstance(target_class_ids, (list, tuple, range)) \
            else None
        if not ids or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                              and 0 <= i < num_classes for i in ids):
            raise ValueError(f"{owner}: `target_class_ids` must be a non-empty list of class "
                             f"ids in [0, {num_classes}), got {target_class_ids!r}")
        super().__init__(name=name, dtype=dtype or "int32")
        self._direction = "up"
        self.num_classes, self.target_class_ids = int(num_classes), [int(i) for i in ids]
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros",
                                          name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = self._class_ids(y_true, self.sparse_y_true)
        y_pred = self._class_ids(y_pred, self.sparse_y_pred)
        if sample_weight is None:
            weight = ops.ones_like(y_true)
        else:
            weight = ops.convert_to_tensor(sample_weight)
            if weight.type.dtype.is_float and not as_dtype(self.dtype).is_float:
                warnings.warn(f"{self.name}: the sample weights are floats and the metric's "
                              f"dtype is {self.dtype}: they are truncated to integers; "
                              f"create the metric with dtype='float32' to keep fractions",
                              stacklevel=2)
            weight = _rows(ops.cast(weight, self.dtype), y_true.type.shape[1])
        valid = ops.logical_and(_in_range(y_true, self.num_classes),
                                _in_range(y_pred, self.num_classes))
        if self.ignore_class is not None:
            valid = ops.logical_and(valid, ops.not_equal(y_true, self.ignore_class))
        self.total_cm.assign_add(self._confusion_matrix(
            y_true, y_pred, ops.where(valid, weight, ops.zeros_like(weight))))

    def _class_ids(self, values, sparse: bool):
        """``values`` as class ids in the metric's dtype, one row per sample (the argmax
        along ``axis`` first unless ``sparse``)."""
        values = ops.convert_to_tensor(values)
        if not sparse:
            values = ops.argmax(values, axis=self.axis)
        return _rows(ops.cast(values, self.dtype))

    def _confusion_matrix(self, y_true, y_pred, weight):
        """The (true, predicted) weight sums of one batch of ``(samples, entries)`` ids: per
        sample, the weighted one-hot rows of the true classes (transposed) times the
        one-hot rows of the predicted ones, summed over the samples (out-of-range ids,
        weighing 0 here, become class 0)."""
        compute = self.dtype if as_dtype(self.dtype).is_float else "float32"

        def one_hot(ids):
            valid = _in_range(ids, self.num_classes)
            return ops.one_hot(ops.cast(ops.where(valid, ids, ops.zeros_like(ids)), "int32"),
                               self.num_classes, dtype=compute)

        weighted = ops.multiply(one_hot(y_true), ops.expand_dims(ops.cast(weight, compute), -1))
        per_sample = ops.matmul(ops.transpose(weighted, (0, 2, 1)), one_hot(y_pred))
        return ops.cast(ops.sum(per_sample, axis=0), self.dtype)

    def result(self):
        cm = self.total_cm.read_value()
        tp = ops.sum(ops.multiply(cm, ops.convert_to_tensor(np.eye(self.num_classes),
                                                            self.dtype)), axis=0)
        denominator = ops.subtract(ops.add(ops.sum(cm, axis=0), ops.sum(cm, axis=1)), tp)
        ids = np.array(self.target_class_ids)
        tp = ops.cast(ops.take(tp, ids), "float32")
        denominator = ops.cast(ops.take(denominator, ids), "float32")
        seen = ops.greater(denominator, 1e-9)
        iou = ops.where(seen, ops.divide(tp, ops.add(denominator, EPSILON)), 0.0)
        return ops.divide(ops.sum(iou), ops.add(ops.sum(ops.cast(seen, "float32")), EPSILON))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class MeanIoU(IoU):
    """The mean intersection-over-union over every class."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        check_int_at_least(f"{user_site()}: MeanIoU", "num_classes", num_classes, 1)
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["target_class_ids"]
        return config


def _rows(x, entries=None):
    """``x`` as ``(samples, entries)``: a scalar as one entry of one sample, a vector as
    one entry per sample, higher ranks with their non-sample axes flattened (their sizes
    must be known); with ``entries``, broadcast to that many entries per sample (a
    sample weight)."""
    if x.ndim == 0:
        x = ops.reshape(x, (1, 1))
    elif x.ndim == 1:
        x = ops.expand_dims(x, -1)
    elif x.ndim > 2:
        sizes = x.type.shape[1:]
        if not all(isinstance(size, (int, np.integer)) for size in sizes):
            raise ValueError(f"{user_site()}: IoU: the non-batch sizes of the labels, "
                             f"predictions and weights must be known, got shape "
                             f"{tuple(x.type.shape)}")
        x = ops.reshape(x, (-1, int(np.prod(sizes))))
    if entries is not None and x.type.shape[1] != entries:
        x = ops.broadcast_to(x, (x.type.shape[0], entries))
    return x


def _in_range(ids, num_classes: int):
    """Whether each id is a class: in ``[0, num_classes)``."""
    return ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, num_classes))
