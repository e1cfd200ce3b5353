"""Dead-code elimination: keep only the ops the results need, and the ops with effects.

Liveness is backward reachability from two kinds of roots: the graph's results, and
every op with effects (trait SIDE_EFFECTS, or a region holding such an op): such an op
stays, with everything it reads, even when nothing uses its results, and keeps its
place in program order. Parameters are kept (callers pass them by position). The
pass counts the ops it drops (``ops_removed``).

:func:`live_graph` is the same rule for the passes that rebuild a graph op by op
(:mod:`.rewrite`, :mod:`.fusion`): whatever they drop as unused, they keep the ops with
effects they emitted.
"""
from __future__ import annotations

from typing import Iterable

from ..ir.core import Graph, Op, Value
from ..ir.opdef import SIDE_EFFECTS, get_opdef

from .manager import Pass, count, register_pass


def has_effects(op: Op) -> bool:
    """Whether ``op`` must run although nothing uses its results: its kind has the
    SIDE_EFFECTS trait, or its region (recursively) holds an op that has."""
    if get_opdef(op.kind).has(SIDE_EFFECTS):
        return True
    return op.region is not None and any(has_effects(inner) for inner in op.region.ops)


def live_graph(name: str, params: Iterable[Value], results: Iterable[Value],
               effects: Iterable[Op] = ()) -> Graph:
    """The graph of the ops ``results`` need plus the ops ``effects`` and what they
    need, in creation order (``Graph.from_results`` with more roots)."""
    params, results, effects = tuple(params), tuple(results), tuple(effects)
    needed = Graph.from_results(name, params,
                                results + tuple(v for op in effects for v in op.operands))
    ops = {id(op): op for op in needed.ops}
    for op in effects:
        ops.setdefault(id(op), op)
    return Graph(name, params, sorted(ops.values(), key=lambda op: op.seq), results)


def dce(graph: Graph) -> Graph:
    out = live_graph(graph.name, graph.params, graph.results,
                     [op for op in graph.ops if has_effects(op)])
    count("ops_removed", len(graph.ops) - len(out.ops))
    return out


register_pass(Pass("dce", dce, "drop ops the results do not need (ops with effects stay)"))
