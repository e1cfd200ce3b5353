"""Keras 3's ops as nodes of a functional model's config.

Keras 3 writes an op called on a functional model's tensors (``keras.ops.not_equal``,
which Keras itself inserts for ``Embedding(mask_zero=True)``'s mask, or a user's
``keras.ops.concatenate``) as a layer entry whose ``module`` is ``keras.src.ops.<group>``
and ``class_name`` the op's class (``NotEqual``), with the op's constructor arguments as
its config. :class:`KerasOp` is that node here: a weightless layer calling the public
``fg.ops`` function of the same name (``NotEqual`` -> ``fg.ops.not_equal``; Keras's
``GetItem`` -> ``fg.ops.getitem``) with the config's arguments, so such configs load,
run and save again as they were. Only ``fg.ops``'s public functions can be named.
"""
from __future__ import annotations

import inspect

from . import serialization
from .layer import Layer
from .naming import to_snake_case
from .ops_shape import getitem

# Keras op classes with no fg.ops function of their name: x[key]
_SPECIAL = {"GetItem": ("getitem", getitem)}


def is_keras_op(module: str | None) -> bool:
    return bool(module) and module.startswith("keras.src.ops.")


class KerasOp(Layer):
    """``fg.ops.<op_name>(*args, **arguments, **kwargs)`` as a layer; its config is the
    Keras op's (``name`` and the op's arguments) under Keras's class and module."""

    def __init__(self, class_name: str, module: str, name=None, **arguments):
        super().__init__(name=name)
        self.op_name, self.function = _SPECIAL.get(class_name) or (
            to_snake_case(class_name), _public_ops().get(to_snake_case(class_name)))
        if self.function is None:
            raise ValueError(f"the Keras op {class_name} ({module}) has no fusegraph "
                             f"counterpart fg.ops.{self.op_name}")
        self._keras_class_name, self._keras_module = class_name, module
        self.arguments = {k: serialization.deserialize_keras_object(v)
                          for k, v in arguments.items()}

    def call(self, *args, **kwargs):
        if self.op_name == "getitem" and isinstance(args[1], list):
            args = (args[0], tuple(args[1]))         # JSON keeps Keras's index tuple as a list
        return self.function(*args, **self.arguments, **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, **serialization.serialize_keras_object(self.arguments)}

    def get_build_config(self):
        return None

    @classmethod
    def from_record(cls, record: dict) -> "KerasOp":
        """The op a config record (``module``, ``class_name``, ``config``) names."""
        return cls(record["class_name"], record["module"], **(record.get("config") or {}))


def _public_ops() -> dict:
    """``fg.ops``'s public functions by name (what a file may name)."""
    import fusegraph.ops as public
    return {name: fn for name, fn in vars(public).items()
            if not name.startswith("_") and inspect.isfunction(fn)}

