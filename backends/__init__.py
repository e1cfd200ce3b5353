"""Backends: each turns a Graph into an Executable, called with arrays, returning arrays.

Every backend module exposes ``compile(graph) -> Executable``. ``reference`` is the
numpy interpreter of the IR, the ground truth every other backend is tested against.
Backends are imported on first use, so a user of one never pays for another's imports.
"""
from __future__ import annotations

import importlib

_BACKENDS = {"reference": "fusegraph.backends.reference"}


def get_backend(name: str):
    """The ``compile`` function of the backend called ``name``; ValueError if none is."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}: "
                         f"expected one of {', '.join(sorted(_BACKENDS))}")
    return importlib.import_module(_BACKENDS[name]).compile


__all__ = ["get_backend"]
