"""``BackupAndRestore`` (Keras's callback): back up the training state during ``fit`` and
resume from it when the same script runs ``fit`` again after an interruption.

The contract, stronger than Keras's: a fit killed at any moment and started again
(the same script: same model, compile, data and fit arguments) ends with the weights
an uninterrupted fit ends with, bit for bit. So a backup holds everything the rest of
the training depends on:

- the model's weights and the optimizer's variables (``iterations``, the learning
  rate, the slots), in one ``.npz`` written by :func:`.checkpoints.save_weights`;
- where training stands: the next epoch, and with ``save_freq`` a number of batches,
  the batches of that epoch already trained and the logs of the last of them;
- where the training data stands (:meth:`.DataAdapter.position`: the pass and the
  shuffle's seed, hence the order, and the batches taken from it). Arrays and a
  PyDataset seek there; a Dataset or generator is replayed from its start (its earlier
  batches are read and dropped), which is exact for the same script in a new process
  (in the same process, make the Dataset again: its shuffle counts its own passes);
- fusegraph's random state (:func:`.random_state.get_state`: the run counter keying
  Dropout's masks and the other in-graph draws, the initializers' generator);
- mid-epoch, the metrics' running state, so the resumed epoch logs what it would have.

The History is not restored: as in Keras, the resumed ``fit`` returns the epochs it ran.
Other callbacks' state (EarlyStopping's patience, ...) is not backed up, as in Keras,
nor the order of a shuffled validation Dataset (it changes validation logs only).

Files (``backup_dir`` is the callback's own): generation ``n`` is
``backup-<n>.weights.npz`` (weights and optimizer variables) and ``backup-<n>.json``
(the rest), the JSON written last: a generation counts only once its JSON exists, and
each file is written atomically (:mod:`.atomic_file`), so a kill at any moment leaves
the previous generation whole. After each save the older generations are removed,
except the one before with ``double_checkpoint`` (restored when the newest cannot be
read). This layout differs from Keras's (``latest.weights.h5`` and
``training_metadata.json``), whose files fusegraph does not write.

Keras resumes a ``save_freq=<int>`` backup at the start of its epoch, with the weights
of the middle of it; fusegraph resumes at the batch after the backup, which is what
keeps the contract. In a data-parallel job rank 0 alone writes and deletes; every rank
restores (the folder must be shared by the ranks).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import warnings

import numpy as np

from ..frontend import random_state
from . import checkpoints, distribute
from .atomic_file import write_atomically
from .callbacks import Callback

_FORMAT = 1
_GENERATION = re.compile(r"backup-(\d+)\.(json|weights\.npz)")


class BackupAndRestore(Callback):
    """Back up the training state at each epoch's end (``save_freq="epoch"``) or every
    ``save_freq`` batches, and restore the newest backup at the start of ``fit``, which
    then resumes where the backed-up fit stood (see the module). ``delete_checkpoint``:
    remove ``backup_dir`` when ``fit`` ends (not when it fails). ``double_checkpoint``:
    keep the backup before the newest too, restored when the newest cannot be read."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)):
            raise TypeError(f"BackupAndRestore: `backup_dir` must be a folder's path (a str "
                            f"or os.PathLike), got {backup_dir!r}")
        if not os.fspath(backup_dir):
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or
                                     not isinstance(save_freq, (int, np.integer)) or
                                     save_freq < 1):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: "
                             f"save_freq={save_freq!r}. Expected either 'epoch' or an integer "
                             f"value >= 1 (a number of batches); Keras's save_freq=False "
                             f"(preemption checkpointing) is not supported")
        for name, flag in (("double_checkpoint", double_checkpoint),
                           ("delete_checkpoint", delete_checkpoint)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"BackupAndRestore: `{name}` must be a bool, got {flag!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.double_checkpoint, self.delete_checkpoint = bool(double_checkpoint), \
            bool(delete_checkpoint)
        self._epoch = self._unsaved_batches = 0

    # --- the hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._unsaved_batches = 0
        generations = self._generations()
        if generations:
            self._restore(generations)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._unsaved_batches += 1
        if self._unsaved_batches >= self.save_freq:
            self._unsaved_batches = 0
            self._save(self._epoch, batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0, None)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and distribute.is_writer() and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)

    # --- saving --------------------------------------------------------------------------
    def _path(self, generation: int, suffix: str) -> str:
        return os.path.join(self.backup_dir, f"backup-{generation:06d}.{suffix}")

    def _generations(self) -> list[int]:
        """The complete generations in ``backup_dir`` (those with their JSON), newest first."""
        if not os.path.isdir(self.backup_dir):
            return []
        found = (_GENERATION.fullmatch(name) for name in os.listdir(self.backup_dir))
        return sorted((int(m[1]) for m in found if m and m[2] == "json"), reverse=True)

    def _save(self, epoch: int, batch: int, logs) -> None:
        """Write a new generation: where fit stands (``batch`` batches of epoch ``epoch``
        trained, the last one's ``logs``), then remove the ones no longer kept."""
        model = self.model
        generation = (self._generations() or [0])[0] + 1
        state = {"format": _FORMAT, "epoch": epoch, "batch": batch,
                 "logs": _json_logs(logs) if batch else None,
                 "data": model._fit_start.data.position(),
                 "random": random_state.get_state(),
                 "metrics": _metric_state(model) if batch else None}
        checkpoints.save_weights(_TrainingVariables(model), self._path(generation,
                                                                        "weights.npz"))
        text = json.dumps(state).encode()
        write_atomically(self._path(generation, "json"), lambda f: f.write(text))
        if distribute.is_writer():
            self._remove_older_than(generation - 1 if self.double_checkpoint else generation)

    def _remove_older_than(self, oldest_kept: int) -> None:
        for name in os.listdir(self.backup_dir):
            match = _GENERATION.fullmatch(name)
            if match and int(match[1]) < oldest_kept:
                os.remove(os.path.join(self.backup_dir, name))

    # --- restoring -----------------------------------------------------------------------
    def _restore(self, generations: list[int]) -> None:
        """Restore the newest readable generation of ``generations`` (newest first) and
        move fit's start there; the newest's error when none can be read."""
        model = self.model
        if not model.built:
            raise ValueError(f"To use the BackupAndRestore callback, your model must be built "
                             f"before you call `fit()`. Model '{model.name}' is unbuilt. You "
                             f"can build it beforehand by calling it on a batch of data.")
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_weights)
        errors = []
        for generation in generations:
            before = _snapshot(model)
            try:
                self._apply(generation)
                break
            except _UNREADABLE as error:      # nothing of a backup that fails is kept
                _roll_back(model, before)
                errors.append(error)
        else:
            raise errors[0]
        if errors:
            warnings.warn(f"BackupAndRestore: the newest backup in {self.backup_dir} could not "
                          f"be restored ({errors[0]}); restored the one before it",
                          stacklevel=2)

    def _apply(self, generation: int) -> None:
        """Restore ``generation``: weights and optimizer variables, random state, running
        metrics, and fit's start (data position, epoch, batch, logs)."""
        model = self.model
        state = self._read_state(generation)
        checkpoints.load_weights(_TrainingVariables(model), self._path(generation, "weights.npz"))
        random_state.set_state(state["random"])
        _set_metric_state(model, state["metrics"])
        start = model._fit_start
        start.data.move_to(state["data"])
        start.epoch, start.batch = state["epoch"], state["batch"]
        start.logs = None if state["logs"] is None else {
            k: np.asarray(v, np.float64) if isinstance(v, list) else v
            for k, v in state["logs"].items()}

    def _read_state(self, generation: int) -> dict:
        path = self._path(generation, "json")
        try:
            with open(path, "rb") as f:
                state = json.loads(f.read())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a backup written by BackupAndRestore ({error})") \
                from None
        keys = {"format", "epoch", "batch", "logs", "data", "random", "metrics"}
        if not isinstance(state, dict) or set(state) != keys or state["format"] != _FORMAT:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{path}: not a backup written by this BackupAndRestore: expected "
                             f"a JSON object with the keys {sorted(keys)} (format {_FORMAT}), "
                             f"got {got}")
        return state


