"""Backends: each turns a Graph into an Executable, called with arrays, returning arrays.

Every backend module exposes ``compile(graph) -> Executable``. ``reference`` is the
numpy interpreter of the IR, the ground truth every other backend is tested against.
Backends are imported on first use, so a user of one never pays for another's imports.
:func:`optimizing_compiler` puts the default pass pipeline in front of a backend: that
is how the runtime compiles.
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


def optimizing_compiler(name: str = "reference", pipeline=None, verify: bool = True):
    """``compile(graph)`` for backend ``name`` that first runs the pass ``pipeline``
    (default: ``fusegraph.passes.DEFAULT_PIPELINE``), verifying between passes. The
    graph keeps its parameters and result order, so callers are unaffected."""
    from fusegraph.passes import DEFAULT_PIPELINE, run_pipeline

    backend_compile = get_backend(name)
    names = list(DEFAULT_PIPELINE if pipeline is None else pipeline)

    def compile_optimized(graph):
        optimized, _ = run_pipeline(graph, names, verify=verify)
        return backend_compile(optimized)

    return compile_optimized


__all__ = ["get_backend", "optimizing_compiler"]
