"""Keras's F-scores: FBetaScore and F1Score, per class from running confusion counts.

Inputs are ``(batch, classes)``. A prediction is positive above ``threshold``, or, with
``threshold=None``, where it equals its row's maximum and is not 0 (``|p| > 1e-9``).
Targets weigh as they are (0/1 expected). The state (made on the first update, when
the number of classes is known): ``true_positives``, ``false_positives``,
``false_negatives`` and ``intermediate_weights`` (the support: the targets' weighted
sum), one entry per class, or scalars for ``average="micro"``. ``sample_weight`` weighs
each sample's row.

``result()``, with ε = 1e-7 as Keras: ``precision = tp / (tp + fp + ε)``, ``recall =
tp / (tp + fn + ε)``, ``f = (1 + β²) · precision · recall / (β² · precision + recall +
ε)``; per class for ``average=None``, their mean for "macro" (and for "micro", a single
score from the summed counts), their mean weighted by the support for "weighted".
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site
from . import ops
from .checks import check_number
from .confusion_metrics import VARIABLE_NAMES, weights_per_entry, confusion_counts
from .loss_prepare import EPSILON
from .metric_base import Metric

_AVERAGES = (None, "micro", "macro", "weighted")
_KINDS = {kind: VARIABLE_NAMES[kind] for kind in ("tp", "fp", "fn")}


class FBetaScore(Metric):
    """The F-beta score, the weighted harmonic mean of precision and recall (see the
    module)."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score",
                 dtype=None):
        owner = f"{user_site()}: {type(self).__name__}"
        if average not in _AVERAGES:
            raise ValueError(f"{owner}: `average` must be one of {list(_AVERAGES)}, "
                             f"got {average!r}")
        check_number(owner, "beta", beta, low=0.0, open_low=True)
        if threshold is not None:
            check_number(owner, "threshold", threshold, low=0.0, high=1.0, open_low=True)
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.average, self.beta = average, float(beta)
        self.threshold = None if threshold is None else float(threshold)
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true, y_pred) -> None:
        """The count variables, once the number of classes is known from ``y_pred``."""
        shapes = (tuple(y_true.shape), tuple(y_pred.shape))
        if any(len(shape) != 2 or not isinstance(shape[-1], (int, np.integer))
               for shape in shapes):
            raise ValueError(f"{user_site()}: {type(self).__name__} ({self.name}) takes "
                             f"inputs of shape (batch, classes) with a known number of "
                             f"classes, got y_true {shapes[0]} and y_pred {shapes[1]}")
        shape = () if self.average == "micro" else (shapes[1][-1],)
        for variable in (*_KINDS.values(), "intermediate_weights"):
            setattr(self, variable, self.add_variable(shape, "zeros", name=variable))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true), self.dtype)
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        if not self._built:
            self._build(y_true, y_pred)
        if self.threshold is None:
            best = ops.max(y_pred, axis=-1, keepdims=True)
            positive = ops.logical_and(ops.greater_equal(y_pred, best),
                                       ops.greater(ops.abs(y_pred), 1e-9))
        else:
            positive = ops.greater(y_pred, self.threshold)
        positive = ops.cast(positive, self.dtype)
        weight = 1.0 if sample_weight is None else weights_per_entry(
            ops.cast(ops.convert_to_tensor(sample_weight), self.dtype), y_pred)
        counts = confusion_counts(y_true, positive, weight, tuple(_KINDS), self.axis)
        for kind, variable in _KINDS.items():
            getattr(self, variable).assign_add(counts[kind])
        self.intermediate_weights.assign_add(
            ops.sum(ops.multiply(y_true, weight), axis=self.axis))

    def result(self):
        if not self._built:
            return ops.convert_to_tensor(0.0, self.dtype)
        tp, fp, fn = (getattr(self, variable).read_value() for variable in _KINDS.values())
        precision = ops.divide(tp, ops.add(ops.add(tp, fp), EPSILON))
        recall = ops.divide(tp, ops.add(ops.add(tp, fn), EPSILON))
        beta2 = self.beta ** 2
        harmonic = ops.divide(ops.multiply(precision, recall),
                              ops.add(ops.add(ops.multiply(beta2, precision), recall), EPSILON))
        score = ops.multiply(harmonic, 1.0 + beta2)
        if self.average == "weighted":
            support = self.intermediate_weights.read_value()
            return ops.sum(ops.multiply(score, ops.divide(
                support, ops.add(ops.sum(support), EPSILON))))
        return score if self.average is None else ops.mean(score)

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with ``beta=1``: the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name,
                         dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
