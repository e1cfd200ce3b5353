"""``fit``: the training loop. Every argument and all of the data are checked before the
first step; then each epoch runs the train step over the batches through the shared batch
loop (:meth:`.BatchLoops._run_batches`), then validation (:meth:`.BatchLoops._evaluate_data`
with the ``on_test_*`` hooks of fit's callbacks), then ``on_epoch_end``. A step that a
``TerminateOnNaN`` callback rejects is not written back and ends training.

``FitLoop`` is mixed into the Trainer; it uses the batch loops, the step data checks of
:mod:`.step_data` and the compiled step functions."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..backends import profiling
from ..frontend.function import commit
from ..backends.interrupts import interrupts_held
from . import arguments, checkpoints
from .callbacks import History, TerminateOnNaN
from .data import (draw_seed, is_stream, make_adapter, train_validation_split,
                   unpack_x_y_sample_weight)
from .distribute import say
from .error_context import errors_from
from .progress import ProgressBar
from .step_data import log_values

VALIDATION_NAMES = ("validation_data[0]", "validation_data[1]", "validation_data[2]")


@contextmanager
def profiled(on: bool):
    """Profile the block's numba_cpu steps and print the table after it (``on``), even
    when it ends with an error; else nothing."""
    if not on:
        yield
        return
    with profiling.profiling() as profile:
        try:
            yield
        finally:
            say(profiling.report(profile))


class FitLoop:
    """The Trainer's ``fit`` and its steps (see the module)."""

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None, sample_weight=None, validation_batch_size=None, seed=None,
            validation_steps=None, profile=False, class_weight=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns the History. Validation runs the
        ``on_test_*`` hooks of these callbacks, without a progress bar of its own, over
        ``validation_steps`` batches of ``validation_data`` (None: a whole pass; an
        infinite Dataset needs it).

        Every argument is checked before the first step (nothing trains when one is
        wrong): the numbers and flags, the callbacks, the training and validation data
        (structure, input and output names, shapes, dtypes, sample counts, the class
        labels of sparse losses and metrics, by tracing both steps on array data).

        ``profile=True`` (or the environment variable ``FUSEGRAPH_PROFILE=1``) prints a
        per-kernel table of the numba_cpu steps after training
        (:mod:`fusegraph.backends.profiling`).

        ``class_weight`` ({class index: weight}, single-output models): each sample of
        a training batch weighs its class's weight (1 for a class not listed; the class
        of one-hot targets is their argmax), as Keras's. ``validation_freq``: validate
        every that many epochs, or at the listed (1-based) epochs."""
        self._require_compiled("fit")
        arguments.check("fit", epochs=epochs, initial_epoch=initial_epoch,
                        batch_size=batch_size, verbose=verbose, callbacks=callbacks,
                        validation_split=validation_split, shuffle=shuffle,
                        steps_per_epoch=steps_per_epoch,
                        validation_batch_size=validation_batch_size, seed=seed,
                        validation_steps=validation_steps, profile=profile,
                        class_weight=class_weight, validation_freq=validation_freq)
        if class_weight is not None and sample_weight is not None:
            raise ValueError("fit(): class_weight and sample_weight cannot be given together "
                             "(as in Keras): fold the class weights into sample_weight")
        self._class_weight, self._validation_freq = class_weight, validation_freq
        with self._failures_end_the_job():
            return self._fit(x, y, batch_size, epochs, verbose, callbacks, validation_split,
                             validation_data, shuffle, initial_epoch, steps_per_epoch,
                             sample_weight, validation_batch_size, seed, validation_steps,
                             profile)

    def _fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
             validation_data, shuffle, initial_epoch, steps_per_epoch, sample_weight,
             validation_batch_size, seed, validation_steps, profile):
        strategy = self._distribute
        if strategy is not None and shuffle:     # one order of the samples on every rank
            seed = strategy.common_seed(draw_seed(seed))
        data, validation = self._fit_data(
            x, y, sample_weight, batch_size, shuffle, steps_per_epoch, seed, validation_split,
            validation_data, validation_batch_size, validation_steps)
        if strategy is not None:
            self._start_replicas(strategy, data, batch_size)
        verbose = self._rank_verbose(1 if verbose == "auto" else verbose)
        history = History()
        callbacks = self._callbacks(callbacks, verbose, data.num_batches, epochs, last=[history])
        rejecters = [c for c in callbacks.callbacks if isinstance(c, TerminateOnNaN)]
        self._check_checkpoint_keys(callbacks, validation is not None)
        self.stop_training = False
        self._fit_start = FitStart(data, initial_epoch)
        try:
            callbacks.on_train_begin()       # where a BackupAndRestore moves the start
            start = self._fit_start
            initial_epoch = start.epoch
            train_batch = functools.partial(self._train_batch, rejecters=rejecters)
            logs = {}
            with profiled(profile or profiling.requested()):
                for epoch in range(initial_epoch, epochs):
                    resumed = (start.batch, start.logs) if epoch == start.epoch else (0, None)
                    logs = self._fit_epoch(epoch, epochs, data, validation, callbacks, verbose,
                                           train_batch, *resumed)
                    if strategy is not None:   # one rank's stop (EarlyStopping) is all ranks'
                        self.stop_training = strategy.any(self.stop_training)
                    if self.stop_training or data.ran_out_of_data:
                        break
            if epochs > 0:     # as Keras's fit: an EMA optimizer's averages become the weights
                # (of the variables it averaged: one unfrozen since has none)
                self.optimizer.finalize_variable_values(
                    [v for v in self.trainable_weights if self.optimizer.keeps_average(v)])
            callbacks.on_train_end(logs if epochs > initial_epoch else {})
        finally:
            self._fit_start = None       # the model keeps no reference to the data
        return history

    def _fit_data(self, x, y, sample_weight, batch_size, shuffle, steps_per_epoch, seed,
                  validation_split, validation_data, validation_batch_size, validation_steps):
        """fit's ``(data, validation)`` adapters (validation None without validation data),
        with ``validation_split`` held out of the arrays; the training data, and the
        validation data with its first Dataset batch, checked by tracing the steps."""
        with errors_from("fit()"):
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
        return data, validation

    def _start_replicas(self, strategy, data, batch_size) -> None:
        """A data-parallel fit's start: every training batch must divide among the ranks
        (checked for array data now), and the weights and optimizer state become rank
        0's on every rank before the first step (:meth:`_replicas_agree`)."""
        if data.num_samples is not None:
            strategy.check_batches(data.num_samples, batch_size or 32)
        self._agreed = set()

    def _check_checkpoint_keys(self, callbacks, validation: bool) -> None:
        """Each ModelCheckpoint's filepath fields checked against the epoch logs' keys, when
        they are known already (see :meth:`_epoch_log_keys`)."""
        keys = self._epoch_log_keys(validation)
        if keys is not None:
            with errors_from("fit(): callbacks"):
                for callback in callbacks.callbacks:
                    if isinstance(callback, checkpoints.ModelCheckpoint):
                        callback.check_log_keys(keys, validation)

    def _train_batch(self, batch, rejecters) -> tuple:
        """``(logs, keep)`` of the train step on ``batch``: its updates are written back
        unless one of the ``rejecters`` (TerminateOnNaN callbacks) rejects its logs, which
        gives ``keep`` False."""
        # Without rejecters the step may write the new weights into the old arrays
        # (Function.step, when the trace's logs will pass log_values); a rejected step
        # must write nothing. A Ctrl-C waits for the commit (interrupts_held): a step
        # whose weights were written in place is committed whole.
        if self._class_weight is not None:
            batch = _class_weighted(batch, self._class_weight)
        step, data = self._train_fn(), self._step_data(*self._share(batch, True))
        self._replicas_agree(lambda: step.traced(data))
        with interrupts_held():
            outputs, updates = (step.run if rejecters else step.step)(data)
            batch_logs = log_values(outputs, "train_step")
            rejected = any(c.should_reject(batch_logs) for c in rejecters)
            if rejecters and self._distribute is not None:   # one rank's is every rank's
                rejected = self._distribute.any(rejected)
            if rejected:
                return batch_logs, False
            commit(updates)
        return batch_logs, True

    def _fit_epoch(self, epoch, epochs, data, validation, callbacks, verbose,
                   train_batch, first=0, first_logs=None) -> dict:
        """Epoch ``epoch`` (0-based) of fit: the epoch hooks around the train batches
        (``train_batch(batch)`` gives ``(logs, keep)``) and, unless training was stopped,
        the validation pass, whose logs join with ``val_``; returns the epoch's logs. An
        epoch resumed after its batch ``first - 1`` keeps the metrics' restored state
        and starts from that batch's logs ``first_logs``."""
        if not first:
            self.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        bar = ProgressBar(data.num_batches, verbose=verbose)
        logs, count = self._run_batches(data, train_batch, callbacks, "train", bar,
                                        "stop_training", f"fit(), epoch {epoch + 1}",
                                        first, first_logs)
        logs = dict(logs)
        if validation is not None and not self.stop_training and \
                _validates(epoch, self._validation_freq):
            val = self._evaluate_data(validation, callbacks,
                                      where=f"fit(): validation_data, epoch {epoch + 1}")
            logs.update({f"val_{k}": v for k, v in val.items()})
        bar.update(count, logs, finalize=True)
        callbacks.on_epoch_end(epoch, logs)
        return logs

    def _epoch_log_keys(self, validation: bool) -> list[str] | None:
        """The keys of fit's epoch logs, once the train step has been traced (for array
        data, before the first step): its logs' keys, and with ``validation`` the same
        with ``val_``. None while unknown (a generator's first batch is not traced yet)."""
        trace = self._train_fn().last_trace
        if trace is None or not isinstance(trace.outputs, dict):
            return None
        keys = list(trace.outputs)
        return keys + [f"val_{k}" for k in keys] if validation else keys


