"""Elementwise primitives: unary math, binary arithmetic, comparisons, logic, where, cast,
constant.

Why these are primitive: each is one scalar expression per element, which is exactly
what a fused kernel is made of; activations (relu, gelu, softplus, ...) are traced as
compositions of them. ``sigmoid`` and ``erf`` are primitive because their stable forms
are not short compositions. Binary ops broadcast numpy-style and require equal operand
dtypes (the frontend inserts ``cast``), so a backend never guesses a promotion.
"""
from __future__ import annotations

import math

import numpy as np

from ..builder import emit
from ..errors import ShapeError
from ..opdef import BROADCASTING, COMMUTATIVE, ELEMENTWISE, NO_GRADIENT, Attr, OpDef, register
from ..types import DType, TensorType
from .vjp_utils import const
from ._rules import FLOATS, NUMERIC, broadcast, fmt, require_dtype, same_dtype


def _unary_rule(allowed):
    def infer(types, attrs):
        require_dtype(types[0], allowed, "operand")
        return types[0]
    return infer


def _unary(name, fn, allowed, doc, vjp):
    register(OpDef(name, _unary_rule(allowed), lambda xs, attrs: np.asarray(fn(xs[0])), 1,
                   traits=frozenset({ELEMENTWISE}), doc=doc, vjp=vjp))


def _rsqrt(x):
    return (1 / np.sqrt(x)).astype(x.dtype)


def _unary_vjp(derivative):
    """A rule g * f'(x), with ``derivative(x, y, c)`` giving f'(x) from the operand, the
    result and a constant maker ``c(value)`` of the right dtype."""
    def vjp(op, cts):
        x, y, g = op.operands[0], op.results[0], cts[0]
        return (emit("mul", g, derivative(x, y, lambda v: const(v, g.type.dtype))),)
    return vjp


def _zero_vjp(op, cts):
    return (None,)


