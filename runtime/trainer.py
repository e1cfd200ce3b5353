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

The Trainer is assembled from mixins with one job each:

- :mod:`.traced_steps`: ``train_step``/``test_step``, ``compute_loss``,
  ``compute_metrics`` and the metric lists. The compiled metrics are made on the first
  traced step, from the traced targets and predictions (``"accuracy"`` is resolved from
  their shapes, as in Keras 3); see :mod:`.compile_config` for their names.
- :mod:`.step_data`: a batch as the step graph takes it, and the checks of a loop's data
  before its first step.
- :mod:`.batch_loops`: the one batch loop ``fit``, ``evaluate`` and ``predict`` share
  (callbacks' batch hooks, the progress bar, the ``stop_*`` flags), and ``evaluate``,
  ``predict``, ``train_on_batch``, ``test_on_batch``.
- :mod:`.fit_loop`: ``fit``.

This module keeps ``compile`` (with the step functions it traces), the weights' files,
and the step graphs' text (``ir``, ``step_graph``).

Bad input fails before anything changes: the plain arguments by :mod:`.arguments`, the
data by :mod:`.data` and, for array data (and a validation Dataset), by tracing the steps
on the first batch before the first step (:meth:`.StepData._check_data`); class labels of
sparse losses and metrics are checked on the host against the trace's guards
(:mod:`fusegraph.frontend.guards`), never in the compiled step. ``compile`` checks all
of its arguments before it changes the model.
"""
from __future__ import annotations

import os

from ..backends import default_backend, optimizing_compiler
from ..ir.builder import user_site
from ..frontend import collectives
from ..frontend import optimizers as optimizers_module
from ..frontend.function import Function
from ..frontend.metrics import Mean
from ..frontend.traceback_filter import filter_traceback
from ..frontend.model import graph_text
from . import checkpoints, compile_config, keras_archive
from .batch_loops import BatchLoops
from .data import unpack_x_y_sample_weight
from .distribute import DataParallel
from .error_context import errors_from
from .fit_loop import FitLoop
from .step_data import StepData, numeric_logs
from .traced_steps import TracedSteps


class Trainer(FitLoop, BatchLoops, TracedSteps, StepData):
    """Mixed into ``fg.Model`` before the frontend model class."""

    compiled = False
    _distribute = None       # compile(distribute=): a DataParallel strategy
    _class_weight = None     # fit(class_weight=), for its train batches
    _validation_freq = 1     # fit(validation_freq=)
    stop_training = False
    stop_evaluating = False
    stop_predicting = False

    # --- the entry points: their errors leave fusegraph's frames out of the traceback ---
    fit = filter_traceback(FitLoop.fit)
    evaluate = filter_traceback(BatchLoops.evaluate)
    predict = filter_traceback(BatchLoops.predict)
    train_on_batch = filter_traceback(BatchLoops.train_on_batch)
    test_on_batch = filter_traceback(BatchLoops.test_on_batch)
    predict_on_batch = filter_traceback(BatchLoops.predict_on_batch)

    # --- compile -----------------------------------------------------------------------
    @filter_traceback
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                backend=None, distribute=None):
        """Configure training. ``loss``/``loss_weights``/``metrics``: one object, a list by
        output position, or a dict by output name (see :mod:`.compile_config` for how
        metrics are named and when a Metric instance is copied per output). ``backend``
        names the backend the step graphs compile on (None: ``fg.config.
        get_default_backend()``, numba_cpu unless ``FUSEGRAPH_BACKEND`` or
        ``fg.config.set_default_backend`` says otherwise). ``distribute``: a
        ``fg.distribute.DataParallel`` strategy to train on every rank of an MPI job
        (:mod:`.distribute`), or None.

        All of it is checked first (the backend, the optimizer, every loss, loss weight
        and metric, and for a functional model how they map onto its outputs); the
        model changes only when all of it is good, so a failed compile leaves an earlier
        compile's optimizer (with its slots), losses and metrics as they were."""
        with errors_from(f"{user_site()}: compile(backend=...)"):
            backend = default_backend() if backend is None else backend
            compile_fn = optimizing_compiler(backend)
        with errors_from(f"{user_site()}: compile(optimizer=...)"):
            optimizer = optimizers_module.get(optimizer)
        compile_config.check(loss, loss_weights, metrics)
        specs = (compile_config.resolve(loss, loss_weights, metrics, self.output_names)
                 if self._functional is not None and loss is not None else None)
        if distribute is not None and not isinstance(distribute, DataParallel):
            raise TypeError(f"{user_site()}: compile(distribute=...) takes a "
                            f"fg.distribute.DataParallel strategy or None, got {distribute!r}")
        self._compile_fn, self.optimizer, self._backend = compile_fn, optimizer, backend
        self._distribute = distribute
        self._agreed: set = set()    # ids of the variables the ranks agreed on
        self._compile_args = (loss, loss_weights, metrics)
        self._set_output_specs(specs)
        self._loss_tracker = Mean(name="loss")
        self._train_function = self._step_function(self.train_step, "train_step")
        self._train_function_version = self.optimizer.trace_version
        self._test_function = self._step_function(self.test_step, "test_step")
        self.compiled = True

    def save(self, filepath, overwrite=True) -> None:
        """Save the whole model to a ``.keras`` file (Keras 3's format: config, weights,
        optimizer state, compile arguments), atomically; ``overwrite=False`` refuses an
        existing file (:mod:`.keras_archive`)."""
        if not overwrite and os.path.exists(os.fspath(filepath)):
            raise FileExistsError(f"{os.fspath(filepath)} exists and overwrite=False")
        keras_archive.save_model(self, filepath)

    def save_weights(self, filepath) -> None:
        """Write the weights to ``filepath`` (``.npz``), atomically (see :mod:`.checkpoints`)."""
        checkpoints.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Assign weights saved by ``save_weights``; nothing changes on a mismatch."""
        checkpoints.load_weights(self, filepath)

    def recompile(self, backend: str | None = None, distribute=False) -> None:
        """``compile()`` again with the same optimizer, losses and metrics, on ``backend``
        (None: the same one) with ``distribute`` (False: the same strategy)."""
        self._require_compiled("recompile")
        loss, loss_weights, metrics = self._compile_args
        self.compile(self.optimizer, loss, loss_weights, metrics,
                     backend=backend or self._backend,
                     distribute=self._distribute if distribute is False else distribute)

    def _require_compiled(self, method: str):
        if not self.compiled:
            raise RuntimeError(f"model '{self.name}': call compile() before {method}()")

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
        input shapes (see :meth:`_step_holder_shapes`). It hands the variables' arrays
        over to a step (``Function.step``) only when the trace's logs will pass their
        checks, which run after the step and before its updates are committed."""
        if self._distribute is not None:
            step = collectives.replicated(step)
        function = Function(step, name, self._compile_fn,
                            holder_shapes=self._step_holder_shapes,
                            argument_labels=self._step_labels)
        function.donate_if = numeric_logs
        return function

    def ir(self, stage: str = "forward", after: str | None = None, data=None) -> str:
        """SSA text of the ``forward`` graph or of the traced ``train_step``/``test_step``
        graph; ``after`` names a pass of the compile pipeline to show the graph after it
        (for a step, the pipeline of the backend it compiles on, kernels as it forms them).
        A step graph exists once fit/train_on_batch/evaluate traced it, or trace it here
        on a batch ``data`` = ``(x, y)`` (see :meth:`step_graph`)."""
        if stage not in ("train_step", "test_step"):
            return super().ir(stage, after)
        return graph_text(self.step_graph(stage, data), after, self._backend)

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
