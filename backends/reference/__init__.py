"""The reference backend: a numpy interpreter of the IR, op by op, obviously correct.

``compile(graph)`` returns an :class:`Executable`; see :mod:`.interpreter` for what it
checks and guarantees.
"""
from ...ir.binding import InputError
from ...passes import DEFAULT_PIPELINE

from .interpreter import ExecutionError, Executable, compile, run_graph

PIPELINE = DEFAULT_PIPELINE   # the passes before this backend: no kernels

__all__ = ["ExecutionError", "Executable", "InputError", "PIPELINE", "compile", "run_graph"]
