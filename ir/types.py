"""Tensor types of the IR: dtypes and shapes whose dimensions are ints or named symbols.

A dimension is either a non-negative ``int`` or a :class:`Sym`, a named unknown size.
The batch dimension is the symbol ``B``; other unknown sizes (a Keras ``None`` past the
batch axis) get names of their own. Two equal names denote the same size everywhere in
a graph, so the reference backend binds each symbol once from the arrays it is given.
Shape rules unify a symbol only with itself (and broadcast it against 1): a symbol and an
int other than 1, or two different symbols, may differ when the graph runs, so a rule
that would have to assume them equal raises a ShapeError saying so (:func:`mismatch`,
:func:`why_not_broadcast`); only ``reshape``, which numpy checks by element count when it
runs, may give a symbol a size.

Text forms: ``f32[B,784]``, ``i32[B,100]``, ``f32[]`` (a scalar).
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Union

import numpy as np


class DType(enum.Enum):
    """Element types. The value is the short name printed in the IR."""

    f32 = "f32"
    f64 = "f64"
    i32 = "i32"
    i64 = "i64"
    bool = "bool"

    @property
    def numpy(self) -> np.dtype:
        return _NUMPY_DTYPES[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.f32, DType.f64)

    @property
    def is_int(self) -> bool:
        return self in (DType.i32, DType.i64)

    @property
    def keras_name(self) -> str:
        """The name Keras users see: ``float32``, ``int32``, ``bool``, ..."""
        return _NUMPY_NAMES[self]

    def __repr__(self) -> str:
        return self.value


_NUMPY_NAMES = {DType.f32: "float32", DType.f64: "float64", DType.i32: "int32",
                DType.i64: "int64", DType.bool: "bool"}
_NUMPY_DTYPES = {d: np.dtype(n) for d, n in _NUMPY_NAMES.items()}
_BY_NAME = {**{d.value: d for d in DType}, **{n: d for d, n in _NUMPY_NAMES.items()},
            "float": DType.f32, "int": DType.i32, "bool_": DType.bool}


def as_dtype(x) -> DType:
    """A DType from a DType, a name (``"float32"``, ``"f32"``) or a numpy dtype."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and x in _BY_NAME:
        return _BY_NAME[x]
    try:
        name = np.dtype(x).name
    except TypeError:
        name = None
    if name in _BY_NAME:
        return _BY_NAME[name]
    raise TypeError(f"unsupported dtype {x!r}: expected one of "
                    f"{', '.join(_NUMPY_NAMES.values())}")


def promote(a: DType, b: DType) -> DType:
    """The result dtype of a binary arithmetic op on ``a`` and ``b`` (numpy's rule)."""
    return as_dtype(np.promote_types(a.numpy, b.numpy))


@dataclass(frozen=True, order=True)
class Sym:
    """A named dimension whose size is known only when the graph runs."""

    name: str

    def __post_init__(self):
        if not _SYM_NAME.fullmatch(self.name) or self.name in _RESERVED_WORDS:
            raise ValueError(f"bad dimension symbol name {self.name!r}: expected an identifier "
                             f"other than {sorted(_RESERVED_WORDS)}")

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


_SYM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words the IR text reads as values, so no symbol may be called so.
_RESERVED_WORDS = frozenset({"true", "false", "none", "inf", "nan"} | {d.value for d in DType})
BATCH = Sym("B")
Dim = Union[int, Sym]


def dim_str(d: Dim) -> str:
    return str(d)


@dataclass(frozen=True)
class TensorType:
    """The type of a Value: a shape of dims and a dtype."""

    shape: tuple
    dtype: DType = DType.f32

    def __post_init__(self):
        shape = tuple(self.shape)
        for d in shape:
            if isinstance(d, bool) or not (isinstance(d, Sym) or (isinstance(d, int) and d >= 0)):
                raise ValueError(f"bad dimension {d!r} in shape {shape}: expected an int >= 0 or a Sym")
        object.__setattr__(self, "shape", tuple(int(d) if isinstance(d, (int, np.integer)) else d
                                                for d in shape))
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        object.__setattr__(self, "_hash", hash((self.shape, self.dtype)))

    def __hash__(self) -> int:
        return self._hash          # types key the shape-rule cache: hashed on every op

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def symbols(self) -> tuple:
        return tuple(d for d in self.shape if isinstance(d, Sym))

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype)

    def with_dtype(self, dtype) -> "TensorType":
        return TensorType(self.shape, dtype)

    def __str__(self) -> str:
        return f"{self.dtype.value}[{','.join(map(dim_str, self.shape))}]"

    __repr__ = __str__


