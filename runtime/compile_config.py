"""What ``Model.compile`` resolves: a loss, a loss weight and metrics per model output.

``loss``, ``loss_weights`` and ``metrics`` may each be one object (every output), a list
(by output position) or a dict (by output name: the key of the model's outputs dict
when its outputs are a dict, else the output layer's name), as in Keras.

When things happen:

* :func:`check` (at ``compile``, for every model) checks each loss, loss weight and
  metric on its own, so that ``compile`` can refuse a bad one before it changes anything;
* :func:`resolve` (at ``compile`` for a functional model, else on the first traced step)
  resolves the losses and loss weights and checks every metric identifier, so a wrong
  name fails there and not mid-training;
* :func:`build_metrics` (on the first traced step, from the traced targets and
  predictions) makes the metric objects, because ``"accuracy"``/``"acc"`` needs the
  target's shape: it is resolved by Keras 3's rule from the target's and the
  prediction's shapes (:func:`~fusegraph.frontend.metrics.resolve_accuracy`), so mse on
  a softmax output with one-hot targets gets categorical accuracy.

Names (Keras 3's rule for the logs): a compiled metric logs under its name for a model
with one output and as ``<output>_<name>`` for several; a name met again gets ``_1``,
``_2``, ... as in Keras. Metric objects made here (from a name, a class or a function)
are named as they log. A Metric instance the user passed is never renamed or otherwise
changed by ``compile``:

* given for one output, it is used as is (the steps update its state, as in Keras),
  logging as ``<output>_<name>`` when the model has several outputs;
* given for several outputs (a flat ``metrics=[...]`` list spreads over every output,
  or the same object listed for two outputs), each output gets a fresh copy (same
  class and config, state of its own, :func:`~fusegraph.frontend.metrics.fresh_copy`)
  named ``<output>_<name>``, and the user's instance itself is not updated. (Keras 3
  has no spreading: it wants one list entry per output.)
"""
from __future__ import annotations

import inspect
from collections import Counter

import numpy as np

from ..frontend import losses as losses_module
from ..ir.builder import user_site
from ..frontend import metrics as metrics_module
from ..frontend import ops
from ..frontend.naming import first_free
from ..frontend.nest import flatten


class OutputSpec:
    """One model output's loss function, loss weight and compiled metrics.

    ``metric_ids`` are the identifiers as given; ``metrics`` (the objects) and
    ``metric_names`` (their log names) are None until :func:`build_metrics`."""

    def __init__(self, name: str, loss, weight: float, metric_ids: list):
        self.name, self.loss, self.weight, self.metric_ids = name, loss, weight, metric_ids
        self.metrics: list | None = None
        self.metric_names: list[str] | None = None


