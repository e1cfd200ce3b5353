"""The argument types a numba_cpu kernel (or compiled scan loop) is called with, known
from the graph before any call, so that it can be compiled ahead of its first call for exactly the signature that
call dispatches on (another signature would be a second compile).

An argument is described as plain data (it crosses to a compile worker as JSON):
``["array", dtype, rank]`` for an ndarray (``["array", dtype, rank, layout]``: in
Fortran order, ``"F"``, or any, ``"A"``), ``["int64"]`` for a size, ``["bool"]``.
Arrays are described as the kernels get them: **C-contiguous, writable and aligned** (a
plan's buffers and slots, the checked path's ``np.empty`` outputs, and what kernels,
contractions, native ops and scans return are all that). An operand that is not (a
transposed view from a numpy op, a weight a user created in Fortran order, a read-only
broadcast) makes Numba compile that other signature when it arrives, as it would without
the compile ahead: correct, only not ahead.
"""
from __future__ import annotations

import numpy as np

SIZE = ("int64",)      # a symbol's size: Python ints (and numpy int64) dispatch as int64


def array_argument(value) -> tuple:
    """The description of an ndarray argument of ``value``'s type (an IR Value)."""
    return ("array", np.dtype(value.type.dtype.numpy).name, value.type.rank)


def transposed(value) -> str | None:
    """The layout Numba sees for ``value`` when it is a transpose's view (through
    reshapes), which reaches a kernel strided and makes Numba compile the kernel for it
    apart: ``"F"`` for a transpose reversing the axes, ``"A"`` for others; None for a
    value that is no such view."""
    producer, reshaped = value.producer, False
    while producer is not None and producer.kind == "reshape":
        producer, reshaped = producer.operands[0].producer, True
    if producer is None or producer.kind != "transpose":
        return None
    perm = tuple(producer.attrs["perm"])
    if perm == tuple(range(len(perm))):
        return None
    return "F" if perm == tuple(reversed(range(len(perm)))) and not reshaped else "A"


def kernel_arguments(op, symbols, in_place=(), strided: bool = False) -> tuple:
    """The arguments of the kernel of the ``fused`` op ``op`` (see
    :mod:`fusegraph.backends.numba_cpu.codegen`): its operands, one output per result
    but those written in place (``in_place``: the spec's ``(result, operand)`` pairs),
    one size per symbol of ``symbols``. ``strided``: the operands that are
    :func:`transposed` views described with the layout they arrive in."""
    written = {j for j, _ in in_place}
    return (tuple(array_argument(v) + ((transposed(v),) if strided and transposed(v) else ())
                  for v in op.operands)
            + tuple(array_argument(r) for j, r in enumerate(op.results) if j not in written)
            + (SIZE,) * len(symbols))


def native_arguments(op) -> tuple | None:
    """The arguments numba_cpu's hand-written kernel of ``op`` is called with
    (:mod:`fusegraph.backends.numba_cpu.native`), None for an op without one. For
    ``scatter_add``, ``scatter_add_into`` passes 3-D C-contiguous views of ``x``, the
    updates and the output, the indices flattened, and whether ``x`` is all zeros; for
    ``segment_rows``, ``segment_rows_into`` the indices flattened, the updates as 2-D
    rows, the slots, and the sums as 2-D rows."""
    if op.kind == "scatter_add":
        x, idx, updates = op.operands
        return (array_argument(x)[:2] + (3,), array_argument(idx)[:2] + (1,),
                array_argument(updates)[:2] + (3,), array_argument(op.results[0])[:2] + (3,),
                ("bool",))
    if op.kind == "segment_rows":
        idx, updates = op.operands
        slots, sums = op.results
        return (array_argument(idx)[:2] + (1,), array_argument(updates)[:2] + (2,),
                array_argument(slots), array_argument(sums)[:2] + (2,))
    return None


def loop_arguments(op, spec) -> tuple:
    """The arguments of the compiled loop of the ``scan`` op ``op`` whose generated
    source is ``spec`` (:mod:`fusegraph.backends.numba_cpu.scan_codegen`): its carries
    and sequences, the invariants it reads, the hoisted values it reads, one size per
    symbol."""
    n = op.attrs["num_carries"] + op.attrs["num_sequences"]
    return (tuple(array_argument(v) for v in op.operands[:n])
            + tuple(array_argument(op.operands[n + j]) for j in spec.invariants)
            + tuple(array_argument(v) for v in spec.hoisted_args)
            + (SIZE,) * len(spec.symbols))


def numba_signature(arguments) -> tuple:
    """The Numba argument types of the described ``arguments`` (imports Numba)."""
    from numba.core import types
    from numba.np.numpy_support import from_dtype

    out = []
    for argument in arguments:
        kind = argument[0]
        if kind == "array":
            layout = argument[3] if len(argument) > 3 else "C"
            out.append(types.Array(from_dtype(np.dtype(argument[1])), int(argument[2]), layout))
        elif kind == "int64":
            out.append(types.int64)
        elif kind == "bool":
            out.append(types.boolean)
        else:
            raise ValueError(f"unknown kernel argument kind {kind!r}")
    return tuple(out)
