"""Whole models in Keras 3's ``.keras`` format, and ``.weights.h5`` weight files.

A ``.keras`` file is a zip of ``metadata.json`` (the Keras format version written, the
date, fusegraph's version), ``config.json`` (the model's serialized record,
:mod:`fusegraph.frontend.serialization`, with its ``build_config`` and, when compiled,
its ``compile_config``: optimizer, loss, loss weights and metrics) and
``model.weights.h5`` (the weights and the optimizer's variables in Keras 3's HDF5 layout,
:mod:`.keras_weights`). Keras 3 loads the files written here and we load Keras 3's.

Loading never runs code from the file: JSON and HDF5 only (no pickle), classes looked up
by name among fusegraph's and the user's registered or given ``custom_objects``, and a
Lambda's bytecode refused unless ``safe_mode=False``. Saves are atomic
(:func:`.atomic_file.write_atomically`): a failed save leaves the previous file intact.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import zipfile

from ..frontend import losses, metrics, model_config, serialization
from . import distribute, keras_weights
from .atomic_file import write_atomically

# The Keras release whose file layout is written (Keras reads metadata.json's
# keras_version to know the layout).
KERAS_FORMAT_VERSION = "3.15.1"
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


def _h5py():
    import h5py     # a dependency; imported here so that `import fusegraph` stays light
    return h5py


# --- .weights.h5 ------------------------------------------------------------------------------
def save_weights_h5(model, filepath: str) -> None:
    """Write ``model``'s weights (and its optimizer's variables once built) to
    ``filepath`` in Keras 3's ``.weights.h5`` layout, atomically."""
    if not distribute.is_writer():
        return
    os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
    data = _weights_bytes(model)
    write_atomically(filepath, lambda f: f.write(data))


def load_weights_h5(model, filepath: str) -> None:
    """Assign the weights of the ``.weights.h5`` file ``filepath`` (written by Keras 3
    or fusegraph) to ``model``; everything is checked first (:func:`.keras_weights.
    read_into`)."""
    _require_file(filepath)
    with _h5py().File(filepath, "r") as h5:
        keras_weights.read_into(h5, model, filepath)


def _weights_bytes(model) -> bytes:
    buffer = io.BytesIO()
    with _h5py().File(buffer, "w") as h5:
        keras_weights.write(h5, model)
    return buffer.getvalue()


# --- .keras -----------------------------------------------------------------------------------
def save_model(model, filepath: str) -> None:
    """Write ``model`` whole to the ``.keras`` file ``filepath``, atomically. A model
    whose config cannot be written (an unregistered custom class, a lambda, a plain op
    between layers) is an error before anything is written."""
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"{filepath}: model.save writes Keras's .keras format: end the "
                         f"path with .keras (save_weights writes .weights.h5 or .npz)")
    config = serialization.serialize_keras_object(model)
    build = model.get_build_config() if not model._graph_network else None
    config["build_config"] = build if build is not None else {"input_shape": None}
    compiled = compile_config(model)
    if compiled is not None:
        config["compile_config"] = compiled
    from .. import __version__
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "fusegraph_version": __version__,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = _weights_bytes(model)
    if not distribute.is_writer():
        return
    os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr(METADATA, json.dumps(metadata))
            archive.writestr(CONFIG, json.dumps(config))
            archive.writestr(WEIGHTS, weights)
    write_atomically(filepath, write)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model saved whole in the ``.keras`` file ``filepath`` (by Keras 3 or
    fusegraph): made from its config, built, its weights assigned, and, with
    ``compile``, compiled as it was (the optimizer's state restored)."""
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"{filepath}: load_model reads Keras's .keras files; a weights "
                         f"file (.weights.h5, .npz) loads into a model with load_weights")
    _require_file(filepath)
    try:
        with zipfile.ZipFile(filepath) as archive:
            config = json.loads(archive.read(CONFIG))
            ours = "fusegraph_version" in json.loads(archive.read(METADATA)) \
                if METADATA in archive.namelist() else False
            weights = archive.read(WEIGHTS) if WEIGHTS in archive.namelist() else None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{filepath}: not a .keras file ({e}): expected a zip holding "
                         f"{CONFIG} and {WEIGHTS}") from None
    try:
        with serialization.custom_object_scope(custom_objects or {}), \
                serialization.safe_mode_scope(safe_mode), model_config.calls_keep_training(ours):
            model = serialization.deserialize_keras_object(config, custom_objects)
            build = config.get("build_config")
            if build and not model.built:
                model.build_from_config(build)
            compiled = config.get("compile_config")
            if compile and compiled:
                compile_from_config(model, compiled)
    except (ValueError, TypeError, KeyError) as e:      # which file the config came from
        raise type(e)(f"{filepath}: {config.get('class_name', 'a model')} "
                      f"{(config.get('config') or {}).get('name', '')!r}: {e}") from None
    if weights is not None:
        with _h5py().File(io.BytesIO(weights), "r") as h5:
            keras_weights.read_into(h5, model, filepath, with_optimizer=compile)
    return model


