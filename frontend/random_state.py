"""The seeded random source for weight initializers (``fg.utils.set_random_seed``).

fusegraph chooses reproducibility by default: the global generator starts from a
fixed seed (1337), so building the same model twice in a fresh process gives the
same weights. ``set_random_seed`` restarts it.
"""
from __future__ import annotations

import numpy as np

DEFAULT_SEED = 1337
_generator = np.random.default_rng(DEFAULT_SEED)


def set_random_seed(seed: int) -> None:
    global _generator
    _generator = np.random.default_rng(seed)


def generator(seed: int | None = None) -> np.random.Generator:
    """A generator for ``seed``, or the global one when ``seed`` is None."""
    return _generator if seed is None else np.random.default_rng(seed)
