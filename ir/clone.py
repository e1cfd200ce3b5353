"""Copying a graph's ops onto new operands (inlining a sub-graph while tracing)."""
from __future__ import annotations

from .builder import emit_op
from .core import Graph, Value


def inline(graph: Graph, replacements: dict) -> list[Value]:
    """Emit a copy of ``graph``'s ops with the params in ``replacements`` (a dict
    param -> Value) replaced; the other params (weights) are used as they are, so they
    stay shared. Types are re-inferred for the new operands; locations are kept.
    Returns the copies of the graph's results."""
    mapping = {id(p): v for p, v in replacements.items()}
    for op in graph.ops:
        copy = emit_op(op.kind, [mapping.get(id(v), v) for v in op.operands], dict(op.attrs),
                       op.region, loc=op.loc)
        for old, new in zip(op.results, copy.results):
            mapping[id(old)] = new
    return [mapping.get(id(r), r) for r in graph.results]
