"""``fg.Input``: the symbolic tensors a functional model starts from.

The batch dimension is the symbol ``B`` (or an int given as ``batch_size``); any other
``None`` in ``shape`` becomes a symbol named after the input and axis (``title_1``).
Sizes are ints (numpy ints too). An input's name is kept as given (``model.input_names``,
dict keys); its IR parameter is named :func:`.naming.ir_name` of it.
"""
from __future__ import annotations

import re

import numpy as np

from ..ir import BATCH, Sym, TensorType, Value, as_dtype
from ..ir.builder import user_site
from .naming import check_name, ir_name, unique_name
from .tensor import CallRecord, SymbolicTensor


class InputLayer:
    """The layer-like record of an Input, listed in functional models' ``layers``."""

    trainable = False
    weights: list = []
    trainable_weights: list = []
    non_trainable_weights: list = []
    _layers: list = []

    def __init__(self, name: str, tensor_type: TensorType):
        self.name = name
        self.type = tensor_type
        self.built = True

    def count_params(self) -> int:
        return 0

    def get_weights(self) -> list:
        return []

    def __repr__(self) -> str:
        return f"<InputLayer name={self.name} type={self.type}>"


def _symbol_for(name: str, axis: int) -> Sym:
    return Sym(re.sub(r"\W", "_", f"{name}_{axis}") if re.match(r"[A-Za-z_]", name)
               else f"d_{re.sub(r'[^0-9A-Za-z_]', '_', name)}_{axis}")


def placeholder(shape, dtype, name: str, batch_size=None) -> SymbolicTensor:
    """A symbolic input of Keras ``shape`` (batch included; None = unknown size)."""
    dims = []
    for axis, d in enumerate(shape):
        if d is None:
            dims.append(BATCH if axis == 0 else _symbol_for(name, axis))
        elif isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d >= 0:
            dims.append(int(d))
        else:
            raise ValueError(f"{user_site()}: input '{name}': bad dimension {d!r} in shape "
                             f"{tuple(shape)}: expected an int >= 0 or None")
    try:
        tensor_type = TensorType(tuple(dims), as_dtype(dtype))
    except TypeError as e:
        raise TypeError(f"{user_site()}: input '{name}': `dtype`: {e}") from None
    layer = InputLayer(name, tensor_type)
    tensor = SymbolicTensor(Value(tensor_type, name=ir_name(name)), name=name)
    tensor.record = CallRecord(layer, ())
    tensor.record.outputs = (tensor,)
    return tensor


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic model input; ``shape`` excludes the batch dimension (Keras's contract).
    A shape that is not a tuple (or list) of sizes, or a name that is not a string, is a
    TypeError naming the argument; ``shape`` and ``batch_shape`` both given is a
    ValueError (they say the same thing twice)."""
    if shape is not None and batch_shape is not None:
        raise ValueError(f"{user_site()}: Input takes `shape` (without the batch dimension) "
                         f"or `batch_shape` (with it), not both: got shape={shape!r} and "
                         f"batch_shape={batch_shape!r}")
    if batch_shape is None:
        if shape is None:
            raise ValueError(f"{user_site()}: Input needs `shape` (without the batch "
                             f"dimension) or `batch_shape`")
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"{user_site()}: Input(shape=...): expected a tuple of sizes "
                            f"(ints, None for any size), got {shape!r}")
        batch_shape = (batch_size,) + tuple(shape)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{user_site()}: Input(name=...): expected a string, got {name!r}")
    check_name(f"{user_site()}: Input", name)   # no '/', as any layer's (Keras 3)
    name = name or unique_name("input_layer")
    return placeholder(batch_shape, dtype or "float32", name)
