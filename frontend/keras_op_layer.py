"""Keras 3's ops as nodes of a functional model's config.

Keras 3 writes an op called on a functional model's tensors (``keras.ops.not_equal``,
which Keras itself inserts for ``Embedding(mask_zero=True)``'s mask, or a user's
``keras.ops.concatenate``) as a layer entry whose ``module`` is ``keras.src.ops.<group>``
and ``class_name`` the op's class (``NotEqual``), with the op's constructor arguments as
its config. :class:`KerasOp` is that node here: a weightless layer calling the
``fg.ops`` function of the same name (``NotEqual`` -> ``fg.ops.not_equal``) with the
config's arguments, so such configs load, run and save again as they were.
"""
from __future__ import annotations

from . import ops
from .layer import Layer


def is_keras_op(module: str | None) -> bool:
    return bool(module) and module.startswith("keras.src.ops.")


class KerasOp(Layer):
    """``fg.ops.<op_name>(*args, **arguments, **kwargs)`` as a layer; its config is the
    Keras op's (``name`` and the op's arguments) under Keras's class and module."""

    def __init__(self, class_name: str, module: str, name=None, **arguments):
        super().__init__(name=name)
        self.op_name = _snake(class_name)
        self.function = getattr(ops, self.op_name, None)
        if self.function is None:
            raise ValueError(f"the Keras op {class_name} ({module}) has no fusegraph "
                             f"counterpart fg.ops.{self.op_name}")
        self._keras_class_name, self._keras_module = class_name, module
        self.arguments = arguments

    def call(self, *args, **kwargs):
        return self.function(*args, **self.arguments, **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, **self.arguments}

    def get_build_config(self):
        return None

    @classmethod
    def from_record(cls, record: dict) -> "KerasOp":
        """The op a config record (``module``, ``class_name``, ``config``) names."""
        return cls(record["class_name"], record["module"], **(record.get("config") or {}))


def _snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        out += ("_" if ch.isupper() and i and not name[i - 1].isupper() else "") + ch.lower()
    return out

