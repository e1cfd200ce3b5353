"""``random_uniform``: counter-based random numbers, a pure function of a key.

``random_uniform %key {shape, salt, dtype}`` gives U[0, 1) numbers from a hash of
(key, salt, element index), so the same key and salt give the same draws on every
backend, and the training runtime varies the key per step (different steps, different
draws) while ``salt`` tells apart the draws of one step (one per call site). The hash
is SplitMix64's finalizer on 64-bit unsigned arithmetic; the top 24 bits make a float
that is exact in f32. Normal and other distributions are traced as compositions.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..opdef import NO_GRADIENT, RANDOM, Attr, OpDef, register
from ..types import DType, TensorType
from ._rules import FLOATS, require_dtype

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def uniform_bits(key: int, salt: int, n: int) -> np.ndarray:
    """n floats in [0, 1) as float64 (exact multiples of 2**-24)."""
    with np.errstate(over="ignore"):
        stream = splitmix64(np.array([key], dtype=np.int64).view(np.uint64) * _GOLDEN
                            + np.uint64(salt) * _MIX1)
        counters = stream + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
        return (splitmix64(counters) >> np.uint64(40)).astype(np.float64) * 2.0 ** -24


def _infer(types, attrs):
    (key,) = types
    require_dtype(key, (DType.i64,), "key")
    if key.rank != 0:
        raise ShapeError(f"the key must be a scalar, got {key}")
    if attrs["dtype"] not in FLOATS:
        raise ShapeError(f"random_uniform dtype must be f32/f64, got {attrs['dtype'].value}")
    if -1 in attrs["shape"]:
        raise ShapeError(f"random_uniform shape {attrs['shape']} may not contain -1")
    return TensorType(attrs["shape"], attrs["dtype"])


def _ref(xs, attrs):
    shape = attrs["shape"]
    bits = uniform_bits(int(xs[0]), attrs["salt"], int(np.prod(shape, dtype=np.int64)))
    return bits.reshape(shape).astype(attrs["dtype"].numpy)


register(OpDef("random_uniform", _infer, _ref, 1,
               attrs={"shape": Attr("shape"), "salt": Attr("int"), "dtype": Attr("dtype", DType.f32)},
               traits=frozenset({RANDOM}), vjp=NO_GRADIENT,
               doc="U[0, 1) draws hashed from (key, salt, index)"))
