"""Embedding gradients that are never written out: a row scatter into zeros that only
kernels read becomes ``segment_rows`` before them and a ``gather_rows`` inside them.

An Embedding's table gradient is ``scatter_add(zeros[V, D], ids, updates, axis=0)``: a
dense ``[V, D]`` array, zero but for the rows the batch used, which the optimizer's
kernel then reads in full (the ticket model's 10000x64 tables: 2.56 MB written, zeroed
first, and read again, per table and step). Where every user of such a scatter is a
``fused`` op that reads it by index over the iteration shape ``[V, D]``, this pass
replaces it by ``slots, sums = segment_rows(ids, updates, rows=V)`` (the update rows
summed per id into the row of its first occurrence: a few hundred rows) and, in each
user's region, the parameter by ``gather_rows(sums, slots)`` of two new parameters: the
kernel reads a row's sum where the batch used the row and takes zero elsewhere
(:mod:`fusegraph.ir.ops.scatter`; the kernel contract's ``row gathers`` rule). The
optimizer's update itself stays dense, as Keras's is (its slots decay on every row).

Same numbers: the sums are the scatter's float additions in the same order, from zero,
so every kernel result is the unsplit graph's bit for bit.

Only backends whose kernels hold a ``gather_rows`` run it (numba_cpu's pipeline): it
runs after fusion, on top-level ``fused`` users only. Measured (ticket model, two
Embedding(10000, 64) tables, RMSprop, 1 thread): see numba_cpu's ``PIPELINE``.

Statistics: ``row_scatters_split`` (scatters replaced).
"""
from __future__ import annotations

from ..ir.builder import emit_op
from ..ir.clone import inline
from ..ir.core import Graph, Op, Value
from ..ir.ops.region import is_staged, iteration_shape_of

from .manager import Pass, count, register_pass
from .rewrite import rebuild
from .simplify import is_signed_zero


def _reads_by_index(user: Op, value: Value) -> bool:
    """Whether ``user`` is a ``fused`` op whose region reads ``value`` (an operand)
    element by element over an iteration shape equal to ``value``'s shape."""
    if user.kind != "fused" or is_staged(user.region):
        return False
    shape = next(iteration_shape_of(op) for op in user.region.ops if op.kind != "constant")
    return shape == value.type.shape


def _splittable(op: Op, users: dict, results: set) -> bool:
    """Whether ``op`` is a row scatter into +0 of a concrete 2-D table that only
    ``fused`` ops read, each by index (see the module docstring)."""
    if op.kind != "scatter_add" or op.attrs["axis"] != 0:
        return False
    x, _, updates = op.operands
    table = op.results[0]
    if (x.type.rank != 2 or not isinstance(x.type.shape[0], int) or id(table) in results
            or not updates.type.dtype.is_float or not is_signed_zero(x, negative=False)):
        return False
    readers = users.get(id(table), [])
    return bool(readers) and all(_reads_by_index(u, table) for u in readers)


def _split_region(region: Graph, split: dict, loc) -> tuple[Graph, list]:
    """``region`` with each parameter in ``split`` (param index -> ``(sums, slots)``, the
    outer values) replaced by a ``gather_rows`` of two new parameters; the new region and
    the outer operands its parameters take, in order."""
    params, operands, replacements = [], [], {}
    for k, p in enumerate(region.params):
        outer = split.get(k, (None,))
        for v in outer:
            params.append(Value(p.type if v is None else v.type, name=f"in{len(params)}"))
        if k in split:
            rows, slots = params[-2:]
            replacements[p] = emit_op("gather_rows", [rows, slots], {}, loc=loc).results[0]
        else:
            replacements[p] = params[-1]
        operands.append(outer)
    results = inline(region, replacements)
    return Graph.from_results(region.name, params, results), operands


def sparse_rows(graph: Graph) -> Graph:
    """``graph`` with its splittable row scatters split (the module docstring)."""
    users = graph.users()
    results = {id(r) for r in graph.results}
    if not any(_splittable(op, users, results) for op in graph.ops):
        return graph
    halves: dict[int, tuple] = {}     # id(new stand-in value) -> (sums, slots, scatter loc)

    def rule(op: Op, operands: list):
        if _splittable(op, users, results):
            _, ids, updates = operands
            slots, sums = emit_op("segment_rows", [ids, updates],
                                  {"rows": op.results[0].type.shape[0]}, loc=op.loc).results
            halves[id(sums)] = (sums, slots, op.loc)
            count("row_scatters_split")
            return (sums,)
        if op.kind != "fused" or not any(id(v) in halves for v in operands):
            return None
        split = {k: halves[id(v)][:2] for k, v in enumerate(operands) if id(v) in halves}
        loc = next(halves[id(v)][2] for v in operands if id(v) in halves)
        region, outer = _split_region(op.region, split, loc)
        flat = [w if w is not None else v for v, ws in zip(operands, outer) for w in ws]
        return emit_op("fused", flat, {}, region, loc=op.loc).results

    return rebuild(graph, rule)


register_pass(Pass("sparse_rows", sparse_rows,
                   "embedding gradients as per-id row sums that kernels gather"))
