"""``fg.metrics``: stateful metrics with Keras's names, traced into the step graph.

A :class:`Metric` keeps its state in non-trainable :class:`~fusegraph.frontend.variables.Variable`
objects (paths ``<metric name>/<variable name>``, e.g. ``accuracy/total``) made by
:meth:`Metric.add_variable`. Subclasses write ``update_state`` and ``result`` with
``fg.ops`` on symbolic tensors, as in Keras, and both work two ways:

* inside a trace (a traced train step, ``fg.function``; or any symbolic argument),
  ``update_state`` records symbolic variable updates (``assign_add``) that the runtime
  writes back after the step, and ``result()`` returns a symbolic scalar;
* called with numpy arrays (or lists, numbers) outside a trace, each runs eagerly: it
  is traced once per input signature into a :class:`~fusegraph.frontend.function.Function`
  cached on the metric (one per method; the batch axis stays symbolic, so every batch
  size reuses one graph), the variables are updated, and ``result()`` returns a numpy
  scalar. So ``m.update_state(y_true, y_pred); m.result()`` works as in Keras. (The rule
  and the conversion of lists and numbers are :mod:`.dispatch`'s; every argument of
  ``update_state`` is data.)

``reset_state()`` writes each variable's initial value back with numpy, all at once
(inside a trace it assigns them as constants instead).

The accuracy metrics follow Keras 3's per-sample functions; :func:`resolve_accuracy`
picks one for ``metrics=["accuracy"]`` from the target's and the prediction's shapes,
as Keras 3 does.

The pieces: :mod:`.metric_base` (:class:`Metric`, :class:`Mean`,
:class:`MeanMetricWrapper`), :mod:`.metric_functions` (the per-sample accuracy
functions), :mod:`.confusion_metrics` (Precision, Recall and the confusion counts they
share), :mod:`.auc_metric` (AUC), :mod:`.fscore_metrics` (FBetaScore, F1Score),
:mod:`.iou_metrics` (IoU, MeanIoU); this module holds the other metric classes, the
lookup by name and :func:`resolve_accuracy`.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..ir.builder import user_site
from . import losses, ops
from .metric_base import Mean, MeanMetricWrapper, Metric
from .checks import check_int_at_least
from .auc_metric import AUC
from .confusion_metrics import Precision, Recall
from .fscore_metrics import F1Score, FBetaScore
from .iou_metrics import IoU, MeanIoU
from .loss_prepare import squeeze_or_expand_to_same_rank
from .metric_functions import (accuracy, binary_accuracy, categorical_accuracy,
                               sparse_categorical_accuracy, sparse_top_k_categorical_accuracy,
                               top_k_categorical_accuracy)

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "accuracy",
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "get",
    "resolve_accuracy", "RootMeanSquaredError", "TopKCategoricalAccuracy", "Precision",
    "Recall", "AUC", "F1Score", "FBetaScore", "IoU", "MeanIoU",
    "SparseTopKCategoricalAccuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
]


# --- metric classes --------------------------------------------------------------------------
class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is not None and (
                isinstance(threshold, bool)
                or not isinstance(threshold, (int, float, np.integer, np.floating))
                or not 0 < threshold < 1):
            raise ValueError(f"{user_site()}: BinaryAccuracy: threshold must be in (0, 1), "
                             f"got {threshold!r}")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, axis=axis)


class KLDivergence(MeanMetricWrapper):
    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(losses.kl_divergence, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        check_int_at_least(type(self).__name__, "k", k, 1)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        check_int_at_least(type(self).__name__, "k", k, 1)
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors of every element, as Keras's."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.type.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return super().update_state(ops.square(ops.subtract(y_pred, y_true)),
                                    sample_weight=sample_weight)

    def result(self):
        return ops.sqrt(super().result())


# --- lookup ------------------------------------------------------------------------------------
_CLASSES = {cls.__name__: cls for cls in (
    Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, RootMeanSquaredError, Precision, Recall, AUC, F1Score,
    FBetaScore, IoU, MeanIoU)}
_BY_NAME = {
    "accuracy": Accuracy, "acc": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kld": KLDivergence, "kl_divergence": KLDivergence,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "root_mean_squared_error": RootMeanSquaredError,
    "precision": Precision, "recall": Recall, "auc": AUC, "f1_score": F1Score,
    "f_beta_score": FBetaScore, "io_u": IoU, "mean_io_u": MeanIoU,
    **_CLASSES,
}


def check_identifier(identifier) -> None:
    """Raise what :func:`get` would raise for ``identifier``, without creating a metric
    (``compile`` checks its metrics before the first step creates them)."""
    if isinstance(identifier, str):
        if identifier in _BY_NAME and _required_arguments(_BY_NAME[identifier]):
            cls = _BY_NAME[identifier]
            needed = ", ".join(f"{a}=..." for a in _required_arguments(cls))
            raise ValueError(f"{user_site()}: metric {identifier!r} ({cls.__name__}) needs "
                             f"arguments a name cannot give: pass fg.metrics.{cls.__name__}"
                             f"({needed}) instead")
        if identifier.lower() in ("accuracy", "acc") or identifier in _BY_NAME:
            return
        raise ValueError(f"{user_site()}: unknown metric {identifier!r}: expected a Metric, "
                         f"a callable(y_true, y_pred) or one of {sorted(_BY_NAME)}")
    if isinstance(identifier, Metric) or callable(identifier):
        return
    raise TypeError(f"{user_site()}: a metric must be a name, a Metric or a callable(y_true, "
                    f"y_pred), got {identifier!r}")


def _required_arguments(cls: type) -> list[str]:
    """The constructor arguments of ``cls`` that have no default."""
    return [p.name for p in inspect.signature(cls).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def fresh_copy(metric: Metric, name: str | None = None) -> Metric:
    """A new metric of ``metric``'s class and config (so zero state and variables of its
    own), named ``name`` (default: the same name). ``metric`` is not changed. A TypeError
    says how to fix a class whose ``get_config`` does not give its constructor's
    arguments."""
    config = metric.get_config()
    if name is not None:
        config["name"] = name
    try:
        if type(metric) is MeanMetricWrapper:
            kwargs = {k: v for k, v in config.items() if k not in ("name", "dtype")}
            return MeanMetricWrapper(metric._fn, name=config["name"], dtype=config["dtype"],
                                     **kwargs)
        return type(metric).from_config(config)
    except TypeError as e:
        raise TypeError(f"cannot copy metric {metric.name!r} ({type(metric).__name__}) as "
                        f"{type(metric).__name__}.from_config(get_config()): {e}; give it a "
                        f"get_config() returning its constructor's arguments (and a "
                        f"from_config() if they are not plain values)") from None


def get(identifier) -> Metric:
    """A Metric from a name, a Metric class or instance, or a per-sample function
    ``fn(y_true, y_pred)`` (a :class:`MeanMetricWrapper` named after it).

    A snake-case name gives a new metric named as written, as ``compile`` names it in the
    logs (``"mse"`` logs as ``mse``); a class name (``"BinaryAccuracy"``) gives the
    class's default name. ``"accuracy"`` here is :class:`Accuracy` (exact matches); use
    :func:`resolve_accuracy` to choose by the shapes, as ``compile`` does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    check_identifier(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier, Accuracy)   # "ACC", "Accuracy": exact matches too
        return cls() if identifier in _CLASSES else cls(name=identifier)
    return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None) or None)


