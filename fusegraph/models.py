"""``fg.models``: the user-facing ``Model`` and ``Sequential`` (frontend models with the
runtime mixed in, as Keras's ``Model`` mixes in its ``Trainer``), ``load_model``,
``save_model``, ``model_from_json`` and ``clone_model`` as Keras's."""
from __future__ import annotations

import json as _json

from .frontend import model as _frontend
from .frontend import serialization as _serialization
from .frontend.model_config import clone_model
from .runtime.keras_archive import load_model, save_model
from .runtime.trainer import Trainer

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json",
           "save_model"]


class Model(Trainer, _frontend.Model):
    __doc__ = _frontend.Model.__doc__


class Sequential(Model, _frontend.Sequential):
    __doc__ = _frontend.Sequential.__doc__


_serialization.register_builtins("models", {"Functional": Model, "Model": Model,
                                            "Sequential": Sequential})


def model_from_json(json_string: str, custom_objects=None):
    """The model a ``model.to_json()`` string (ours or Keras 3's) describes, with fresh
    weights."""
    with _serialization.custom_object_scope(custom_objects or {}):
        return _serialization.deserialize_keras_object(_json.loads(json_string),
                                                       custom_objects)
