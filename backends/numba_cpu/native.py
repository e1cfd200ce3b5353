"""Ops that numba_cpu runs with a hand-written Numba kernel instead of their numpy ``ref``.

``scatter_add`` (the gradient of ``take``: an Embedding's table gradient) is numpy's
``x.copy()`` then ``np.add.at``, which costs about a millisecond for a 10000x64 table
and a few hundred rows (``add.at`` is a slow generic loop). Here it is one pass: the
output filled (with zeros when ``x`` is a constant zero, as autodiff's is, so ``x`` is
not even read), then each update row added into its row, in the order of the indices, so
the result is ``ref``'s bit for bit (the same float additions in the same order).

An index out of range raises ``IndexError`` before anything is written; the plan then
reruns the step on the checked path, whose ``ref`` raises the error naming the op.

A native op writes into a buffer the plan keeps, like a kernel
(:mod:`.plan`: ``native`` mode): :data:`NATIVE` maps an op name to its kernel's spec and
a runner ``(kernel, operands, out, attrs, zero_x) -> None``. The plan loads the kernel
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


@dataclass(frozen=True)
class NativeSpec:
    """A hand-written kernel: what :func:`load_kernel` needs."""

    name: str
    source: str


_SCATTER = NativeSpec("scatter_add_rows", _SCATTER_SOURCE)


def scatter_add_into(kernel, operands: list, out: np.ndarray, attrs: dict,
                     zero_x: bool) -> None:
    """``scatter_add(x, idx, updates, axis)`` written into ``out`` (x's shape and dtype,
    C-contiguous) by ``kernel`` (the loaded ``scatter_add_rows``). ``zero_x``: x is known
    to be all zeros (it is then not read)."""
    x, idx, updates = operands
    axis = attrs["axis"]
    lead = int(np.prod(out.shape[:axis], dtype=np.int64))
    trail = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    shape = (lead, out.shape[axis], trail)
    flat_idx = idx.reshape(-1)
    kernel(x.reshape(shape), flat_idx, updates.reshape(lead, flat_idx.shape[0], trail),
           out.reshape(shape), zero_x)


# op name -> its native runner (see the module docstring).
NATIVE = {"scatter_add": (_SCATTER, scatter_add_into)}
