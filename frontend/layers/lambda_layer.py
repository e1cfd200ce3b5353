"""Lambda: a layer that calls a Python function on its inputs (Keras's ``layers.Lambda``).

Its config holds the function as Keras 3 writes it: a ``def`` function by its registered
name (:func:`~fusegraph.frontend.serialization.register_keras_serializable`, or
``custom_objects`` when loading), a ``lambda`` as Keras's ``__lambda__`` record of its
Python bytecode, which loading refuses unless ``safe_mode=False`` (the file's code would
run). The output shape is what the traced function gives (``output_shape`` is accepted
for Keras's configs and checked against it when given).
"""
from __future__ import annotations

import inspect

from ...ir.builder import user_site
from .. import serialization
from ..layer import Layer
from ..layer_config import layer_config
from ..nest import flatten


class Lambda(Layer):
    """``function(inputs, **arguments)`` as a layer (no weights)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{user_site()}: Lambda takes a callable, got {function!r}")
        if mask is not None and not callable(mask):
            raise TypeError(f"{user_site()}: Lambda's `mask` must be None or a callable "
                            f"(inputs, mask) -> mask, got {mask!r}")
        self.function, self.output_shape = function, output_shape
        self.mask, self.arguments = mask, dict(arguments or {})
        self.supports_masking = mask is not None
        self._takes_mask = "mask" in inspect.signature(function).parameters
        self._takes_training = "training" in inspect.signature(function).parameters

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._takes_mask:
            kwargs["mask"] = mask
        if self._takes_training:
            kwargs["training"] = training
        outputs = self.function(inputs, **kwargs)
        if self.output_shape is not None and not callable(self.output_shape):
            got = tuple(flatten(outputs)[0].shape[1:])
            want = tuple(self.output_shape)
            if len(got) != len(want) or any(w is not None and g is not None and w != g
                                             for g, w in zip(got, want)):
                raise ValueError(f"{user_site()}: layer '{self.name}' (Lambda): "
                                 f"output_shape={want} but the function returned shape "
                                 f"(batch,) + {got}")
        return outputs

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if self.mask is not None else None

    def get_config(self) -> dict:
        config = layer_config(self, with_arguments=False)
        config["function"] = _function_record(self.function)
        config["arguments"] = serialization.serialize_keras_object(self.arguments)
        if self.output_shape is not None:
            config["output_shape"] = _function_record(self.output_shape) \
                if callable(self.output_shape) else list(self.output_shape)
        if self.mask is not None:
            config["mask"] = _function_record(self.mask)
        return config


def _function_record(fn):
    """A ``def`` function by name (registered, or a built-in activation); a lambda (or a
    nested function) as its bytecode, as Keras writes it."""
    if getattr(fn, "__name__", "<lambda>") == "<lambda>" or "<locals>" in getattr(
            fn, "__qualname__", ""):
        return serialization.dump_function(fn)
    return serialization.serialize_keras_object(fn)
