"""Saving and loading a model's weights, and the ModelCheckpoint callback.

Format: one ``.npz`` file (numpy's zip of arrays) holding the weights in
``model.weights`` order under the keys ``w0000``, ``w0001``, ..., plus ``paths`` (the
variables' paths) so a mismatch can be named. Weights load by position, like Keras's
``set_weights``, after every shape is checked: a mismatch changes nothing.

Writes are atomic: the file is written next to its destination under a temporary name,
flushed to disk and renamed over it, so a failed save leaves the previous file intact.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .callbacks import Callback


def save_weights(model, filepath: str) -> None:
    """Write ``model.weights`` to ``filepath`` (``.npz`` is appended if missing)."""
    filepath = _npz_path(filepath)
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    arrays = {f"w{i:04d}": w.numpy() for i, w in enumerate(model.weights)}
    arrays["paths"] = np.array([w.path for w in model.weights], dtype=str)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_weights(model, filepath: str) -> None:
    """Assign the weights saved in ``filepath`` to ``model``, in ``model.weights`` order.

    ValueError naming the file, the count or the first variable whose shape differs;
    nothing is assigned then."""
    filepath = _npz_path(filepath)
    with np.load(filepath, allow_pickle=False) as data:
        paths = [str(p) for p in data["paths"]]
        arrays = [data[f"w{i:04d}"] for i in range(len(paths))]
    mine = model.weights
    if len(arrays) != len(mine):
        raise ValueError(f"{filepath} holds {len(arrays)} weights, model '{model.name}' has "
                         f"{len(mine)}")
    for saved_path, array, w in zip(paths, arrays, mine):
        if array.shape != w.shape:
            raise ValueError(f"{filepath}: weight '{saved_path}' has shape {array.shape}, but "
                             f"model '{model.name}' expects {w.shape} for '{w.path}'")
    model.set_weights(arrays)


def _npz_path(filepath) -> str:
    filepath = os.fspath(filepath)
    return filepath if filepath.endswith(".npz") else filepath + ".npz"


class ModelCheckpoint(Callback):
    """Save the weights after each epoch (Keras's callback, weights only).

    ``filepath`` may hold ``str.format`` fields: ``epoch`` (1-based) and any log key
    (``"ckpt-{epoch:02d}-{val_loss:.3f}.weights.npz"``). With ``save_best_only``, only an
    epoch whose ``monitor`` improves (``mode``: "min", "max" or "auto": max for
    accuracies, else min) is saved."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=True, mode="auto", save_freq="epoch"):
        super().__init__()
        if not save_weights_only:
            raise ValueError("ModelCheckpoint(save_weights_only=False): fusegraph saves "
                             "weights only; pass save_weights_only=True")
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint(save_freq={save_freq!r}): only 'epoch' is "
                             f"supported")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only = save_best_only
        maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self._better = (lambda a, b: a > b) if maximize else (lambda a, b: a < b)
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                raise KeyError(f"ModelCheckpoint monitors '{self.monitor}', which the logs do "
                               f"not have; they have {sorted(logs)}")
            if self.best is not None and not self._better(current, self.best):
                return
            self.best = current
        path = self.filepath.format(epoch=epoch + 1, **logs)
        save_weights(self.model, path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved weights to {_npz_path(path)}")
