"""Run passes over the bodies of ``scan`` ops: a loop's body runs once per step, so it
is where optimizing pays most, and the top-level passes do not look inside regions.

:func:`map_scan_regions` rebuilds a graph with each scan's body replaced by
``transform(body)``; :func:`region_pass` makes a :class:`~.manager.Pass` of it that runs
a list of registered passes (a pipeline) over each body. The contract:

* a scan keeps its signature: its body's parameter types (in order) and result types
  (in order) are unchanged — every pass here keeps a graph's parameters and result
  order, and a transform that changes them raises ``ValueError`` naming the body;
* scans nested in a body are reached when the inner pipeline holds the region pass
  itself (``scan_bodies`` and ``scan_fusion`` do), so every level is optimized;
* the operands, attributes, locations and the graph's parameters and results are kept;
  ops outside scans are emitted again as they are (ops with effects too).

The registered passes:

* ``scan_bodies``: ``simplify``, ``cse``, ``dce`` in each body (in the default
  pipeline, after the top-level ones);
* ``scan_fusion``: ``fusion`` in each body (for the capability in force, see
  :func:`.fusion.targeting`): the elementwise gate math of a recurrent cell becomes one
  kernel per step. numba_cpu's ``PIPELINE`` ends with it: its compiled scan loops run
  the bodies' kernels inside one Numba function (its docstring says what it measured).

Bodies are verified with the whole graph by the pass manager (the verifier walks
regions), so the inner pipelines run unverified.

Statistics: :func:`scan_body_op_counts` gives each scan body's op count (top level),
:func:`scan_kernel_counts` each body's ``fused`` ops.
"""
from __future__ import annotations

from typing import Callable

from ..ir.builder import emit_op
from ..ir.core import Graph

from .manager import Pass, register_pass, run_pipeline
from .rewrite import rebuild


def _signature(g: Graph) -> tuple:
    return tuple(p.type for p in g.params), tuple(r.type for r in g.results)


def map_scan_regions(graph: Graph, transform: Callable[[Graph], Graph]) -> Graph:
    """``graph`` with every top-level scan's body replaced by ``transform(body)``."""
    if not any(op.kind == "scan" for op in graph.ops):
        return graph
    done: dict[int, Graph] = {}      # id(body) -> transformed (merged scans share bodies)

    def rule(op, operands):
        if op.kind != "scan":
            return None
        body = op.region
        if id(body) not in done:
            new = transform(body)
            if _signature(new) != _signature(body):
                raise ValueError(f"transforming the body @{body.name} of a scan changed its "
                                 f"signature from {_signature(body)} to {_signature(new)}")
            done[id(body)] = new
        return emit_op("scan", operands, dict(op.attrs), done[id(body)], loc=op.loc).results

    return rebuild(graph, rule)


def run_on_scan_regions(graph: Graph, names) -> Graph:
    """``graph`` with the passes ``names`` (registered names, in order) run on every
    scan's body."""
    names = list(names)
    return map_scan_regions(graph, lambda body: run_pipeline(body, names, verify=False)[0])


def region_pass(name: str, names, doc: str) -> Pass:
    """A registered pass ``name`` running the pipeline ``names`` over each scan's body
    (``names`` may hold ``name`` itself: nested scans are then reached too)."""
    names = list(names)
    return register_pass(Pass(name, lambda graph: run_on_scan_regions(graph, names), doc))


def scan_body_op_counts(graph: Graph) -> list[int]:
    """The op count of each top-level scan's body, in graph order."""
    return [len(op.region.ops) for op in graph.ops if op.kind == "scan"]


def scan_kernel_counts(graph: Graph) -> list[int]:
    """The ``fused`` ops of each top-level scan's body, in graph order."""
    return [sum(o.kind == "fused" for o in op.region.ops) for op in graph.ops
            if op.kind == "scan"]


region_pass("scan_bodies", ["simplify", "cse", "dce", "scan_bodies"],
            "simplify, cse and dce inside every scan body (nested scans too)")
region_pass("scan_fusion", ["fusion", "scan_fusion"],
            "fuse kernels inside every scan body (nested scans too)")
