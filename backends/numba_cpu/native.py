"""Ops that numba_cpu runs with a hand-written Numba kernel instead of their numpy ``ref``.

``scatter_add`` (the gradient of ``take``: an Embedding's table gradient) is numpy's
``x.copy()`` then ``np.add.at``, which costs about a millisecond for a 10000x64 table
and a few hundred rows (``add.at`` is a slow generic loop). Here it is one pass: the
output filled (with zeros when ``x`` is a constant zero, as autodiff's is, so ``x`` is
not even read), then each update row added into its row, in the order of the indices, so
the result is ``ref``'s bit for bit (the same float additions in the same order).

An index out of range raises ``IndexError`` before anything is written; the plan then
reruns the step on the checked path, whose ``ref`` raises the error naming the op.

``segment_rows`` (:mod:`fusegraph.ir.ops.scatter`; what :mod:`fusegraph.passes.sparse_rows`
makes of such a scatter when kernels read the table gradient) is one pass over the
indices: slots cleared, then each update row copied into the row of its index's first
occurrence or added to it there, in index order from zero, so ``ref``'s sums bit for bit.

A native op writes into buffers the plan keeps, like a kernel
(:mod:`.plan`: ``native`` mode): :data:`NATIVE` maps an op name to its kernel's spec and
a runner ``(kernel, operands, outs, attrs, zero_x) -> None`` (``outs``: one C-contiguous
array per result; ``zero_x``: the first operand is known to be all zeros). The plan loads the kernel
when it is made, through the verified kernel cache
(:func:`fusegraph.backends.numba.kernels.load_kernel`), as generated kernels are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SCATTER_SOURCE = '''\
# scatter_add into a [A, N, C] view of the output: fusegraph backends/numba_cpu/native.py
import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def scatter_add_rows(x, idx, updates, out, zero_x):
    """out = x (or 0), then out[a, idx[i], c] += updates[a, i, c] in index order."""
    n = out.shape[1]
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n:
            raise IndexError("scatter_add: index out of range")
    if zero_x:
        out[:] = 0
    else:
        out[:] = x
    for a in range(out.shape[0]):
        for i in range(idx.shape[0]):
            row = idx[i]
            for c in range(out.shape[2]):
                out[a, row, c] += updates[a, i, c]
'''


_SEGMENT_SOURCE = '''\
# segment_rows: fusegraph backends/numba_cpu/native.py
from numba import njit


@njit(cache=True, error_model="numpy")
def segment_rows(idx, updates, slots, sums):
    """slots[r, 0] = the first i with idx[i] == r (else -1); sums[i] = the sum of the
    updates rows of idx[i], in index order from zero, at first occurrences, else zero."""
    n = slots.shape[0]
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n:
            raise IndexError("segment_rows: index out of range")
    slots[:] = -1
    for i in range(idx.shape[0]):
        first = slots[idx[i], 0]
        if first < 0:
            first = slots[idx[i], 0] = i
        for c in range(sums.shape[1]):
            sums[i, c] = 0
        for c in range(sums.shape[1]):
            sums[first, c] += updates[i, c]
'''


@dataclass(frozen=True)
class NativeSpec:
    """A hand-written kernel: what :func:`load_kernel` needs."""

    name: str
    source: str


_SCATTER = NativeSpec("scatter_add_rows", _SCATTER_SOURCE)


def scatter_add_into(kernel, operands: list, outs: list, attrs: dict, zero_x: bool) -> None:
    """``scatter_add(x, idx, updates, axis)`` written into ``outs[0]`` (x's shape and
    dtype, C-contiguous) by ``kernel`` (the loaded ``scatter_add_rows``). ``zero_x``: x
    is known to be all zeros (it is then not read)."""
    x, idx, updates = operands
    (out,) = outs
    axis = attrs["axis"]
    lead = int(np.prod(out.shape[:axis], dtype=np.int64))
    trail = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    shape = (lead, out.shape[axis], trail)
    flat_idx = idx.reshape(-1)
    kernel(x.reshape(shape), flat_idx, updates.reshape(lead, flat_idx.shape[0], trail),
           out.reshape(shape), zero_x)


_SEGMENT = NativeSpec("segment_rows", _SEGMENT_SOURCE)


def segment_rows_into(kernel, operands: list, outs: list, attrs: dict, zero_x: bool) -> None:
    """``segment_rows(idx, updates)`` written into ``outs`` (slots ``[rows, 1]`` i32 and
    sums, updates' shape and dtype) by ``kernel`` (the loaded ``segment_rows``)."""
    idx, updates = operands
    slots, sums = outs
    flat_idx = idx.reshape(-1)
    rows = (flat_idx.shape[0], updates.shape[-1])
    kernel(flat_idx, updates.reshape(rows), slots, sums.reshape(rows))


# op name -> its native runner (see the module docstring).
NATIVE = {"scatter_add": (_SCATTER, scatter_add_into),
          "segment_rows": (_SEGMENT, segment_rows_into)}
