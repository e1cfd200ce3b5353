"""The GEMM behind numba_cpu's plans: numpy's BLAS, or Intel MKL's when it is installed.

:func:`matmul_into` writes ``a @ b`` (numpy's ``matmul`` semantics: batch dims
broadcast) into ``out``, a C-contiguous array of the result's shape and dtype. Which
library runs it is :func:`provider` (either way, a C-contiguous ``a[..., M, K]`` times
a matrix ``b[K, N]`` is ONE GEMM of ``a[(...)*M, K]``: :func:`_one_gemm`):

* ``numpy``: ``np.matmul`` (numpy's wheels bundle OpenBLAS);
* ``mkl``: ``cblas_sgemm``/``cblas_dgemm`` of MKL's single dynamic library
  (``libmkl_rt``, which the ``mkl`` wheel installs: ``pip install -e ".[mkl]"``), called
  through ctypes with each operand's strides as BLAS's transpose flag and leading
  dimension (a view BLAS cannot express is copied first); a batched product is ONE
  ``cblas_?gemm_batch`` call over the pointers of every matrix of the broadcast batch,
  whatever the batch strides (the attention heads' strided views included). Only
  float32 and float64 go to MKL; other dtypes, and sizes past 32-bit ints, stay on numpy.

The choice, once per process, from ``FUSEGRAPH_BLAS``: ``auto`` (the default: MKL when
its library is found, in the environment's ``lib`` folder or on the loader's path),
``mkl`` (an error naming what to install when it is not found) or ``numpy``. Measured
on the 2-core Xeon VM (AVX-512), one thread, float32: MKL 213 GFLOP/s against OpenBLAS
177 on [4096,128] @ [128,512], 195 against 160 on the MLP's [128,784] @ [784,512], and
the attention's 128 strided [128,128] @ [128,128] products 3.4 ms against 4.3. On AMD
CPUs numpy's OpenBLAS may be the faster: ``FUSEGRAPH_BLAS=numpy`` keeps it. Results
differ from numpy's BLAS in the order of additions only (the plans' agreement check,
:func:`fusegraph.backends.numba.steps.disagreement`, allows that).

MKL's threads follow :func:`fusegraph.backends.threads.set_num_threads` (threadpoolctl
limits every BLAS library loaded; MKL gets the current count when it is loaded), and
numpy's OpenBLAS, left the small products, keeps to one thread.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import math
import os
import sys
import threading

import numpy as np

from .. import threads

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_INT_MAX = 2 ** 31 - 1
_CHOICES = ("auto", "mkl", "numpy")
# Products smaller than this (multiply-adds) stay on numpy's BLAS even when MKL is the
# provider: a ctypes call costs about 7 us (numpy's matmul 1 us), MKL only wins from a
# few million multiply-adds ([128,784] @ [784,512], 51M: 528 us against 637), and under
# 2^24 it was slower on 2 threads ([128,256] @ [256,256]: 119 us against 74; the ticket
# model's [32,228] @ [228,64] products 56 us against 18 on one MKL thread). On more than
# one thread, numpy's OpenBLAS then keeps to one thread (:func:`provider`): two BLAS
# pools taking turns leave each one's idle workers waiting on the core the other wants
# (the wide MLP on 2 threads: 3.6 ms per step, against 2.7 on numpy's BLAS alone).
MKL_MIN_MACS = 1 << 24

_state: dict = {}
_lock = threading.Lock()


class BlasError(RuntimeError):
    """``FUSEGRAPH_BLAS`` names a library that cannot be used."""


def _mkl_candidates() -> list[str]:
    """Paths where MKL's runtime library may be: the environment's ``lib`` folder (where
    the ``mkl`` wheel puts it), then the loader's search path."""
    found = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    name = ctypes.util.find_library("mkl_rt")
    return found + ([name] if name else [])


