"""The pass manager: a registry of named passes and a runner for a pipeline of them.

A :class:`Pass` is a name, a function ``Graph -> Graph`` and a one-line doc. ``PASSES``
maps names to passes (what ``--passes=a,b`` and ``model.ir(after=...)`` look up).
:func:`run_pipeline` runs a list of pass names in order, times each, verifies the graph
before the first pass and after each one (so a broken graph is blamed on the pass that
broke it), and keeps the text of the graph after the passes named in ``dump_after``.
Whether or not it verifies, it checks that every pass keeps the graph's signature: the
same parameter and result types (a pass that changed what callers pass or get back is
a bug in that pass, blamed by name).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from fusegraph.ir.core import Graph
from fusegraph.ir.errors import VerificationError

from .shape_inference import infer_shapes


@dataclass(frozen=True)
class Pass:
    """One graph transform: ``run(graph)`` returns a new graph and leaves its input alone."""

    name: str
    run: Callable[[Graph], Graph]
    doc: str = ""


PASSES: dict[str, Pass] = {}


def register_pass(p: Pass) -> Pass:
    """Add ``p`` to ``PASSES``; ValueError if its name is taken."""
    if p.name in PASSES:
        raise ValueError(f"pass {p.name!r} is already registered")
    PASSES[p.name] = p
    return p


@dataclass(frozen=True)
class PassRun:
    """What one pass did: its wall time and the op counts (top level) before and after."""

    name: str
    seconds: float
    ops_before: int
    ops_after: int


@dataclass
class PipelineReport:
    """``runs``: one PassRun per pass, in order. ``dumps``: pass name -> graph text after
    it (the last run of that pass if it ran twice)."""

    runs: list[PassRun] = field(default_factory=list)
    dumps: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{r.name:<24} {r.seconds * 1e3:9.2f} ms  ops {r.ops_before} -> {r.ops_after}"
                 for r in self.runs]
        return "\n".join(lines)


def run_pipeline(graph: Graph, names: Iterable[str], verify: bool = True,
                 dump_after: str | Iterable[str] | None = None) -> tuple[Graph, PipelineReport]:
    """Run the passes ``names`` in order on ``graph``; return the result and a report.

    Every name (and every ``dump_after`` name, which must be in ``names``) is checked
    before any pass runs. With ``verify``, the IR verifier runs on the input and after
    each pass; a failure raises VerificationError naming the pass that broke the graph.
    """
    names = list(names)
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise ValueError(f"unknown passes {unknown}: registered are {sorted(PASSES)}")
    dumps = {dump_after} if isinstance(dump_after, str) else set(dump_after or ())
    if not dumps <= set(names):
        raise ValueError(f"cannot dump after {sorted(dumps - set(names))}: "
                         f"not in the pipeline {names}")
    if verify:
        _verify(graph, "before the first pass")
    report = PipelineReport()
    for name in names:
        before = len(graph.ops)
        start = time.perf_counter()
        graph = _same_signature(graph, PASSES[name].run(graph), name)
        report.runs.append(PassRun(name, time.perf_counter() - start, before, len(graph.ops)))
        if verify:
            _verify(graph, f"after pass {name!r}")
        if name in dumps:
            report.dumps[name] = str(graph)
    return graph, report


def _same_signature(before: Graph, after: Graph, name: str) -> Graph:
    """``after``, if it has ``before``'s parameter and result types; else a
    VerificationError naming the pass and the first position that changed."""
    for what, old, new in (("parameter", before.params, after.params),
                           ("result", before.results, after.results)):
        old_types, new_types = [v.type for v in old], [v.type for v in new]
        if old_types != new_types:
            at = next((i for i, (a, b) in enumerate(zip(old_types, new_types)) if a != b),
                      min(len(old_types), len(new_types)))
            raise VerificationError(
                f"pass {name!r} changed the graph's {what} types at position {at}: "
                f"{[str(t) for t in old_types]} before, {[str(t) for t in new_types]} after")
    return after


def _verify(graph: Graph, when: str) -> None:
    from fusegraph.ir.verifier import verify  # imported on use: only verifying needs it
    try:
        verify(graph)
    except VerificationError as e:
        raise VerificationError(f"{when}: {e}") from e


register_pass(Pass("shape_inference", infer_shapes,
                   "re-run every op's shape rule; every value typed by the rules"))
