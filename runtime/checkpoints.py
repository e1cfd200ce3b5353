"""Saving and loading a model's weights, and the ModelCheckpoint callback.

The path's suffix picks the format (:func:`weights_format`): ``.weights.h5`` is Keras 3's
HDF5 layout (:mod:`.keras_archive`, which also writes whole models as ``.keras``);
``.npz``, or no suffix (``.npz`` is added), is fusegraph's own; any other suffix is a
ValueError naming the formats (Keras 2's legacy ``.h5``/``.hdf5`` included).

fusegraph's own format: one ``.npz`` file (numpy's zip of arrays) holding the weights in
``model.weights`` order under the keys ``w0000``, ``w0001``, ..., plus ``paths`` (the
variables' paths). Weights load by position through ``model.set_weights``, which
checks the count and every shape first: a mismatch changes nothing.

Writes are atomic (:mod:`.atomic_file`): the file is written next to its destination
under a temporary name ``.<name>.tmp-<host>-<pid>-<random>``, fsynced and renamed over
it, so a failed or killed save leaves the previous file intact; the next save of the
same path removes the temporary file a killed save left. The file gets the mode a plain
``open()`` would give it (``0o666`` less the umask).
"""
from __future__ import annotations

import codecs
import os
import re
import string
import zipfile

import numpy as np

from . import distribute, keras_archive
from .atomic_file import write_atomically
from .callbacks import MonitorCallback


def save_weights(model, filepath: str) -> None:
    """Write ``model``'s weights to ``filepath`` in the format its suffix names
    (:func:`weights_format`), atomically (:func:`.atomic_file.write_atomically`),
    creating its folder if needed. In a data-parallel job only rank 0 writes (every
    rank holds the same weights)."""
    if weights_format(filepath) == "h5":
        keras_archive.save_weights_h5(model, os.fspath(filepath))
        return
    filepath = _npz_path(filepath)
    if not distribute.is_writer():      # not even the folder
        return
    os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
    arrays = {f"w{i:04d}": w.numpy() for i, w in enumerate(model.weights)}
    arrays["paths"] = np.array([w.path for w in model.weights], dtype=str)
    write_atomically(filepath, lambda f: np.savez(f, **arrays))


def load_weights(model, filepath: str) -> None:
    """Assign the weights saved in ``filepath`` to ``model``, in ``model.weights`` order.

    The file read is the one :func:`save_weights` would have written, ``filepath`` with
    ``.npz`` appended if missing, else ``filepath`` as given when only that exists; none
    is a FileNotFoundError, a folder an IsADirectoryError, each naming the path(s) and
    what was expected. A file that is not what :func:`save_weights` writes (not an
    ``.npz``, or without ``paths`` and one ``wNNNN`` array per path) is a ValueError
    naming the file, what it holds instead (text, a pickle, HDF5, a damaged zip, ...) and
    the keys expected; nothing is ever unpickled. A count or shape mismatch is a
    ValueError naming the file, the model, and, for a shape, the model's weight next to
    the saved weight at its position (the path it was saved under); nothing is assigned
    then. A ``.weights.h5`` file (Keras 3's or ours) or a ``.keras`` file's weights load
    through :mod:`.keras_archive`, checked as fully first."""
    kind = weights_format(filepath, loading=True)
    if kind == "h5":
        keras_archive.load_weights_h5(model, os.fspath(filepath))
        return
    if kind == "keras":
        keras_archive.load_archive_weights(model, os.fspath(filepath))
        return
    filepath = _weights_file(filepath)
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
_EXPECTED = f"expected an .npz written by save_weights, holding {_EXPECTED_KEYS}"


def _weights_file(filepath) -> str:
    """The existing file ``load_weights(filepath)`` reads (see there)."""
    given = os.fspath(filepath)
    candidates = list(dict.fromkeys([_npz_path(given), given]))
    for path in candidates:
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a folder, not a weights file; {_EXPECTED}")
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"no weights file {' or '.join(map(repr, candidates))} exists; "
                            f"{_EXPECTED}")