class _Mkl:
    """MKL's CBLAS GEMM entry points, typed for ctypes."""

    def __init__(self, library: ctypes.CDLL):
        self.library = library
        i, p = ctypes.c_int, ctypes.c_void_p
        self.gemm, self.gemm_batch = {}, {}
        for dtype, prefix, scalar in ((np.float32, "s", ctypes.c_float),
                                      (np.float64, "d", ctypes.c_double)):
            gemm = getattr(library, f"cblas_{prefix}gemm")
            gemm.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
            gemm.restype = None
            batch = getattr(library, f"cblas_{prefix}gemm_batch")
            # layout, transa[], transb[], m[], n[], k[], alpha[], a[], lda[], b[], ldb[],
            # beta[], c[], ldc[], group_count, group_size[]
            batch.argtypes = [i] + [p] * 13 + [i, p]
            batch.restype = None
            self.gemm[np.dtype(dtype)] = (gemm, scalar)
            self.gemm_batch[np.dtype(dtype)] = batch


def _load_mkl():
    """The :class:`_Mkl` of the first MKL library that loads, or None. Its OpenMP
    workers spin 1 ms after a product before they sleep (``KMP_BLOCKTIME``, unless the
    environment sets it): fusegraph's ``OMP_WAIT_POLICY=PASSIVE`` alone puts them to
    sleep at once, and waking them for each of a step's products cost the wide MLP 0.6
    ms per step on 2 threads (3.1 -> 2.45 ms); spinning longer (5 ms) made them fight
    numpy's BLAS workers (18 ms)."""
    os.environ.setdefault("KMP_BLOCKTIME", "1")
    for path in _mkl_candidates():
        try:
            library = ctypes.CDLL(path)
            mkl = _Mkl(library)
        except (OSError, AttributeError):
            continue
        library.MKL_Set_Num_Threads(ctypes.c_int(threads.get_num_threads()))
        return mkl
    return None


def provider() -> str:
    """``"mkl"`` or ``"numpy"``: the library :func:`matmul_into` uses (module docstring).
    Once MKL is chosen, numpy's OpenBLAS keeps to one thread (:data:`MKL_MIN_MACS` says
    why)."""
    if "provider" not in _state:
        with _lock:
            if "provider" not in _state:
                _state["mkl"], _state["provider"] = _choose()
    return _state["provider"]