def broadcast_dims(a: Dim, b: Dim) -> Dim | None:
    """The broadcast of two dims, or None when they cannot broadcast.

    1 broadcasts to anything and equal dims are kept; nothing else broadcasts. A symbol
    broadcasts only against itself or 1: against an int other than 1, or another symbol,
    its size cannot be proved equal when the graph is built, and typing the result as if
    it were (``f32[B] * f32[B,2]`` as ``f32[B,2]``) would be wrong for every other size.
    numpy refuses ``(3,) * (3, 2)``; the types refuse it for every size at once.
    """
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    return None


def broadcast_shapes(*shapes: tuple) -> tuple | None:
    """numpy broadcasting over dims that may be symbols (:func:`broadcast_dims`); None
    when incompatible (:func:`why_not_broadcast` says why)."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(rank):
        dim: Dim = 1
        for s in shapes:
            i = axis - (rank - len(s))
            if i < 0:
                continue
            dim = broadcast_dims(dim, s[i])
            if dim is None:
                return None
        out.append(dim)
    return tuple(out)


def why_not_broadcast(*shapes: tuple) -> str:
    """Why ``shapes`` do not broadcast: the first two dims (by axis of the broadcast
    result) that cannot, and the reason; "" when they do broadcast."""
    rank = max((len(s) for s in shapes), default=0)
    for axis in range(rank):
        seen: list = []          # (dim, shape) of the dims other than 1 on this axis
        for s in shapes:
            i = axis - (rank - len(s))
            if i < 0 or s[i] == 1:
                continue
            for d, other in seen:
                if d != s[i]:
                    reason = _unprovable(d, s[i]) or "neither is 1"
                    return (f"{d} of {_shape_str(other)} against {s[i]} of {_shape_str(s)} "
                            f"(axis {axis - rank}): {reason} (to broadcast along an axis, "
                            f"give it size 1 there, e.g. with expand_dims)")
            seen.append((s[i], s))
    return ""


def mismatch(a: Dim, b: Dim) -> str:
    """``(a vs b)`` for two unequal dims that a shape rule cannot unify (contract, match),
    and why when one of them is a symbol: the tail of its error message."""
    why = _unprovable(a, b)
    return f"({a} vs {b}){': ' if why else ''}{why}"


def _unprovable(a: Dim, b: Dim) -> str:
    """Why the unequal dims ``a`` and ``b`` cannot be unified when one is a symbol; ""
    for two ints."""
    if isinstance(a, Sym) and isinstance(b, Sym):
        return (f"{a} and {b} are different symbols, which may be different sizes when the "
                f"graph runs; a symbol matches only itself (or broadcasts against 1)")
    if isinstance(a, Sym) or isinstance(b, Sym):
        sym, n = (a, b) if isinstance(a, Sym) else (b, a)
        return (f"the size of {sym} is known only when the graph runs, so it cannot be "
                f"proved equal to {n}; a symbol matches only itself (or broadcasts against 1)")
    return ""


def _shape_str(shape: tuple) -> str:
    return f"[{','.join(map(dim_str, shape))}]"


def dims_compatible(a: Dim, b: Dim) -> bool:
    """True when two dims may be the same size at run time (for checking data against a
    type; the shape rules unify dims only when they are equal)."""
    return a == b or isinstance(a, Sym) or isinstance(b, Sym)


def symbolic_size(shape: tuple) -> tuple[int, tuple]:
    """The number of elements as (product of int dims, sorted symbol names)."""
    n = 1
    syms = []
    for d in shape:
        if isinstance(d, Sym):
            syms.append(d.name)
        else:
            n *= d
    return n, tuple(sorted(syms))


def resolve_shape(shape: tuple, env: dict) -> tuple:
    """Replace each symbol by its size from ``env`` (a dict Sym -> int)."""
    try:
        return tuple(env[d] if isinstance(d, Sym) else d for d in shape)
    except KeyError as e:
        raise ValueError(f"dimension {e.args[0]} of shape {shape} is not bound") from None
