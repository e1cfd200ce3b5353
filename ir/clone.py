"""Copying a graph's ops onto new operands (inlining a sub-graph while tracing)."""
from __future__ import annotations

from typing import Callable, Mapping

from .builder import emit_op
from .core import Graph, Op, Value


def inline(graph: Graph, replacements: dict,
           rewrite_attrs: Callable[[Op], Mapping | None] | None = None) -> list[Value]:
    """Emit a copy of ``graph``'s ops with the params in ``replacements`` (a dict
    param -> Value) replaced; the other params (weights) are used as they are, so they
    stay shared. Types are re-inferred for the new operands; locations are kept.

    ``rewrite_attrs(op)``, when given, is asked about each top-level op before it is
    copied (regions are copied as they are): it returns the attributes for the copy, or
    None to keep the op's own. (The caller decides what a copy must not share with its
    original, e.g. a random op's salt.)

    Returns the copies of the graph's results."""
    mapping = {id(p): v for p, v in replacements.items()}
    for op in graph.ops:
        attrs = rewrite_attrs(op) if rewrite_attrs is not None else None
        copy = emit_op(op.kind, [mapping.get(id(v), v) for v in op.operands],
                       dict(op.attrs if attrs is None else attrs), op.region, loc=op.loc)
        for old, new in zip(op.results, copy.results):
            mapping[id(old)] = new
    return [mapping.get(id(r), r) for r in graph.results]
