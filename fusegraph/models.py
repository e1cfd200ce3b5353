"""The user-facing ``Model`` and ``Sequential``: frontend models with the runtime mixed in
(as Keras's ``Model`` mixes in its ``Trainer``)."""
from __future__ import annotations

from .frontend import model as _frontend
from .frontend import serialization as _serialization
from .runtime.trainer import Trainer


class Model(Trainer, _frontend.Model):
    __doc__ = _frontend.Model.__doc__


class Sequential(Model, _frontend.Sequential):
    __doc__ = _frontend.Sequential.__doc__


_serialization.register_builtins("models", {"Functional": Model, "Model": Model,
                                            "Sequential": Sequential})
