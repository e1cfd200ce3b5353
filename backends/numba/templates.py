"""Scalar expression templates of the Numba backends, keyed by op name: numba_cpu's
table, and the base that numba_cuda's overrides.

A template is a Python expression with ``{0}``, ``{1}``, ... for the operands (always
plain variable names in the generated code, so an operand may appear twice) and ``{T}``
for the numpy scalar type of the op's result (``np.float32``, ``np.int32``, ...). The
expression, compiled by Numba, computes one element of the op exactly as the op's numpy
``ref`` does, in the result's dtype:

* float32 stays float32: Numba types ``math.exp(float32)`` and ``float32 + float32`` as
  float32, and every literal goes through ``{T}(...)`` (a bare ``1.0`` is float64 and
  would promote the whole expression);
* int32 arithmetic is wrapped in ``{T}(...)``, because Numba computes on small ints in
  int64; wrapping gives numpy's modular int32 results;
* NaN and inf behave as in numpy: ``maximum``/``minimum`` propagate NaN (a bare ``max``
  does not), ``sigmoid`` is the stable two-sided form of ``scipy.special.expit``, and the
  kernels compile with ``error_model="numpy"`` so that ``x / 0`` is inf, not an exception.
  ``pow`` is C's ``pow``, as numpy's with an array exponent; numpy's shortcut for a scalar
  exponent of exactly 0.5 (a square root) differs from it at -inf (nan, not inf) and
  -0.0 (-0.0, not 0.0).

``FLOAT_TEMPLATES`` is the base table; the int and bool tables override a few entries
by dict-merge (tinygrad's ``code_for_op``). :func:`template_for` picks the table by the
result dtype, and for a float result spells ``exp``, ``log``, ``tanh``, ``sigmoid`` and
``erf`` as :data:`FAST_MATH_TEMPLATES` do: calls of :mod:`.fast_math`, numba_cpu's own
implementations that LLVM vectorizes (libm's ``math.exp`` stays a scalar call per
element: PyPI's llvmlite has no SVML), within the ulp bounds that module states rather
than libm's; the generated file imports them with :data:`CPU_IMPORTS`.

A reduction has no entry: it is computed with its combining op's template and its
identity as a ``constant`` (the op's :class:`~fusegraph.ir.opdef.Reduction`, see
:mod:`fusegraph.backends.numba.generator`).
The CUDA backend (:mod:`fusegraph.backends.numba_cuda.templates`) starts from the base
tables (libdevice's ``math.*``, not :mod:`.fast_math`) and overrides the few entries it
spells differently.
"""
from __future__ import annotations

from ...ir.types import DType
from . import fast_math

FLOAT_TEMPLATES = {
    # unary
    "neg": "(-{0})",
    "abs": "abs({0})",
    "sign": "np.sign({0})",
    "exp": "math.exp({0})",
    "log": "math.log({0})",
    "sqrt": "math.sqrt({0})",
    "rsqrt": "({T}(1) / math.sqrt({0}))",
    "tanh": "math.tanh({0})",
    "sigmoid": ("({T}(1) / ({T}(1) + math.exp(-{0})) if {0} >= {T}(0)"
                " else math.exp({0}) / ({T}(1) + math.exp({0})))"),
    "erf": "math.erf({0})",
    "sin": "math.sin({0})",
    "cos": "math.cos({0})",
    "floor": "np.floor({0})",
    # binary arithmetic
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "div": "({0} / {1})",
    "pow": "({0} ** {1})",
    "maximum": "({0} if ({0} > {1} or {0} != {0}) else {1})",
    "minimum": "({0} if ({0} < {1} or {0} != {0}) else {1})",
    # comparisons (bool results, any operand dtype)
    "eq": "({0} == {1})",
    "ne": "({0} != {1})",
    "lt": "({0} < {1})",
    "le": "({0} <= {1})",
    "gt": "({0} > {1})",
    "ge": "({0} >= {1})",
    # logic
    "logical_and": "({0} and {1})",
    "logical_or": "({0} or {1})",
    "logical_not": "(not {0})",
    # the rest
    "stop_gradient": "{0}",
    "broadcast_to": "{0}",     # an expansion: its operand loaded with the broadcast dims at 0
    "where": "({1} if {0} else {2})",
    "cast": "{T}({0})",
    "constant": "{T}({value})",   # scalar constants only; ``value`` is a Python literal
}

INT_TEMPLATES = {
    **FLOAT_TEMPLATES,
    "neg": "{T}(-{0})",
    "add": "{T}({0} + {1})",
    "sub": "{T}({0} - {1})",
    "mul": "{T}({0} * {1})",
    "maximum": "max({0}, {1})",
    "minimum": "min({0}, {1})",
}

BOOL_TEMPLATES = {
    **FLOAT_TEMPLATES,
    "cast": "({0} != 0)",
    "constant": "{value}",
}

_TABLES = {DType.f32: FLOAT_TEMPLATES, DType.f64: FLOAT_TEMPLATES, DType.i32: INT_TEMPLATES,
           DType.i64: INT_TEMPLATES, DType.bool: BOOL_TEMPLATES}

# The numpy scalar type that ``{T}`` stands for.
SCALAR_TYPES = {DType.f32: "np.float32", DType.f64: "np.float64", DType.i32: "np.int32",
                DType.i64: "np.int64", DType.bool: "np.bool_"}


# numba_cpu's spelling of these float ops, in place of the base table's libm calls.
FAST_MATH_TEMPLATES = {kind: f"fast_math.{kind}({{0}})"
                       for kind in ("exp", "log", "tanh", "sigmoid", "erf")}

# The import lines a numba_cpu kernel needs for them; the comment carries the digest of
# fast_math's source, so that a kernel's source (and so its cache files) changes with it.
CPU_IMPORTS = (f"from fusegraph.backends.numba import fast_math  "
               f"# source {fast_math.SOURCE_DIGEST}",)


# numba_cpu's ops beyond the base table: ``gather_rows`` (a ROW_GATHER, see
# :meth:`~fusegraph.backends.numba.generator.KernelGenerator.emit_row_gather`: ``{0}``
# the rows as a 2-D array, ``{1}`` the row's slot, ``{2}`` the column index).
CPU_TEMPLATES = {"gather_rows": "({0}[{1}, {2}] if {1} >= 0 else {T}(0))"}


# A float max or min folded in a loop that LLVM vectorizes: the comparison alone, which
# drops NaN; numba_cpu's staged kernels keep a flag beside it, ``nan |= x != x``, and the
# fold is NaN when it is set (``np.max``'s NaN, the first of equal operands kept).
ORDERED_FOLDS = {"maximum": "({0} if {0} > {1} else {1})",
                 "minimum": "({0} if {0} < {1} else {1})"}


def template_for(kind: str, dtype: DType) -> str | None:
    """numba_cpu's template of op ``kind`` making a ``dtype`` result, or None if there is
    none: :data:`CPU_TEMPLATES`' entry, else the base table's, respelled by
    :data:`FAST_MATH_TEMPLATES` for floats."""
    if kind in CPU_TEMPLATES:
        return CPU_TEMPLATES[kind]
    template = _TABLES[dtype].get(kind)
    if template is not None and dtype.is_float:
        return FAST_MATH_TEMPLATES.get(kind, template)
    return template
