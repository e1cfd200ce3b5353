"""Constant folding and algebraic simplification: a table of named rewrite rules keyed
by op kind (:class:`.rewrite.RuleTable`). ``RULES`` holds them in the order they are
tried (folding first, for every kind); each firing is counted under the rule's name
(``fusegraph dump --stats`` prints the counts).

* Folding computes an op of constants now, with its numpy reference, and must give
  exactly what the reference gives when the graph runs, errors included: an op whose
  ``ref`` raises (an index out of range) or meets a floating-point exception (``1 / 0``,
  ``log(0)``, an overflow or underflow: ``errstate`` is ``"raise"`` while folding, so a
  fold never hides what the run would warn about, or raise under the user's
  ``np.errstate``) is left to run and fail there with its location. A non-finite
  result of non-finite constants (``inf + 1``) signals nothing and folds.
* An identity applies only when the kept value has the result's type and the identity
  is exact for every x, signed zeros, inf and NaN included (``x + 0.0`` is not x:
  ``-0.0 + 0.0`` is +0.0). A broadcast constant counts as that constant for the 0 and
  1 tests.

``stop_gradient`` is kept: a graph may still be differentiated after this pass.
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import emit
from ..ir.core import Graph, Op, Value
from ..ir.opdef import COLLECTIVE, HAS_REGION, RANDOM, REDUCTION, get_opdef
from ..ir.ops.vjp_utils import constant_value, is_all, splat_value
from ..ir.types import Sym, symbolic_size

from .manager import Pass, register_pass
from .rewrite import RuleTable, rebuild

FOLD_LIMIT = 4096  # largest result (elements) folded into a constant


def is_signed_zero(v: Value, negative: bool) -> bool:
    """Whether ``v`` is a (broadcast) constant zero, each element with the sign bit
    ``negative`` when ``v`` is a float (ints have one zero). ``x + -0.0`` and ``x - 0.0``
    are x for every x, -0.0 included; ``x + 0.0`` and ``x - -0.0`` turn -0.0 into +0.0."""
    c = splat_value(v)
    if c is None or not np.all(c == 0):
        return False
    return not v.type.dtype.is_float or bool(np.all(np.signbit(c) == negative))


RULES = RuleTable("simplify")


@RULES.rule()
def fold_constants(op: Op, operands) -> tuple | None:
    """An op (any kind but constant, random, collective or region ops) whose operands are all
    constants and whose results are concrete, non-empty and at most FOLD_LIMIT elements
    -> constants of what its ``ref`` computes, unless the ``ref`` raises or meets a
    floating-point exception, or gives arrays that disagree with the result types."""
    opdef = get_opdef(op.kind)
    if op.kind == "constant" or any(opdef.has(t) for t in (RANDOM, COLLECTIVE, HAS_REGION)):
        return None
    if any(isinstance(d, Sym) for r in op.results for d in r.type.shape):
        return None
    if any(int(np.prod(r.type.shape, dtype=np.int64)) > FOLD_LIMIT for r in op.results):
        return None
    arrays = [constant_value(v) for v in operands]
    if any(a is None for a in arrays):
        return None
    try:
        with np.errstate(all="raise"):
            out = opdef.ref(arrays, dict(op.attrs))
    except Exception:   # left for the graph's run to report, with the op's location
        return None
    outs = [np.asarray(a) for a in (out if isinstance(out, (tuple, list)) else (out,))]
    if len(outs) != len(op.results) or any(
            a.dtype != r.type.dtype.numpy or a.shape != r.type.shape or a.size == 0
            for a, r in zip(outs, op.results)):   # an empty array's nested list loses dims
        return None
    return tuple(emit("constant", value=a.tolist(), dtype=r.type.dtype)
                 for a, r in zip(outs, op.results))


def _keep(op: Op, value: Value, broadcast: bool = False) -> tuple | None:
    """``(value,)`` when it can stand for the op's only result (same type) — or, with
    ``broadcast``, its broadcast to the result's shape — else None."""
    want = op.results[0].type
    if value.type == want:
        return (value,)
    if broadcast and value.type.dtype == want.dtype:
        return (emit("broadcast_to", value, shape=want.shape),)
    return None


