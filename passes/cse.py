"""Common-subexpression elimination: one op for each distinct (kind, operands,
attributes, region); later duplicates reuse its results. Random ops are never merged
(two draws must differ), nor ops with effects (each must happen)."""
from __future__ import annotations

from fusegraph.ir.core import Graph, attrs_key
from fusegraph.ir.opdef import RANDOM, get_opdef

from .manager import Pass, register_pass
from .rewrite import rebuild, reemit


def cse(graph: Graph) -> Graph:
    first: dict[tuple, tuple] = {}

    def rule(op, operands):
        if get_opdef(op.kind).has(RANDOM):
            return None
        key = (op.kind, tuple(id(v) for v in operands), attrs_key(op.attrs),
               op.region.structure() if op.region is not None else None)
        if key not in first:
            first[key] = reemit(op, operands)
        return first[key]

    return rebuild(graph, rule)


register_pass(Pass("cse", cse, "merge ops with equal kind, operands and attributes"))