def load_archive_weights(model, filepath: str) -> None:
    """Assign the weights inside the ``.keras`` file ``filepath`` to ``model`` (Keras's
    ``load_weights`` on a ``.keras`` path)."""
    _require_file(filepath)
    try:
        with zipfile.ZipFile(filepath) as archive:
            weights = archive.read(WEIGHTS)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{filepath}: not a .keras file ({e}): expected a zip holding "
                         f"{WEIGHTS}") from None
    with _h5py().File(io.BytesIO(weights), "r") as h5:
        keras_weights.read_into(h5, model, filepath)


def _require_file(filepath: str) -> None:
    if os.path.isdir(filepath):
        raise IsADirectoryError(f"{filepath} is a folder, not a model or weights file")
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"{filepath}: no such file")


# --- compile config ----------------------------------------------------------------------------
def compile_config(model) -> dict | None:
    """Keras's ``compile_config`` of a compiled model, else None."""
    args = getattr(model, "_compile_args", None)
    if args is None or getattr(model, "optimizer", None) is None:
        return None
    loss, loss_weights, metrics = args
    return {"optimizer": serialization.serialize_keras_object(model.optimizer),
            "loss": _named(loss), "loss_weights": serialization.serialize_keras_object(
                loss_weights),
            "metrics": _named(metrics), "weighted_metrics": None, "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}


def _named(obj):
    """Losses and metrics as configs: names stay names, fusegraph's loss and metric
    functions by their names (as Keras writes its own), other functions as Keras's
    function records (registered ones load by name; a lambda is refused here, before
    anything is written), objects as their records."""
    if isinstance(obj, (list, tuple)):
        return [_named(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _named(v) for k, v in obj.items()}
    if callable(obj) and not hasattr(obj, "get_config"):
        name = getattr(obj, "__name__", "")
        if any(getattr(module, name, None) is obj for module in (losses, metrics)):
            return name
    return serialization.serialize_keras_object(obj)


def compile_from_config(model, config: dict) -> None:
    """Compile ``model`` as ``config`` (Keras's ``compile_config``) says; records become
    objects (functions through the registry and the ``custom_objects`` in scope)."""
    def restore(x):
        if isinstance(x, dict) and "class_name" in x:
            return serialization.deserialize_keras_object(x)
        if isinstance(x, str) and serialization.get_registered_object(x) is not None:
            return serialization.get_registered_object(x)
        if isinstance(x, dict):
            return {k: restore(v) for k, v in x.items()}
        if isinstance(x, list):
            return [restore(v) for v in x]
        return x
    model.compile(optimizer=restore(config.get("optimizer", "rmsprop")),
                  loss=restore(config.get("loss")),
                  loss_weights=restore(config.get("loss_weights")),
                  metrics=restore(config.get("metrics")))
