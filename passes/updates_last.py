"""Scheduling: the kernels whose results only the graph returns (an optimizer's updates
of the weights and their slots) run last.

Every ``fused`` op none of whose results another op reads moves to the end of the graph,
the moved ops in their order; everything else keeps its order. Nothing is added, removed
or changed. (Such an op's operands are all made before it, and nothing waits for it, so
the order stays topological.)

What it is for: numba_cpu writes a donated parameter (a weight handed over by the
training loop) in place only from the *tail* of the graph on, the run of such kernels at
its end, after every op that can fail
(:mod:`fusegraph.backends.numba_cpu.donation`). A traced step ends with its optimizer's
update kernels, but interleaved with small ops nothing fused (the iteration counter's
``add``), which would end the tail before the kernels.

Statistics: ``updates_moved`` (kernels whose place changed).
"""
from __future__ import annotations

from ..ir.core import Graph

from .manager import Pass, count, register_pass


def updates_last(graph: Graph) -> Graph:
    """``graph`` with its ops in the order the module docstring gives."""
    read = {id(v) for op in graph.ops for v in op.operands}
    last = [op for op in graph.ops
            if op.kind == "fused" and not any(id(r) in read for r in op.results)]
    if not last:
        return graph
    moved = {id(op) for op in last}
    order = [op for op in graph.ops if id(op) not in moved] + last
    changed = sum(1 for a, b in zip(order, graph.ops) if a is not b and id(a) in moved)
    if not changed:
        return graph
    count("updates_moved", changed)
    return Graph(graph.name, graph.params, order, graph.results)


register_pass(Pass("updates_last", updates_last,
                   "kernels whose results only the graph returns run last"))
