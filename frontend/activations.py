"""Activation lookup by Keras name (``activation="relu"``) or callable."""
from __future__ import annotations

from ..ir.builder import current_layer_path, user_site
from . import nn, ops


def linear(x):
    return x


_BY_NAME = {
    "linear": linear, "relu": nn.relu, "relu6": nn.relu6, "sigmoid": ops.sigmoid,
    "tanh": ops.tanh, "softmax": nn.softmax, "log_softmax": nn.log_softmax,
    "softplus": nn.softplus, "softsign": nn.softsign, "silu": nn.silu, "swish": nn.silu,
    "gelu": lambda x: nn.gelu(x, approximate=False), "elu": nn.elu,
    "leaky_relu": nn.leaky_relu, "hard_sigmoid": nn.hard_sigmoid, "exponential": ops.exp,
}


def name_of(fn) -> str | None:
    """The Keras name of a built-in activation function (its first name), else None."""
    for name, known in _BY_NAME.items():
        if known is fn:
            return name
    return None


def get_or_none(name: str):
    """The built-in activation of this Keras name, else None."""
    return _BY_NAME.get(name)


def get(identifier):
    """A callable activation from None, a Keras name, or a callable."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    layer = current_layer_path()
    raise ValueError(f"{user_site()}: " + (f"layer '{layer}': " if layer else "")
                     + f"unknown activation {identifier!r}: expected a callable or one of "
                     f"{sorted(_BY_NAME)}")
