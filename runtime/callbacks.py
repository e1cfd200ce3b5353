"""Callbacks (``fg.callbacks``): Keras's hooks into ``fit``/``evaluate``/``predict``.

Contract with the loops (``runtime/fit_loop.py``, ``runtime/batch_loops.py``):

- ``CallbackList(callbacks, model=model, params={"epochs": ..., "steps": ..., "verbose":
  ...})`` gives every callback the model and params, then dispatches each hook to all of
  them in order. ``logs`` are dicts of Python floats; a hook called without them gets
  ``{}``.
- Order of calls: ``on_train_begin``; per epoch ``on_epoch_begin(epoch)``, per batch
  ``on_train_batch_begin(batch)`` / ``on_train_batch_end(batch, logs)`` (batch counts
  from 0 each epoch), then ``on_epoch_end(epoch, logs)`` with ``val_*`` entries;
  ``on_train_end``. Validation inside ``fit`` runs ``on_test_begin``, the
  ``on_test_batch_*`` hooks and ``on_test_end`` on the same callbacks, before
  ``on_epoch_end``.
- ``evaluate(callbacks=...)`` gives its callbacks ``params={"epochs": 1, "steps": ...,
  "verbose": ...}`` and calls ``on_test_begin``, ``on_test_batch_begin(batch)`` /
  ``on_test_batch_end(batch, logs)`` (running logs), ``on_test_end(logs)``;
  ``predict(callbacks=...)`` likewise the ``predict`` hooks, ``on_predict_batch_end``
  getting ``{"outputs": batch outputs}``. (One batch loop, ``BatchLoops._run_batches``,
  runs all three.)
- A callback stops training by setting ``model.stop_training = True``; the loop checks it
  after every batch and epoch. ``model.stop_evaluating`` and ``model.stop_predicting``
  stop ``evaluate`` and ``predict`` after the current batch, as in Keras.
- Before committing a training step, the loop asks every ``TerminateOnNaN`` whether to
  ``should_reject(logs)`` the step; a rejected step's updates are not written back (the
  weights stay from the last good step), and ``on_train_batch_end`` is still called
  with its logs so that training stops.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..frontend.checks import check_int_at_least, check_number
from .distribute import say


class Callback:
    """Base class: every hook does nothing. ``model`` and ``params`` are set by the loop
    (through ``CallbackList``) before training starts."""

    def __init__(self):
        self.model = None
        self.params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        """Called at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called at the end of ``fit`` with the last epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch with its training and ``val_*`` logs."""

    def on_batch_begin(self, batch, logs=None):
        """Keras's older name: called by the default ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Keras's older name: called by the default ``on_train_batch_end``."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        """Called at the start of ``evaluate`` (and of validation in ``fit``)."""

    def on_test_end(self, logs=None):
        """Called at the end of ``evaluate`` (and of validation)."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation batch with the running logs."""

    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction batch (logs hold ``outputs``)."""


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Dispatches every hook (``on_epoch_end(epoch, logs=None)``, ...) to ``callbacks`` in
    order; ``logs`` None becomes ``{}``."""

    def __init__(self, callbacks=None, model=None, params=None):
        if isinstance(callbacks, Callback):      # Keras flattens: one callback is a list of one
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be fg.callbacks.Callback instances, got "
                                f"{type(callback).__name__}")
        self.model, self.params = None, None
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_model(self, model):
        self.model = model
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)


def _dispatcher(name: str):
    """``CallbackList.<name>``: the hook called on every callback, positionally as Keras
    does (user functions such as ``lambda epoch, logs: ...`` rely on it)."""
    if "epoch" in name or "batch" in name:
        def hook(self, index, logs=None):
            for callback in self.callbacks:
                getattr(callback, name)(index, {} if logs is None else logs)
    else:
        def hook(self, logs=None):
            for callback in self.callbacks:
                getattr(callback, name)({} if logs is None else logs)
    hook.__name__, hook.__qualname__ = name, f"CallbackList.{name}"
    return hook


for _name in _HOOKS:
    setattr(CallbackList, _name, _dispatcher(_name))


