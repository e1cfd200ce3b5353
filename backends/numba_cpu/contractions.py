"""How a plan runs a contraction (an op with the CONTRACTION trait) into a buffer it
keeps: :data:`CONTRACTIONS` maps the op name to ``maker(attrs) -> f(a, b, out=...)``,
a BLAS call writing ``out`` (C-contiguous, the result's shape and dtype).

* ``matmul``: :func:`.gemm.matmul_into`, numpy's BLAS or MKL's (transposed operands
  passed as views with BLAS's transpose flag; a C-contiguous ``a[..., M, K]`` times a
  matrix ``b[K, N]`` as ONE GEMM of ``a[(...)*M, K]``);
* ``permuted_matmul``: the same GEMM writing ``out`` seen in the product's axis order
  (a transposed view: BLAS's leading dimension and per-matrix pointers place it);
* ``tensordot`` summing the leading axes of both operands (the weight gradient of a
  Dense layer on sequences: :mod:`fusegraph.ir.ops.linalg`): ONE GEMM of the operands
  seen as 2-D, ``a[M, P]^T @ b[M, Q]`` with ``M`` the product of the summed axes (views
  of contiguous operands; numpy copies others), into ``out`` seen as ``[P, Q]``; any
  other pairing of axes: numpy's ``tensordot``, copied into ``out``.

The checked path runs the same functions (:func:`checked_runner`), each into a new
array: a plan is compared with a call that used the same BLAS (MKL and numpy's OpenBLAS
round differently, and one step amplifies that: Adam's ``m / sqrt(v)`` of a gradient
near 0).
"""
from __future__ import annotations

import math

import numpy as np

from ...ir.core import Op
from ...ir.opdef import CONTRACTION, get_opdef
from ...ir.types import resolve_shape

from .gemm import matmul_add_into, matmul_into


def _flat(x: np.ndarray, rows: int, cols: int) -> np.ndarray | None:
    """``x`` as ``[rows, cols]``: a view where its strides allow one (a view's shape set in
    place: numpy before 2.1 has no ``reshape(copy=False)``), else None."""
    view = x.view()
    try:
        view.shape = (rows, cols)
    except AttributeError:          # numpy: "incompatible shape for in-place modification"
        return None
    return view


def _leading_sum(count: int):
    def tensordot_into(a, b, out):
        m = math.prod(a.shape[:count])
        p, q = math.prod(a.shape[count:]), math.prod(b.shape[count:])
        flat_a, flat_b = _flat(a, m, p), _flat(b, m, q)
        if count > 1 and m and (flat_a is None or flat_b is None):
            _slice_sum(a, b, out.reshape(p, q), count)
            return
        matmul_into((a.reshape(m, p) if flat_a is None else flat_a).T,
                    b.reshape(m, q) if flat_b is None else flat_b, out.reshape(p, q))
    return tensordot_into


def _slice_sum(a, b, out2d, count: int) -> None:
    """``out2d = sum_i tensordot(a[i], b[i])`` over the first summed axis, each product one
    GEMM of views adding into ``out2d`` (the other summed axes flattened: a view where
    they flatten, else a copy of the slice). An operand whose summed axes do not flatten
    without a copy (the Transformer's attention-weight gradient: a transposed
    ``[B, T, 512]``) would otherwise be copied whole, strided: 5.0-5.4 ms against 4.2
    ms (numpy's products and sums) or 3.3 ms (MKL's adding GEMMs), 1 thread."""
    out2d.fill(0)
    m, (p, q) = math.prod(a.shape[1:count]), out2d.shape
    for i in range(a.shape[0]):
        flat_a, flat_b = _flat(a[i], m, p), _flat(b[i], m, q)
        matmul_add_into((a[i].reshape(m, p) if flat_a is None else flat_a).T,
                        b[i].reshape(m, q) if flat_b is None else flat_b, out2d)


def _tensordot(attrs):
    axes_a, axes_b = tuple(attrs["axes_a"]), tuple(attrs["axes_b"])
    if axes_a == axes_b == tuple(range(len(axes_a))):
        return _leading_sum(len(axes_a))

    def tensordot_copy(a, b, out):
        out[...] = np.tensordot(a, b, axes=(list(axes_a), list(axes_b)))
    return tensordot_copy


def _permuted(attrs):
    inverse = tuple(int(i) for i in np.argsort(attrs["perm"]))

    def permuted_matmul_into(a, b, out):
        matmul_into(a, b, out.transpose(inverse))    # the product's order, out's memory
    return permuted_matmul_into


CONTRACTIONS = {"matmul": lambda attrs: matmul_into, "tensordot": _tensordot,
                "permuted_matmul": _permuted}


def contraction_function(op: Op):
    """``f(a, b, out)`` writing ``op``'s result into ``out`` when ``op`` is a contraction
    the plans run into a buffer; None otherwise."""
    if get_opdef(op.kind).has(CONTRACTION) and op.kind in CONTRACTIONS and op.region is None:
        return CONTRACTIONS[op.kind](op.attrs)
    return None


def checked_runner(op: Op):
    """For the checked path's schedule, ``run(function, args, env)`` with the function
    to pass it: ``op``'s contraction into a new array; None for other ops."""
    function = contraction_function(op)
    if function is None:
        return None
    result = op.results[0].type

    def run(function, args, env):
        out = np.empty(resolve_shape(result.shape, env), result.dtype.numpy)
        function(*args, out)
        return [out]
    return run, function
