"""What ``Model.compile`` resolves: a loss, a loss weight and metrics per model output.

``loss``, ``loss_weights`` and ``metrics`` may each be one object (every output), a list
(by output position) or a dict (by output name: the key of the model's outputs dict
when its outputs are a dict, else the output layer's name), as in Keras. Resolution
happens once, at compile time, so a wrong name fails there and not mid-training.
"""
from __future__ import annotations

from ..frontend import losses as losses_module
from ..frontend import metrics as metrics_module
from ..frontend import ops
from ..frontend.nest import flatten


class OutputSpec:
    """One model output's loss function, loss weight and compiled metrics."""

    def __init__(self, name: str, loss, weight: float, metrics: list):
        self.name, self.loss, self.weight, self.metrics = name, loss, weight, metrics


def _per_output(value, names: list[str], what: str, allow_single: bool = True) -> list:
    """``value`` spread over the outputs: one object for all, a list, or a dict by name."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"compile({what}=...): the key(s) {unknown} name no output; "
                             f"the model's outputs are {names}")
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)) and not allow_single:
        return [value] * len(names)
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"compile({what}=...): a list needs one entry per output "
                             f"({len(names)}: {names}), got {len(value)}")
        return list(value)
    return [value] * len(names)


def _metrics_per_output(metrics, names: list[str]) -> list[list]:
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        spread = _per_output(metrics, names, "metrics")
        return [m if isinstance(m, (list, tuple)) else ([] if m is None else [m]) for m in spread]
    if isinstance(metrics, (list, tuple)) and metrics and all(isinstance(m, (list, tuple)) for m in metrics):
        return _per_output(list(metrics), names, "metrics")
    return [list(metrics) if isinstance(metrics, (list, tuple)) else [metrics] for _ in names]


def resolve(loss, loss_weights, metrics, output_names: list[str], output_shapes: list) -> list[OutputSpec]:
    """One OutputSpec per output, in output order; ValueError for names matching no output
    or lists of the wrong length."""
    if loss is None:
        raise ValueError("compile() needs a loss (or override train_step and compute your own)")
    losses = [None if l is None else losses_module.get(l)
              for l in _per_output(loss, output_names, "loss")]
    if all(l is None for l in losses):
        raise ValueError(f"compile(loss=...) gives no loss to any output; the model's outputs "
                         f"are {output_names}")
    weights = _per_output(1.0 if loss_weights is None else loss_weights, output_names,
                          "loss_weights")
    specs = []
    multi = len(output_names) > 1
    for name, shape, l, w, ms in zip(output_names, output_shapes, losses, weights,
                                     _metrics_per_output(metrics, output_names)):
        resolved = []
        for m in ms:
            metric = metrics_module.resolve_accuracy(m, l, shape) if m in ("accuracy", "acc") \
                else metrics_module.get(m)
            if multi:
                metric.name = f"{name}_{metric.name}"
            resolved.append(metric)
        specs.append(OutputSpec(name, l, 1.0 if w is None else float(w), resolved))
    return specs


def batch_size_of(x):
    """The batch size of a traced batch as a float32 scalar tensor (it may be symbolic)."""
    first = ops.convert_to_tensor(flatten(x)[0])
    return ops.sum(ops.broadcast_to(ops.convert_to_tensor(1.0), (first.type.shape[0],)))
