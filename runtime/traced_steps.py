"""The traced steps and what they compute: ``train_step``/``test_step`` (as Keras writes
them), ``compute_loss`` (the weighted sum of the per-output losses, updating the loss
trackers) and ``compute_metrics``, over the per-output specs that ``compile`` resolved
(:mod:`.compile_config`); the compiled metrics are made on the first traced step, from
its targets and predictions. ``metrics``, ``metrics_names`` and ``reset_metrics`` list
and reset the loss trackers, the compiled metrics and the model's own Metric attributes.

``TracedSteps`` is mixed into the Trainer; it reads ``_compile_args``, ``_loss_tracker``,
``optimizer`` and ``compiled`` that ``compile`` sets."""
from __future__ import annotations

from ..frontend.metrics import Mean, Metric
from ..frontend.naming import key_mismatch
from ..frontend.nest import flatten
from ..frontend import guards, ops
from ..frontend.tape import GradientTape
from . import compile_config
from .data import unpack_x_y_sample_weight


class TracedSteps:
    """The Trainer's step, loss and metric methods (see the module)."""

    def _set_output_specs(self, specs) -> None:
        """The resolved per-output losses and metrics (None: not resolved yet), with a
        loss tracker per output when there are several."""
        self._output_specs = specs
        self._output_loss_trackers = (
            [Mean(name=f"{s.name}_loss") for s in specs if s.loss is not None]
            if specs is not None and len(specs) > 1 else [])
        self._metric_log_names = {}

    def _build_compiled_metrics(self, targets, preds) -> None:
        """The compiled metrics, made on the first traced step (``"accuracy"`` needs the
        target's shape); see :mod:`.compile_config`."""
        compile_config.build_metrics(self._output_specs, targets, preds)
        self._metric_log_names = {id(m): n for s in self._output_specs
                                  for m, n in zip(s.metrics, s.metric_names)}

    def _compiled_metrics(self) -> list:
        if self._output_specs is None:
            return []
        return [m for s in self._output_specs for m in s.metrics or ()]


    @property
    def metrics(self) -> list:
        """The loss trackers, the compiled metrics (once the first step has made them),
        then Metric attributes of the model."""
        out = []
        if self.compiled:
            out.append(self._loss_tracker)
            if self._output_specs is not None:
                out += self._output_loss_trackers
                out += self._compiled_metrics()
        out += [m for m in vars(self).values() if isinstance(m, Metric) and m not in out]
        return out

    def _log_name(self, metric) -> str:
        """A metric's key in the logs: its log name when compiled (``<output>_<name>`` for
        several outputs), else its name."""
        return self._metric_log_names.get(id(metric), metric.name) if self.compiled \
            else metric.name

    @property
    def metrics_names(self) -> list[str]:
        return [self._log_name(m) for m in self.metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The weighted sum of the per-output losses plus the model's ``losses`` of this
        step (its layers' ``add_loss`` and activity penalties, its weights' regularizer
        penalties: Keras's sum); updates the loss trackers (the ``loss`` log includes
        the penalties, as Keras's)."""
        if self._compile_args[0] is None:
            raise ValueError(f"model '{self.name}': compile() got no loss, so compute_loss() "
                             f"has nothing to compute; pass loss= or compute the loss yourself")
        preds = flatten(y_pred)
        names = self._output_names_for(y_pred)
        if self._output_specs is None:
            self._set_output_specs(compile_config.resolve(*self._compile_args, names))
        targets = self._match_targets(y, names)
        batch = compile_config.batch_size_of(preds[0])
        total, trackers = None, iter(self._output_loss_trackers)
        for spec, target, pred in zip(self._output_specs, targets, preds):
            if spec.loss is None:
                continue
            with guards.describing(f"output '{spec.name}' of model '{self.name}'"):
                value = spec.loss(target, pred,
                                  sample_weight=_for_output(sample_weight, spec.name))
            if self._output_loss_trackers:
                next(trackers).update_state(value, sample_weight=batch)
            weighted = value if spec.weight == 1.0 else value * spec.weight
            total = weighted if total is None else total + weighted
        for penalty in self.losses:
            penalty = ops.sum(penalty if penalty.type.dtype.is_float
                              else ops.cast(penalty, "float32"))
            total = penalty if total is None else total + penalty
        self._loss_tracker.update_state(total, sample_weight=batch)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics; return every metric's result by name."""
        names = self._output_names_for(y_pred)
        preds = flatten(y_pred)
        targets = self._match_targets(y, names) if self._output_specs else []
        if self._output_specs and any(s.metrics is None for s in self._output_specs):
            self._build_compiled_metrics(targets, preds)
        for spec, target, pred in zip(self._output_specs or [], targets, preds):
            with guards.describing(f"output '{spec.name}' of model '{self.name}'"):
                for metric in spec.metrics:
                    metric.update_state(target, pred,
                                        sample_weight=_for_output(sample_weight, spec.name))
        return {self._log_name(m): m.result() for m in self.metrics}

    def train_step(self, data) -> dict:
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data) -> dict:
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _output_names_for(self, y_pred) -> list[str]:
        """The functional model's output names, else names from the prediction structure."""
        if self._functional is not None:
            return self.output_names
        if isinstance(y_pred, dict):
            return list(y_pred)
        n = len(flatten(y_pred))
        return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]

    def _match_targets(self, y, names: list[str]) -> list:
        """Targets in output order, from one array, a list, or a dict by output name."""
        wanted = [s.name for s in self._output_specs if s.loss is not None]
        if y is None:
            raise ValueError(f"model '{self.name}': the loss needs targets for the output(s) "
                             f"{wanted}, but no y was given; pass y (or yield (x, y) batches)")
        if isinstance(y, dict):
            missing = [n for n in wanted if n not in y]
            unknown = [k for k in y if k not in names]
            if missing or unknown:
                raise KeyError(f"model '{self.name}': targets: "
                               + key_mismatch("output", missing, unknown, names))
            return [y.get(n) for n in names]
        if isinstance(y, (list, tuple)):
            if len(y) != len(names):
                raise ValueError(f"model '{self.name}': {len(names)} outputs {names} but "
                                 f"{len(y)} targets")
            return list(y)
        if len(names) != 1:
            raise ValueError(f"model '{self.name}' has {len(names)} outputs {names}: pass the "
                             f"targets as a list or a dict by output name")
        return [y]


def _for_output(sample_weight, name):
    return sample_weight.get(name) if isinstance(sample_weight, dict) else sample_weight
