"""The reference backend: a numpy interpreter of the IR, op by op, obviously correct.

``compile(graph)`` returns an :class:`Executable`; see :mod:`.interpreter` for what it
checks and guarantees.
"""
from .interpreter import ExecutionError, Executable, InputError, compile, run_graph

__all__ = ["ExecutionError", "Executable", "InputError", "compile", "run_graph"]
