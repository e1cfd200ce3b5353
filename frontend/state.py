"""Variable updates while tracing: how a traced step changes weights, optimizer slots,
metric totals and random-seed counters without leaving the graph.

Inside :func:`tracing_state`, ``variable.assign(symbolic_value)`` records an update
instead of changing the numpy value, and later reads of that variable in the same
trace see the new value (program order). The traced function's graph then returns the
new values as extra results, and the runtime writes them back only after the whole
step ran — a failed step changes nothing.
"""
from __future__ import annotations

import contextlib
import contextvars

_CURRENT: contextvars.ContextVar = contextvars.ContextVar("fusegraph_state_trace", default=None)


class StateTrace:
    """The updates recorded in one trace: variable -> its latest symbolic value."""

    def __init__(self):
        self._updates: dict[int, tuple] = {}

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
