"""``fg.random``: random draws traced into the graph (``random_uniform`` primitive).

A draw's key is the run's ``rng_key`` context parameter (fresh on every run, see
:mod:`.context`) unless ``seed`` is an int, which makes the draw a constant function of
that seed, as Keras's stateless ``seed=int``. Each call site gets its own salt, so two
draws in one step differ. Outside any trace, a draw runs at once and returns numpy.
"""
from __future__ import annotations

import itertools
import math

from ..ir import DType, as_dtype, emit
from ..ir.builder import current_layer_path
from . import ops, state
from .context import rng_key
from .tensor import CallRecord, SymbolicTensor

_salts = itertools.count(1)


class SeedGenerator:
    """Keras's seed generator: draws made with it follow the run key, salted by ``seed``."""

    def __init__(self, seed=None):
        self.seed = 0 if seed is None else int(seed)


def _key(seed):
    if isinstance(seed, int) and not isinstance(seed, bool):
        return ops.convert_to_tensor(seed, "int64"), seed
    if seed is None or isinstance(seed, SeedGenerator):
        return rng_key(), seed.seed if seed is not None else 0
    raise TypeError(f"seed must be None, an int or a SeedGenerator, got {seed!r}")


def _uniform01(shape, dtype, seed) -> SymbolicTensor:
    key, seed_salt = _key(seed)
    salt = (next(_salts) * 1_000_003 + seed_salt) % (1 << 62)
    value = emit("random_uniform", key.value, shape=tuple(shape), salt=salt, dtype=dtype)
    return SymbolicTensor(value, CallRecord(None, (key,)))


def _eager_or_traced(draw, shape):
    """Run ``draw()`` now (through a Function) when nothing is being traced: no traced
    function or step, no layer call, and a concrete shape."""
    tracing = state.current() is not None or current_layer_path() is not None
    if not tracing and all(isinstance(d, int) for d in shape):
        from .function import Function
        return Function(draw, "random")()
    return draw()


def uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    dtype = as_dtype(dtype)

    def draw():
        u = _uniform01(shape, dtype, seed)
        return ops.add(ops.multiply(u, maxval - minval), minval) if (minval, maxval) != (0.0, 1.0) else u
    return _eager_or_traced(draw, tuple(shape))


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Box-Muller on two uniform draws."""
    dtype = as_dtype(dtype)

    def draw():
        u1 = _uniform01(shape, dtype, seed)
        u2 = _uniform01(shape, dtype, seed)
        radius = ops.sqrt(ops.multiply(ops.log(ops.subtract(1.0, u1)), -2.0))
        z = ops.multiply(radius, ops.cos(ops.multiply(u2, 2.0 * math.pi)))
        return ops.add(ops.multiply(z, stddev), mean)
    return _eager_or_traced(draw, tuple(shape))


def dropout_mask(shape, rate, dtype=DType.f32, seed=None):
    """A bool mask keeping each element with probability 1 - rate."""
    return ops.greater_equal(_uniform01(shape, as_dtype(dtype), seed), rate)