@RULES.rule("sub")
def sub_positive_zero(op: Op, operands) -> tuple | None:
    """``x - 0`` -> x, a float zero only if +0.0 (``-0.0 - -0.0`` is +0.0)."""
    if is_signed_zero(operands[1], negative=False):
        return _keep(op, operands[0])
    return None


@RULES.rule("add")
def add_negative_zero(op: Op, operands) -> tuple | None:
    """``x + 0`` and ``0 + x`` -> x, a float zero only if -0.0 (``-0.0 + 0.0`` is +0.0)."""
    a, b = operands
    if is_signed_zero(b, negative=True):
        return _keep(op, a)
    if is_signed_zero(a, negative=True):
        return _keep(op, b)
    return None


@RULES.rule("mul", "div")
def times_one(op: Op, operands) -> tuple | None:
    """``x * 1``, ``1 * x`` and ``x / 1`` -> x (a broadcast 1 counts as 1)."""
    a, b = operands
    if is_all(b, 1):
        return _keep(op, a)
    if op.kind == "mul" and is_all(a, 1):
        return _keep(op, b)
    return None


@RULES.rule("reshape", "broadcast_to", "cast")
def to_own_type(op: Op, operands) -> tuple | None:
    """A reshape, broadcast_to or cast whose result has its operand's type -> the operand."""
    return _keep(op, operands[0])


@RULES.rule("transpose")
def identity_transpose(op: Op, operands) -> tuple | None:
    """A transpose by the identity permutation -> its operand."""
    if op.attrs["perm"] == tuple(range(operands[0].type.rank)):
        return _keep(op, operands[0])
    return None


@RULES.rule(traits=(REDUCTION,))
def reduce_over_no_axes(op: Op, operands) -> tuple | None:
    """A REDUCTION over ``axes=()`` -> its operand: it reduces nothing. Exact for max
    and min; numpy's sum and mean over ``axis=()`` turn -0.0 into +0.0, which the
    operand keeps (the only difference: the reference's ``ref`` should return the
    operand there)."""
    if op.attrs["axes"] == ():
        return _keep(op, operands[0])
    return None


@RULES.rule("where")
def where_constant_condition(op: Op, operands) -> tuple | None:
    """``where(c, a, b)`` with a constant all-true (all-false) ``c`` -> a (b), broadcast
    to the result's shape: the branch a training-mode flag did not take goes."""
    c = constant_value(operands[0])
    if c is not None and (c.all() or not c.any()):
        return _keep(op, operands[1] if c.all() else operands[2], broadcast=True)
    return None


@RULES.rule("reshape")
def merge_reshapes(op: Op, operands) -> tuple | None:
    """reshape(reshape(y)) -> one reshape (or y, if it has the result's type), unless the
    inner reshape gives a symbol a size (``(B, 3)`` to ``(4, 3)``): numpy checks that size
    when it runs, and the merged reshape may not (``(B, 3)`` to ``(4, 3)`` and back)."""
    inner = operands[0].producer
    if inner is None or inner.kind != "reshape":
        return None
    y = inner.operands[0]
    if symbolic_size(y.type.shape)[1] != symbolic_size(operands[0].type.shape)[1]:
        return None
    return _keep(op, y) or (emit("reshape", y, shape=op.attrs["shape"]),)


@RULES.rule("transpose")
def merge_transposes(op: Op, operands) -> tuple | None:
    """transpose(transpose(y)) -> one transpose (or y, if the two cancel)."""
    inner = operands[0].producer
    if inner is None or inner.kind != "transpose":
        return None
    y = inner.operands[0]
    perm = tuple(inner.attrs["perm"][p] for p in op.attrs["perm"])
    return _keep(op, y) if perm == tuple(range(y.type.rank)) else (emit("transpose", y, perm=perm),)


def simplify(graph: Graph) -> Graph:
    return rebuild(graph, RULES.apply)


register_pass(Pass("simplify", simplify, "fold constants and drop identity ops"))
