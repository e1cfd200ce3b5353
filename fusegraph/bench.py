"""``fusegraph bench FILE.py``: median training-step time of a file's model per backend.

Each backend gets its own copy of the model (``build_model()`` then ``recompile``), all
start from the same weights, and their steps on the same batch (the first batch of the
file's ``load_data()``) are interleaved so that machine noise hits them alike. The first
step of each (tracing and compiling; numba_cpu's tiered start runs its ops on the
reference until their kernels are compiled) is timed apart; the timed steps come after
every kernel is ready (:func:`fusegraph.config.wait_for_kernels`) and one more step.
Medians and ratios to the first backend are printed; nothing is asserted (speed is measured, never tested). Then each
backend's model runs the steps again under :func:`fusegraph.backends.profiling.profiling`
and :func:`profiles` gives the per-kernel tables (numba_cpu's plans; a reference
model's profile is empty).
"""
from __future__ import annotations

import time

import numpy as np

from .backends import profiling
from .config import wait_for_kernels
from .frontend.nest import map_structure


def bench(build_model, data, backends, steps: int, batch_size: int) -> list[dict]:
    """One row per backend: name, first-step seconds, median step milliseconds.
    ``data`` is ``(x, y)``; its first ``batch_size`` samples are the batch."""
    x, y = data
    take = lambda a: None if a is None else map_structure(lambda t: t[:batch_size], a)  # noqa: E731
    x, y = take(x), take(y)
    weights = None
    models = []
    for name in backends:
        model = build_model()
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.recompile(name)
        start = time.perf_counter()
        model.train_on_batch(x, y)
        models.append((name, model, time.perf_counter() - start))
    wait_for_kernels()          # a tiered start ran the first steps on the reference
    for _name, model, _first in models:
        model.train_on_batch(x, y)      # makes the plans the kernels waited for
    times = {name: [] for name in backends}
    for _ in range(steps):
        for name, model, _first in models:
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[name].append(time.perf_counter() - start)
    return [{"backend": name, "first_step_s": first, "median_ms": 1e3 * float(np.median(times[name])),
             "profile": _profile(model, x, y, steps)}
            for name, model, first in models]


def _profile(model, x, y, steps: int) -> str:
    """The per-kernel table of ``steps`` more steps of ``model`` on ``(x, y)``."""
    with profiling.profiling() as profile:
        for _ in range(steps):
            model.train_on_batch(x, y)
    return profiling.report(profile)


def profiles(rows: list[dict]) -> str:
    """Each backend's per-kernel table, headed by its name."""
    return "\n\n".join(f"== {r['backend']} ==\n{r['profile']}" for r in rows)


def format_rows(rows: list[dict], steps: int, batch_size: int) -> str:
    base = rows[0]["median_ms"]
    lines = [f"median training step over {steps} interleaved steps, batch {batch_size}",
             f"{'backend':<12} {'median ms':>10} {'vs ' + rows[0]['backend']:>14} {'first step s':>13}"]
    for r in rows:
        lines.append(f"{r['backend']:<12} {r['median_ms']:>10.3f} {base / r['median_ms']:>13.2f}x "
                     f"{r['first_step_s']:>13.2f}")
    return "\n".join(lines)