def _choose():
    choice = os.environ.get("FUSEGRAPH_BLAS", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise BlasError(f"FUSEGRAPH_BLAS={choice!r}: expected one of {', '.join(_CHOICES)}")
    if choice == "numpy":
        return None, "numpy"
    mkl = _load_mkl()
    if mkl is None and choice == "mkl":
        raise BlasError("FUSEGRAPH_BLAS=mkl, but MKL's runtime library (libmkl_rt) was not "
                        "found in this environment's lib folder or on the loader's path: "
                        "pip install mkl (or fusegraph's extra: pip install -e \".[mkl]\")")
    if mkl is None:
        return None, "numpy"
    threads.keep_on_one_thread("openblas")    # numpy's BLAS gets the small products
    return mkl, "mkl"


def _one_gemm(a, b, out):
    """``(a, b, out)``, a C-contiguous ``a[..., M, K]`` times a matrix ``b[K, N]`` into a
    C-contiguous ``out`` seen as ONE GEMM of ``a[(...)*M, K]`` into ``out[(...)*M, N]``
    (numpy would call BLAS once per leading index: [32,128,512] @ [512,128] 3.42 -> 3.21
    ms); other operands as given."""
    if b.ndim == 2 and a.ndim > 2 and a.flags.c_contiguous and out.flags.c_contiguous:
        rows = math.prod(a.shape[:-1])      # not -1: a [3, 4, 0] has no size to divide
        return a.reshape(rows, a.shape[-1]), b, out.reshape(rows, b.shape[-1])
    return a, b, out


def _numpy_matmul(a, b, out):
    a, b, out = _one_gemm(a, b, out)
    np.matmul(a, b, out=out)


def blas_operand(x: np.ndarray, itemsize: int):
    """``(array, transpose flag, leading dimension)`` giving BLAS the matrices of ``x``
    (its last two axes, rows by columns) in row-major order as they lie, or, when their
    strides are not a BLAS layout (an element stride that is not 1 along either axis, a
    leading dimension too small, negative or not a whole number of elements), as a
    C-contiguous copy."""
    rows, cols = x.shape[-2:]
    s_row, s_col = x.strides[-2:]

    def whole(stride, least):     # a leading dimension of ``stride`` bytes, or None
        if stride <= 0 or stride % itemsize:
            return None
        ld = stride // itemsize
        return ld if ld >= least else None

    if cols == 1 or s_col == itemsize:
        ld = max(cols, 1) if rows == 1 else whole(s_row, cols)
        if ld is not None:
            return x, _NO_TRANS, ld
    if rows == 1 or s_row == itemsize:
        ld = max(rows, 1) if cols == 1 else whole(s_col, rows)
        if ld is not None:
            return x, _TRANS, ld
    x = np.ascontiguousarray(x)
    return x, _NO_TRANS, max(cols, 1)


def _pointers(x: np.ndarray, batch: tuple) -> np.ndarray:
    """The address of each matrix of ``x`` broadcast to the batch shape ``batch``, in C
    order (int64)."""
    view = np.broadcast_to(x, batch + x.shape[-2:])
    offsets = np.zeros((), np.int64)
    for n, stride in zip(batch, view.strides[:len(batch)]):
        offsets = np.add.outer(offsets, np.arange(n, dtype=np.int64) * stride)
    return (offsets + x.ctypes.data).reshape(-1)


def output_layout(out: np.ndarray) -> bool:
    """Whether BLAS can write ``out``'s matrices where they lie: each with unit stride
    along its rows or its columns and a leading dimension (the other stride) covering
    that extent, and no batch axis of more than one matrix with stride 0 (so no two
    elements share memory). C-contiguous arrays are; so are transposed views of them
    (a ``permuted_matmul``'s result seen in the product's order)."""
    if out.size == 0 or out.flags.c_contiguous:
        return True
    itemsize = out.dtype.itemsize
    if any(n > 1 and s <= 0 for n, s in zip(out.shape[:-2], out.strides[:-2])):
        return False
    (m, n), (s_row, s_col) = out.shape[-2:], out.strides[-2:]
    for inner, s_inner, outer, s_outer in ((n, s_col, m, s_row), (m, s_row, n, s_col)):
        if (inner == 1 or s_inner == itemsize) and (
                outer == 1 or (s_outer > 0 and s_outer % itemsize == 0
                               and s_outer // itemsize >= inner)):
            return True
    return False


def _check_shapes(a, b, out) -> None:
    """ValueError unless ``out`` has the shape of ``a @ b`` and a layout BLAS writes
    (:func:`output_layout`)."""
    if a.ndim == b.ndim == 2:
        batch = out.shape[:-2]
    else:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if (a.shape[-1] != b.shape[-2] or out.shape != batch + (a.shape[-2], b.shape[-1])
            or not output_layout(out)):
        raise ValueError(f"matmul_into: {list(a.shape)} @ {list(b.shape)} into "
                         f"{'' if output_layout(out) else 'a non-BLAS layout of '}"
                         f"{list(out.shape)}: shapes do not make that result (expected "
                         f"a[..., M, K] @ b[..., K, N] into [..., M, N] whose matrices "
                         f"have unit stride along rows or columns)")


def _mkl_matmul(mkl: _Mkl, a, b, out) -> bool:
    """``a @ b`` into ``out`` by MKL; False (nothing written) when MKL does not take it:
    another dtype, sizes past 32-bit ints, a product below :data:`MKL_MIN_MACS`."""
    dtype = out.dtype
    if dtype not in mkl.gemm or a.dtype != dtype or b.dtype != dtype:
        return False
    (m, k), n = a.shape[-2:], b.shape[-1]
    count = math.prod(out.shape[:-2])
    if max(m, n, k, a.size, b.size, count) > _INT_MAX or m * n * k * count < MKL_MIN_MACS:
        return False
    _check_shapes(a, b, out)      # BLAS reads raw pointers: a wrong shape must not reach it
    _mkl_call(mkl, *_one_gemm(a, b, out))
    return True


def _mkl_call(mkl: _Mkl, a, b, out, beta: float = 0.0) -> None:
    """The CBLAS call of :func:`_mkl_matmul`, its checks done: one ``?gemm``, or one
    ``?gemm_batch`` over every matrix of the broadcast batch; ``out = a @ b + beta *
    out`` (``beta`` 0: ``out`` is not read)."""
    (m, k), n = a.shape[-2:], b.shape[-1]
    if m == 0 or n == 0:
        return
    if k == 0:                    # nothing summed: the product is zeros
        if not beta:
            out.fill(0)
        return
    itemsize = out.dtype.itemsize
    if n > 1 and out.strides[-1] != itemsize:    # column-major matrices: out^T = b^T a^T
        _mkl_call(mkl, np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2), np.swapaxes(out, -1, -2),
                  beta)
        return
    ldc = out.strides[-2] // itemsize if m > 1 else max(n, 1)
    a, trans_a, lda = blas_operand(a, itemsize)
    b, trans_b, ldb = blas_operand(b, itemsize)
    gemm, scalar = mkl.gemm[out.dtype]
    if a.ndim == 2 and b.ndim == 2:
        gemm(_ROW_MAJOR, trans_a, trans_b, m, n, k, scalar(1.0), a.ctypes.data, lda,
             b.ctypes.data, ldb, scalar(beta), out.ctypes.data, ldc)
        return
    batch = out.shape[:-2]
    count = math.prod(batch)
    ints = np.array([trans_a, trans_b, m, n, k, lda, ldb, ldc, count], np.int32)
    scalars = np.array([1.0, beta], out.dtype)
    pa, pb, pc = _pointers(a, batch), _pointers(b, batch), _pointers(out, batch)
    at, w = ints.ctypes.data, ints.itemsize
    mkl.gemm_batch[out.dtype](_ROW_MAJOR, at, at + w, at + 2 * w, at + 3 * w, at + 4 * w,
                              scalars.ctypes.data, pa.ctypes.data, at + 5 * w, pb.ctypes.data,
                              at + 6 * w, scalars.ctypes.data + itemsize, pc.ctypes.data,
                              at + 7 * w, 1, at + 8 * w)


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = a @ b`` (numpy's matmul; ``out`` of the result's shape and dtype, in
    a layout BLAS writes: :func:`output_layout`), by :func:`provider`'s library."""
    if provider() == "mkl" and _mkl_matmul(_state["mkl"], a, b, out):
        return
    _numpy_matmul(a, b, out)


def matmul_add_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out += a @ b`` for matrices (``out`` as :func:`matmul_into`'s): one MKL ``?gemm`` adding into
    ``out`` where MKL is the provider and takes the dtype (at any size: what it saves is
    a product's temporary and its second pass), else numpy's product then the sum."""
    mkl = _state["mkl"] if provider() == "mkl" else None
    if (mkl is not None and out.dtype in mkl.gemm and a.dtype == b.dtype == out.dtype
            and a.ndim == b.ndim == 2 and max(a.shape + b.shape) <= _INT_MAX):
        _check_shapes(a, b, out)
        _mkl_call(mkl, a, b, out, beta=1.0)
        return
    out += np.matmul(a, b)


__all__ = ["BlasError", "blas_operand", "matmul_add_into", "matmul_into", "output_layout",
           "provider"]
