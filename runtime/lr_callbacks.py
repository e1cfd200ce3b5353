"""Keras's callbacks that change the learning rate between epochs, and CSVLogger.

* :class:`LearningRateScheduler`: at each epoch's start, ``schedule(epoch, lr)`` (or
  ``schedule(epoch)``) becomes the optimizer's learning rate.
* :class:`ReduceLROnPlateau`: when ``monitor`` has not improved by ``min_delta`` for
  ``patience`` epochs, the learning rate is multiplied by ``factor`` (not below
  ``min_lr``), then ``cooldown`` epochs pass before counting again.
* :class:`CSVLogger`: one row per epoch (``epoch`` and the logs' keys, sorted) in a CSV
  file, written (in a data-parallel job, by rank 0 only) and flushed each epoch.

A learning rate set here is the optimizer's learning-rate variable: the traced step reads
it, so nothing is traced again. Both learning-rate callbacks put ``learning_rate`` in
the epoch's logs, as Keras's do.
"""
from __future__ import annotations

import csv
import os

import numpy as np

from . import distribute
from .callbacks import Callback, MonitorCallback
from .distribute import say


def _current_rate(model) -> float:
    return float(model.optimizer.learning_rate)


class LearningRateScheduler(Callback):
    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: `schedule` must be a callable(epoch, lr) "
                            f"or callable(epoch), got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        try:
            rate = self.schedule(epoch, _current_rate(self.model))
        except TypeError:          # a schedule of the epoch alone (Keras's older form)
            rate = self.schedule(epoch)
        if isinstance(rate, bool) or not isinstance(rate, (float, int, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number, got "
                             f"{rate!r} for epoch {epoch}")
        self.model.optimizer.learning_rate = float(rate)
        if self.verbose > 0:
            say(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{float(rate)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_rate(self.model)


class ReduceLROnPlateau(MonitorCallback):
    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor)
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0 (or < 0): "
                             f"got factor={factor}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ReduceLROnPlateau mode must be 'auto', 'min' or 'max', got "
                             f"{mode!r}")
        self.factor, self.patience, self.verbose = float(factor), patience, verbose
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), cooldown, float(min_lr)
        self.mode = "max" if mode == "auto" and "acc" in monitor else \
            ("min" if mode == "auto" else mode)
        self._reset()

    def _reset(self) -> None:
        self.best = np.inf if self.mode == "min" else -np.inf
        self.wait = self.cooldown_counter = 0

    def _improves(self, current) -> bool:
        if self.mode == "min":
            return bool(current < self.best - self.min_delta)
        return bool(current > self.best + self.min_delta)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _current_rate(self.model)
        current = self.monitored(logs)
        if current is None:
            return
        cooling = self.cooldown_counter > 0
        if cooling:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best, self.wait = current, 0
        elif not cooling:
            self.wait += 1
            if self.wait >= self.patience and logs["learning_rate"] > self.min_lr:
                rate = max(logs["learning_rate"] * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = rate
                if self.verbose > 0:
                    say(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                        f"{rate}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"CSVLogger: `filename` must be a path, got {filename!r}")
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        if not distribute.is_writer():
            return
        appending = self.append and os.path.exists(self.filename)
        self._keys = self._keys_in_file() if appending else None
        self._file = open(self.filename, "a" if appending else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.sep)

    def _keys_in_file(self):
        """The columns an existing file has (its header), so appended rows match them."""
        with open(self.filename, newline="") as f:
            header = next(csv.reader(f, delimiter=self.sep), None)
        return header[1:] if header else None

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:
            return
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [_cell(logs.get(k, "NA")) for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


def _cell(value):
    """A log value as a CSV cell: a number, or an array as Keras writes it ("[a, b]")."""
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        return value.item()
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(map(str, value.ravel().tolist())) + "]"
    return value
