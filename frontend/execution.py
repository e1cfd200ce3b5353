"""Running traced graphs on concrete arrays, for eager calls (``layer(np_array)``), and
single ops, for eager execution (:mod:`.eager`).

The frontend does not import backends (the arrows point one way); the public package
installs a compiler and an op runner here at import time (the numpy ``reference``
backend's by default).
"""
from __future__ import annotations

from typing import Callable

_compiler: Callable | None = None
_op_runner: Callable | None = None


def set_compiler(compile_fn: Callable) -> None:
    """Use ``compile_fn(graph) -> executable`` for eager calls."""
    global _compiler
    _compiler = compile_fn


def compile_graph(graph, donate=()):
    if _compiler is None:
        raise RuntimeError("no backend is installed for eager calls; import fusegraph first")
    return _compiler(graph, donate=donate) if donate else _compiler(graph)


def set_op_runner(run: Callable) -> None:
    """Use ``run(op, arrays) -> [array per result]`` for eager ops."""
    global _op_runner
    _op_runner = run


def run_op(op, arrays) -> list:
    """The results of ``op`` on ``arrays`` (one per operand), as the reference computes
    them."""
    if _op_runner is None:
        raise RuntimeError("no op runner is installed for eager ops; import fusegraph first")
    return _op_runner(op, arrays)
