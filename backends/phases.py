"""How long each phase of making a graph runnable took: ``trace``, ``passes``, ``codegen``
(recorded by the code that does each) for the compile report of the Executable those
phases lead to (:mod:`fusegraph.backends.numba.compile_report`, which takes them).

Numba-free, so that the frontend and the pass pipeline record their phases without
loading a backend. Phases add up until a report takes them: a report shows what was
recorded since the previous report took its own.
"""
from __future__ import annotations

import contextlib
import threading
import time

_PENDING: dict[str, float] = {}     # phase -> seconds recorded since a report took them
_PENDING_LOCK = threading.Lock()


def record(name: str, seconds: float) -> None:
    """Add ``seconds`` to phase ``name`` of the compile in progress."""
    with _PENDING_LOCK:
        _PENDING[name] = _PENDING.get(name, 0.0) + seconds


@contextlib.contextmanager
def phase(name: str):
    """Time the block as (part of) phase ``name`` of the compile in progress."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record(name, time.perf_counter() - start)


def take_phases() -> dict[str, float]:
    """The phases recorded since the last call, forgotten here."""
    with _PENDING_LOCK:
        phases = dict(_PENDING)
        _PENDING.clear()
    return phases


__all__ = ["phase", "record", "take_phases"]