def _loss_kind(loss) -> str | None:
    """"binary", "sparse", "categorical" or None for a loss given any way compile takes."""
    kinds = {losses.binary_crossentropy: "binary",
             losses.sparse_categorical_crossentropy: "sparse",
             losses.categorical_crossentropy: "categorical"}
    if loss is None:
        return None
    if isinstance(loss, str):
        cls = losses._BY_NAME.get(loss)
        return kinds.get(losses.FUNCTIONS.get(cls)) if cls is not None else None
    if isinstance(loss, type):
        for cls, fn in losses.FUNCTIONS.items():
            if issubclass(loss, cls):
                return kinds.get(fn)
        return None
    if isinstance(loss, losses.LossFunctionWrapper):
        return kinds.get(loss.fn)
    return kinds.get(loss) if callable(loss) else None


def _int_dim(shape, i):
    """``shape[i]`` when it is a known int (not a symbol), else None."""
    d = shape[i] if shape else None
    return d if isinstance(d, (int, np.integer)) and not isinstance(d, bool) else None


def resolve_accuracy(identifier, loss, output_shape, target_shape=None) -> Metric:
    """The metric ``compile(metrics=["accuracy"])`` means for an output, named as written
    (``"accuracy"``, ``"acc"``); other identifiers go to :func:`get`.

    With the target's shape known (``compile`` resolves on the first step, from the
    traced batch) this is Keras 3's rule (``compile_utils.get_metric``), by shapes only:
    :class:`BinaryAccuracy` when the prediction's last dim is 1; else
    :class:`SparseCategoricalAccuracy` when the target has a lower rank than the
    prediction, or a last dim of 1 against several classes; else
    :class:`CategoricalAccuracy`. Without the target's shape, the loss decides (binary,
    sparse or categorical cross-entropy; a last dim of 1 is binary), and
    :class:`Accuracy` (exact matches) is left for the rest."""
    if not (isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc")):
        return get(identifier)
    name = identifier
    output_shape = None if output_shape is None else tuple(output_shape)
    last = _int_dim(output_shape, -1)
    if target_shape is not None and output_shape is not None:
        target_shape = tuple(target_shape)
        if last == 1:
            return BinaryAccuracy(name=name)
        target_last = _int_dim(target_shape, -1)
        if len(target_shape) < len(output_shape) or (
                target_last == 1 and last is not None and last > 1):
            return SparseCategoricalAccuracy(name=name)
        return CategoricalAccuracy(name=name)
    kind = _loss_kind(loss)
    if kind == "binary" or last == 1:
        return BinaryAccuracy(name=name)
    if kind == "sparse":
        return SparseCategoricalAccuracy(name=name)
    if kind == "categorical":
        return CategoricalAccuracy(name=name)
    return Accuracy(name=name)
