"""Keras's confusion-matrix metrics Precision and Recall.

Each keeps running counts per threshold (``true_positives`` and ``false_positives`` or
``false_negatives``, vectors of one entry per threshold). A prediction is positive above
a threshold (``thresholds``: default 0.5; a list gives a list of results); with
``top_k`` only each sample's ``k`` largest predictions may be positive (the others count
as below every threshold; values tied with the k-th all may); with ``class_id`` only that class's column counts. Targets
are 0/1 (cast to bool); ``sample_weight`` weighs each sample's counts. The result is
``tp / (tp + fp)`` (Precision) or ``tp / (tp + fn)`` (Recall), 0 where the denominator
is, one value per threshold (a scalar for one).
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site
from . import ops
from .loss_prepare import _divide_no_nan, squeeze_or_expand_to_same_rank
from .metric_base import Metric


class _Confusion(Metric):
    """Counts of one kind of error next to the true positives (see the module)."""

    counted = "false_positives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        kind = type(self).__name__
        single = thresholds is None or np.isscalar(thresholds)
        values = [0.5] if thresholds is None else ([thresholds] if single else list(thresholds))
        if not values or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                                 and 0 <= t <= 1 for t in values):
            raise ValueError(f"{user_site()}: {kind}: thresholds must be numbers in [0, 1], "
                             f"got {thresholds!r}")
        for key, value in (("top_k", top_k), ("class_id", class_id)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (1 if key == "top_k" else 0)):
                raise ValueError(f"{user_site()}: {kind}: {key} must be a "
                                 f"{'positive' if key == 'top_k' else 'non-negative'} int, "
                                 f"got {value!r}")
        self.thresholds, self.single = values, single
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.true_positives = self.add_variable((len(values),), "zeros", name="true_positives")
        self.errors = self.add_variable((len(values),), "zeros", name=self.counted)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        y_true = ops.cast(ops.cast(ops.convert_to_tensor(y_true), "bool"), self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if self.top_k is not None:
            kth = ops.min(_top_k_values(y_pred, self.top_k), axis=-1, keepdims=True)
            y_pred = ops.where(ops.greater_equal(y_pred, kth), y_pred, -1.0)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weight = 1.0 if sample_weight is None else _per_entry(
            ops.cast(ops.convert_to_tensor(sample_weight), self.dtype), y_pred)
        truth = ops.multiply(ops.expand_dims(y_true, 0), weight)
        above = ops.cast(ops.greater(ops.expand_dims(y_pred, 0), ops.reshape(
            ops.convert_to_tensor(np.array(self.thresholds), self.dtype),
            (len(self.thresholds),) + (1,) * y_pred.ndim)), self.dtype)
        axes = tuple(range(1, y_pred.ndim + 1))
        self.true_positives.assign_add(ops.sum(ops.multiply(truth, above), axis=axes))
        self.errors.assign_add(ops.sum(self._error(truth, above, weight), axis=axes))

    def result(self):
        tp = self.true_positives.read_value()
        value = _divide_no_nan(tp, ops.add(tp, self.errors.read_value()))
        return value[0] if self.single else value

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_Confusion):
    counted = "false_positives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def _error(self, truth, above, weight):
        """False positives: predicted positive, not true."""
        return ops.multiply(ops.subtract(weight, truth), above)


class Recall(_Confusion):
    counted = "false_negatives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def _error(self, truth, above, weight):
        """False negatives: true, not predicted positive."""
        return ops.multiply(truth, ops.subtract(1.0, above))


def _top_k_values(x, k: int):
    """The ``k`` largest distinct values of each row of ``x`` (last axis), by repeated
    maxima (values tied with the k-th all stay positive-eligible)."""
    found, rest = [], x
    for _ in range(k):
        best = ops.max(rest, axis=-1, keepdims=True)
        found.append(best)
        rest = ops.where(ops.greater_equal(rest, best), -np.inf, rest)
    return ops.concatenate(found, axis=-1)


def _per_entry(weights, like):
    """Sample weights broadcast over ``like``'s entries (a (B,) weight per row)."""
    while weights.ndim < like.ndim:
        weights = ops.expand_dims(weights, -1)
    return ops.multiply(weights, ops.ones_like(like))
