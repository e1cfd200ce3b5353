"""``fg.random``: random draws traced into the graph (``random_uniform`` primitive).

A draw's key is the run's ``rng_key`` context parameter (fresh on every run, see
:mod:`.context`) unless ``seed`` is an int, which makes the draw a constant function of
that seed, as Keras's stateless ``seed=int``: the same int seed gives the same draws at
every call, traced or eager. Otherwise each call site gets its own salt, so two draws in
one step differ: the site is a hash of the global seed and of the site's number since
``fg.utils.set_random_seed`` (or ``clear_session``), see :mod:`.random_state`, so a model
built after ``set_random_seed(s)`` traces the same graph, and draws the same, whatever
was built before it.

Outside any trace (see :func:`.dispatch.tracing`), a draw with a concrete shape runs at
once and returns numpy: through a Function cached per kind of draw, shape, dtype, seed
and parameters, so drawing again reuses the compiled graph, and the fresh run key of
every run gives new numbers.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from ..ir import DType, as_dtype, emit
from . import ops, random_state
from .context import rng_key
from .dispatch import eager_or_traced
from .tensor import CallRecord, SymbolicTensor


class SeedGenerator:
    """Keras's seed generator: draws made with it follow the run key, salted by ``seed``."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, (bool, np.bool_))
                                 or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"SeedGenerator: `seed` must be an int or None, got {seed!r}")
        self.seed = 0 if seed is None else int(seed)

    def __repr__(self) -> str:  # by value: it keys the eager draws' cached traces
        return f"SeedGenerator(seed={self.seed})"


def _key(seed):
    if isinstance(seed, int) and not isinstance(seed, bool):
        return ops.convert_to_tensor(seed, "int64"), seed
    if seed is None or isinstance(seed, SeedGenerator):
        return rng_key(), seed.seed if seed is not None else 0
    raise TypeError(f"seed must be None, an int or a SeedGenerator, got {seed!r}")


_SITE_STRIDE = 1_000_003
_SITES = 1 << 40          # sites are 1 .. _SITES - 1, so that make_salt stays invertible


def next_site() -> int:
    """The next draw site: a hash of (seed, n), n counting the sites since the seed was set
    (:func:`.random_state.next_site_count`), in 1 .. 2**40 - 1 (0 marks a draw that needs
    no site)."""
    seed, n = random_state.next_site_count()
    digest = hashlib.blake2b(f"{seed}/{n}".encode(), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "little") % (_SITES - 1)


def make_salt(site: int, seed_salt: int, stream: int) -> int:
    """The ``salt`` attribute of a draw: its call site, its seed's salt, its stream."""
    return ((site * _SITE_STRIDE + seed_salt) * 2 + stream) % (1 << 62)


def split_salt(salt: int) -> tuple[int, int, int]:
    """(site, seed_salt, stream) of a salt made by :func:`make_salt` (a seed salt of
    ``_SITE_STRIDE`` or more comes back folded into the site)."""
    site, seed_salt = divmod(salt >> 1, _SITE_STRIDE)
    return site, seed_salt, salt & 1


def _uniform01(shape, dtype, seed, stream: int = 0, eager: bool = False) -> SymbolicTensor:
    """U[0, 1) draws; ``stream`` tells apart the draws of one call (normal's two). An
    eager draw is a graph of its own, so it needs no call-site salt: its run key alone
    decides it (and ``set_random_seed`` then repeats it)."""
    key, seed_salt = _key(seed)
    stateless = isinstance(seed, int) and not isinstance(seed, bool)
    site = 0 if stateless or eager else next_site()
    salt = make_salt(site, seed_salt, stream)
    value = emit("random_uniform", key.value, shape=tuple(shape), salt=salt, dtype=dtype)
    return SymbolicTensor(value, CallRecord(None, (key,)))


@eager_or_traced(name="random", data=(), symbolic_batch=False, eager_kwargs={"eager": True},
                 taped=False)
def _draw(kind: str, shape: tuple, dtype: DType, seed, a, b, eager: bool = False):
    """A ``kind`` draw ("uniform" on [a, b), "normal" of mean a and stddev b). Every
    argument is static: eagerly, a Function per kind, shape, dtype, seed and parameters
    (the seed's repr is its value) runs the draw; a symbolic dim in ``shape`` (or a
    trace) makes it symbolic."""
    if kind == "uniform":
        u = _uniform01(shape, dtype, seed, eager=eager)
        return ops.add(ops.multiply(u, b - a), a) if (a, b) != (0.0, 1.0) else u
    u1 = _uniform01(shape, dtype, seed, stream=0, eager=eager)
    u2 = _uniform01(shape, dtype, seed, stream=1, eager=eager)
    radius = ops.sqrt(ops.multiply(ops.log(ops.subtract(1.0, u1)), -2.0))
    z = ops.multiply(radius, ops.cos(ops.multiply(u2, 2.0 * math.pi)))
    return ops.add(ops.multiply(z, b), a)


def uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    return _draw("uniform", tuple(shape), as_dtype(dtype), seed, minval, maxval)


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Box-Muller on two uniform draws."""
    return _draw("normal", tuple(shape), as_dtype(dtype), seed, mean, stddev)


def dropout_mask(shape, rate, dtype=DType.f32, seed=None):
    """A bool mask keeping each element with probability 1 - rate."""
    return ops.greater_equal(_uniform01(shape, as_dtype(dtype), seed), rate)
