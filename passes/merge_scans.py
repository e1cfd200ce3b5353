"""Merge scans that one scan can stand for: the forward loop of a recurrent layer then
runs once per training step, not twice.

The VJP of a ``scan`` (see :mod:`fusegraph.ir.ops.scan`) emits a *saving* scan next to
the original: the same operands and attributes, and a body whose leading results are
the original body's results (it returns the carries it received after them). Its
leading results are therefore the original scan's results, element for element, and
the original's users can read them instead.

Contract of :func:`merge_scans`: a scan A is replaced by a scan B of the graph when

* both have the same operands (the same values) and equal attributes;
* B's body returns at least as many results as A's, and its leading ones are computed
  exactly as A's body computes its results: the same parameter types and, restricted to
  what those results need, the same ops (kind, operands by position, attributes, result
  types, nested regions alike) in the same order. Value names, region names and source
  locations do not count.

The carries are among those leading results, so they evolve identically in both loops,
and A's stacked outputs are B's leading ones: the merge is exact, whatever made the two
scans (autodiff's saving scan is one case). Of the scans that can stand for A, the one
with the most results is kept; it is emitted where the first of the scans it replaces
stood (they all read the same operands), and every replaced scan's results map to its
leading results. Scans with effects are left alone. The graph keeps its parameters and
result order.

Statistics: ``scans_merged``, the drop in ``scan`` ops (see :func:`.manager.count`).
"""
from __future__ import annotations

from ..ir.builder import emit_op
from ..ir.core import Graph, Op, attrs_key

from .dce import has_effects
from .manager import Pass, count, register_pass
from .rewrite import rebuild


def computation(params, results) -> tuple:
    """A hashable form of what ``results`` compute from ``params``: parameter types, the
    ops they need in creation order (kind, operands by position, attributes, result
    types, regions by this same form) and the results by position. Names and source
    locations are left out."""
    params, results = tuple(params), tuple(results)
    number = {id(p): i for i, p in enumerate(params)}
    ops = []
    for op in Graph.from_results("", params, results).ops:
        region = computation(op.region.params, op.region.results) if op.region else None
        ops.append((op.kind, tuple(number[id(v)] for v in op.operands), attrs_key(op.attrs),
                    tuple(r.type for r in op.results), region))
        for r in op.results:
            number[id(r)] = len(number)
    return (tuple(p.type for p in params), tuple(ops), tuple(number[id(r)] for r in results))


def _stands_for(b: Op, a: Op) -> bool:
    """Whether scan ``b``'s leading results are scan ``a``'s (same operands and
    attributes assumed)."""
    n = len(a.region.results)
    if len(b.region.results) < n:
        return False
    return (computation(b.region.params, b.region.results[:n])
            == computation(a.region.params, a.region.results))


def _representatives(graph: Graph) -> dict[int, Op]:
    """id(scan) -> the scan that stands for it (itself when none other does)."""
    groups: dict[tuple, list[Op]] = {}
    for op in graph.ops:
        if op.kind == "scan" and not has_effects(op):
            key = (tuple(id(v) for v in op.operands), attrs_key(op.attrs))
            groups.setdefault(key, []).append(op)
    chosen: dict[int, Op] = {}
    for scans in groups.values():
        if len(scans) < 2:
            continue
        widest_first = sorted(scans, key=lambda op: -len(op.region.results))
        for a in scans:
            chosen[id(a)] = next(b for b in widest_first if b is a or _stands_for(b, a))
    return chosen


def merge_scans(graph: Graph) -> Graph:
    chosen = _representatives(graph)
    if not chosen:
        return graph                   # nothing to merge: not rebuilt (a warm start's time)
    emitted: dict[int, tuple] = {}     # id(representative) -> its new results

    def rule(op, operands):
        b = chosen.get(id(op))
        if b is None:
            return None
        if id(b) not in emitted:
            emitted[id(b)] = emit_op("scan", operands, dict(b.attrs), b.region,
                                     loc=b.loc).results
        return emitted[id(b)][:len(op.results)]

    out = rebuild(graph, rule)
    count("scans_merged", _scan_count(graph) - _scan_count(out))
    return out


def _scan_count(graph: Graph) -> int:
    return sum(op.kind == "scan" for op in graph.ops)


register_pass(Pass("merge_scans", merge_scans,
                   "let one scan stand for another whose results are its leading ones "
                   "(the forward loop and autodiff's saving loop)"))
