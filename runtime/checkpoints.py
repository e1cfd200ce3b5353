"""Saving and loading a model's weights, and the ModelCheckpoint callback.

Format: one ``.npz`` file (numpy's zip of arrays) holding the weights in
``model.weights`` order under the keys ``w0000``, ``w0001``, ..., plus ``paths`` (the
variables' paths). Weights load by position through ``model.set_weights``, which
checks the count and every shape first: a mismatch changes nothing.

Writes are atomic: the file is written next to its destination under a temporary name,
flushed to disk and renamed over it, so a failed save leaves the previous file intact.
The file gets the mode a plain ``open()`` would give it (``0o666`` less the umask), not
the temporary file's private ``0o600``.
"""
from __future__ import annotations

import os
import tempfile
import zipfile

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
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp's 0600 -> what open() would have made
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    """The process umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_weights(model, filepath: str) -> None:
    """Assign the weights saved in ``filepath`` to ``model``, in ``model.weights`` order.

    A file that is not what :func:`save_weights` writes (not an ``.npz``, or without
    ``paths`` and one ``wNNNN`` array per path) is a ValueError naming the file and the
    keys expected. A count or shape mismatch is a ValueError naming the file, the model,
    and, for a shape, the model's weight next to the saved weight at its position (the
    path it was saved under); nothing is assigned then."""
    filepath = _npz_path(filepath)
    paths, arrays = _read_weights(filepath)
    mine = model.weights
    if len(arrays) != len(mine):
        raise ValueError(f"{filepath}: model '{model.name}' has {len(mine)} weights, the file "
                         f"holds {len(arrays)} ({', '.join(map(repr, paths)) or 'none'})")
    for i, (w, path, value) in enumerate(zip(mine, paths, arrays)):
        if np.shape(value) != w.shape:
            raise ValueError(f"{filepath}: model '{model.name}': weight {i} '{w.path}' has "
                             f"shape {w.shape}, but the saved weight {i} '{path}' has shape "
                             f"{np.shape(value)}")
    model.set_weights(arrays)


_EXPECTED_KEYS = "'paths' (the weights' paths) and 'w0000', 'w0001', ... (one array per path)"


def _read_weights(filepath: str) -> tuple[list, list]:
    """The saved paths and the arrays ``w0000``, ``w0001``, ... of a weights file, one
    per path; ValueError naming the file and the expected keys when it is malformed."""
    def malformed(what: str) -> ValueError:
        return ValueError(f"{filepath} is not a weights file written by save_weights: {what}; "
                          f"expected an .npz holding {_EXPECTED_KEYS}")

    with open(filepath, "rb") as f:       # ours to close, whatever numpy makes of it
        try:
            data = np.load(f, allow_pickle=False)
        except (ValueError, EOFError, zipfile.BadZipFile) as e:
            raise malformed(f"numpy cannot read it as an .npz ({e})") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise malformed(f"it holds a single array of shape {np.shape(data)}")
        with data:
            return _arrays_of(data, malformed)


def _arrays_of(data, malformed) -> tuple[list, list]:
    """The paths and weight arrays of an open ``NpzFile``, its keys checked against
    ``paths``."""
    def read(key):
        try:
            return data[key]
        except (ValueError, EOFError, zipfile.BadZipFile) as e:   # object arrays, bad members
            raise malformed(f"numpy cannot read its array {key!r} ({e})") from None

    keys = list(data.files)
    if "paths" not in keys:
        raise malformed(f"it has no 'paths'; its keys are {sorted(keys)}")
    paths = read("paths")
    if paths.ndim != 1:
        raise malformed(f"'paths' has shape {paths.shape}, not one path per weight")
    expected = ["paths"] + [f"w{i:04d}" for i in range(len(paths))]
    missing = [k for k in expected if k not in keys]
    unexpected = sorted(k for k in keys if k not in expected)
    if missing or unexpected:
        listed = "; ".join(part for part in (
            f"missing {missing}" if missing else "",
            f"unexpected {unexpected}" if unexpected else "") if part)
        raise malformed(f"for its {len(paths)} paths, {listed}")
    return [str(p) for p in paths], [read(k) for k in expected[1:]]


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
