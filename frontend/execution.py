"""Running traced graphs on concrete arrays, for eager calls (``layer(np_array)``).

The frontend does not import backends (the arrows point one way); the public package
installs a compiler here at import time (the numpy ``reference`` backend by default).
"""
from __future__ import annotations

from typing import Callable

_compiler: Callable | None = None


def set_compiler(compile_fn: Callable) -> None:
    """Use ``compile_fn(graph) -> executable`` for eager calls."""
    global _compiler
    _compiler = compile_fn


def compile_graph(graph, donate=()):
    if _compiler is None:
        raise RuntimeError("no backend is installed for eager calls; import fusegraph first")
    return _compiler(graph, donate=donate) if donate else _compiler(graph)
