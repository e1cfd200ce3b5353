"""Composite ops written as the primitives they stand for (:mod:`fusegraph.ir.ops.
composite`): each op whose OpDef has ``expand`` is replaced by what ``expand`` emits,
in scan bodies too. First in every pipeline: the passes after it and the backends see
primitives only; autodiff, which runs before any pass, used the composite's own VJP.

Statistics: ``ops_expanded``.
"""
from __future__ import annotations

from ..ir.core import Graph, Op
from ..ir.opdef import get_opdef

from .manager import Pass, count, register_pass
from .regions import map_scan_regions
from .rewrite import rebuild


def _expanded(op: Op, operands) -> tuple | None:
    expand = get_opdef(op.kind).expand
    if expand is None:
        return None
    count("ops_expanded")
    return expand(op, operands)


def expand(graph: Graph) -> Graph:
    """``graph`` (and its scan bodies) with every composite op expanded; ``graph`` itself
    when it holds none."""
    graph = map_scan_regions(graph, expand)
    if not any(get_opdef(op.kind).expand is not None for op in graph.ops):
        return graph
    return rebuild(graph, _expanded)


register_pass(Pass("expand", expand, "write composite ops (softmax) as primitives"))
