"""``matmul``: the one contraction primitive.

numpy's matmul on operands of rank >= 2: contracts a's last axis with b's second to
last, broadcasting the leading (batch) axes. Dense layers, attention scores and
einsum-style projections all lower to it, so a backend needs one BLAS path.
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..errors import ShapeError
from ..opdef import CONTRACTION, OpDef, register
from ..types import TensorType, broadcast_shapes, mismatch, why_not_broadcast
from .vjp_utils import swap_last_two
from ._rules import NUMERIC, fmt, require_dtype, same_dtype


def _matmul_infer(types, attrs):
    a, b = types
    dtype = same_dtype(types, "")
    require_dtype(a, NUMERIC, "operands")
    if a.rank < 2 or b.rank < 2:
        raise ShapeError(f"matmul needs operands of rank >= 2, got {fmt(types)}")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"contracted dims differ: {a} @ {b} "
                         f"{mismatch(a.shape[-1], b.shape[-2])}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if batch is None:
        raise ShapeError(f"batch dims do not broadcast: {fmt(types)}: "
                         f"{why_not_broadcast(a.shape[:-2], b.shape[:-2])}")
    return TensorType(batch + (a.shape[-2], b.shape[-1]), dtype)


def _matmul_vjp(op, cts):
    """da = g @ b^T, db = a^T @ g (the driver sums over broadcast batch dims)."""
    (a, b), g = op.operands, cts[0]
    return emit("matmul", g, swap_last_two(b)), emit("matmul", swap_last_two(a), g)


register(OpDef("matmul", _matmul_infer, lambda xs, attrs: np.matmul(xs[0], xs[1]), 2,
               traits=frozenset({CONTRACTION}),
               doc="a @ b with numpy semantics for rank >= 2 (batch dims broadcast)",
               vjp=_matmul_vjp))
