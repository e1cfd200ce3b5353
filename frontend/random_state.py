"""The seeded random sources, all restarted by ``fg.utils.set_random_seed(seed)``: the
generator for weight initializers, the count of draw sites (which numbers the in-graph
draws as they are traced), and the run counter that keys the in-graph random stream.

The rule: what a process does after ``set_random_seed(s)`` decides its random numbers,
never what it did before. Building a model after ``set_random_seed(s)`` gives it the same
initial weights and the same draw sites, and running it the same run keys, hence the
same dropout masks, however many models were built, traced or run earlier in the process
(as Keras 3, where the seed generators made after ``set_random_seed`` repeat). Two models
built after two calls with the same seed share their sites, as two Keras layers seeded
alike share their draws; a site also depends on the seed (a 40-bit hash of it and of
the site's number), so models built under different seeds do not share one. ``clear_session`` restarts the count of sites too (it
forgets the session's models), keeping the seed.

fusegraph chooses reproducibility by default: the sources start as after
``set_random_seed(1337)``, so building the same model twice in a fresh process gives the
same weights.
"""
from __future__ import annotations

import numpy as np

DEFAULT_SEED = 1337
_generator = np.random.default_rng(DEFAULT_SEED)
_seed = DEFAULT_SEED
_runs = 0
_sites = 0


def set_random_seed(seed: int) -> None:
    """Restart the initializers' generator, the count of draw sites and the in-graph random
    stream's run counter, all from ``seed``."""
    global _generator, _seed, _runs, _sites
    _generator = np.random.default_rng(seed)
    _seed, _runs, _sites = int(seed), 0, 0


def restart_sites() -> None:
    """Number draw sites from the first again, under the current seed (``clear_session``)."""
    global _sites
    _sites = 0


def next_site_count() -> tuple[int, int]:
    """(seed, n): the current seed and the number of this draw site (1, 2, ...) since the
    seed was set or the sites restarted."""
    global _sites
    _sites += 1
    return _seed, _sites


def next_run_key() -> int:
    """A fresh key for one run of a graph with random ops: a function of the seed, of
    how many runs came before and of the replica (fits in int64)."""
    global _runs
    _runs += 1
    return (_seed * 1_000_003 + _runs + _replica * (1 << 52)) % (1 << 62)


_replica = 0


def set_replica(index: int) -> None:
    """Draw the keys of replica ``index`` of a data-parallel job from now on: each rank's
    random ops (Dropout's masks on its share of the batch) draw their own numbers, as
    if one process drew them for the global batch, not the same numbers on every rank."""
    global _replica
    _replica = int(index)


def get_state() -> dict:
    """What decides the coming random numbers of this process, as JSON-able Python data:
    the seed, the run counter (the in-graph stream's position) and the initializers'
    generator's state. Not the draw sites (they belong to the built model) nor the
    replica (it belongs to the rank)."""
    return {"seed": _seed, "runs": _runs, "generator": _generator.bit_generator.state}


def set_state(state: dict) -> None:
    """Continue from :func:`get_state`'s ``state``: the run keys and the initializers'
    draws that follow are those that followed it."""
    global _generator, _seed, _runs
    generator = np.random.default_rng()
    generator.bit_generator.state = state["generator"]
    _generator, _seed, _runs = generator, int(state["seed"]), int(state["runs"])


def generator(seed: int | None = None) -> np.random.Generator:
    """A generator for ``seed``, or the global one when ``seed`` is None."""
    return _generator if seed is None else np.random.default_rng(seed)