def _sigmoid(x):
    """``1 / (1 + e ** -x)`` in the stable two-sided form (scipy.special.expit's, and the
    kernels'): ``e ** -|x|`` never overflows. numpy's own: importing scipy.special cost
    0.12 s of a first training step (the Transformer workload, warm cache: 0.58 s)."""
    x = np.asarray(x)
    wide = x.astype(np.float64) if x.dtype == np.float32 else x   # float32: rounded once
    e = np.exp(-np.abs(wide))
    return np.where(wide >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _scipy_special(name: str):
    """``scipy.special.<name>``, imported at its first call: at import it is 0.4 s of
    ``import fusegraph``."""
    def call(x):
        import scipy.special
        return getattr(scipy.special, name)(x)
    return call


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
for _name, _fn, _doc, _deriv in [
    ("exp", np.exp, "e ** x", lambda x, y, c: y),
    ("log", np.log, "natural logarithm", lambda x, y, c: emit("div", c(1), x)),
    ("sqrt", np.sqrt, "square root", lambda x, y, c: emit("div", c(0.5), y)),
    ("rsqrt", _rsqrt, "1 / sqrt(x)",
     lambda x, y, c: emit("mul", c(-0.5), emit("mul", y, emit("mul", y, y)))),
    ("tanh", np.tanh, "hyperbolic tangent", lambda x, y, c: emit("sub", c(1), emit("mul", y, y))),
    ("sigmoid", _sigmoid, "1 / (1 + e ** -x)",
     lambda x, y, c: emit("mul", y, emit("sub", c(1), y))),
    ("erf", _scipy_special("erf"), "the error function",
     lambda x, y, c: emit("mul", c(_TWO_OVER_SQRT_PI), emit("exp", emit("neg", emit("mul", x, x))))),
    ("sin", np.sin, "sine", lambda x, y, c: emit("cos", x)),
    ("cos", np.cos, "cosine", lambda x, y, c: emit("neg", emit("sin", x))),
]:
    _unary(_name, _fn, FLOATS, _doc, _unary_vjp(_deriv))
_unary("floor", np.floor, FLOATS, "round toward -inf (zero gradient)", _zero_vjp)
_unary("neg", np.negative, NUMERIC, "-x", lambda op, cts: (emit("neg", cts[0]),))
_unary("abs", np.abs, NUMERIC, "|x|", _unary_vjp(lambda x, y, c: emit("sign", x)))
_unary("sign", np.sign, NUMERIC, "-1, 0 or 1 (zero gradient)", _zero_vjp)


def _binary_rule(allowed, result_dtype=None):
    def infer(types, attrs):
        dtype = same_dtype(types, "")
        if dtype not in allowed:
            raise ShapeError(f"operands must be {'/'.join(d.value for d in allowed)}, got {fmt(types)}")
        return TensorType(broadcast(types), result_dtype or dtype)
    return infer


def _binary(name, fn, allowed, traits, doc, vjp, result_dtype=None, zero_sign_ordered=False):
    register(OpDef(name, _binary_rule(allowed, result_dtype),
                   lambda xs, attrs: np.asarray(fn(xs[0], xs[1])), 2,
                   traits=frozenset({ELEMENTWISE, BROADCASTING, *traits}), doc=doc, vjp=vjp,
                   zero_sign_ordered=zero_sign_ordered))


def _div(a, b):
    return np.divide(a, b).astype(a.dtype, copy=False)


def _pow(a, b):
    return np.power(a, b).astype(a.dtype, copy=False)


def _div_vjp(op, cts):
    b, y, g = op.operands[1], op.results[0], cts[0]
    return emit("div", g, b), emit("neg", emit("mul", g, emit("div", y, b)))


def _pow_vjp(op, cts):
    (a, b), y, g = op.operands, op.results[0], cts[0]
    one, zero = const(1, a.type.dtype), const(0, a.type.dtype)
    da = emit("mul", g, emit("mul", b, emit("pow", a, emit("sub", b, one))))
    log_a = emit("where", emit("gt", a, zero), emit("log", a), zero)   # d/db is 0 where a <= 0
    return da, emit("mul", g, emit("mul", y, log_a))


def _select_vjp(compare):
    """max/min: the gradient goes to ``a`` where ``compare(a, b)`` strictly holds, else to
    ``b``: ties go to b, so ``relu(x) = maximum(x, 0)`` has gradient 0 at x = 0, as
    TensorFlow's and JAX's relu do."""
    def vjp(op, cts):
        (a, b), g = op.operands, cts[0]
        take_a = emit(compare, a, b)
        zero = const(0, g.type.dtype)
        return emit("where", take_a, g, zero), emit("where", take_a, zero, g)
    return vjp


_binary("add", np.add, NUMERIC, {COMMUTATIVE}, "a + b", lambda op, cts: (cts[0], cts[0]))
_binary("sub", np.subtract, NUMERIC, set(), "a - b", lambda op, cts: (cts[0], emit("neg", cts[0])))
_binary("mul", np.multiply, NUMERIC, {COMMUTATIVE}, "a * b",
        lambda op, cts: (emit("mul", cts[0], op.operands[1]), emit("mul", cts[0], op.operands[0])))
_binary("div", _div, FLOATS, set(), "a / b (floats only)", _div_vjp)
_binary("pow", _pow, FLOATS, set(), "a ** b (floats only)", _pow_vjp)
_binary("maximum", np.maximum, NUMERIC, {COMMUTATIVE}, "elementwise max", _select_vjp("gt"),
        zero_sign_ordered=True)
_binary("minimum", np.minimum, NUMERIC, {COMMUTATIVE}, "elementwise min", _select_vjp("lt"),
        zero_sign_ordered=True)

_ALL = NUMERIC + (DType.bool,)
for _name, _fn, _comm in [("eq", np.equal, {COMMUTATIVE}), ("ne", np.not_equal, {COMMUTATIVE}),
                          ("lt", np.less, set()), ("le", np.less_equal, set()),
                          ("gt", np.greater, set()), ("ge", np.greater_equal, set())]:
    _binary(_name, _fn, _ALL, _comm, f"comparison {_name}: bool result", NO_GRADIENT, DType.bool)
_binary("logical_and", np.logical_and, (DType.bool,), {COMMUTATIVE}, "a and b", NO_GRADIENT)
_binary("logical_or", np.logical_or, (DType.bool,), {COMMUTATIVE}, "a or b", NO_GRADIENT)
_unary("logical_not", np.logical_not, (DType.bool,), "not x", NO_GRADIENT)
_unary("stop_gradient", lambda x: x.copy(), NUMERIC + (DType.bool,),
       "identity whose result carries no gradient back", _zero_vjp)


def _where_infer(types, attrs):
    cond, a, b = types
    require_dtype(cond, (DType.bool,), "condition")
    dtype = same_dtype((a, b), "")
    return TensorType(broadcast(types), dtype)


def _where_vjp(op, cts):
    cond, g = op.operands[0], cts[0]
    zero = const(0, g.type.dtype)
    return None, emit("where", cond, g, zero), emit("where", cond, zero, g)


register(OpDef("where", _where_infer, lambda xs, attrs: np.asarray(np.where(xs[0], xs[1], xs[2])), 3,
               traits=frozenset({ELEMENTWISE, BROADCASTING}),
               doc="cond ? a : b, broadcasting all three", vjp=_where_vjp))


register(OpDef("cast", lambda types, attrs: types[0].with_dtype(attrs["dtype"]),
               lambda xs, attrs: xs[0].astype(attrs["dtype"].numpy), 1,
               attrs={"dtype": Attr("dtype")}, traits=frozenset({ELEMENTWISE}),
               doc="convert to another dtype (floats to ints truncate toward zero)",
               vjp=lambda op, cts: (emit("cast", cts[0], dtype=op.operands[0].type.dtype)
                                    if op.operands[0].type.dtype.is_float else None,)))


def _constant_shape(value) -> tuple:
    shape = []
    while isinstance(value, tuple):
        shape.append(len(value))
        value = value[0] if value else 0
    return tuple(shape)


def _constant_infer(types, attrs):
    value = attrs["value"]
    shape = _constant_shape(value)
    if np.array(value, dtype=object).shape != shape:
        raise ShapeError(f"constant value is ragged: {value!r}")
    return TensorType(shape, attrs["dtype"])


register(OpDef("constant", _constant_infer,
               lambda xs, attrs: np.array(attrs["value"], dtype=attrs["dtype"].numpy), 0,
               attrs={"value": Attr("scalar"), "dtype": Attr("dtype", DType.f32)},
               doc="a literal: a number (a scalar) or a small nested tuple of numbers",
               vjp=lambda op, cts: ()))
