"""Elementwise primitives: unary math, binary arithmetic, comparisons, logic, where, cast,
constant.

Why these are primitive: each is one scalar expression per element, which is exactly
what a fused kernel is made of; activations (relu, gelu, softplus, ...) are traced as
compositions of them. ``sigmoid`` and ``erf`` are primitive because their stable forms
are not short compositions. Binary ops broadcast numpy-style and require equal operand
dtypes (the frontend inserts ``cast``), so a backend never guesses a promotion.
"""
from __future__ import annotations

import numpy as np
import scipy.special

from ..errors import ShapeError
from ..opdef import BROADCASTING, COMMUTATIVE, ELEMENTWISE, Attr, OpDef, register
from ..types import DType, TensorType
from ._rules import FLOATS, NUMERIC, broadcast, fmt, require_dtype, same_dtype


def _unary_rule(allowed):
    def infer(types, attrs):
        require_dtype(types[0], allowed, "operand")
        return types[0]
    return infer


def _unary(name, fn, allowed, doc):
    register(OpDef(name, _unary_rule(allowed), lambda xs, attrs: np.asarray(fn(xs[0])), 1,
                   traits=frozenset({ELEMENTWISE}), doc=doc))


def _rsqrt(x):
    return (1 / np.sqrt(x)).astype(x.dtype)


for _name, _fn, _doc in [
    ("exp", np.exp, "e ** x"), ("log", np.log, "natural logarithm"),
    ("sqrt", np.sqrt, "square root"), ("rsqrt", _rsqrt, "1 / sqrt(x)"),
    ("tanh", np.tanh, "hyperbolic tangent"), ("sigmoid", scipy.special.expit, "1 / (1 + e ** -x)"),
    ("erf", scipy.special.erf, "the error function"), ("sin", np.sin, "sine"),
    ("cos", np.cos, "cosine"), ("floor", np.floor, "round toward -inf"),
]:
    _unary(_name, _fn, FLOATS, _doc)
for _name, _fn, _doc in [("neg", np.negative, "-x"), ("abs", np.abs, "|x|"),
                         ("sign", np.sign, "-1, 0 or 1")]:
    _unary(_name, _fn, NUMERIC, _doc)


def _binary_rule(allowed, result_dtype=None):
    def infer(types, attrs):
        dtype = same_dtype(types, "")
        if dtype not in allowed:
            raise ShapeError(f"operands must be {'/'.join(d.value for d in allowed)}, got {fmt(types)}")
        return TensorType(broadcast(types), result_dtype or dtype)
    return infer


def _binary(name, fn, allowed, traits, doc, result_dtype=None):
    register(OpDef(name, _binary_rule(allowed, result_dtype),
                   lambda xs, attrs: np.asarray(fn(xs[0], xs[1])), 2,
                   traits=frozenset({ELEMENTWISE, BROADCASTING, *traits}), doc=doc))


def _div(a, b):
    return np.divide(a, b).astype(a.dtype, copy=False)


def _pow(a, b):
    return np.power(a, b).astype(a.dtype, copy=False)


_binary("add", np.add, NUMERIC, {COMMUTATIVE}, "a + b")
_binary("sub", np.subtract, NUMERIC, set(), "a - b")
_binary("mul", np.multiply, NUMERIC, {COMMUTATIVE}, "a * b")
_binary("div", _div, FLOATS, set(), "a / b (floats only)")
_binary("pow", _pow, FLOATS, set(), "a ** b (floats only)")
_binary("maximum", np.maximum, NUMERIC, {COMMUTATIVE}, "elementwise max")
_binary("minimum", np.minimum, NUMERIC, {COMMUTATIVE}, "elementwise min")

_ALL = NUMERIC + (DType.bool,)
for _name, _fn, _comm in [("eq", np.equal, {COMMUTATIVE}), ("ne", np.not_equal, {COMMUTATIVE}),
                          ("lt", np.less, set()), ("le", np.less_equal, set()),
                          ("gt", np.greater, set()), ("ge", np.greater_equal, set())]:
    _binary(_name, _fn, _ALL, _comm, f"comparison {_name}: bool result", DType.bool)
_binary("logical_and", np.logical_and, (DType.bool,), {COMMUTATIVE}, "a and b")
_binary("logical_or", np.logical_or, (DType.bool,), {COMMUTATIVE}, "a or b")
_unary("logical_not", np.logical_not, (DType.bool,), "not x")


def _where_infer(types, attrs):
    cond, a, b = types
    require_dtype(cond, (DType.bool,), "condition")
    dtype = same_dtype((a, b), "")
    return TensorType(broadcast(types), dtype)


register(OpDef("where", _where_infer, lambda xs, attrs: np.asarray(np.where(xs[0], xs[1], xs[2])), 3,
               traits=frozenset({ELEMENTWISE, BROADCASTING}),
               doc="cond ? a : b, broadcasting all three"))


register(OpDef("cast", lambda types, attrs: types[0].with_dtype(attrs["dtype"]),
               lambda xs, attrs: xs[0].astype(attrs["dtype"].numpy), 1,
               attrs={"dtype": Attr("dtype")}, traits=frozenset({ELEMENTWISE}),
               doc="convert to another dtype (floats to ints truncate toward zero)"))


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
               doc="a literal: a number (a scalar) or a small nested tuple of numbers"))
