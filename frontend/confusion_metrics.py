"""Keras's confusion-matrix metrics Precision and Recall.

Each keeps running counts per threshold (``true_positives`` and ``false_positives`` or
``false_negatives``, vectors of one entry per threshold). A prediction is positive above
a threshold (``thresholds``: default 0.5; a list gives a list of results); with
``top_k`` only each sample's ``k`` largest predictions may be positive (the others count
as below every threshold; values tied with the k-th all may); with ``class_id`` only
that class's column counts. Targets are 0/1 (cast to bool); ``sample_weight`` weighs
each sample's counts. The result is ``tp / (tp + fp)`` (Precision) or ``tp / (tp + fn)``
(Recall), 0 where the denominator is, one value per threshold (a scalar for one).

The counting is shared: :func:`confusion_counts` sums weighted true/false
positives/negatives of 0/1 truths and predictions (the F-scores use it),
:func:`counts_per_threshold` does so at each of several thresholds (AUC uses it too).
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site
from . import ops
from .loss_prepare import _divide_no_nan, squeeze_or_expand_to_same_rank
from .metric_base import Metric


class _Confusion(Metric):
    """Counts of one kind of error next to the true positives (see the module)."""

    kind = "fp"   # the error kept next to the true positives (a confusion_counts kind)

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        single = thresholds is None or np.isscalar(thresholds)
        values = [0.5] if thresholds is None else ([thresholds] if single else list(thresholds))
        if not values or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                                 and 0 <= t <= 1 for t in values):
            raise ValueError(f"{user_site()}: {owner}: thresholds must be numbers in [0, 1], "
                             f"got {thresholds!r}")
        for key, value in (("top_k", top_k), ("class_id", class_id)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (1 if key == "top_k" else 0)):
                raise ValueError(f"{user_site()}: {owner}: {key} must be a "
                                 f"{'positive' if key == 'top_k' else 'non-negative'} int, "
                                 f"got {value!r}")
        self.thresholds, self.single = values, single
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.true_positives = self.add_variable((len(values),), "zeros", name="true_positives")
        self.errors = self.add_variable((len(values),), "zeros",
                                        name=VARIABLE_NAMES[self.kind])

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        y_true = ops.cast(ops.cast(ops.convert_to_tensor(y_true), "bool"), self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if self.top_k is not None:
            kth = ops.min(_top_k_values(y_pred, self.top_k), axis=-1, keepdims=True)
            y_pred = ops.where(ops.greater_equal(y_pred, kth), y_pred, -1.0)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weight = 1.0 if sample_weight is None else weights_per_entry(
            ops.cast(ops.convert_to_tensor(sample_weight), self.dtype), y_pred)
        counts = counts_per_threshold(y_true, y_pred, self.thresholds, weight,
                                      ("tp", self.kind), self.dtype)
        self.true_positives.assign_add(counts["tp"])
        self.errors.assign_add(counts[self.kind])

    def result(self):
        tp = self.true_positives.read_value()
        value = _divide_no_nan(tp, ops.add(tp, self.errors.read_value()))
        return value[0] if self.single else value

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_Confusion):
    kind = "fp"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)


class Recall(_Confusion):
    kind = "fn"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)


# --- counting, shared with AUC and the F-scores ------------------------------------------
# the state variable Keras keeps for each kind of count
VARIABLE_NAMES = {"tp": "true_positives", "fp": "false_positives", "fn": "false_negatives",
                  "tn": "true_negatives"}

def confusion_counts(truth, positive, weight, kinds, axes=None) -> dict:
    """The weighted confusion counts ``kinds`` (among ``"tp"``, ``"fp"``, ``"fn"``,
    ``"tn"``) summed over ``axes`` (None: all), by kind.

    ``truth`` and ``positive`` are 0/1 floats (true label, predicted positive) and
    ``weight`` each entry's weight (``1.0`` for all); the three broadcast together. An
    entry adds its weight to one count: true and positive to ``tp``, not true and
    positive to ``fp``, true and not positive to ``fn``, neither to ``tn``."""
    true_weight = ops.multiply(truth, weight)
    false_weight = ops.multiply(ops.subtract(1.0, truth), weight)
    pairs = {"tp": (true_weight, True), "fp": (false_weight, True),
             "fn": (true_weight, False), "tn": (false_weight, False)}
    return {kind: ops.sum(ops.multiply(pairs[kind][0], positive if pairs[kind][1]
                                       else ops.subtract(1.0, positive)), axis=axes)
            for kind in kinds}


def counts_per_threshold(y_true, score, thresholds, weight, kinds, dtype,
                         per_label=False) -> dict:
    """:func:`confusion_counts` at each of ``thresholds`` (numbers), where an entry is
    positive when its ``score`` is strictly above the threshold: arrays of shape
    ``(len(thresholds),)``, or ``(len(thresholds), labels)`` with ``per_label`` (the last
    axis of ``score`` kept). ``y_true`` (0/1) and ``score`` have one shape; ``weight``
    broadcasts against them; ``dtype`` is the counts' float dtype."""
    levels = ops.reshape(ops.convert_to_tensor(np.asarray(thresholds), dtype),
                         (len(thresholds),) + (1,) * score.ndim)
    positive = ops.cast(ops.greater(ops.expand_dims(score, 0), levels), dtype)
    axes = tuple(range(1, score.ndim + (0 if per_label else 1)))
    return confusion_counts(ops.expand_dims(y_true, 0), positive, weight, kinds, axes)


def _top_k_values(x, k: int):
    """The ``k`` largest distinct values of each row of ``x`` (last axis), by repeated
    maxima (values tied with the k-th all stay positive-eligible)."""
    found, rest = [], x
    for _ in range(k):
        best = ops.max(rest, axis=-1, keepdims=True)
        found.append(best)
        rest = ops.where(ops.greater_equal(rest, best), -np.inf, rest)
    return ops.concatenate(found, axis=-1)


def weights_per_entry(weights, like):
    """Sample weights broadcast over ``like``'s entries (a (B,) weight per row)."""
    while weights.ndim < like.ndim:
        weights = ops.expand_dims(weights, -1)
    return ops.multiply(weights, ops.ones_like(like))