def _read_weights(filepath: str) -> tuple[list, list]:
    """The saved paths and the arrays ``w0000``, ``w0001``, ... of a weights file, one
    per path; ValueError naming the file and the expected keys when it is malformed."""
    def malformed(what: str) -> ValueError:
        return ValueError(f"{filepath} is not a weights file written by save_weights: {what}; "
                          f"expected an .npz holding {_EXPECTED_KEYS}")

    with open(filepath, "rb") as f:       # ours to close, whatever numpy makes of it
        head = f.read(_HEAD_BYTES)
        f.seek(0)
        if not head.startswith(_NUMPY_MAGICS):
            raise malformed(_what_it_holds(head, os.fstat(f.fileno()).st_size))
        try:
            data = np.load(f, allow_pickle=False)
        except (ValueError, EOFError, zipfile.BadZipFile) as e:
            raise malformed(f"numpy cannot read it as an .npz, a truncated or damaged "
                            f"{'.npy' if head.startswith(_NPY) else 'zip'} file ({e})") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise malformed(f"it holds a single array of shape {np.shape(data)}")
        with data:
            return _arrays_of(data, malformed)


_HEAD_BYTES = 64
_NPY = b"\x93NUMPY"
_NUMPY_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", _NPY)    # a zip (or an empty one), a .npy


def _what_it_holds(head: bytes, size: int) -> str:
    """What a file of ``size`` bytes beginning ``head`` is, when numpy would not read it
    (it is never given to numpy, whose reply to text is a pickle's)."""
    if size == 0:
        return "it is empty (0 bytes)"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return f"it is an HDF5 file ({size} bytes), such as Keras's .weights.h5"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:     # protocols 2 to 5
        return f"it is a Python pickle ({size} bytes), which is never loaded (it could run code)"
    text = _text_start(head)
    if text is not None:
        return f"it is a text file ({size} bytes) beginning {text!r}"
    return f"it is {size} bytes of binary data beginning {head[:16].hex(' ')}"


