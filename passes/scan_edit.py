"""Editing ``scan`` ops: the shared plumbing of the passes that move work out of loop
bodies (:mod:`.hoist_sums`, :mod:`.hoist_invariants`).

A :class:`ScanParts` is one scan taken apart: its operand groups as outer values (the
initial carries, the sequences, the invariants), its body and its ``axis``, ``reverse``
and location. A pass edits the groups and the body together (dropping a carry drops its
initial value, its body parameter and its new-carry result) and :meth:`ScanParts.emit`
makes the new scan: ``num_*`` recounted from the groups, ``axis`` and ``reverse`` kept.

:func:`over_scans` rebuilds a graph with a transform applied to every scan, innermost
first: each body (at any depth) is transformed before the scan holding it, so work a
nested loop hoists into its parent's body can be hoisted further. A transform returns
the values standing for the scan's results, or None to keep the scan (re-emitted with
its transformed body). Scans with effects are left as they are (see
:func:`.rewrite.rebuild`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from ..ir.builder import emit_op
from ..ir.core import Graph, SourceLoc, Value

from .rewrite import rebuild


@dataclass(frozen=True)
class ScanParts:
    """A scan's operand groups (outer values), body and attributes."""

    carries: tuple
    sequences: tuple
    invariants: tuple
    body: Graph
    axis: int
    reverse: bool
    loc: SourceLoc

    @classmethod
    def of(cls, op, operands, body: Graph | None = None) -> "ScanParts":
        """``op`` (a scan) on ``operands`` (its operands, rewritten), with ``body`` (default:
        its own)."""
        nc, ns = op.attrs["num_carries"], op.attrs["num_sequences"]
        operands = tuple(operands)
        return cls(operands[:nc], operands[nc:nc + ns], operands[nc + ns:],
                   op.region if body is None else body, op.attrs["axis"], op.attrs["reverse"],
                   op.loc)

    def with_(self, **changes) -> "ScanParts":
        return replace(self, **changes)

    def carry_params(self) -> tuple:
        return self.body.params[:len(self.carries)]

    def sequence_params(self) -> tuple:
        nc = len(self.carries)
        return self.body.params[nc:nc + len(self.sequences)]

    def invariant_params(self) -> tuple:
        return self.body.params[len(self.carries) + len(self.sequences):]

    def step_outputs(self) -> tuple:
        """The body's per-step outputs ``y_t`` (its results after the new carries)."""
        return self.body.results[len(self.carries):]

    def emit(self) -> tuple:
        """Emit the scan these parts describe; its results (final carries, then stacked
        outputs)."""
        attrs = {"num_carries": len(self.carries), "num_sequences": len(self.sequences),
                 "num_invariants": len(self.invariants), "axis": self.axis,
                 "reverse": self.reverse}
        operands = [*self.carries, *self.sequences, *self.invariants]
        return emit_op("scan", operands, attrs, self.body, loc=self.loc).results


def new_params(values, base: str, graph: Graph) -> list[Value]:
    """A fresh parameter typed as each of ``values``, named ``base<i>`` with the smallest
    indices that no parameter of ``graph`` (nor an earlier new one) is named."""
    taken = {p.name for p in graph.params}
    names = (f"{base}{i}" for i in range(len(taken) + len(values) + 1))
    free = [n for n in names if n not in taken]
    return [Value(v.type, name=n) for v, n in zip(values, free)]


def over_scans(graph: Graph, transform: Callable[[ScanParts], tuple | None]) -> Graph:
    """``graph`` with ``transform`` applied to every scan, innermost first (see the module
    docstring); the graph keeps its parameters and results."""
    if not any(op.kind == "scan" for op in graph.ops):
        return graph

    def rule(op, operands):
        if op.kind != "scan":
            return None
        body = over_scans(op.region, transform)
        parts = ScanParts.of(op, operands, body)
        out = transform(parts)
        if out is None and body is not op.region:
            out = parts.emit()
        return out

    return rebuild(graph, rule)
