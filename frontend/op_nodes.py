"""Plain ops between a functional model's layers as Keras 3's op nodes in its config.

``x * 2.0`` or ``fg.ops.mean(h, axis=1)`` on a functional model's tensors are IR ops with
no layer. Keras 3 writes such calls as nodes of its op classes (``keras.src.ops.numpy``
``Multiply``, ``Mean`` with ``axis``, ...), whose arguments split into the op's
constructor arguments (its config) and its call's operands. :class:`OpNodes` writes each
IR op between the layers as that node (:data:`KINDS`), its operands as the histories of
the layer calls, inputs or other op nodes that make them, constants as numbers or
arrays; :class:`~.keras_op_layer.KerasOp` reads them back. An op no Keras class names
here (or a reshape to a shape with two unknown sizes) is a ValueError naming it.
"""
from __future__ import annotations

import numpy as np

from ..ir import Sym
from ..ir.builder import user_site
from .naming import to_snake_case

NUMPY, NN, MATH = "keras.src.ops.numpy", "keras.src.ops.nn", "keras.src.ops.math"

_BINARY = {"add": "Add", "sub": "Subtract", "mul": "Multiply", "div": "Divide",
           "maximum": "Maximum", "minimum": "Minimum", "pow": "Power", "gt": "Greater",
           "ge": "GreaterEqual", "lt": "Less", "le": "LessEqual", "eq": "Equal",
           "ne": "NotEqual", "and": "LogicalAnd", "or": "LogicalOr", "matmul": "Matmul"}
_UNARY = {"exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Absolute", "neg": "Negative",
          "tanh": "Tanh", "sin": "Sin", "cos": "Cos", "floor": "Floor", "sign": "Sign",
          "not": "LogicalNot", "log1p": "Log1p"}
_REDUCTIONS = {"reduce_sum": "Sum", "reduce_mean": "Mean", "reduce_max": "Max",
               "reduce_min": "Min"}


def _reduction(op) -> dict:
    return {"axis": list(op.attrs["axes"]), "keepdims": bool(op.attrs["keepdims"])}


def _reshape(op) -> dict:
    shape = list(op.attrs["shape"])
    unknown = [i for i, d in enumerate(shape) if isinstance(d, Sym)]
    if len(unknown) > 1:
        raise ValueError(f"a reshape to {shape} (two unknown sizes) has no Keras op node")
    return {"newshape": [-1 if isinstance(d, Sym) else int(d) for d in shape]}


def _slice_key(op) -> list:
    """A slice op's ``attrs`` as Keras's GetItem key: one slice per axis up to the last
    sliced one."""
    axes = list(op.attrs["axes"])
    key = [slice(None)] * (max(axes) + 1)
    for axis, begin, end, stride in zip(axes, op.attrs["begin"], op.attrs["end"],
                                        op.attrs["stride"]):
        key[axis] = slice(int(begin), int(end), int(stride))
    return key


# IR kind -> (Keras class, module, config from the op, extra call arguments from the op)
KINDS = {
    **{kind: (name, NUMPY, None, None) for kind, name in _BINARY.items()},
    **{kind: (name, NUMPY, None, None) for kind, name in _UNARY.items()},
    **{kind: (name, NUMPY, _reduction, None) for kind, name in _REDUCTIONS.items()},
    "sigmoid": ("Sigmoid", NN, None, None),
    "erf": ("Erf", MATH, None, None),
    "rsqrt": ("Rsqrt", MATH, None, None),
    "where": ("Where", NUMPY, None, None),
    "reshape": ("Reshape", NUMPY, _reshape, None),
    "transpose": ("Transpose", NUMPY, lambda op: {"axes": list(op.attrs["perm"])}, None),
    "concatenate": ("Concatenate", NUMPY, lambda op: {"axis": int(op.attrs["axis"])}, None),
    "cast": ("Cast", NUMPY, lambda op: {"dtype": op.results[0].type.dtype.keras_name}, None),
    "softmax": ("Softmax", NN, lambda op: {"axis": int(op.attrs["axes"][0])}
                if len(op.attrs["axes"]) == 1 else None, None),
    "slice": ("GetItem", NUMPY, None, _slice_key),
}


class OpNodes:
    """The op nodes of one functional config. ``known``: IR value id -> the
    ``[layer, node, tensor]`` history of the layer call or input that makes it;
    ``taken``: names already used (the model's layers). :meth:`history` writes the node
    of a value (and of the ops it reads) once; :attr:`entries` are the written nodes, in
    an order where each one's operands come first."""

    def __init__(self, model_name: str, known: dict, taken):
        self.model_name, self.known = model_name, dict(known)
        self.taken, self.entries = set(taken), []

    def history(self, value) -> list:
        if id(value) in self.known:
            return self.known[id(value)]
        op = value.producer
        spec = KINDS.get(op.kind) if op is not None and len(op.results) == 1 else None
        config = spec[2](op) if spec is not None and spec[2] is not None else {}
        if spec is None or config is None:
            what = f"the op '{op.kind}'" if op is not None else "a value"
            raise ValueError(
                f"{user_site()}: model '{self.model_name}' cannot be saved as a config: "
                f"{what} was called on its tensors outside any layer, and no Keras op node "
                f"writes it; do it inside a layer (a merge layer such as fg.layers.Add, "
                f"fg.layers.Lambda, or a Layer subclass), or save the weights only "
                f"(save_weights)")
        class_name, module, _, extra = spec
        args = [self._operand(v) for v in op.operands]
        if op.kind == "concatenate":
            args = [args]
        if extra is not None:
            args.append(extra(op))
        name = self._name(to_snake_case(class_name))
        self.entries.append({
            "module": module, "class_name": class_name, "config": {"name": name, **config},
            "registered_name": class_name, "name": name,
            "inbound_nodes": [{"args": args, "kwargs": {}}]})
        self.known[id(value)] = [name, 0, 0]
        return self.known[id(value)]

    def _operand(self, value):
        """An operand as a node argument: a constant's value, else a tensor record."""
        op = value.producer
        if op is not None and op.kind == "constant":
            constant = np.asarray(op.attrs["value"])
            return constant.item() if constant.ndim == 0 else constant
        return {"class_name": "__keras_tensor__",
                "config": {"shape": [None if isinstance(d, Sym) else d
                                     for d in value.type.shape],
                           "dtype": value.type.dtype.keras_name,
                           "keras_history": self.history(value)}}

    def _name(self, base: str) -> str:
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name
