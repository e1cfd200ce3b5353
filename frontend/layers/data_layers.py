"""The base of preprocessing layers that run on data before the graph (Hashing, the
lookups, TextVectorization), and what they share: Keras's categorical encodings on
numpy arrays and the walk over ``adapt``'s data.

Such a layer takes Python strings, lists or numpy arrays (strings or numbers) and
returns numpy arrays at once; it never becomes part of a traced graph. A model's graph
starts after it, as a Keras user puts these layers in a ``tf.data`` pipeline:
``dataset.map(lambda x, y: (vectorize(x), y))`` with :class:`fg.data.Dataset`, or
``model.fit(vectorize(texts), y)``. Called on a symbolic tensor (an ``fg.Input``, a
layer's output), it raises a TypeError saying so.
"""
from __future__ import annotations

import numpy as np

from ...ir.builder import user_site
from ..checks import check_bool
from ..layer import Layer
from ..nest import flatten
from ..tensor import is_symbolic

ENCODINGS = ("int", "one_hot", "multi_hot", "count")


class DataLayer(Layer):
    """A layer applied to data outside the graph: ``layer(data)`` returns ``call(array)``
    of ``data`` as a numpy array (see the module docstring)."""

    def __call__(self, inputs, **kwargs):
        self._require_init()
        if any(is_symbolic(t) for t in flatten((inputs, kwargs))):
            raise TypeError(
                f"{user_site()}: layer '{self.name}' ({type(self).__name__}) runs on data "
                f"before the model's graph (Python strings or numpy arrays in, numpy arrays "
                f"out), not on a symbolic tensor: apply it to the data, e.g. "
                f"dataset.map(lambda x, y: (layer(x), y)) or model.fit(layer(x), y), and "
                f"start the model at its output")
        if kwargs:
            raise TypeError(f"{user_site()}: layer '{self.name}' ({type(self).__name__}) "
                            f"takes only its input, got {sorted(kwargs)}")
        return self.call(as_data_array(inputs, self))


def as_data_array(data, layer) -> np.ndarray:
    """``data`` (a string, a number, a list, a numpy array, an eager tensor) as a numpy
    array; bytes are decoded as UTF-8 and Python strings give a str array."""
    try:
        array = np.asarray(data)
    except ValueError as e:        # a ragged list
        raise ValueError(f"{user_site()}: layer '{layer.name}' ({type(layer).__name__}): its "
                         f"input must be rectangular (a string, a list of them, an array), "
                         f"got {data!r}: {e}") from None
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8")
    elif array.dtype.kind == "O" and array.size and all(
            isinstance(v, (str, bytes)) for v in array.flat):
        array = np.array([v.decode("utf-8") if isinstance(v, bytes) else v
                          for v in array.flat], dtype=str).reshape(array.shape)
    return array


def check_choice(owner: str, key: str, value, allowed) -> str:
    """``value`` when it is one of ``allowed``, else a ValueError naming ``owner``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{owner}: `{key}` must be one of "
                         f"{', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


def check_not_sparse(owner: str, sparse) -> None:
    """fusegraph has dense arrays only: ``sparse=True`` is refused (Keras allows it with
    the TensorFlow backend alone)."""
    check_bool(owner, "sparse", sparse)
    if sparse:
        raise ValueError(f"{owner}: `sparse=True` is not supported (fusegraph outputs dense "
                         f"arrays; Keras allows it with the TensorFlow backend only)")


def encode(ids: np.ndarray, mode: str, depth: int, dtype) -> np.ndarray:
    """Keras's categorical encodings of int ``ids`` with ``depth`` classes, as ``dtype``:
    "int" (the ids), "one_hot" (a trailing axis of ``depth``; a last axis of 1 is
    replaced), "multi_hot" and "count" (the last axis of a rank-2 input, or the whole
    of a rank-1 one, folded into ``depth`` presences or counts). Ids outside [0, depth)
    (a mask) encode to nothing."""
    if mode == "int":
        return ids.astype(dtype)
    if ids.ndim == 0:
        ids = ids[None]
    if mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids[..., 0]
        return (ids[..., None] == np.arange(depth)).astype(dtype)
    if ids.ndim > 2:
        raise ValueError(f"{user_site()}: output_mode={mode!r} takes a rank-1 or rank-2 "
                         f"input (one sample, or a batch of samples), got shape {ids.shape}")
    hot = ids[..., None] == np.arange(depth)
    folded = hot.any(axis=-2) if mode == "multi_hot" else hot.sum(axis=-2)
    return folded.astype(dtype)


def adapt_batches(data, owner: str, listed: bool = False):
    """The batches ``adapt`` walks (Keras's rules): a numpy array or a string is one
    batch, and so is a list or tuple unless ``listed`` (Normalization's rule: then it
    holds batches); any other iterable (a :class:`fg.data.Dataset`, a generator) yields
    batches, of which a ``(x, y)`` tuple gives its ``x``. A ValueError names ``owner``
    when there is no data."""
    single = (np.ndarray, str, bytes) if listed else (np.ndarray, list, tuple, str, bytes)
    if isinstance(data, single) or not hasattr(data, "__iter__"):
        batches = [data]
    else:
        batches = (batch[0] if isinstance(batch, tuple) else batch for batch in data)
    count = 0
    for batch in batches:
        count += 1
        yield batch
    if not count:
        raise ValueError(f"{owner}: adapt() received no data (an empty iterable); pass an "
                         f"array or a batched dataset")
