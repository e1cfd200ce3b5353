"""Float arithmetic written as Python expressions and emitted as LLVM instructions: what
:mod:`.fast_math` writes its functions in, and :func:`unary_intrinsic`, which makes such a
function a Numba intrinsic.

:class:`Num` wraps an LLVM float or double value and an IR builder; its operators emit
one instruction each (``fadd``, ``fsub``, ``fmul``, ``fdiv``, ``fneg``, ``fcmp`` and,
through :func:`where`, ``select``) without fast-math flags, so every operation rounds
as IEEE says and NaN, inf and signed zeros behave as in numpy. A Python number in an
expression becomes a constant of the value's type (rounded to float32 for a float32
value). There are no branches and no calls, except ``llvm.fabs``, which LLVM vectorizes
as it does the rest: a loop over such code becomes vector code.

The bit-level helpers read and build a float's fields with integer operations of its own
width; each states its domain, outside which the result is unspecified (the callers keep
to it by clamping, or select another value for the lanes outside it).
"""
from __future__ import annotations

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

# float width -> (significand bits, exponent bias)
_LAYOUT = {32: (23, 127), 64: (52, 1023)}


def width(ty: ir.Type) -> int:
    """32 for LLVM's float, 64 for double."""
    return 32 if isinstance(ty, ir.FloatType) else 64


class Cond:
    """An i1 comparison result, for :func:`where`."""

    def __init__(self, builder: ir.IRBuilder, value):
        self.builder, self.value = builder, value


def _binary(instruction: str, reflected: bool = False):
    """The method ``self <op> other`` (``other <op> self`` if ``reflected``) of :class:`Num`."""
    def method(self, other) -> "Num":
        a, b = (other, self) if reflected else (self, other)
        return Num(self.builder, getattr(self.builder, instruction)(self._operand(a),
                                                                     self._operand(b)))
    return method


def _comparison(op: str):
    """The method ``self <op> other`` of :class:`Num`: an ordered ``fcmp``."""
    def method(self, other) -> Cond:
        return Cond(self.builder, self.builder.fcmp_ordered(op, self.value,
                                                            self._operand(other)))
    return method


class Num:
    """A float value of one LLVM type and the builder that emits its operations."""

    def __init__(self, builder: ir.IRBuilder, value):
        self.builder, self.value, self.ty = builder, value, value.type

    def const(self, c: float) -> "Num":
        """The constant ``c`` in this value's type."""
        return Num(self.builder, ir.Constant(self.ty, float(c)))

    def _operand(self, other) -> ir.Value:
        return other.value if isinstance(other, Num) else ir.Constant(self.ty, float(other))

    __add__, __radd__ = _binary("fadd"), _binary("fadd", reflected=True)
    __sub__, __rsub__ = _binary("fsub"), _binary("fsub", reflected=True)
    __mul__, __rmul__ = _binary("fmul"), _binary("fmul", reflected=True)
    __truediv__, __rtruediv__ = _binary("fdiv"), _binary("fdiv", reflected=True)

    def __neg__(self) -> "Num":
        return Num(self.builder, self.builder.fneg(self.value))

    def __abs__(self) -> "Num":
        fabs = self.builder.module.declare_intrinsic("llvm.fabs", [self.ty])
        return Num(self.builder, self.builder.call(fabs, [self.value]))

    # Ordered comparisons: false when either side is NaN. ``==`` compares in the IR, so a
    # Num has no hash.
    __lt__, __le__, __gt__, __ge__ = (_comparison("<"), _comparison("<="), _comparison(">"),
                                      _comparison(">="))
    __eq__ = _comparison("==")
    __hash__ = None

    def to(self, ty: ir.Type) -> "Num":
        """This value converted to float type ``ty`` (exact widening, or rounding)."""
        if width(ty) == width(self.ty):
            return self
        convert = self.builder.fpext if width(ty) > width(self.ty) else self.builder.fptrunc
        return Num(self.builder, convert(self.value, ty))

    # --- the float's fields ---------------------------------------------------------------
    def _int_type(self) -> ir.IntType:
        return ir.IntType(width(self.ty))

    def _bits(self):
        return self.builder.bitcast(self.value, self._int_type())

    def _from_bits(self, bits) -> "Num":
        return Num(self.builder, self.builder.bitcast(bits, self.ty))


def where(cond: Cond, a, b) -> Num:
    """``a`` where ``cond`` holds, else ``b`` (one ``select``; a or b may be a number)."""
    like = a if isinstance(a, Num) else b
    return Num(cond.builder, cond.builder.select(cond.value, like._operand(a),
                                                 like._operand(b)))


def pow2(n: Num) -> Num:
    """2 ** n, exactly, for integral ``n`` in the normal exponent range (-126..127 for
    float32, -1022..1023 for float64)."""
    mantissa, bias = _LAYOUT[width(n.ty)]
    b, int_type = n.builder, n._int_type()
    k = b.add(b.fptosi(n.value, int_type), ir.Constant(int_type, bias))
    return n._from_bits(b.shl(k, ir.Constant(int_type, mantissa)))


def exponent(x: Num) -> Num:
    """The unbiased binary exponent of a positive normal finite ``x``, as a float."""
    mantissa, bias = _LAYOUT[width(x.ty)]
    b, int_type = x.builder, x._int_type()
    k = b.sub(b.lshr(x._bits(), ir.Constant(int_type, mantissa)), ir.Constant(int_type, bias))
    return Num(b, b.sitofp(k, x.ty))


def significand(x: Num) -> Num:
    """``x`` scaled into [1, 2) by a power of two, for a positive normal finite ``x``."""
    mantissa, bias = _LAYOUT[width(x.ty)]
    b, int_type = x.builder, x._int_type()
    fraction = b.and_(x._bits(), ir.Constant(int_type, (1 << mantissa) - 1))
    return x._from_bits(b.or_(fraction, ir.Constant(int_type, bias << mantissa)))


def horner(u: Num, coeffs) -> Num:
    """sum(coeffs[k] * u ** k), lowest order first, by Horner's rule."""
    acc = u.const(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * u + c
    return acc


def unary_intrinsic(algorithm, name: str):
    """A Numba intrinsic ``name(x)`` for a float32 or float64 ``x``: ``algorithm`` (a
    function of one :class:`Num` returning a :class:`Num` of the same type) emitted at
    each call site, so there is no call for LLVM to inline or keep."""
    def codegen(context, builder, sig, args):
        return algorithm(Num(builder, args[0])).value

    def typer(typingctx, x):
        return (x(x), codegen) if isinstance(x, types.Float) else None
    typer.__name__ = name
    typer.__doc__ = algorithm.__doc__
    return intrinsic(typer)


@intrinsic
def reassociable_add(typingctx, acc, x):
    """``acc + x`` in ``acc``'s float type (``x``, a float, converted first): one ``fadd``
    with the ``reassoc`` flag alone, which lets LLVM reorder a chain of them (a loop's
    sum into a local accumulator then vectorizes into partial sums); each addition still
    rounds as IEEE says."""
    if not (isinstance(acc, types.Float) and isinstance(x, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        total, value = args
        value = Num(builder, value).to(total.type).value
        return builder.fadd(total, value, flags=("reassoc",))
    return acc(acc, x), codegen


__all__ = ["Cond", "Num", "exponent", "horner", "pow2", "reassociable_add", "significand",
           "unary_intrinsic", "where", "width"]
