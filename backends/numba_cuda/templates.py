"""Scalar expression templates of the Numba CUDA backend: the shared (numba_cpu's) ones,
with the few entries CUDA spells differently overridden by dict-merge.

The base tables are :mod:`fusegraph.backends.numba.templates` (imported, never
copied: one op's meaning is written once). A template there is a Python expression with
``{0}``, ``{1}``, ... for the operands and ``{T}`` for the result's numpy scalar type,
computing one element exactly as the op's numpy ``ref`` does. Numba's CUDA target
types the same expressions the same way (``math.exp(float32)`` is float32, via
libdevice's ``expf``, not the approximate ``__expf``: kernels compile without fastmath),
so most entries are shared as they are. Overridden here, each because numba.cuda has no
implementation of what the CPU entry calls (checked by compiling every template to PTX,
see ``tests/backends/test_numba_cuda.py``):

* ``sign``: ``np.sign`` is not supported in CUDA kernels. Spelled with comparisons;
  NaN stays NaN and a zero of either sign gives +0, as numpy does (``x - x``).
* ``floor``: ``np.floor`` is not supported, and ``math.floor`` returns an int64 in Numba
  (undefined for inf/NaN, and loses the sign of -0.0). Values of magnitude >= 2**52 (and
  inf, NaN) are already integral and pass through; others go through ``math.floor`` and
  back, with ``math.copysign`` restoring the sign (``floor(-0.0)`` is -0.0).
* int ``maximum``/``minimum`` (and so the int max/min reductions, which combine with
  them): the builtin ``max``/``min``
  on integers is a Numba device function that the CUDA target compiles against the
  current device, so it cannot be compiled to PTX on a machine without a GPU; a
  conditional expression is the same instruction.

NaN-propagating float ``maximum``/``minimum`` are the CPU's, as they are.
"""
from __future__ import annotations

from ..numba.templates import (BOOL_TEMPLATES, FLOAT_TEMPLATES, INT_TEMPLATES,
                                                SCALAR_TYPES)
from ...ir.types import DType

_SIGN = "({T}(1) if {0} > {T}(0) else ({T}(-1) if {0} < {T}(0) else {zero}))"
_FLOOR = ("({0} if not (abs({0}) < {T}(4503599627370496)) "
          "else {T}(math.copysign(math.floor({0}), {0})))")

CUDA_FLOAT_TEMPLATES = {
    **FLOAT_TEMPLATES,
    "sign": _SIGN.replace("{zero}", "({0} - {0})"),
    "floor": _FLOOR,
}

CUDA_INT_TEMPLATES = {
    **INT_TEMPLATES,
    "sign": _SIGN.replace("{zero}", "{T}(0)"),
    "floor": "{0}",          # (floor takes floats only; an integer is its own floor)
    "maximum": "({0} if {0} > {1} else {1})",
    "minimum": "({0} if {0} < {1} else {1})",
}

CUDA_BOOL_TEMPLATES = {
    **BOOL_TEMPLATES,
    "sign": CUDA_INT_TEMPLATES["sign"],
    "floor": "{0}",
}

_TABLES = {DType.f32: CUDA_FLOAT_TEMPLATES, DType.f64: CUDA_FLOAT_TEMPLATES,
           DType.i32: CUDA_INT_TEMPLATES, DType.i64: CUDA_INT_TEMPLATES,
           DType.bool: CUDA_BOOL_TEMPLATES}


def template_for(kind: str, dtype: DType) -> str | None:
    """The CUDA template of op ``kind`` making a ``dtype`` result, or None if none."""
    return _TABLES[dtype].get(kind)


__all__ = ["CUDA_BOOL_TEMPLATES", "CUDA_FLOAT_TEMPLATES", "CUDA_INT_TEMPLATES", "SCALAR_TYPES",
           "template_for"]
