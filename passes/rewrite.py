"""The rewrite driver the simplifying passes share: rebuild a graph op by op.

``rebuild(graph, rule)`` walks the ops in order with their operands already rewritten;
``rule(op, operands)`` returns the Values that stand for the op's results (a rewrite
fired, or the rule emitted the op itself) or None (the op is emitted again with
:func:`reemit`). The result graph keeps the parameters and the result order, so
callers that pass arrays by position are unaffected; ops nothing needs are dropped,
except ops with effects (:func:`.dce.has_effects`), which the rule never sees: they are
emitted again as they are and kept. New ops carry the location of the op they replace.
"""
from __future__ import annotations

from typing import Callable

from fusegraph.ir.builder import emit_op, source_location
from fusegraph.ir.core import Graph, Op, Value

from .dce import has_effects, live_graph


def copy_op(op: Op, operands) -> Op:
    """A copy of ``op`` on ``operands`` (types re-inferred), at ``op``'s location."""
    return emit_op(op.kind, operands, dict(op.attrs), op.region, loc=op.loc)


def reemit(op: Op, operands) -> tuple:
    """A copy of ``op`` on ``operands`` (types re-inferred); its results."""
    return copy_op(op, operands).results


def rebuild(graph: Graph, rule: Callable[[Op, list], tuple | list | None]) -> Graph:
    mapping: dict[int, Value] = {}
    effects: list[Op] = []
    for op in graph.ops:
        operands = [mapping.get(id(v), v) for v in op.operands]
        if has_effects(op):
            effects.append(copy_op(op, operands))
            replacement = effects[-1].results
        else:
            with source_location(op.loc):
                replacement = rule(op, operands)
            if replacement is None:
                replacement = reemit(op, operands)
        for old, new in zip(op.results, replacement):
            mapping[id(old)] = new
    results = [mapping.get(id(r), r) for r in graph.results]
    return live_graph(graph.name, graph.params, results, effects)
