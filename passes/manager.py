"""The pass manager: a registry of named passes and a runner for a pipeline of them.

A :class:`Pass` is a name, a function ``Graph -> Graph`` and a one-line doc. ``PASSES``
maps names to passes (what ``--passes=a,b`` and ``model.ir(after=...)`` look up).
:func:`run_pipeline` runs a list of pass names in order, times each, verifies the graph
before the first pass and after each one (so a broken graph is blamed on the pass that
broke it), and keeps the text of the graph after the passes named in ``dump_after``.
Whether or not it verifies, it checks that every pass keeps the graph's signature: the
same parameter and result types (a pass that changed what callers pass or get back is
a bug in that pass, blamed by name).

Statistics: a pass counts what it did with :func:`count` (``count("ops_merged")``, a
rewrite rule's name when it fires) without changing its ``Graph -> Graph`` call; the
counts go to the pass that :func:`run_pipeline` is running (called directly, a pass's
counts go nowhere unless the caller opens :func:`collecting`). The manager adds the
kernels a pass formed (``kernels_formed``, ``ops_fused``: top-level ``fused`` ops and
the ops inside them, after minus before). A pipeline run inside a pass (``scan_bodies``
runs one per loop body) adds its counts to that pass as ``inner_pass/counter``. Each
:class:`PassRun` keeps its counters; ``str(report)`` prints them under the pass.
"""
from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ..ir.core import Graph
from ..ir.errors import VerificationError

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


_COUNTERS: ContextVar[Counter | None] = ContextVar("pass_counters", default=None)


def count(counter: str, n: int = 1) -> None:
    """Add ``n`` to ``counter`` of the pass now running (see :func:`collecting`); nothing
    when no one collects."""
    counters = _COUNTERS.get()
    if counters is not None and n:
        counters[counter] += n


@contextmanager
def collecting() -> Iterator[Counter]:
    """A Counter that :func:`count` adds to while the block runs (the previous one, if
    any, is restored after it)."""
    counters: Counter = Counter()
    token = _COUNTERS.set(counters)
    try:
        yield counters
    finally:
        _COUNTERS.reset(token)


@dataclass(frozen=True)
class PassRun:
    """What one pass did: its wall time, the op counts (top level) before and after, and
    its counters (name -> count, only those above zero)."""

    name: str
    seconds: float
    ops_before: int
    ops_after: int
    counters: dict[str, int] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class PipelineReport:
    """``runs``: one PassRun per pass, in order. ``dumps``: pass name -> graph text after
    it (the last run of that pass if it ran twice)."""

    runs: list[PassRun] = field(default_factory=list)
    dumps: dict[str, str] = field(default_factory=dict)

    def counters(self, name: str) -> Counter:
        """The counters of every run of pass ``name``, summed."""
        return sum((Counter(r.counters) for r in self.runs if r.name == name), Counter())

    def __str__(self) -> str:
        lines = []
        for r in self.runs:
            lines.append(f"{r.name:<24} {r.seconds * 1e3:9.2f} ms  ops {r.ops_before} -> "
                         f"{r.ops_after}")
            lines += [f"    {k:<40} {v:>7}" for k, v in sorted(r.counters.items())]
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
        verify_stage(graph, "before the first pass")
    report = PipelineReport()
    for name in names:
        before = graph
        with collecting() as counters:
            start = time.perf_counter()
            graph = _same_signature(graph, PASSES[name].run(graph), name)
            seconds = time.perf_counter() - start
        counters.update(_kernels_formed(before, graph))
        counters = {k: v for k, v in sorted(counters.items()) if v > 0}
        report.runs.append(PassRun(name, seconds, len(before.ops), len(graph.ops), counters))
        for k, v in counters.items():   # to the pass running this pipeline, if any
            count(f"{name}/{k}", v)
        if verify:
            verify_stage(graph, f"after pass {name!r}")
        if name in dumps:
            report.dumps[name] = str(graph)
    return graph, report


def _kernels_formed(before: Graph, after: Graph) -> dict[str, int]:
    """Top-level ``fused`` ops (kernels) and the ops inside them, ``after`` minus ``before``."""
    def kernels(g: Graph) -> tuple[int, int]:
        fused = [op for op in g.ops if op.kind == "fused"]
        return len(fused), sum(len(op.region.ops) for op in fused)
    (k0, n0), (k1, n1) = kernels(before), kernels(after)
    return {"kernels_formed": k1 - k0, "ops_fused": n1 - n0}


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


def verify_stage(graph: Graph, when: str) -> None:
    """The IR verifier on ``graph``; its VerificationError prefixed with ``when`` ("after
    pass 'cse'")."""
    from ..ir.verifier import verify  # imported on use: only verifying needs it
    try:
        verify(graph)
    except VerificationError as e:
        raise VerificationError(f"{when}: {e}") from e


register_pass(Pass("shape_inference", infer_shapes,
                   "re-run every op's shape rule; every value typed by the rules"))
