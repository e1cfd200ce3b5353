"""Host checks on a traced function's array arguments: what a graph cannot raise on.

A graph computes; it cannot stop on a bad value. Some values are errors all the same:
a class label outside ``[0, num_classes)`` makes sparse cross-entropy's one-hot row
empty, so the sample adds 0 to the loss, silently (Keras on TF's CPU raises); an
Embedding id outside ``[0, input_dim)`` fails the lookup only once its batch runs. Code
that traces such an op declares what it needs of the tensor with
:func:`require_class_indices` or :func:`require_token_ids` (an :class:`IndexRange` each).
When that tensor is an argument of the function being traced (directly, or through
reshapes and casts, which keep its values), the :class:`~.function.Function` checks each
call's array on the host before it runs the graph: one ``min`` and one ``max`` in numpy,
nothing in the compiled step; a bad value is an :class:`IndexRangeError`. A requirement
on a tensor the graph computes has no such boundary and is not checked. A functional
model's graph is built outside any Function (and inlined into the step's trace as a
copy), so what its layers required of its ``fg.Input`` tensors is kept for
:func:`declared`, which the training loops check on the model's input arrays.

``describing(owner)`` names whose labels are checked (``"output 'out'"``) for the
class-label requirements made inside it, so that a failure names the model output, not
only the loss.
"""
from __future__ import annotations

import contextlib
import contextvars
import weakref

import numpy as np

from ..ir.errors import FusegraphError

_FOUND: contextvars.ContextVar = contextvars.ContextVar("fusegraph_guards", default=None)
_OWNER: contextvars.ContextVar = contextvars.ContextVar("fusegraph_guard_owner", default=None)
# every requirement made on a value, traced or not: a model's Input keeps those of the
# layers called on it when the model was built (see declared())
_DECLARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# ops whose result holds the values of their operand 0 (so a check on it can be done on
# the operand), for integer or float labels alike
_VALUE_KEEPING = ("reshape", "cast")


class IndexRangeError(FusegraphError, ValueError):
    """A value outside the index range a requirement declares (a class label, a token
    id); ``argument`` (its label, such as ``y['out']`` or ``x['title']``), ``index`` (its
    position in that array), ``value``, and ``guard``, the requirement."""

    def __init__(self, where: str, argument: str, index: tuple, value, guard: "IndexRange"):
        self.where, self.argument, self.index, self.value = where, argument, index, value
        self.guard = guard
        super().__init__(self._message())

    def _message(self) -> str:
        position = ", ".join(str(i) for i in self.index)
        return (f"{self.where}: {self.argument}[{position}] is {self.value}, not "
                f"{self.guard.noun}: {self.guard.needs}")

    def located(self, where: str) -> "IndexRangeError":
        """The same error said from ``where`` (the caller's context: a method, a batch)."""
        return IndexRangeError(where, self.argument, self.index, self.value, self.guard)


class IndexRange:
    """Values must be indices in ``[0, limit)``: integers there, or floats that truncate
    into it (as the graph's cast does); NaN never is one. ``kind`` says what the indices
    are (one check per argument and kind and limit), ``noun`` what a good value is
    (``"a class index of output 'o'"``) and ``needs`` who takes which range, for the
    error."""

    def __init__(self, limit: int, kind: str, noun: str, needs: str):
        self.limit, self.kind, self.noun, self.needs = int(limit), kind, noun, needs

    @property
    def key(self) -> tuple:
        """Requirements with the same key check the same thing."""
        return (self.kind, self.limit)

    def check(self, array, argument: str, where: str) -> None:
        """Raise :class:`IndexRangeError` for the first bad value of ``array``."""
        array = np.asarray(array)
        if array.size == 0:
            return
        low, high = array.min(), array.max()
        if array.dtype.kind == "f":
            ok = low > -1 and high < self.limit   # NaN compares False: not ok
        else:
            ok = low >= 0 and high < self.limit
        if ok:
            return
        bad = ~((array > -1) & (array < self.limit)) if array.dtype.kind == "f" else \
            (array < 0) | (array >= self.limit)
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise IndexRangeError(where, argument, index, array[index].item(), self)


class ClassIndices(IndexRange):
    """Class labels of ``owner`` (``"output 'o'"``) that ``what`` (a loss, a metric)
    takes in ``[0, num_classes)``."""

    def __init__(self, num_classes: int, what: str, owner: str):
        super().__init__(num_classes, "class index", f"a class index of {owner}",
                         f"{what} takes labels in [0, {num_classes}) for its {num_classes} "
                         f"classes (an out-of-range label would add 0 to the loss)")

    @property
    def num_classes(self) -> int:
        return self.limit


class TokenIds(IndexRange):
    """Ids that ``layer`` (an Embedding of ``input_dim`` rows) looks up."""

    def __init__(self, input_dim: int, layer: str):
        super().__init__(input_dim, "token id", f"a token id of {layer}",
                         f"its ids pick rows of a table of input_dim={input_dim} rows, so "
                         f"they lie in [0, {input_dim})")


def _source(value):
    """The value ``value`` was made from through value-keeping ops (itself if none)."""
    while value.producer is not None and value.producer.kind in _VALUE_KEEPING:
        value = value.producer.operands[0]
    return value


def require_class_indices(labels, num_classes: int, what: str) -> None:
    """Declare that the symbolic tensor ``labels`` must hold class indices in
    ``[0, num_classes)`` (``what``: who needs them, e.g. the loss's name; whose labels
    they are: see ``describing``). Recorded only while a Function traces (see the
    module); a no-op otherwise."""
    _require(labels, lambda: ClassIndices(int(num_classes), what, _OWNER.get() or "the labels"))


def require_token_ids(ids, layer) -> None:
    """Declare that the symbolic tensor ``ids`` must hold ids in ``[0, input_dim)`` for
    ``layer`` (an Embedding: its ``input_dim`` and ``name``) to look up. Recorded while a
    Function traces, and for :func:`declared` (see the module)."""
    _require(ids, lambda: TokenIds(layer.input_dim, f"Embedding '{layer.name}'"), layer)


def _require(tensor, guard, origin=None) -> None:
    """Record ``guard()`` on ``tensor``'s source: for the Function tracing now, and for
    :func:`declared` as made by ``origin`` (a layer)."""
    source, made = _source(tensor.value), guard()
    kept = _DECLARED.setdefault(source, [])
    if all(o is not origin or g.key != made.key for o, g in kept):
        kept.append((origin, made))
    found = _FOUND.get()
    if found is not None:
        found.append((source, made))


def declared(tensor, origins) -> list:
    """The requirements that the layers ``origins`` (a model's, by identity) made on the
    symbolic ``tensor``'s values, traced or not (one per kind and limit): for a model's
    ``fg.Input``, those of its layers called on it when the model was built (an
    Embedding's ids), which a caller checks on the input's arrays, as a Function checks
    its arguments. Another model's layers on the same Input are not among them."""
    ids, keys, guards = {id(o) for o in origins}, set(), []
    for origin, guard in _DECLARED.get(tensor.value, ()):
        if id(origin) in ids and guard.key not in keys:
            keys.add(guard.key)
            guards.append(guard)
    return guards


@contextlib.contextmanager
def _setting(variable: contextvars.ContextVar, value):
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


def collecting():
    """Collect the requirements made inside; yields the list of ``(value, guard)``."""
    return _setting(_FOUND, [])


def describing(owner: str):
    """Requirements made inside are on the labels of ``owner`` (``"output 'out'"``)."""
    return _setting(_OWNER, owner)
