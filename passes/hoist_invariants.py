"""Loop-invariant code motion for ``scan``: work a loop body does on its invariants alone
is done once, before the loop, instead of once per step.

A body op is *invariant* when it has no effects (:func:`.dce.has_effects`), does not draw
random numbers, and each of its operands is an invariant parameter of the body, the
result of an invariant op, or a value made of constants alone (``constant`` ops and ops
of them). Of the invariant ops, those that read at least one invariant parameter
(directly or through other invariant ops) are *hoisted*; ops of constants alone stay
(they cost nothing, and folding them is :mod:`.simplify`'s job). The autodiff backward
body's ``transpose(recurrent_kernel)`` (for ``dz @ Uᵀ``, every step) is the case this
pass is for.

Contract of :func:`hoist_invariants`, per scan (bodies first, see :func:`.scan_edit.over_scans`):

* the hoisted ops are emitted before the scan, in body order, on the scan's invariant
  operands (with copies of the constants they read), at their own source locations;
* each hoisted value that a remaining body op, or the body's results, still read becomes
  a new invariant of the scan: a body parameter (``hoisted<i>``) after the old
  invariants, and the outside value as its operand;
* an old invariant parameter that no remaining body op reads is dropped, with its operand;
* carries, sequences, results, ``axis`` and ``reverse`` are unchanged; so is what the
  scan computes (the same ops on the same values, once instead of ``T`` times).

The hoisted ops run even when the loop runs no step (``T = 0``): the cost of one step's
invariant work, and an invalid op (which would have failed at the first step) fails then.

Statistics: ``ops_hoisted`` (body ops moved out), ``invariants_added``.
"""
from __future__ import annotations

from ..ir.core import Graph, Op, Value
from ..ir.opdef import COLLECTIVE, RANDOM, get_opdef

from .dce import has_effects
from .manager import Pass, count, register_pass
from .rewrite import copy_op
from .scan_edit import ScanParts, new_params, over_scans


def _movable(op: Op) -> bool:
    opdef = get_opdef(op.kind)
    return not has_effects(op) and not opdef.has(RANDOM) and not opdef.has(COLLECTIVE)


def _classify(parts: ScanParts) -> tuple[list[Op], set[int]]:
    """(the ops to hoist in body order, ids of the values made of constants alone)."""
    invariant = {id(p) for p in parts.invariant_params()}
    constant: set[int] = set()
    hoisted = []
    for op in parts.body.ops:
        ids = [id(v) for v in op.operands]
        if not _movable(op) or not all(i in invariant or i in constant for i in ids):
            continue
        if any(i in invariant for i in ids):
            hoisted.append(op)
            invariant.update(id(r) for r in op.results)
        else:
            constant.update(id(r) for r in op.results)
    return hoisted, constant


def _emit_outside(parts: ScanParts, hoisted: list[Op]) -> dict[int, Value]:
    """Emit ``hoisted`` before the scan; id(body value) -> its outside value, for the
    invariant parameters, the hoisted ops' results and the constants they read."""
    outside: dict[int, Value] = {id(p): v for p, v in zip(parts.invariant_params(),
                                                           parts.invariants)}

    def value(v: Value) -> Value:
        if id(v) not in outside:          # a constant-only value: copy its ops
            op = v.producer
            for old, new in zip(op.results, copy_op(op, [value(u) for u in op.operands]).results):
                outside[id(old)] = new
        return outside[id(v)]

    for op in hoisted:
        for old, new in zip(op.results, copy_op(op, [value(u) for u in op.operands]).results):
            outside[id(old)] = new
    return outside


def _hoist(parts: ScanParts) -> tuple | None:
    hoisted, _ = _classify(parts)
    if not hoisted:
        return None
    body = parts.body
    outside = _emit_outside(parts, hoisted)
    moved = {id(op) for op in hoisted}
    moved_values = {id(r) for op in hoisted for r in op.results}
    kept = [op for op in body.ops if id(op) not in moved]

    # Hoisted values the loop still reads become new invariants.
    read = [v for op in kept for v in op.operands] + list(body.results)
    boundary: dict[int, Value] = {}
    for v in read:
        if id(v) in moved_values and id(v) not in boundary:
            boundary[id(v)] = v
    added = new_params(list(boundary.values()), "hoisted", body)
    mapping: dict[int, Value] = dict(zip(boundary, added))

    for op in kept:
        operands = [mapping.get(id(u), u) for u in op.operands]
        if any(a is not b for a, b in zip(operands, op.operands)):
            for old, new in zip(op.results, copy_op(op, operands).results):
                mapping[id(old)] = new
    results = [mapping.get(id(r), r) for r in body.results]
    still_read = {id(u) for op in kept for u in op.operands} | {id(r) for r in body.results}
    invariants = [(p, v) for p, v in zip(parts.invariant_params(), parts.invariants)
                  if id(p) in still_read]
    params = [*body.params[:len(parts.carries) + len(parts.sequences)],
              *(p for p, _ in invariants), *added]
    new_body = Graph.from_results(body.name, params, results)
    count("ops_hoisted", len(hoisted))
    count("invariants_added", len(added))
    return parts.with_(body=new_body, invariants=(*(v for _, v in invariants),
                                                  *(outside[i] for i in boundary))).emit()


def hoist_invariants(graph: Graph) -> Graph:
    return over_scans(graph, _hoist)


register_pass(Pass("hoist_invariants", hoist_invariants,
                   "compute a scan body's work on its invariants once, before the loop"))