# What a damaged or foreign backup raises while it is applied.
_UNREADABLE = (OSError, ValueError, TypeError, KeyError, IndexError)


def _snapshot(model):
    """What restoring a backup changes: the training variables' values, the random
    state, the metrics' state and the data's position."""
    return ([v.numpy() for v in _TrainingVariables(model).weights], random_state.get_state(),
            _metric_state(model), model._fit_start.data.position())


def _roll_back(model, snapshot) -> None:
    """Put back what :func:`_snapshot` saw (a backup that failed midway keeps nothing)."""
    values, random, metrics, position = snapshot
    for variable, value in zip(_TrainingVariables(model).weights, values):
        variable.assign(value)
    random_state.set_state(random)
    _set_metric_state(model, metrics)
    model._fit_start.data.move_to(position)


class _TrainingVariables:
    """The model's weights, then its optimizer's variables, in the shape of a model for
    :func:`.checkpoints.save_weights` and :func:`.checkpoints.load_weights` (which
    check the count and every shape before :meth:`set_weights` assigns anything)."""

    def __init__(self, model):
        self.name = f"{model.name}' with its optimizer '{model.optimizer.name}"
        self.weights = model.weights + model.optimizer.variables
        self._model, self._split = model, len(model.weights)

    def set_weights(self, arrays) -> None:
        self._model.set_weights(list(arrays[:self._split]))
        for variable, array in zip(self.weights[self._split:], arrays[self._split:]):
            variable.assign(array)


def _metric_variables(model) -> list:
    """``(metric name, variable)`` of every metric variable of ``model``, in order."""
    return [(metric.name, v) for metric in model.metrics for v in metric.variables]


def _metric_state(model) -> list:
    """The metrics' running state, as JSON-able ``[metric name, dtype, shape, values]``
    per variable (a float of a float32 or float64 array round-trips through JSON
    exactly)."""
    return [[name, str(v.numpy().dtype), list(v.shape), v.numpy().ravel().tolist()]
            for name, v in _metric_variables(model)]


def _set_metric_state(model, state) -> None:
    """Assign the metrics' running state saved by :func:`_metric_state` (None: a backup
    at an epoch's end, whose next epoch resets them). The model's metrics are made by
    the first traced step: when they are not made yet (a Dataset or generator fit, which
    traces its step on its first batch) or are others, the resumed epoch's metrics start
    over, so its logs cover the batches after the resume."""
    if state is None:
        return
    variables = _metric_variables(model)
    layout = [[name, str(v.numpy().dtype), list(v.shape)] for name, v in variables]
    if layout != [entry[:3] for entry in state]:
        model.reset_metrics()
        return
    for (_, variable), (_, dtype, shape, values) in zip(variables, state):
        variable.assign(np.asarray(values, dtype=dtype).reshape(shape))


def _json_logs(logs) -> dict:
    """Logs as JSON holds them: arrays (per-class metrics) as lists."""
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in logs.items()}