def _per_output(value, names: list[str], what: str) -> list:
    """``value`` spread over the outputs: one object for all, a list, or a dict by name."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"{user_site()}: compile({what}=...): the key(s) {unknown} name "
                             f"no output; the model's outputs are {names}")
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{user_site()}: compile({what}=...): a list needs one entry per "
                             f"output ({len(names)}: {names}), got {len(value)}")
        return list(value)
    return [value] * len(names)


def _as_list(entry) -> list:
    if entry is None:
        return []
    return [m for m in entry if m is not None] if isinstance(entry, (list, tuple)) else [entry]


def _metrics_per_output(metrics, names: list[str]) -> list[list]:
    """Metric identifiers per output: a dict by name, a list of lists by position, or one
    flat list (or one identifier) for every output."""
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        return [_as_list(m) for m in _per_output(metrics, names, "metrics")]
    if isinstance(metrics, (list, tuple)) and metrics and all(
            isinstance(m, (list, tuple)) for m in metrics):
        return [_as_list(m) for m in _per_output(list(metrics), names, "metrics")]
    return [_as_list(metrics) for _ in names]


def _loss_weight(weight) -> float:
    """A loss weight as a float; TypeError naming ``loss_weights`` for a non-number."""
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, (int, float, np.number)):
        raise TypeError(f"{user_site()}: compile(loss_weights=...): expected numbers (one for "
                        f"all outputs, a list by output or a dict by output name), got "
                        f"{weight!r} ({type(weight).__name__})")
    return float(weight)


def check(loss, loss_weights, metrics) -> None:
    """Raise what :func:`resolve` raises for a bad loss, loss weight or metric identifier
    (the leaves of each argument), without the model's output names, which a subclassed
    model does not know before its first step."""
    for identifier in flatten(loss):
        losses_module.get(identifier)
    for weight in flatten(loss_weights):
        if weight is not None:
            _loss_weight(weight)
    for identifier in flatten(metrics):
        if identifier is not None:
            _check_metric(identifier)


def _check_metric(identifier) -> None:
    """What :func:`~fusegraph.frontend.metrics.check_identifier` checks, and that a
    Metric can be a compiled metric: called ``update_state(y_true, y_pred,
    sample_weight=...)`` each step. A Metric class is a TypeError (pass an instance), as
    is a metric of other values (``Mean()``: ``update_state(values, ...)``), which fit
    would otherwise fail on at its first step."""
    metrics_module.check_identifier(identifier)
    if isinstance(identifier, type) and issubclass(identifier, metrics_module.Metric):
        raise TypeError(f"{user_site()}: compile(metrics=...): {identifier.__name__} is a "
                        f"class; pass an instance ({identifier.__name__}(...)) or a name")
    if not isinstance(identifier, metrics_module.Metric):
        return
    update = inspect.signature(identifier.update_state)
    try:
        update.bind("y_true", "y_pred", sample_weight=None)
    except TypeError:
        raise TypeError(
            f"{user_site()}: compile(metrics=...): metric '{identifier.name}' "
            f"({type(identifier).__name__}) takes update_state{update}, but a compiled "
            f"metric is given update_state(y_true, y_pred, sample_weight) each step; use it "
            f"as a tracker in a custom train_step, or compile a metric of y_true and y_pred "
            f"(a name such as 'mae', or a function fn(y_true, y_pred))") from None


def resolve(loss, loss_weights, metrics, output_names: list[str]) -> list[OutputSpec]:
    """One OutputSpec per output, in output order, its metrics not built yet. ValueError
    for names matching no output, lists of the wrong length, unknown metric names."""
    if loss is None:
        raise ValueError("compile() needs a loss (or override train_step and compute your own)")
    losses = [None if l is None else losses_module.get(l)
              for l in _per_output(loss, output_names, "loss")]
    if all(l is None for l in losses):
        raise ValueError(f"{user_site()}: compile(loss=...) gives no loss to any output; the "
                         f"model's outputs are {output_names}")
    weights = _per_output(1.0 if loss_weights is None else loss_weights, output_names,
                          "loss_weights")
    per_output = _metrics_per_output(metrics, output_names)
    for identifier in (m for ms in per_output for m in ms):
        _check_metric(identifier)
    return [OutputSpec(name, l, 1.0 if w is None else _loss_weight(w), ms)
            for name, l, w, ms in zip(output_names, losses, weights, per_output)]


def _static_shape(x):
    """The traced shape of ``x`` (dims may be symbols), or None when there is no ``x``."""
    if x is None:
        return None
    t = getattr(x, "type", None)
    return tuple(t.shape) if t is not None else tuple(np.shape(x))


def build_metrics(specs: list[OutputSpec], targets: list, preds: list) -> None:
    """Make every spec's metric objects and log names (see the module docstring), from
    the traced targets and predictions, in output order."""
    multi = len(specs) > 1
    uses = Counter(id(m) for s in specs for m in s.metric_ids
                   if isinstance(m, metrics_module.Metric))
    taken: set[str] = set()

    def unique(name: str) -> str:
        return first_free(name, taken)

    for spec, target, pred in zip(specs, targets, preds):
        built, names = [], []
        for identifier in spec.metric_ids:
            if isinstance(identifier, metrics_module.Metric):
                log = unique(f"{spec.name}_{identifier.name}" if multi else identifier.name)
                metric = identifier if uses[id(identifier)] == 1 else \
                    metrics_module.fresh_copy(identifier, name=log)
            else:
                metric = metrics_module.resolve_accuracy(
                    identifier, spec.loss, _static_shape(pred), _static_shape(target))
                log = unique(f"{spec.name}_{metric.name}" if multi else metric.name)
                metric.name = log   # made here, so ours to name
            built.append(metric)
            names.append(log)
        spec.metrics, spec.metric_names = built, names


def batch_size_of(x):
    """The batch size of a traced batch as a float32 scalar tensor (it may be symbolic)."""
    return ops.dim_size(ops.convert_to_tensor(flatten(x)[0]), 0, "float32")
