"""Dead-code elimination: keep only the ops the results need.

No op has side effects yet (state updates are results of the step graph), so liveness
is reachability from the results. Parameters are kept (callers pass them by position).
"""
from __future__ import annotations

from fusegraph.ir.core import Graph

from .manager import Pass, register_pass


def dce(graph: Graph) -> Graph:
    return Graph.from_results(graph.name, graph.params, graph.results)


register_pass(Pass("dce", dce, "drop ops the results do not need"))
