"""Keras's AUC: the area under the ROC or the precision-recall curve, from confusion
counts kept at fixed thresholds.

State: ``true_positives``, ``false_positives``, ``true_negatives`` and
``false_negatives``, one entry per threshold (``(num_thresholds, num_labels)`` with
``multi_label``). The thresholds are ``num_thresholds - 2`` evenly spaced points inside
(0, 1), or the sorted ``thresholds`` given, between the end points ``-1e-7`` and
``1 + 1e-7``. A prediction counts as positive at a threshold it is strictly above, as
:mod:`.confusion_metrics` counts; when the thresholds are evenly spaced (always, unless
``thresholds`` are given unevenly) Keras 3 places each prediction, clipped to [0, 1],
in the bucket ``ceil(p * (num_thresholds - 1)) - 1`` (at least 0) and counts it
positive at the thresholds up to its bucket, which is what is done here too: the
predictions land exactly where Keras's do, including those at a threshold's float value.

``result()`` sums the curve's pieces between successive thresholds (Riemann sums):
ROC plots recall over the false-positive rate, PR precision over recall, PRGAIN
Keras's precision gain over recall gain. ``summation_method`` "interpolation" takes each
piece's mean height (for PR, Davis & Goadrich's interpolation of the counts, not of
precision), "minoring" the lower and "majoring" the higher end. With ``multi_label``
each label gets its own curve and the result is their mean, weighted by
``label_weights`` when given; without it every entry is one point of a single curve and
``label_weights`` weigh the entries of each label (the last axis).
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site
from . import ops
from .checks import check_bool, check_int_at_least
from .confusion_metrics import VARIABLE_NAMES, weights_per_entry, counts_per_threshold
from .loss_prepare import EPSILON, _divide_no_nan, squeeze_or_expand_to_same_rank
from .metric_base import Metric

_CURVES = ("ROC", "PR", "PRGAIN")
_SUMMATIONS = ("interpolation", "minoring", "majoring")
_KINDS = {kind: VARIABLE_NAMES[kind] for kind in ("tp", "fp", "tn", "fn")}   # Keras's order


def _evenly_spaced(points: np.ndarray) -> bool:
    """Keras's test for bucketed counting: at least 3 points, all close to
    ``i / (n - 1)``."""
    n = len(points)
    return n >= 3 and bool(np.allclose(points, np.arange(n, dtype=np.float32) / (n - 1),
                                       atol=EPSILON))


class AUC(Metric):
    """The approximate area under the ROC or PR curve (see the module)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        owner = f"{user_site()}: AUC"
        if not isinstance(curve, str) or curve.upper() not in _CURVES:
            raise ValueError(f"{owner}: `curve` must be one of {list(_CURVES)}, got {curve!r}")
        if not isinstance(summation_method, str) or summation_method.lower() not in _SUMMATIONS:
            raise ValueError(f"{owner}: `summation_method` must be one of {list(_SUMMATIONS)}, "
                             f"got {summation_method!r}")
        check_bool(owner, "multi_label", multi_label)
        check_bool(owner, "from_logits", from_logits)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = _checked_thresholds(owner, thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spaced(np.array([0.0] + inner + [1.0]))
        else:
            check_int_at_least(owner, "num_thresholds", num_thresholds, 2)
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        if num_labels is not None:
            if not multi_label:
                raise ValueError(f"{owner}: `num_labels` is needed only when `multi_label` is "
                                 f"True, got num_labels={num_labels!r} with multi_label=False")
            check_int_at_least(owner, "num_labels", num_labels, 1)
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.curve, self.summation_method = curve.upper(), summation_method.lower()
        self.multi_label, self.num_labels, self._from_logits = multi_label, num_labels, from_logits
        self.label_weights = None if label_weights is None else _checked_label_weights(
            owner, label_weights, num_labels)
        self._built = False
        if not multi_label or num_labels:
            self._build(num_labels)

    @property
    def thresholds(self) -> list:
        """Every threshold, the end points included."""
        return list(self._thresholds)

    def _build(self, num_labels) -> None:
        """The four count variables, per threshold (and per label with ``multi_label``)."""
        shape = (self.num_thresholds,) + ((num_labels,) if self.multi_label else ())
        for variable in _KINDS.values():
            setattr(self, variable, self.add_variable(shape, "zeros", name=variable))
        self._num_labels, self._built = num_labels, True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        y_true = ops.cast(ops.cast(ops.convert_to_tensor(y_true), "bool"), self.dtype)
        y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
        if self.multi_label:
            self._check_labels(y_pred)
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        weight = 1.0 if sample_weight is None else weights_per_entry(
            ops.cast(ops.convert_to_tensor(sample_weight), self.dtype), y_pred)
        if self.label_weights is not None and not self.multi_label:
            weight = ops.multiply(weight, ops.convert_to_tensor(self.label_weights, self.dtype))
        if self._evenly:
            # bucket index ceil(p * (n - 1)) - 1, at least 0; positive at threshold i when
            # bucket >= i, i.e. when max(ceil(p * (n - 1)), 1) > i
            scaled = ops.multiply(ops.clip(y_pred, 0.0, 1.0), float(self.num_thresholds - 1))
            score = ops.maximum(ops.negative(ops.floor(ops.negative(scaled))), 1.0)
            levels = np.arange(self.num_thresholds)
        else:
            score, levels = y_pred, self._thresholds
        counts = counts_per_threshold(y_true, score, levels, weight, tuple(_KINDS), self.dtype,
                                      per_label=self.multi_label)
        for kind, variable in _KINDS.items():
            getattr(self, variable).assign_add(counts[kind])

    def _check_labels(self, y_pred) -> None:
        """``multi_label`` takes (batch, labels) predictions, ``num_labels`` wide; the first
        call makes the variables when ``num_labels`` was not given."""
        shape = tuple(y_pred.shape)
        labels = shape[-1] if len(shape) == 2 else None
        if not isinstance(labels, (int, np.integer)) or (
                self._built and labels != self._num_labels):
            expected = f"(batch, {self._num_labels})" if self._built else "(batch, labels)"
            raise ValueError(f"{user_site()}: AUC(multi_label=True) ({self.name}): y_pred must "
                             f"have shape {expected}, got shape {shape}")
        if not self._built:
            if self.label_weights is not None and len(self.label_weights) != labels:
                raise ValueError(f"{user_site()}: AUC ({self.name}): `label_weights` has "
                                 f"{len(self.label_weights)} entries for {labels} labels")
            self._build(labels)

    def result(self):
        if not self._built:
            return ops.convert_to_tensor(0.0, self.dtype)
        tp, fp, tn, fn = (getattr(self, variable).read_value() for variable in _KINDS.values())
        if self.curve == "PR" and self.summation_method == "interpolation":
            pieces = _interpolated_pr_pieces(tp, fp, fn)
        else:
            x, y = _curve(self.curve, tp, fp, tn, fn)
            low, high = y[:-1], y[1:]
            heights = {"interpolation": lambda: ops.divide(ops.add(low, high), 2.0),
                       "minoring": lambda: ops.minimum(low, high),
                       "majoring": lambda: ops.maximum(low, high)}[self.summation_method]()
            pieces = ops.multiply(ops.subtract(x[:-1], x[1:]), heights)
        if not self.multi_label:
            return ops.sum(pieces)
        by_label = ops.sum(pieces, axis=0)
        if self.label_weights is None:
            return ops.mean(by_label)
        label_weights = ops.convert_to_tensor(self.label_weights, self.dtype)
        return _divide_no_nan(ops.sum(ops.multiply(by_label, label_weights)),
                              ops.sum(label_weights))

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None
                  else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


def _curve(curve: str, tp, fp, tn, fn):
    """The (x, y) points of ``curve`` at each threshold, as Keras 3 defines them."""
    recall = _divide_no_nan(tp, ops.add(tp, fn))
    if curve == "ROC":
        return _divide_no_nan(fp, ops.add(fp, tn)), recall
    if curve == "PR":
        return recall, _divide_no_nan(tp, ops.add(tp, fp))
    # PRGAIN: gains scaled by positives / negatives; no true positives gives recall gain
    # 0 and precision gain 1; a negative recall gain is cut to 0
    scale = _divide_no_nan(ops.add(tp, fn), ops.add(tn, fp))
    no_tp = ops.equal(tp, 0.0)
    recall_gain = ops.subtract(1.0, ops.multiply(scale, _divide_no_nan(fn, tp)))
    precision_gain = ops.subtract(1.0, ops.multiply(scale, _divide_no_nan(fp, tp)))
    return (ops.maximum(ops.where(no_tp, 0.0, recall_gain), 0.0),
            ops.where(no_tp, 1.0, precision_gain))


def _interpolated_pr_pieces(tp, fp, fn):
    """The PR curve's area between successive thresholds with true and false positives
    varying linearly in each interval (Davis & Goadrich 2006): with ``p = tp + fp``,
    slope ``dtp / dp`` and intercept ``tp_B - slope * p_B``, the piece is
    ``slope * (dtp + intercept * log(p_A / p_B)) / (tp_B + fn_B)``, the log taken as 0
    where either ``p`` is 0."""
    p = ops.add(tp, fp)
    dtp = ops.subtract(tp[:-1], tp[1:])
    slope = _divide_no_nan(dtp, ops.maximum(ops.subtract(p[:-1], p[1:]), 0.0))
    intercept = ops.subtract(tp[1:], ops.multiply(slope, p[1:]))
    both = ops.logical_and(ops.greater(p[:-1], 0.0), ops.greater(p[1:], 0.0))
    ratio = ops.where(both, _divide_no_nan(p[:-1], ops.maximum(p[1:], 0.0)), 1.0)
    return _divide_no_nan(
        ops.multiply(slope, ops.add(dtp, ops.multiply(intercept, ops.log(ratio)))),
        ops.maximum(ops.add(tp[1:], fn[1:]), 0.0))


def _checked_thresholds(owner: str, thresholds) -> list:
    """The given thresholds as sorted floats in [0, 1], or a ValueError."""
    values = list(np.ravel(thresholds)) if isinstance(thresholds, (list, tuple, np.ndarray)) \
        else None
    if values is None or not all(
            isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool)
            and 0 <= t <= 1 for t in values):
        raise ValueError(f"{owner}: `thresholds` must be a list of numbers in [0, 1], "
                         f"got {thresholds!r}")
    return sorted(float(t) for t in values)


def _checked_label_weights(owner: str, label_weights, num_labels) -> np.ndarray:
    """The label weights as a 1-D float array of non-negative numbers (``num_labels``
    long when that is given), or a ValueError."""
    try:
        weights = np.asarray(label_weights, dtype="float64")
    except (TypeError, ValueError):
        weights = None
    if weights is None or weights.ndim != 1 or not np.all(np.isfinite(weights)) \
            or np.any(weights < 0) or (num_labels and len(weights) != num_labels):
        length = f" of {num_labels}" if num_labels else ""
        raise ValueError(f"{owner}: `label_weights` must be a list{length} non-negative "
                         f"numbers, one per label, got {label_weights!r}")
    return weights
