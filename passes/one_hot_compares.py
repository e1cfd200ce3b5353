"""``one_hot`` written as the comparison it is, so that fusion joins it to its users.

``one_hot(ids, depth)`` is ``ids[..., None] == iota(depth)`` cast to its dtype (its
reference computes exactly that: out-of-range ids give rows of zeros either way). As a
movement op it ran alone, on numpy, and its ``[B, depth]`` result was written and read
again by the cross-entropy kernel after it (25 us of the MLP's 3.2 ms step, and the sum
over the classes another 16 us on numpy); as a broadcasting ``eq`` it is computed inside
that kernel. The iota depends on no data: a plan computes it once.

Contract: each ``one_hot`` becomes ``cast(eq(reshape(ids, ids.shape + (1,)), iota([depth],
dtype of ids)), dtype)`` (no cast for a bool one_hot): the same values, bit for bit.
Statistics: ``one_hots_compared``.
"""
from __future__ import annotations

from ..ir.builder import emit
from ..ir.core import Graph, Op
from ..ir.types import DType

from .manager import Pass, count, register_pass
from .rewrite import rebuild


def _compared(op: Op, operands) -> tuple | None:
    if op.kind != "one_hot":
        return None
    (ids,), depth, dtype = operands, op.attrs["depth"], op.attrs["dtype"]
    column = emit("reshape", ids, shape=ids.type.shape + (1,))
    hits = emit("eq", column, emit("iota", shape=(depth,), axis=0, dtype=ids.type.dtype))
    count("one_hots_compared")
    return (hits if dtype == DType.bool else emit("cast", hits, dtype=dtype),)


def one_hot_compares(graph: Graph) -> Graph:
    """``graph`` with each ``one_hot`` a comparison (module docstring); ``graph`` itself
    when it has none."""
    if not any(op.kind == "one_hot" for op in graph.ops):
        return graph
    return rebuild(graph, _compared)


register_pass(Pass("one_hot_compares", one_hot_compares,
                   "one_hot as ids == iota, which fusion joins to its users"))
