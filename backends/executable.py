"""The Executable protocol: what a caller (the frontend, the runtime, the CLI, a
benchmark) may ask of a compiled graph, whatever backend compiled it.

Every backend's ``compile(graph)`` returns a subclass of :class:`Executable`; callers use
only what is declared here. (The frontend does not import backends, the arrows point one
way: it relies on this protocol by name, ``executable.graph`` and calling it.)
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..ir.core import Graph


class Executable(ABC):
    """A compiled graph.

    * ``graph``: the graph it runs, as compiled (after the backend's pipeline when
      compiled by :func:`fusegraph.backends.optimizing_compiler`): the same parameters
      and results, in the same order, as the graph given to the compiler, so a caller
      may find a parameter or a result by position.
    * ``exe(*arrays)``: one numpy array per parameter, in order; returns a list of one
      numpy array per result. The arrays are checked and their dimension symbols bound
      as the reference does (:class:`~fusegraph.ir.binding.InputError`
      naming the parameter); a failing op raises
      :class:`~fusegraph.backends.reference.interpreter.ExecutionError` naming it. An
      executable never writes into its arguments but the donated ones, and a result may
      *be* one of them (a graph result that is a parameter): a caller that keeps results
      copies those.
    * Donation: ``compile(graph, donate)`` takes ``(result j, parameter i)`` pairs, each
      a promise of the caller's: it hands over parameter i's array with every call, and
      takes result j as that parameter's new value. The executable may then write result
      j's values into parameter i's array and return that array as result j (numba_cpu
      does, for an optimizer's updates: :mod:`fusegraph.backends.numba_cpu.donation`);
      only after every op that can fail, so a failed call leaves the arrays as they were
      (numba_cpu: a call that failed after its writes began, which its generated kernels
      do not, raises rather than running again). A caller that must keep an old value
      passes a copy; the runtime hands its variables' arrays over only when it commits
      the step whatever its outputs, and holds Ctrl-C back until the commit
      (:mod:`fusegraph.backends.interrupts`).
      Holds no state across calls that changes results: weights are arguments.
    * ``kernels``: the kernel steps, one per ``fused`` op run as a generated kernel, in
      graph order (empty for a backend without kernels).
    * :meth:`source`: the generated code, for ``fusegraph dump`` ("" when none).
    """

    graph: Graph
    kernels: list | tuple = ()

    @abstractmethod
    def __call__(self, *arrays) -> list[np.ndarray]:
        """One array per result of :attr:`graph` (see the class docstring)."""

    def source(self) -> str:
        """Every generated kernel's source, once each ("" for a backend without any)."""
        return ""


__all__ = ["Executable"]
