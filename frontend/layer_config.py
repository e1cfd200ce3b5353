"""Layers' configs as Keras 3 writes and reads them.

Every layer records the arguments its constructor was called with (``Layer.__new__``
keeps them, as Keras 3's auto-config does). :func:`layer_config` is Keras's
``get_config``: ``name``, ``trainable`` and ``dtype`` (as Keras's ``DTypePolicy``
record), then, for a class that does not define its own ``get_config``, every argument
of its constructor by name, defaults filled in, serialized
(:func:`.serialization.serialize_keras_object`: initializers, regularizers and
constraints as records, activations by name). Our built-in layers take Keras's
arguments, so Keras 3 builds the same layer from our configs and we from Keras's.

:func:`layer_from_config` is Keras's ``from_config``: records become objects again,
the dtype policy a dtype name, and Keras arguments our layers do not take are dropped
only when they hold Keras's value that changes nothing (:data:`KERAS_INERT`); any other
is a ValueError naming the layer class, the argument and its value.
"""
from __future__ import annotations

import inspect

from . import serialization

# Keras 3 arguments fusegraph's layers do not take, with the values at which they change
# nothing (a config holding another value asks for a feature we do not have).
KERAS_INERT = {
    "quantization_config": None, "lora_rank": None, "lora_alpha": None, "sparse": False,
    "ragged": False, "optional": False, "autocast": True, "renorm": False,
    "renorm_clipping": None, "renorm_momentum": 0.99, "use_gate": False,
    "sliding_window": None, "stateful": False, "unroll": False,
    "flash_attention": None, "synchronized": False,
    "input_dim": None, "input_length": None, "groups": 1, "rms_scaling": False,
    "data_format": "channels_last", "use_cudnn": "auto", "seed": None, "weights": None,
    "attention_axes": None,
}
# Keras arguments whose None means "none" wherever they appear (a layer of ours without
# regularizers or constraints on some weight takes a config that has none there).
INERT_SUFFIXES = ("_regularizer", "_constraint")
# Base keys every layer config has, handled by the base class.
BASE_KEYS = ("name", "trainable", "dtype")


def dtype_policy(dtype: str) -> dict:
    """Keras 3's record of a layer's dtype policy."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


def dtype_name(dtype):
    """A dtype name from a config's ``dtype``: a name, or Keras's policy record."""
    if isinstance(dtype, dict):
        name = (dtype.get("config") or {}).get("name")
        if not isinstance(name, str):
            raise ValueError(f"a dtype policy record without a name: {dtype!r}")
        return name
    return dtype


def constructor_arguments(layer) -> dict:
    """The arguments ``layer``'s constructor was called with, by parameter name, with
    the defaults of those not given; ``**kwargs`` entries at the top level."""
    args, kwargs = layer.__dict__.get("_init_args", ((), {}))
    signature = inspect.signature(type(layer).__init__)
    bound = signature.bind(layer, *args, **kwargs)
    bound.apply_defaults()
    out = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) takes "
                                 f"*{name}: its config cannot name them; define get_config")
        else:
            out[name] = value
    return out


def layer_config(layer, with_arguments: bool) -> dict:
    """``layer``'s Keras config (see the module docstring); ``with_arguments``: add its
    constructor's arguments (a class without its own ``get_config``)."""
    config = {"name": layer.name, "trainable": layer.trainable,
              "dtype": dtype_policy(layer.dtype)}
    if not with_arguments:
        return config
    for key, value in constructor_arguments(layer).items():
        if key in BASE_KEYS or key == "input_shape":
            continue
        try:
            config[key] = serialization.serialize_keras_object(value)
        except (ValueError, TypeError) as e:
            raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}): its argument "
                             f"`{key}` cannot be saved: {e}") from None
    return config


def layer_from_config(cls, config: dict):
    """A new, unbuilt layer of ``cls`` from a Keras config (see the module docstring)."""
    if not isinstance(config, dict):
        raise TypeError(f"{cls.__name__}.from_config takes a dict, got {config!r}")
    config = {key: dtype_name(value) if key == "dtype" else
              serialization.deserialize_keras_object(value) for key, value in config.items()}
    accepted = _accepted_arguments(cls)
    for key in list(config):
        if key in accepted:
            continue
        if (key in KERAS_INERT and config[key] == KERAS_INERT[key]) or (
                key.endswith(INERT_SUFFIXES) and config[key] is None):
            del config[key]
        else:
            raise ValueError(f"{cls.__name__}.from_config: fusegraph's {cls.__name__} does "
                             f"not take the argument {key}={config[key]!r}")
    return cls(**config)


def _accepted_arguments(cls) -> set:
    """The keyword arguments ``cls(...)`` takes: its constructors' named parameters up
    the class chain, as far as each passes ``**kwargs`` on."""
    accepted = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters
        accepted.update(name for name, p in parameters.items()
                        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            break
    return accepted - {"self"}
