"""The seeded random sources: the generator for weight initializers, and the run counter
that keys the in-graph random stream (``fg.utils.set_random_seed`` restarts both).

fusegraph chooses reproducibility by default: the global generator starts from a
fixed seed (1337), so building the same model twice in a fresh process gives the
same weights. ``set_random_seed`` restarts it.
"""
from __future__ import annotations

import numpy as np

DEFAULT_SEED = 1337
_generator = np.random.default_rng(DEFAULT_SEED)
_seed = DEFAULT_SEED
_runs = 0


def set_random_seed(seed: int) -> None:
    """Restart the initializers' generator and the in-graph random stream's run counter."""
    global _generator, _seed, _runs
    _generator = np.random.default_rng(seed)
    _seed, _runs = int(seed), 0


def next_run_key() -> int:
    """A fresh key for one run of a graph with random ops: a function of the seed and of
    how many runs came before (fits in int64)."""
    global _runs
    _runs += 1
    return (_seed * 1_000_003 + _runs) % (1 << 62)


def generator(seed: int | None = None) -> np.random.Generator:
    """A generator for ``seed``, or the global one when ``seed`` is None."""
    return _generator if seed is None else np.random.default_rng(seed)