@dataclass
class FitStart:
    """Where a ``fit`` starts: at batch ``batch`` of epoch ``epoch`` (0-based), the logs
    of the batch before being ``logs``; ``data`` is its training data adapter. fit
    makes it as ``model._fit_start`` before ``on_train_begin``, where a
    :class:`~fusegraph.runtime.backup.BackupAndRestore` may move it (and the data) to
    where an interrupted fit stopped, and reads it after."""
    data: object
    epoch: int
    batch: int = 0
    logs: dict | None = None


def _validates(epoch: int, frequency) -> bool:
    """Whether fit validates after ``epoch`` (0-based) for ``validation_freq``."""
    if isinstance(frequency, (list, tuple, set, frozenset)):
        return epoch + 1 in frequency
    return (epoch + 1) % frequency == 0


def _class_weighted(batch, class_weight: dict) -> tuple:
    """``(x, y, sample_weight)`` with the sample weights of ``y``'s classes (Keras's
    ``class_weight``: 1 for a class not listed; one-hot targets by their argmax)."""
    x, y, _ = batch
    if isinstance(y, (list, tuple, dict)):
        raise ValueError("fit(): class_weight is only supported for models with a single "
                         "output (as in Keras); pass sample_weight per output instead")
    y = np.asarray(y)
    classes = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else \
        np.round(y.reshape(len(y), -1)[:, 0]).astype(np.int64)
    weights = np.ones(len(y), np.float32)
    for label, weight in class_weight.items():
        weights[classes == label] = weight
    return x, y, weights


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
