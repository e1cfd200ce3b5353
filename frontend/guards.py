"""Host checks on a traced function's array arguments: what a graph cannot raise on.

A graph computes; it cannot stop on a bad value. Some values are errors all the same:
a class label outside ``[0, num_classes)`` makes sparse cross-entropy's one-hot row
empty, so the sample adds 0 to the loss, silently (Keras on TF's CPU raises). Code that
traces such an op declares what it needs of the tensor with :func:`require_class_indices`.
When that tensor is an argument of the function being traced (directly, or through
reshapes and casts, which keep its values), the :class:`~.function.Function` checks each
call's array on the host before it runs the graph: one ``min`` and one ``max`` in numpy,
nothing in the compiled step. A requirement on a tensor the graph computes has no such
boundary and is not checked.

``describing(owner)`` names whose labels are checked (``"output 'out'"``) for the
requirements made inside it, so that a failure names the model output, not only the loss.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from ..ir.errors import FusegraphError

_FOUND: contextvars.ContextVar = contextvars.ContextVar("fusegraph_guards", default=None)
_OWNER: contextvars.ContextVar = contextvars.ContextVar("fusegraph_guard_owner", default=None)

# ops whose result holds the values of their operand 0 (so a check on it can be done on
# the operand), for integer or float labels alike
_VALUE_KEEPING = ("reshape", "cast")


class LabelRangeError(FusegraphError, ValueError):
    """A class label outside ``[0, num_classes)``; ``argument`` (its label, such as
    ``y['out']``), ``index`` (its position in that array), ``value``, ``num_classes``."""

    def __init__(self, where: str, argument: str, index: tuple, value, guard: "ClassIndices"):
        self.where, self.argument, self.index, self.value = where, argument, index, value
        self.guard = guard
        super().__init__(self._message())

    def _message(self) -> str:
        g = self.guard
        position = ", ".join(str(i) for i in self.index)
        return (f"{self.where}: {self.argument}[{position}] is {self.value}, not a class index "
                f"of {g.owner}: {g.what} takes labels in [0, {g.num_classes}) for its "
                f"{g.num_classes} classes (an out-of-range label would add 0 to the loss)")

    def located(self, where: str) -> "LabelRangeError":
        """The same error said from ``where`` (the caller's context: a method, a batch)."""
        return LabelRangeError(where, self.argument, self.index, self.value, self.guard)


class ClassIndices:
    """Values must be class indices in ``[0, num_classes)``: integers there, or floats
    that truncate into it (as the graph's cast does); NaN never is one."""

    def __init__(self, num_classes: int, what: str, owner: str):
        self.num_classes, self.what, self.owner = num_classes, what, owner

    def check(self, array, argument: str, where: str) -> None:
        """Raise :class:`LabelRangeError` for the first bad value of ``array``."""
        array = np.asarray(array)
        if array.size == 0:
            return
        low, high = array.min(), array.max()
        if array.dtype.kind == "f":
            ok = low > -1 and high < self.num_classes   # NaN compares False: not ok
        else:
            ok = low >= 0 and high < self.num_classes
        if ok:
            return
        bad = ~((array > -1) & (array < self.num_classes)) if array.dtype.kind == "f" else \
            (array < 0) | (array >= self.num_classes)
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise LabelRangeError(where, argument, index, array[index].item(), self)


def _source(value):
    """The value ``value`` was made from through value-keeping ops (itself if none)."""
    while value.producer is not None and value.producer.kind in _VALUE_KEEPING:
        value = value.producer.operands[0]
    return value


def require_class_indices(labels, num_classes: int, what: str) -> None:
    """Declare that the symbolic tensor ``labels`` must hold class indices in
    ``[0, num_classes)`` (``what``: who needs them, e.g. the loss's name). Recorded only
    while a Function traces (see the module); a no-op otherwise."""
    found = _FOUND.get()
    if found is not None:
        owner = _OWNER.get() or "the labels"
        found.append((_source(labels.value), ClassIndices(int(num_classes), what, owner)))


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
