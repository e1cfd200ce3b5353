"""The contractions: ``matmul`` and ``tensordot``.

``matmul`` is numpy's matmul on operands of rank >= 2: contracts a's last axis with b's
second to last, broadcasting the leading (batch) axes. Dense layers, attention scores
and einsum-style projections all lower to it, so a backend needs one BLAS path.

``permuted_matmul`` is ``transpose(a @ b, perm)`` as one op, ``perm`` keeping a matrix
axis last: BLAS writes the product where the transpose would lay it out (a leading
dimension and per-matrix pointers), so the attention's ``[B, H, L, D]`` product reaches
the ``[B, L, H*D]`` the next layer reads without a copy. A pass forms it after autodiff
(:mod:`fusegraph.passes.permuted_matmuls`).

``tensordot`` is numpy's ``tensordot(a, b, (axes_a, axes_b))``: sums over pairs of
equal axes, the result's axes a's free ones then b's. It is what the gradient of a 2-D
weight applied to a batch of sequences is (``x[B,T,K] @ w[K,N]``: ``dw = sum over B and T
of x^T g``): ONE GEMM of ``[K, B*T] x [B*T, N]``, where a batched matmul then a sum over B
would make B small GEMMs and a ``[B,K,N]`` temporary (``_matmul_vjp``).
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..errors import ShapeError
from ..opdef import CONTRACTION, Attr, OpDef, register
from ..types import TensorType, broadcast_shapes, mismatch, why_not_broadcast
from .vjp_utils import swap_last_two, transpose_to
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
    """da = g @ b^T, db = a^T @ g (the driver sums over broadcast batch dims), except
    that the gradient of a 2-D operand against a batched one is one ``tensordot`` over
    the batch dims and the contracted dim (see the module docstring)."""
    return _product_cotangents(*op.operands, cts[0])


def _product_cotangents(a, b, g):
    """``_matmul_vjp``'s gradients of ``a @ b`` for its cotangent ``g``."""
    batch = tuple(range(g.type.rank - 2))
    if b.type.rank == 2 and a.type.rank > 2:      # x[..., M, K] @ w[K, N]: dw[K, N]
        db = emit("tensordot", a, g, axes_a=batch + (a.type.rank - 2,),
                  axes_b=batch + (g.type.rank - 2,))
    else:
        db = emit("matmul", swap_last_two(a), g)
    if a.type.rank == 2 and b.type.rank > 2:      # w[M, K] @ x[..., K, N]: dw[M, K]
        last = g.type.rank - 1
        da = emit("tensordot", g, b, axes_a=batch + (last,), axes_b=batch + (b.type.rank - 1,))
    else:
        da = emit("matmul", g, swap_last_two(b))
    return da, db


register(OpDef("matmul", _matmul_infer, lambda xs, attrs: np.matmul(xs[0], xs[1]), 2,
               traits=frozenset({CONTRACTION}),
               doc="a @ b with numpy semantics for rank >= 2 (batch dims broadcast)",
               vjp=_matmul_vjp))


def _permuted_infer(types, attrs):
    product, perm = _matmul_infer(types, attrs), attrs["perm"]
    rank = product.rank
    if sorted(perm) != list(range(rank)) or perm[-1] not in (rank - 2, rank - 1):
        raise ShapeError(f"permuted_matmul: perm {list(perm)} must permute the {rank} axes "
                         f"of {product} and end with one of its last two (a BLAS layout)")
    return product.with_shape(tuple(product.shape[p] for p in perm))


def _permuted_vjp(op, cts):
    """The product's gradients, of the cotangent transposed back to the product's order."""
    return _product_cotangents(*op.operands, transpose_to(cts[0], list(op.attrs["perm"])))


register(OpDef("permuted_matmul", _permuted_infer,
               lambda xs, attrs: np.transpose(np.matmul(xs[0], xs[1]), attrs["perm"]), 2,
               attrs={"perm": Attr("ints")}, traits=frozenset({CONTRACTION}),
               doc="transpose(a @ b, perm), perm ending with one of the product's last two "
                   "axes: the product written straight into the transposed layout",
               vjp=_permuted_vjp))


def _tensordot_infer(types, attrs):
    a, b = types
    dtype = same_dtype(types, "")
    require_dtype(a, NUMERIC, "operands")
    axes_a, axes_b = attrs["axes_a"], attrs["axes_b"]
    if len(axes_a) != len(axes_b):
        raise ShapeError(f"tensordot: axes_a {list(axes_a)} and axes_b {list(axes_b)} "
                         f"pair up axes, so they need the same length")
    for name, axes, t in (("axes_a", axes_a, a), ("axes_b", axes_b, b)):
        if len(set(axes)) != len(axes) or any(not 0 <= i < t.rank for i in axes):
            raise ShapeError(f"tensordot: {name} {list(axes)} must be distinct axes of "
                             f"{t} (in [0, {t.rank}))")
    for i, j in zip(axes_a, axes_b):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: axis {i} of {a} and axis {j} of {b} are summed "
                             f"together but {mismatch(a.shape[i], b.shape[j])}")
    free_a = tuple(d for i, d in enumerate(a.shape) if i not in axes_a)
    free_b = tuple(d for j, d in enumerate(b.shape) if j not in axes_b)
    return TensorType(free_a + free_b, dtype)


def _tensordot_ref(xs, attrs):
    a, b = xs
    return np.tensordot(a, b, axes=(list(attrs["axes_a"]), list(attrs["axes_b"])))


def _tensordot_vjp(op, cts):
    """Each operand's gradient: the cotangent contracted with the other operand over
    that one's free axes, then transposed back to the operand's axis order."""
    (a, b), g = op.operands, cts[0]
    axes_a, axes_b = op.attrs["axes_a"], op.attrs["axes_b"]
    free_a = [i for i in range(a.type.rank) if i not in axes_a]
    free_b = [j for j in range(b.type.rank) if j not in axes_b]
    g_of_b = tuple(range(len(free_a), len(free_a) + len(free_b)))
    # tensordot(g, b) has g's free axes (a's free ones), then b's summed axes in b's order
    da = emit("tensordot", g, b, axes_a=g_of_b, axes_b=tuple(free_b))
    da_axes = free_a + [axes_a[axes_b.index(j)] for j in sorted(axes_b)]
    db = emit("tensordot", a, g, axes_a=tuple(free_a), axes_b=tuple(range(len(free_a))))
    db_axes = [axes_b[axes_a.index(i)] for i in sorted(axes_a)] + free_b
    return transpose_to(da, da_axes), transpose_to(db, db_axes)


register(OpDef("tensordot", _tensordot_infer, _tensordot_ref, 2,
               attrs={"axes_a": Attr("ints"), "axes_b": Attr("ints")},
               traits=frozenset({CONTRACTION}),
               doc="sum of a * b over paired axes (numpy's tensordot): a's free axes, "
                   "then b's",
               vjp=_tensordot_vjp))
