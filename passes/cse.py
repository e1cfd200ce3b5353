"""Common-subexpression elimination: one op for each distinct (kind, operands,
attributes, region); later duplicates reuse its results (counted as ``ops_merged``).
Regions compare by their text identity (:func:`fusegraph.ir.structure.structure`: names
and source locations count), so a merge never changes what a dump shows.
The operands of a COMMUTATIVE op are unordered (``add x, y`` and ``add y, x`` merge),
except where the order shows in the result (an OpDef's ``zero_sign_ordered``). Random ops
are never merged (two draws must differ), nor ops with effects (each must happen)."""
from __future__ import annotations

from ..ir.core import Graph, Op, attrs_key
from ..ir.structure import structure
from ..ir.opdef import COLLECTIVE, COMMUTATIVE, RANDOM, get_opdef

from .manager import Pass, count, register_pass
from .rewrite import rebuild, reemit


def _operands_key(op: Op, operands) -> tuple:
    """The operands as CSE compares them: in order, or as a multiset where order cannot
    change the result."""
    ids = tuple(id(v) for v in operands)
    opdef = get_opdef(op.kind)
    if not opdef.has(COMMUTATIVE):
        return ids
    if opdef.zero_sign_ordered and any(v.type.dtype.is_float for v in operands):
        return ids
    return tuple(sorted(ids))


def cse(graph: Graph) -> Graph:
    first: dict[tuple, tuple] = {}

    def rule(op, operands):
        if get_opdef(op.kind).has(RANDOM) or get_opdef(op.kind).has(COLLECTIVE):
            return None
        key = (op.kind, _operands_key(op, operands), attrs_key(op.attrs),
               structure(op.region) if op.region is not None else None)
        if key in first:
            count("ops_merged")
        else:
            first[key] = reemit(op, operands)
        return first[key]

    return rebuild(graph, rule)


register_pass(Pass("cse", cse, "merge ops with equal kind, operands and attributes"))
