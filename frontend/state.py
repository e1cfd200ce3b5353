"""Variable updates while tracing: how a traced step changes weights, optimizer slots,
metric totals and random-seed counters without leaving the graph.

Inside :func:`tracing_state`, ``variable.assign(symbolic_value)`` records an update
instead of changing the numpy value, and later reads of that variable in the same
trace see the new value (program order). The traced function's graph then returns the
new values as extra results, and the runtime writes them back only after the whole
step ran — a failed step changes nothing.

A layer called on symbolic tensors outside any trace (building a functional model)
records under :func:`deferring_updates` instead: updates of the layer's own weights
(BatchNormalization's moving statistics) are kept on that call's record, and the model
built from the call carries them as extra results of its graph, re-issued as
assignments wherever the model runs inside a trace (see ``Model.call``). Updates of any
other variable there are still an error: nothing would ever apply them.
"""
from __future__ import annotations

import contextlib
import contextvars

_CURRENT: contextvars.ContextVar = contextvars.ContextVar("fusegraph_state_trace", default=None)


class StateTrace:
    """The updates recorded in one trace: variable -> its latest symbolic value."""

    def __init__(self):
        self._updates: dict[int, tuple] = {}
        # Variables made during the trace (a layer created inside ``call``), held for as
        # long as the trace: the graph reads them even when nothing else keeps them.
        self.created: list = []

    def accepts(self, variable) -> bool:
        """Whether an update of ``variable`` can be recorded here."""
        return True

    def assign(self, variable, tensor) -> None:
        self._updates[id(variable)] = (variable, tensor)

    def latest(self, variable):
        """The symbolic value assigned to ``variable`` last in this trace, or None."""
        entry = self._updates.get(id(variable))
        return entry[1] if entry else None

    @property
    def updates(self) -> list[tuple]:
        """(variable, symbolic new value) pairs in first-assignment order."""
        return list(self._updates.values())


class DeferredUpdates(StateTrace):
    """The updates of one layer call traced outside any step: only the layer's own
    weights (its sub-layers' included) may be updated."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner

    def accepts(self, variable) -> bool:
        return any(variable is w for w in self.owner.weights)


def current() -> StateTrace | None:
    return _CURRENT.get()


@contextlib.contextmanager
def tracing_state():
    """Record variable updates made inside; yields the StateTrace."""
    trace = StateTrace()
    token = _CURRENT.set(trace)
    try:
        yield trace
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def deferring_updates(owner):
    """Record the updates of ``owner``'s weights made inside (a layer call outside any
    trace); yields the DeferredUpdates."""
    trace = DeferredUpdates(owner)
    token = _CURRENT.set(trace)
    try:
        yield trace
    finally:
        _CURRENT.reset(token)