class History(Callback):
    """Records the logs of every epoch: ``epoch`` (the epoch indices) and ``history``
    (name -> list of per-epoch values). ``fit`` returns it; ``on_train_begin`` sets
    ``model.history`` to it. As in Keras, ``epoch`` restarts on each ``fit`` while
    ``history`` keeps appending (``fit`` makes a new History each call)."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = {}

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)


class MonitorCallback(Callback):
    """A callback that reads ``logs[self.monitor]`` at epoch end (EarlyStopping,
    ModelCheckpoint). A monitor missing from the logs is not an error, as in Keras: the
    epoch is skipped with a UserWarning naming the monitor and the available keys, given
    once per training run (``on_train_begin`` re-arms it); a NaN value is never an
    improvement."""

    _missing_message = "{monitor} is not available"     # a str.format of monitor and keys

    def __init__(self, monitor):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"{type(self).__name__}: `monitor` must be the name of a log "
                            f"key (a str such as 'val_loss'), got {monitor!r}")
        self.monitor = monitor
        self._warned = False

    def on_train_begin(self, logs=None):
        self._warned = False

    def monitored(self, logs):
        """``logs[self.monitor]``, or None (after the warning) when it is missing; a
        TypeError when it is an array (a per-class metric), which has no order."""
        current = (logs or {}).get(self.monitor)
        if current is None:
            if not self._warned:
                self._warned = True
                warnings.warn(self._missing_message.format(
                    monitor=self.monitor, keys=",".join(logs or {})), stacklevel=3)
            return None
        if np.ndim(current):
            raise TypeError(f"{type(self).__name__}: monitor '{self.monitor}' is an array of "
                            f"shape {np.shape(current)} (a per-class metric); monitor a "
                            f"number, such as a metric with average='macro'")
        return current


# Keras's built-in metrics by direction, for a monitor that no model metric describes.
_UP_NAMES = ("accuracy", "acc", "auc", "precision", "recall", "f1_score", "r2_score")
_DOWN_NAMES = ("error", "crossentropy", "mse", "mae", "mape", "msle", "hinge", "divergence")


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has stopped improving, as Keras's ``EarlyStopping``.

    At each epoch end (from ``start_from_epoch`` on) the monitored value improves when it
    beats the best so far by more than ``min_delta``; after ``patience`` epochs without
    improvement — and never on epoch 0 — it sets ``model.stop_training``. With a
    ``baseline``, the wait restarts only on values that also beat the baseline.
    ``mode``: "min", "max", or "auto" — min for ``loss``/``*_loss`` (``val_`` stripped),
    else the ``_direction`` ("up"/"down") of the model's metric of that name, else by the
    name's ending (``accuracy``, ``auc``, ... up; ``error``, ``crossentropy``, ``mse``, ...
    down), else a ValueError asking for a mode. A monitor missing from the logs warns once,
    listing the available keys, and skips the epoch (:class:`MonitorCallback`); a NaN is
    never an improvement (nor the first best). ``restore_best_weights``: at train end the
    weights of the best epoch (copies from ``model.get_weights()``) are set back with
    ``model.set_weights()``.
    """

    _missing_message = ("Early stopping conditioned on metric `{monitor}` which is not "
                        "available. Available metrics are: {keys}")

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor)
        check_number("EarlyStopping", "min_delta", min_delta)
        check_int_at_least("EarlyStopping", "patience", patience, 0)
        check_int_at_least("EarlyStopping", "start_from_epoch", start_from_epoch, 0)
        if baseline is not None:
            check_number("EarlyStopping", "baseline", baseline)
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode {mode} is unknown, fallback to auto mode.",
                          stacklevel=2)
            mode = "auto"
        self.mode, self.verbose = mode, verbose
        self.min_delta, self.patience, self.baseline = abs(min_delta), patience, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.monitor_op = None
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def _direction(self) -> str:
        if self.mode != "auto":
            return self.mode
        name = self.monitor.removeprefix("val_")
        if name == "loss" or name.endswith("_loss"):
            return "min"
        metrics = list(getattr(self.model, "metrics", None) or [])
        metrics += [inner for m in metrics for inner in getattr(m, "metrics", None) or []]
        for metric in metrics:
            if getattr(metric, "name", None) == name and hasattr(metric, "_direction"):
                return "max" if metric._direction == "up" else "min"
        if name.endswith(_UP_NAMES):
            return "max"
        if name.endswith(_DOWN_NAMES):
            return "min"
        raise ValueError(f"EarlyStopping callback received monitor={self.monitor} but fusegraph "
                         f"isn't able to automatically determine whether that metric should be "
                         f"maximized or minimized. Pass `mode='max'` in order to do early "
                         f"stopping based on the highest metric value, or pass `mode='min'` in "
                         f"order to use the lowest value.")

    def _is_improvement(self, value, reference) -> bool:
        if np.isnan(value):
            return False
        if reference is None:
            return True
        if self.monitor_op is np.less:
            return bool(value + self.min_delta < reference)
        return bool(value - self.min_delta > reference)

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.monitor_op is None:
            self.monitor_op = np.less if self._direction() == "min" else np.greater
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self._weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self._weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            say(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                say(f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _weights(self) -> list:
        return [np.array(w, copy=True) for w in self.model.get_weights()]


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose ``loss`` is NaN or infinite, as Keras does.

    ``should_reject(logs)`` is the loop's question before it commits a step's updates:
    True for a non-finite ``loss``, and then the step is not committed (weights stay from
    the last good step). It has no side effects. ``on_train_batch_end`` with such logs
    prints ``Batch N: Invalid loss, terminating training``, sets ``model.stop_training``
    and records ``stopped_epoch`` and ``stopped_batch`` (None until then).
    """

    def __init__(self):
        super().__init__()
        self.stopped_epoch = self.stopped_batch = None
        self._epoch = 0

    def should_reject(self, logs) -> bool:
        loss = (logs or {}).get("loss")
        return loss is not None and not bool(np.all(np.isfinite(loss)))

    def on_train_begin(self, logs=None):
        self.stopped_epoch = self.stopped_batch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.should_reject(logs):
            say(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
            self.stopped_epoch, self.stopped_batch = self._epoch, batch


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras's ``LambdaCallback``: ``on_epoch_begin``/
    ``on_epoch_end`` take ``(epoch, logs)``, the batch hooks ``(batch, logs)``,
    ``on_train_begin``/``on_train_end`` ``(logs)``. Any other hook (``on_test_end``, ...)
    may be given by keyword too. An unknown hook name or a hook that is not callable is a
    TypeError here, not in the middle of training."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hook(s) {unknown}; hooks are {_HOOKS}")
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback({name}=...) must be a function, got "
                                f"{type(fn).__name__} {fn!r}")
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
