"""The Trainer mixin: ``compile``, ``fit``, ``evaluate``, ``predict``, ``train_on_batch``,
``test_on_batch`` of the user-facing ``fg.Model`` (as Keras's ``Model`` mixes in its
``Trainer``).

One training step — forward, per-output losses and their weighted sum, the backward
pass, the optimizer update and the metric updates — is ``train_step(data)`` traced by
``fg.function`` into ONE graph (``model.ir("train_step")``), compiled once per batch
signature and run per batch. Its variable updates (weights, optimizer slots, metric
totals) are written back only after the whole step ran, and not at all when a
``TerminateOnNaN`` callback rejects the step, so weights stay from the last good step.
A subclassed ``train_step`` using ``GradientTape``, ``optimizer.apply_gradients`` and
metric trackers is traced the same way. Its traces are valid for one
``optimizer.trace_version``: setting a learning-rate schedule between steps traces the
step again (a number only updates the learning-rate variable the graph reads).

The compiled metrics are made on the first traced step, from the traced targets and
predictions (``"accuracy"`` is resolved from their shapes, as in Keras 3); see
:mod:`.compile_config` for their names. ``fit``, ``evaluate`` and ``predict`` share one
batch loop (:meth:`Trainer._run_batches`): callbacks' batch hooks, the progress bar,
and the ``stop_*`` flags.

Bad input fails before anything changes: the plain arguments by :mod:`.arguments`, the
data by :mod:`.data` and, for array data (and a validation Dataset), by tracing the steps
on the first batch before the first step (:meth:`Trainer._check_data`); class labels of
sparse losses and metrics are checked on the host against the trace's guards
(:mod:`fusegraph.frontend.guards`), never in the compiled step. ``compile`` checks all
of its arguments before it changes the model.
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np

from ..backends import optimizing_compiler
from ..ir import Sym
from ..ir.errors import FusegraphError
from ..ir.builder import user_site
from ..frontend import optimizers as optimizers_module
from ..frontend.function import Function, commit, graph_array
from ..frontend.metrics import Mean, Metric
from ..frontend.model import graph_text
from ..frontend.naming import key_mismatch
from ..frontend.guards import LabelRangeError
from ..frontend.nest import flatten, labelled_leaves, pack_like
from ..frontend import guards
from ..frontend.tape import GradientTape
from . import arguments, checkpoints, compile_config
from .callbacks import Callback, CallbackList, History, TerminateOnNaN
from .data import (is_stream, make_adapter, numeric_array, train_validation_split,
                   unpack_x_y_sample_weight)
from .progress import ProgressBar


class Trainer:
    """Mixed into ``fg.Model`` before the frontend model class."""

    compiled = False
    stop_training = False
    stop_evaluating = False
    stop_predicting = False

    # --- compile -----------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                backend="reference"):
        """Configure training. ``loss``/``loss_weights``/``metrics``: one object, a list by
        output position, or a dict by output name (see :mod:`.compile_config` for how
        metrics are named and when a Metric instance is copied per output). ``backend``
        names the backend the step graphs compile on.

        All of it is checked first (the backend, the optimizer, every loss, loss weight
        and metric, and for a functional model how they map onto its outputs); the
        model changes only when all of it is good, so a failed compile leaves an earlier
        compile's optimizer (with its slots), losses and metrics as they were."""
        with _errors_from(f"{user_site()}: compile(backend=...)"):
            compile_fn = optimizing_compiler(backend)
        with _errors_from(f"{user_site()}: compile(optimizer=...)"):
            optimizer = optimizers_module.get(optimizer)
        compile_config.check(loss, loss_weights, metrics)
        specs = (compile_config.resolve(loss, loss_weights, metrics, self.output_names)
                 if self._functional is not None and loss is not None else None)
        self._compile_fn, self.optimizer = compile_fn, optimizer
        self._compile_args = (loss, loss_weights, metrics)
        self._set_output_specs(specs)
        self._loss_tracker = Mean(name="loss")
        self._train_function = self._step_function(self.train_step, "train_step")
        self._train_function_version = self.optimizer.trace_version
        self._test_function = self._step_function(self.test_step, "test_step")
        self.compiled = True

    def save_weights(self, filepath) -> None:
        """Write the weights to ``filepath`` (``.npz``), atomically (see :mod:`.checkpoints`)."""
        checkpoints.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Assign weights saved by ``save_weights``; nothing changes on a mismatch."""
        checkpoints.load_weights(self, filepath)

    def recompile(self, backend: str) -> None:
        """``compile()`` again with the same optimizer, losses and metrics, on ``backend``."""
        self._require_compiled("recompile")
        loss, loss_weights, metrics = self._compile_args
        self.compile(self.optimizer, loss, loss_weights, metrics, backend=backend)

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

    def _require_compiled(self, method: str):
        if not self.compiled:
            raise RuntimeError(f"model '{self.name}': call compile() before {method}()")

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

    # --- the traced steps ------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The weighted sum of the per-output losses; updates the loss trackers."""
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

    def _step_data(self, x, y=None, sample_weight=None, convert=True):
        """What train_step/test_step receive, as Keras passes it (x alone when there are
        no targets), as the arrays the step graph takes: a functional model's inputs are
        checked and converted as a call converts them (a wrong shape, dtype or name is an
        error naming the input), other float64 and float16 arrays become float32 (and
        non-numbers are a TypeError naming ``y``, ``sample_weight``...). With
        ``convert=False``, the same structure with the arrays as given. A batch of no
        samples is a ValueError naming the empty array (a step on it would still move the
        optimizer and, with BatchNormalization, set its moving statistics to NaN)."""
        if convert:
            _check_not_empty({"x": x, "y": y, "sample_weight": sample_weight})
        if self._functional is not None and x is not None:
            arrays = self._match_inputs(x, convert=convert)
            if isinstance(x, dict):
                x = dict(zip(self.input_names, arrays))
            else:
                x = type(x)(arrays) if isinstance(x, (list, tuple)) else arrays[0]
        elif convert:
            x = _floatx(x, "x")
        if convert:
            y, sample_weight = _floatx(y, "y"), _floatx(sample_weight, "sample_weight")
        if y is None and sample_weight is None:
            return x
        return (x, y) if sample_weight is None else (x, y, sample_weight)

    @staticmethod
    def _step_labels(args, kwargs, names=("x", "y", "sample_weight")) -> list[str]:
        """Labels of a step's flattened data for errors (``y['out']``), read as the step
        reads it (:func:`.data.unpack_x_y_sample_weight`); ``names`` for x, y and
        sample_weight (``validation_data[0]``, ...)."""
        data = args[0] if len(args) == 1 and not kwargs else (args, kwargs)
        parts = data if isinstance(data, (list, tuple)) and len(data) in (1, 2, 3) else (data,)
        return [label for name, part in zip(names, parts)
                for label, _ in labelled_leaves(part, name)]

    def _check_data(self, function, data, where: str, names=("x", "y", "sample_weight"),
                    datasets: bool = False):
        """Before the first step of a loop on array data: trace ``function`` for its first
        batch (so that a wrong structure, name, shape or dtype, and targets the losses
        cannot use, fail now, not after steps changed the weights) and check all of the
        data against the trace's host guards (class labels in range, at their position in
        the user's arrays; ``names`` name x, y and sample_weight). With ``datasets``, a
        Dataset's first batch is traced and checked the same way (see
        :meth:`.DataAdapter.first_batch`). An error reads ``where: ...``. Other sources
        are checked batch by batch."""
        batch = data.first_batch(datasets)
        if batch is None:
            return
        if data.arrays is None:
            names = ("x", "y", "sample_weight")
        with _errors_from(where):
            traced = function.traced(self._step_data(*batch))
            whole = self._step_data(*(data.arrays or batch), convert=False)
            traced.check(flatten(whole), self._step_labels((whole,), {}, names), where)

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

    # --- loops -----------------------------------------------------------------------------
    def _train_fn(self) -> Function:
        """The traced train step, traced again when the optimizer's configuration changed
        in a way its cached graphs cannot see (a new learning-rate schedule): the
        optimizer's ``trace_version`` is part of what a trace is valid for."""
        version = self.optimizer.trace_version
        if version != self._train_function_version:
            self._train_function = self._step_function(self.train_step, "train_step")
            self._train_function_version = version
        return self._train_function

    def _step_function(self, step, name: str) -> Function:
        """``step`` traced by a Function whose placeholders for ``x`` take the model's
        input shapes (see :meth:`_step_holder_shapes`)."""
        return Function(step, name, self._compile_fn, holder_shapes=self._step_holder_shapes,
                        argument_labels=self._step_labels)

    def _step_holder_shapes(self, args, kwargs) -> list:
        """Placeholder shapes for a step's data: ``x`` as the model's inputs (each of their
        symbolic sizes, a Keras None, stays symbolic: an ``Input(shape=(None, F))`` is
        traced once for all sequence lengths), the targets and sample weights as their
        data (only the batch axis symbolic, or the inputs' batch size when the model was
        built for one). For a model without inputs (subclassed), all as their data."""
        leaves = flatten((args, kwargs))
        defaults = [None] * len(leaves)
        if self._functional is None or len(args) != 1 or kwargs:
            return defaults
        x = unpack_x_y_sample_weight(args[0])[0]
        inputs = self._functional.flat_inputs
        if x is None or len(flatten(x)) != len(inputs):
            return defaults
        by_name = dict(zip(self.input_names, inputs))
        if isinstance(x, dict):
            if set(x) != set(by_name):
                return defaults
            ordered = [by_name[k] for k in x]
        else:
            ordered = list(inputs)
        shapes = [tuple(None if isinstance(d, Sym) else d for d in t.type.shape)
                  for t in ordered]
        batch = {shape[0] for shape in shapes if shape and shape[0] is not None}
        if len(batch) != 1:
            return shapes + defaults[len(shapes):]
        fixed = batch.pop()   # a model built for one batch size: targets take it too
        return shapes + [(fixed,) + np.shape(leaf)[1:] if np.ndim(leaf) > 0 else None
                         for leaf in leaves[len(shapes):]]

    def _epoch_log_keys(self, validation: bool) -> list[str] | None:
        """The keys of fit's epoch logs, once the train step has been traced (for array
        data, before the first step): its logs' keys, and with ``validation`` the same
        with ``val_``. None while unknown (a generator's first batch is not traced yet)."""
        trace = self._train_fn().last_trace
        if trace is None or not isinstance(trace.outputs, dict):
            return None
        keys = list(trace.outputs)
        return keys + [f"val_{k}" for k in keys] if validation else keys

    def _callbacks(self, callbacks, verbose, steps, epochs=1, first=()) -> CallbackList:
        """A CallbackList of ``first`` then the user's callbacks (a list, one Callback, or
        a CallbackList used as it is), with the model and Keras's params."""
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        if isinstance(callbacks, CallbackList):
            for callback in first:
                callbacks.append(callback)
            callbacks.set_model(self)
            callbacks.set_params(params)
            return callbacks
        if isinstance(callbacks, Callback):   # one callback: a list of one, as in Keras 3
            callbacks = [callbacks]
        return CallbackList(list(first) + list(callbacks or []), model=self, params=params)

    def _run_batches(self, data, run_step, callbacks, mode: str, bar, stop_flag: str,
                     where: str):
        """One pass over ``data``, the loop ``fit``, ``evaluate`` and ``predict`` share.

        Per batch ``i``: ``on_<mode>_batch_begin(i)``; ``run_step(batch)`` gives ``(logs,
        keep)``; ``on_<mode>_batch_end(i, logs)``; then, when ``keep``, the logs become
        the pass's logs and the bar shows them (predict's ``outputs`` are not shown).
        It stops after a batch whose step said not to ``keep`` (a rejected training
        step) or once ``self.<stop_flag>`` is set (``stop_training``,
        ``stop_evaluating``, ``stop_predicting``, as in Keras). A batch whose labels a
        step refuses (:class:`LabelRangeError`) is said from ``where`` and its index.
        Returns the last kept logs and the number of batches run."""
        begin = getattr(callbacks, f"on_{mode}_batch_begin")
        end = getattr(callbacks, f"on_{mode}_batch_end")
        logs, count, batches = {}, 0, data.epoch_batches()
        for index in itertools.count():
            with _errors_from(where):   # a source that yields nothing, or fails
                batch = next(batches, None)
            if batch is None:
                break
            begin(index)
            with _errors_from(f"{where}, batch {index}"):
                batch_logs, keep = run_step(batch)
            count = index + 1
            end(index, batch_logs)
            if not keep:
                break
            logs = batch_logs
            bar.update(count, None if mode == "predict" else logs)
            if getattr(self, stop_flag):
                break
        return logs, count

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None, sample_weight=None, validation_batch_size=None, seed=None,
            validation_steps=None):
        """Train for ``epochs`` epochs; returns the History. Validation runs the
        ``on_test_*`` hooks of these callbacks, without a progress bar of its own, over
        ``validation_steps`` batches of ``validation_data`` (None: a whole pass; an
        infinite Dataset needs it).

        Every argument is checked before the first step (nothing trains when one is
        wrong): the numbers and flags, the callbacks, the training and validation data
        (structure, input and output names, shapes, dtypes, sample counts, the class
        labels of sparse losses and metrics, by tracing both steps on array data)."""
        self._require_compiled("fit")
        arguments.check("fit", epochs=epochs, initial_epoch=initial_epoch,
                        batch_size=batch_size, verbose=verbose, callbacks=callbacks,
                        validation_split=validation_split, shuffle=shuffle,
                        steps_per_epoch=steps_per_epoch,
                        validation_batch_size=validation_batch_size, seed=seed,
                        validation_steps=validation_steps)
        with _errors_from("fit()"):
            if validation_split and validation_data is None:
                (x, y, sample_weight), validation_data = train_validation_split(
                    x, y, sample_weight, validation_split)
            data = make_adapter(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                                steps_per_epoch=steps_per_epoch, seed=seed)
            validation = None if validation_data is None else _validation_adapter(
                validation_data, validation_batch_size or batch_size, validation_steps)
        self._check_data(self._train_fn(), data, "fit()")
        if validation is not None:
            self._check_data(self._test_function, validation, "fit(): validation_data",
                             VALIDATION_NAMES, datasets=True)
        verbose = 1 if verbose == "auto" else verbose
        history = History()
        callbacks = self._callbacks(callbacks, verbose, data.num_batches, epochs, [history])
        rejecters = [c for c in callbacks.callbacks if isinstance(c, TerminateOnNaN)]
        keys = self._epoch_log_keys(validation is not None)
        if keys is not None:
            with _errors_from("fit(): callbacks"):
                for callback in callbacks.callbacks:
                    if isinstance(callback, checkpoints.ModelCheckpoint):
                        callback.check_log_keys(keys, validation is not None)

        def train_batch(batch):
            outputs, updates = self._train_fn().run(self._step_data(*batch))
            batch_logs = _to_floats(outputs, "train_step")
            if any(c.should_reject(batch_logs) for c in rejecters):
                return batch_logs, False
            commit(updates)
            return batch_logs, True

        self.stop_training = False
        callbacks.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = ProgressBar(data.num_batches, verbose=verbose)
            logs, count = self._run_batches(data, train_batch, callbacks, "train", bar,
                                            "stop_training", f"fit(), epoch {epoch + 1}")
            logs = dict(logs)
            if validation is not None and not self.stop_training:
                val = self._evaluate_data(validation, callbacks,
                                          where=f"fit(): validation_data, epoch {epoch + 1}")
                logs.update({f"val_{k}": v for k, v in val.items()})
            bar.update(count, logs, finalize=True)
            callbacks.on_epoch_end(epoch, logs)
            if self.stop_training or data.ran_out_of_data:
                break
        callbacks.on_train_end(logs if epochs > initial_epoch else {})
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics over the data (running means over all batches), with the
        ``on_test_*`` hooks of ``callbacks`` and a progress bar for ``verbose``."""
        self._require_compiled("evaluate")
        arguments.check("evaluate", batch_size=batch_size, verbose=verbose, steps=steps,
                        callbacks=callbacks, return_dict=return_dict)
        with _errors_from("evaluate()"):
            data = make_adapter(x, y, sample_weight, batch_size=batch_size, shuffle=False,
                                steps_per_epoch=steps, steps_name="steps")
        self._check_data(self._test_function, data, "evaluate()")
        verbose = 1 if verbose == "auto" else verbose
        logs = self._evaluate_data(data, self._callbacks(callbacks, verbose, data.num_batches),
                                   verbose, "evaluate()")
        return logs if return_dict else _as_list(logs)

    def _evaluate_data(self, data, callbacks, verbose=0, where="evaluate()") -> dict:
        """One pass of the test step over ``data``: ``on_test_begin``, the batches,
        ``on_test_end`` with the final logs; errors said from ``where``."""
        self.reset_metrics()
        self.stop_evaluating = False
        callbacks.on_test_begin()
        bar = ProgressBar(data.num_batches, verbose=verbose)
        logs, count = self._run_batches(
            data, self._test_batch, callbacks, "test", bar, "stop_evaluating", where)
        bar.update(count, logs, finalize=True)
        callbacks.on_test_end(logs)
        return logs

    def _test_batch(self, batch) -> tuple:
        """``(logs, True)`` of the test step on ``batch``; the metric totals are written
        only when its logs are good."""
        outputs, updates = self._test_function.run(self._step_data(*batch))
        logs = _to_floats(outputs, "test_step")
        commit(updates)
        return logs, True

    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One step on one batch; returns that step's loss (computed before its update)
        and metrics."""
        self._require_compiled("train_on_batch")
        arguments.check("train_on_batch", return_dict=return_dict)
        self.reset_metrics()
        with _errors_from("train_on_batch()"):
            outputs, updates = self._train_fn().run(self._step_data(x, y, sample_weight))
            logs = _to_floats(outputs, "train_step")
        commit(updates)
        return logs if return_dict else _as_list(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        arguments.check("test_on_batch", return_dict=return_dict)
        self.reset_metrics()
        with _errors_from("test_on_batch()"):
            logs, _ = self._test_batch((x, y, sample_weight))
        return logs if return_dict else _as_list(logs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Run the model on ``x`` in batches (default 32) and join the outputs, with the
        ``on_predict_*`` hooks of ``callbacks`` (``on_predict_batch_end`` gets
        ``{"outputs": ...}``, as in Keras) and a progress bar for ``verbose``."""
        arguments.check("predict", batch_size=batch_size, verbose=verbose, steps=steps,
                        callbacks=callbacks)
        with _errors_from("predict()"):
            data = make_adapter(x, None, None, batch_size=batch_size, shuffle=False,
                                steps_per_epoch=steps, steps_name="steps")
        verbose = 1 if verbose == "auto" else verbose
        callbacks = self._callbacks(callbacks, verbose, data.num_batches)
        pieces = []

        def predict_batch(batch):
            outputs = self(batch[0])
            pieces.append(outputs)
            return {"outputs": outputs}, True

        self.stop_predicting = False
        callbacks.on_predict_begin()
        bar = ProgressBar(data.num_batches, verbose=verbose)
        _, count = self._run_batches(data, predict_batch, callbacks, "predict", bar,
                                     "stop_predicting", "predict()")
        bar.update(count, None, finalize=True)
        callbacks.on_predict_end()
        if not pieces:
            raise ValueError("predict() got no samples")
        joined = [np.concatenate(parts, axis=0) for parts in zip(*(flatten(p) for p in pieces))]
        return pack_like(pieces[0], joined)

    def ir(self, stage: str = "forward", after: str | None = None, data=None) -> str:
        """SSA text of the ``forward`` graph or of the traced ``train_step``/``test_step``
        graph; ``after`` names a pass of the compile pipeline to show the graph after it.
        A step graph exists once fit/train_on_batch/evaluate traced it, or trace it here
        on a batch ``data`` = ``(x, y)`` (see :meth:`step_graph`)."""
        if stage not in ("train_step", "test_step"):
            return super().ir(stage, after)
        return graph_text(self.step_graph(stage, data), after)

    def step_graph(self, stage: str = "train_step", data=None):
        """The traced ``train_step``/``test_step`` Graph, traced first on the batch ``data``
        when given (the step runs once; nothing is written back)."""
        if stage not in ("train_step", "test_step"):
            raise ValueError(f"unknown step {stage!r}: expected 'train_step' or 'test_step'")
        self._require_compiled(f"step_graph('{stage}')")
        function = self._train_fn() if stage == "train_step" else self._test_function
        if data is not None:
            function.run(self._step_data(*unpack_x_y_sample_weight(data)))
        function.ir()   # a clear error when the step was never traced
        return function.last_trace.graph


def _floatx(structure, label: str):
    """float64 and float16 arrays as float32 (Keras's floatx), as Keras's data adapters
    convert them; other arrays (int labels, int token ids) in a dtype graphs take (uint8
    labels as int32, see :func:`~fusegraph.frontend.function.graph_array`). A leaf that
    is not numbers, or a uint64 past int64's range, is an error naming it by its place
    under ``label`` (``y['out']``)."""
    if structure is None:
        return None

    def convert(pair):
        name, leaf = pair
        if leaf is None:  # no target for an output without a loss
            return None
        array = numeric_array(leaf, name)
        return array.astype(np.float32) if array.dtype in (np.float64, np.float16) \
            else graph_array(array, name)
    return pack_like(structure, [convert(p) for p in labelled_leaves(structure, label)])


def _check_not_empty(parts: dict) -> None:
    """A ValueError naming the first array leaf of ``parts`` (label -> structure) whose
    leading (sample) axis is empty."""
    for label, structure in parts.items():
        for name, leaf in labelled_leaves(structure, label) if structure is not None else ():
            if leaf is not None and np.ndim(leaf) > 0 and len(leaf) == 0:
                raise ValueError(f"{name} has no samples (shape {np.shape(leaf)}): a step "
                                 f"needs a batch of at least one sample")


VALIDATION_NAMES = ("validation_data[0]", "validation_data[1]", "validation_data[2]")


@contextlib.contextmanager
def _errors_from(where: str):
    """Errors of bad input raised inside are said from ``where`` (a method, a batch): a
    :class:`LabelRangeError` is said again from there; a ValueError, TypeError, KeyError
    or fusegraph error (an op that failed on the batch's values, such as an Embedding
    index out of range) gets ``where: `` before its message (its type and traceback
    stay)."""
    try:
        yield
    except LabelRangeError as error:
        raise error.located(where) from None
    except (ValueError, TypeError, KeyError, FusegraphError) as error:
        if error.args and isinstance(error.args[0], str):
            error.args = (f"{where}: {error.args[0]}",) + error.args[1:]
        raise


def _for_output(sample_weight, name):
    return sample_weight.get(name) if isinstance(sample_weight, dict) else sample_weight


def _to_floats(logs, step: str) -> dict:
    """The logs ``step`` (``train_step``, ``test_step``) returned, as floats: a dict of
    scalars (0-d arrays or numbers); a TypeError naming the step and the key otherwise."""
    if not isinstance(logs, dict):
        raise TypeError(f"{step} must return a dict of metric values (scalars by name), got "
                        f"{type(logs).__name__}")
    floats = {}
    for key, value in logs.items():
        array = np.asarray(value)
        if array.shape != () or array.dtype.kind not in "biuf":
            got = f"shape {array.shape}" if array.dtype.kind in "biuf" else repr(value)[:60]
            raise TypeError(f"{step} returned {{{key!r}: ...}} of {got}; the values of the "
                            f"logs are scalars (reduce a tensor with fg.ops.mean)")
        floats[key] = float(array)
    return floats


def _as_list(logs: dict):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _validation_adapter(validation_data, batch_size, steps=None):
    """Arrays as ``(x_val, y_val[, val_sample_weight])`` are batched here (errors name
    ``validation_data[i]``); a Dataset or generator comes batched. ``steps``: fit's
    ``validation_steps`` (batches per validation, None: a whole pass)."""
    expected = ("expected a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight), a "
                "Dataset or a generator")
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) not in (2, 3):
            raise ValueError(f"validation_data: {expected}, got a "
                             f"{type(validation_data).__name__} of length {len(validation_data)}")
        x, y, sample_weight = unpack_x_y_sample_weight(tuple(validation_data))
        return make_adapter(x, y, sample_weight, batch_size=batch_size, shuffle=False,
                            steps_per_epoch=steps, labels=VALIDATION_NAMES,
                            steps_name="validation_steps")
    if not is_stream(validation_data):
        raise TypeError(f"validation_data: {expected}, got "
                        f"{type(validation_data).__name__}")
    return make_adapter(validation_data, shuffle=False, steps_per_epoch=steps,
                        labels=("validation_data",) + VALIDATION_NAMES[1:],
                        steps_name="validation_steps")
