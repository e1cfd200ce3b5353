"""Constant folding and algebraic simplification, as small rules keyed by op kind.

* Folding: an op whose operands are all constants (and whose result is small, concrete
  and not random) is computed now with its numpy reference and becomes a ``constant``.
  A fold must give exactly what the reference gives when the graph runs, errors
  included, so an op is left as it is (to run, and fail or warn, with its location in
  the message) when its ``ref`` raises (an index out of range), when it meets a
  floating-point exception (``1 / 0``, ``log(0)``, an overflow or an underflow: numpy's
  ``errstate`` is ``"raise"`` for every kind while folding, so a fold never hides what
  the run would warn about, or raise under the user's ``np.errstate``), or when its
  arrays disagree with the op's result types (the interpreter reports that too). A
  non-finite result of non-finite constants (``inf + 1``) signals nothing and folds.
* Identities, each applied only when the result type equals the kept value's type and
  the identity is exact for every x, signed zeros, inf and NaN included: ``x * 1``,
  ``1 * x``, ``x / 1`` -> x; ``x + 0``, ``0 + x`` and ``x - 0`` -> x for integer
  dtypes, and for floats only with the zero of the right sign: ``x + -0.0``,
  ``-0.0 + x`` and ``x - 0.0`` are x, but ``x + 0.0`` and ``x - -0.0`` are not
  (``-0.0 + 0.0`` is +0.0) and stay; a reshape, broadcast_to or cast to the operand's
  own type -> x; an identity transpose -> x; a reduction over no axes -> x; a reshape
  of a reshape -> one reshape (none if the inner one's operand has the result's type;
  both kept when the inner one gives a symbol a size, which numpy checks when it runs),
  and a transpose of a transpose -> one transpose (none if the two cancel);
  ``where(c, a, b)`` with a constant all-true (all-false) ``c`` -> a (b), broadcast to
  the result's shape. The last one removes the branch a
  training-mode flag did not take. A broadcast constant counts as that constant for
  the 0 and 1 tests.

``stop_gradient`` is kept: a graph may still be differentiated after this pass.
"""
from __future__ import annotations

import numpy as np

from fusegraph.ir.builder import emit
from fusegraph.ir.core import Graph, Op, Value
from fusegraph.ir.opdef import HAS_REGION, RANDOM, get_opdef
from fusegraph.ir.ops.vjp_utils import constant_value, is_all, splat_value
from fusegraph.ir.types import Sym, symbolic_size

from .manager import Pass, register_pass
from .rewrite import rebuild

FOLD_LIMIT = 4096  # largest result (elements) folded into a constant


def _is_signed_zero(v: Value, negative: bool) -> bool:
    """Whether ``v`` is a (broadcast) constant zero, each element with the sign bit
    ``negative`` when ``v`` is a float (ints have one zero). ``x + -0.0`` and ``x - 0.0``
    are x for every x, -0.0 included; ``x + 0.0`` and ``x - -0.0`` turn -0.0 into +0.0."""
    c = splat_value(v)
    if c is None or not np.all(c == 0):
        return False
    return not v.type.dtype.is_float or bool(np.all(np.signbit(c) == negative))


def _fold(op: Op, operands) -> tuple | None:
    opdef = get_opdef(op.kind)
    if op.kind == "constant" or opdef.has(RANDOM) or opdef.has(HAS_REGION):
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


def _identity_operand(op: Op, operands) -> tuple | None:
    kind = op.kind
    if not operands:
        return None
    a = operands[0]
    if kind == "sub" and _is_signed_zero(operands[1], negative=False):
        return _keep(op, a)
    if kind == "add" and _is_signed_zero(operands[1], negative=True):
        return _keep(op, a)
    if kind == "add" and _is_signed_zero(a, negative=True):
        return _keep(op, operands[1])
    if kind in ("mul", "div") and is_all(operands[1], 1):
        return _keep(op, a)
    if kind == "mul" and is_all(a, 1):
        return _keep(op, operands[1])
    if kind in ("reshape", "broadcast_to", "cast"):
        return _keep(op, a)
    if kind == "transpose" and op.attrs["perm"] == tuple(range(a.type.rank)):
        return _keep(op, a)
    if kind.startswith("reduce_") and op.attrs["axes"] == ():
        return _keep(op, a)
    if kind == "where":
        c = constant_value(a)
        if c is not None and (c.all() or not c.any()):
            return _keep(op, operands[1] if c.all() else operands[2], broadcast=True)
    return None


def _merge_movement(op: Op, operands) -> tuple | None:
    """reshape(reshape(y)) -> one reshape (or y, if it has the result's type), unless the
    inner reshape gives a symbol a size (``(B, 3)`` to ``(4, 3)``): numpy checks that size
    when it runs, and the merged reshape may not (``(B, 3)`` to ``(4, 3)`` and back);
    transpose(transpose(y)) -> one transpose (or y, if the two cancel)."""
    if op.kind not in ("reshape", "transpose"):
        return None
    inner = operands[0].producer
    if inner is None or inner.kind != op.kind:
        return None
    y = inner.operands[0]
    if op.kind == "reshape":
        if symbolic_size(y.type.shape)[1] != symbolic_size(operands[0].type.shape)[1]:
            return None
        return _keep(op, y) or (emit("reshape", y, shape=op.attrs["shape"]),)
    perm = tuple(inner.attrs["perm"][p] for p in op.attrs["perm"])
    return _keep(op, y) if perm == tuple(range(y.type.rank)) else (emit("transpose", y, perm=perm),)


def simplify(graph: Graph) -> Graph:
    def rule(op, operands):
        return _fold(op, operands) or _identity_operand(op, operands) or _merge_movement(op, operands)
    return rebuild(graph, rule)


register_pass(Pass("simplify", simplify, "fold constants and drop identity ops"))
