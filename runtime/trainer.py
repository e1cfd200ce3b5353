"""The Trainer mixin: the running methods of the user-facing ``fg.Model``.

``frontend`` defines what a model computes; this mixin decides how data goes through
it (batching now; compile/fit/evaluate with the training-step graph next).
"""
from __future__ import annotations

import numpy as np

from ..frontend.nest import flatten, pack_like


def _num_samples(x) -> int:
    sizes = {len(a) for a in flatten(x)}
    if len(sizes) != 1:
        raise ValueError(f"all input arrays must have the same number of samples, got sizes "
                         f"{sorted(sizes)}")
    return sizes.pop()


def _slice(x, start: int, stop: int):
    return pack_like(x, [np.asarray(a)[start:stop] for a in flatten(x)])


class Trainer:
    """Mixed into ``fg.Model`` before the frontend model class."""

    def predict(self, x, batch_size=None, verbose=0):
        """Run the model on ``x`` in batches of ``batch_size`` (default 32) and join the
        batch outputs, keeping the model's output structure."""
        batch_size = batch_size or 32
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        n = _num_samples(x)
        pieces = [self(_slice(x, start, start + batch_size)) for start in range(0, n, batch_size)]
        if not pieces:
            raise ValueError("predict() got no samples")
        joined = [np.concatenate(parts, axis=0) for parts in zip(*(flatten(p) for p in pieces))]
        return pack_like(pieces[0], joined)