def _text_start(head: bytes) -> str | None:
    """The first line of ``head`` (at most 40 characters) when it reads as UTF-8 text."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if not all(c.isprintable() or c.isspace() for c in text):
        return None
    return (text.splitlines() or [""])[0][:40]


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
    """``filepath`` as the ``.npz`` file fusegraph writes (``.npz`` appended if missing)."""
    filepath = os.fspath(filepath)
    return filepath if filepath.endswith(".npz") else filepath + ".npz"


def weights_format(filepath, loading: bool = False) -> str:
    """``"h5"`` for ``.weights.h5``, ``"npz"`` for ``.npz`` or no suffix, and, when
    ``loading``, ``"keras"`` for a ``.keras`` file (its weights). A suffix is a dot and
    a letter, then letters and digits (``ck-0.0349`` and ``w-3.5`` have none: ``.npz``
    is added). Any other suffix is a ValueError naming the formats when saving; when
    loading it is read as ``"npz"``, whose reader says what the file holds instead."""
    filepath = os.fspath(filepath)
    lower = filepath.lower()
    if lower.endswith(".weights.h5"):
        return "h5"
    if lower.endswith(".keras") and loading:
        return "keras"
    suffix = os.path.splitext(os.path.basename(lower))[1]
    if not re.fullmatch(r"\.[a-z][a-z0-9]*", suffix) or suffix == ".npz" or loading:
        return "npz"
    what = {".keras": "a .keras file holds a whole model: write it with model.save(path)",
            ".h5": "Keras 2's legacy HDF5 files are not supported",
            ".hdf5": "Keras 2's legacy HDF5 files are not supported"}.get(
        suffix, f"unknown suffix {suffix!r}")
    raise ValueError(f"{filepath}: {what}; weights files end in .weights.h5 (Keras 3's "
                     f"HDF5 layout) or .npz (fusegraph's own; a path without a suffix gets "
                     f".npz)")


class ModelCheckpoint(MonitorCallback):
    """Save the model (a ``.keras`` path) or its weights (``.weights.h5``, ``.npz``) after
    each epoch (Keras's callback). The suffix decides: ``save_weights_only=True`` with a
    ``.keras`` path is an error as in Keras; a weights path saves weights whatever
    ``save_weights_only`` says (Keras wants it True there).

    ``filepath`` may hold ``str.format`` fields: ``epoch`` (1-based) and any log key
    (``"ckpt-{epoch:02d}-{val_loss:.3f}.weights.npz"``); a malformed pattern (unbalanced
    braces, a positional or attribute field, a format spec a float refuses) is a
    ValueError at construction, and a field the epoch's logs lack is a KeyError naming it
    and the keys there are (Keras raises too): ``fit`` asks :meth:`check_log_keys` before
    its first step when it knows the keys its epochs will log. With ``save_best_only``, only an epoch
    whose ``monitor`` improves (``mode``: "min", "max" or "auto": max for accuracies,
    else min) is saved; a NaN never improves, and a monitor missing from the logs warns
    once, naming it and the available keys, and saves nothing (as Keras)."""

    _missing_message = ("Can save best model only with {monitor} available, skipping. "
                        "Available metrics are: {keys}")

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch"):
        super().__init__(monitor)
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint(save_freq={save_freq!r}): only 'epoch' is "
                             f"supported")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: `filepath` must be a path (a str or "
                            f"os.PathLike), got {filepath!r}")
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self._whole = self.filepath.lower().endswith(".keras")
        if self._whole and save_weights_only:
            raise ValueError(f"ModelCheckpoint({self.filepath!r}, save_weights_only=True): "
                             f"a .keras file holds a whole model; weights files end in "
                             f".weights.h5 or .npz")
        self._fields = _format_fields(self.filepath)
        if not self._whole:       # the suffix as saves will see it, fields filled in
            weights_format(self.filepath.format(**{name: 1 for name in self._fields}))
        self.save_best_only = save_best_only
        maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self._better = (lambda a, b: a > b) if maximize else (lambda a, b: a < b)
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = self.monitored(logs) if self.save_best_only else None
        if self.save_best_only and (current is None or np.isnan(current) or (
                self.best is not None and not self._better(current, self.best))):
            return
        self._check_fields(logs, f"the logs of epoch {epoch + 1} do not have")
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self._whole:
            keras_archive.save_model(self.model, path)
        else:
            save_weights(self.model, path)
        if self.save_best_only:
            self.best = current                    # only once saved: a failed save keeps it
        if self.verbose:
            written = path if self._whole or weights_format(path) == "h5" else _npz_path(path)
            distribute.say(f"Epoch {epoch + 1}: saved the "
                           f"{'model' if self._whole else 'weights'} to {written}")


    def check_log_keys(self, keys, validation: bool) -> None:
        """Before ``fit``'s first step: a KeyError if ``filepath`` names a field that the
        epoch logs, whose keys will be ``keys``, lack (``validation``: whether ``fit``
        has validation data, without which no ``val_`` key is logged)."""
        self._check_fields(keys, "the epoch logs of this fit() will not have", validation)

    def _check_fields(self, keys, why: str, validation: bool = True) -> None:
        missing = sorted(self._fields - {"epoch"} - set(keys))
        if not missing:
            return
        hint = "" if validation or not any(k.startswith("val_") for k in missing) else \
            " (val_ keys come only with validation_data or validation_split)"
        raise KeyError(f"ModelCheckpoint filepath {self.filepath!r} names {missing}, which "
                       f"{why}{hint}; they have {sorted(keys)}")


def _format_fields(filepath: str) -> set:
    """The names of the ``str.format`` fields of a ModelCheckpoint ``filepath``, checked
    by formatting it with every field a float (ValueError naming the pattern if that
    fails or a field is not a plain name)."""
    def bad(why: str) -> ValueError:
        return ValueError(f"ModelCheckpoint filepath {filepath!r}: {why}; expected a str.format "
                          f"pattern of 'epoch' and log keys, such as 'ckpt-{{epoch:02d}}.npz'")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(filepath) if name is not None}
    except ValueError as e:
        raise bad(str(e)) from None
    odd = sorted(name for name in fields if not name.isidentifier())
    if odd:
        raise bad(f"fields must be names, got {odd}")
    try:
        filepath.format(**{name: 1 if name == "epoch" else 0.5 for name in fields})
    except (ValueError, TypeError) as e:
        raise bad(str(e)) from None
    return fields
