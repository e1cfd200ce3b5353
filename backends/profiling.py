"""Per-kernel profiles of numba_cpu steps: ``fit(..., profile=True)``,
``FUSEGRAPH_PROFILE=1``, ``fusegraph bench FILE``.

While a :func:`profiling` block is open, every numba_cpu plan (:mod:`fusegraph.backends.
numba_cpu.plan`: the generated step function of a graph, a scan body's included) runs
its *profiled* variant: the same calls, each op's line timed with ``perf_counter``, into
a :class:`Record` per plan. Outside one, plans run unchanged but for one check of
:data:`ACTIVE` per call. :func:`report` prints a table per plan: each kernel or op with
its calls, total and mean time, its share of the plan's time, the compile time of its
kernel (Numba's own timers; ``cached`` when it came from the disk cache), the ops it
holds and the user lines they came from.

Time outside plans (the first, checked call of a binding, which compiles kernels and
builds the plan; the runtime's Python around each step) is not in the table; the
report's header says how many calls each plan ran and their mean time. The ``reference``
backend runs no plans, so a reference model's profile is empty (the report says so).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field

ACTIVE: list = [None]      # the open Profile, read by every plan call
TOP = 25                   # rows per plan in a report


@dataclass(frozen=True)
class Entry:
    """One timed line of a plan: what runs there."""

    label: str                  # the kernel's name, or the op's kind
    holds: tuple                # the op kinds it runs (a fused op's region ops)
    lines: tuple                # the user source lines of those ops
    kernel: object = None       # the Numba dispatcher, for its compile time


@dataclass
class Record:
    """The times of one plan while profiled: ``seconds[i]`` for entry ``i``, ``total``
    for whole calls."""

    title: str
    entries: list
    calls: int = 0
    total: float = 0.0
    seconds: list = field(default_factory=list)

    def __post_init__(self):
        self.seconds = [0.0] * len(self.entries)


class Profile:
    """The records of one :func:`profiling` block, one per plan that ran in it."""

    def __init__(self):
        self.records: dict[int, Record] = {}

    def record(self, plan) -> Record:
        """The record of ``plan`` (made on its first profiled call)."""
        rec = self.records.get(id(plan))
        if rec is None:
            rec = self.records[id(plan)] = Record(plan.title, plan.entries)
        return rec


def requested() -> bool:
    """Whether ``FUSEGRAPH_PROFILE`` asks for profiles (set, and not 0/empty)."""
    return os.environ.get("FUSEGRAPH_PROFILE", "").strip() not in ("", "0")


@contextmanager
def profiling():
    """Profile the numba_cpu plans run in this block; yields the :class:`Profile`.
    Blocks nest: the inner one gets the inner calls."""
    outer = ACTIVE[0]
    profile = ACTIVE[0] = Profile()
    try:
        yield profile
    finally:
        ACTIVE[0] = outer


def compile_seconds(kernel) -> float | None:
    """Seconds Numba spent compiling ``kernel`` (all its signatures), None if every
    signature came from the disk cache (no timers)."""
    timers = [getattr(cres, "metadata", None) or {} for cres in kernel.overloads.values()]
    spent = [t["timers"].get("compiler_lock", 0.0) for t in timers if t.get("timers")]
    return sum(spent) if spent else None


def report(profile: Profile, top: int = TOP) -> str:
    """The profile as text: a table per plan, heaviest first (see the module)."""
    records = sorted((r for r in profile.records.values() if r.calls),
                     key=lambda r: -r.total)
    if not records:
        return ("fusegraph profile: no numba_cpu plan ran (the reference backend runs "
                "none; a binding's first call runs before its plan exists, and under a "
                "tiered start so do the calls before its kernels are compiled: "
                "fg.config.wait_for_kernels() waits for them)")
    return "\n\n".join(_table(r, top) for r in records)


def _table(rec: Record, top: int) -> str:
    mean_ms = 1e3 * rec.total / rec.calls
    lines = [f"fusegraph profile: {rec.title}: {rec.calls} calls, {mean_ms:.3f} ms per call",
             f"  {'kernel / op':<26} {'calls':>7} {'total ms':>9} {'mean us':>9} "
             f"{'share':>6} {'compile':>8}  holds / lines"]
    order = sorted(range(len(rec.entries)), key=lambda i: -rec.seconds[i])
    for i in order[:top]:
        e, s = rec.entries[i], rec.seconds[i]
        share = 100 * s / rec.total if rec.total else 0.0
        compiled = "" if e.kernel is None else _compile_text(e.kernel)
        holds = ", ".join(e.holds[:6]) + (f" (+{len(e.holds) - 6})" if len(e.holds) > 6 else "")
        where = ", ".join(e.lines[:3]) + (" ..." if len(e.lines) > 3 else "")
        lines.append(f"  {e.label[:26]:<26} {rec.calls:>7} {1e3 * s:>9.3f} "
                     f"{1e6 * s / rec.calls:>9.1f} {share:>5.1f}% {compiled:>8}  "
                     f"{holds}" + (f"  [{where}]" if where else ""))
    rest = sum(rec.seconds[i] for i in order[top:])
    if rest:
        lines.append(f"  {'(' + str(len(order) - top) + ' more)':<26} {'':>7} {1e3 * rest:>9.3f}")
    outside = rec.total - sum(rec.seconds)
    lines.append(f"  {'(plan overhead)':<26} {'':>7} {1e3 * outside:>9.3f} {'':>9} "
                 f"{100 * outside / rec.total if rec.total else 0:>5.1f}%")
    return "\n".join(lines)


def _compile_text(kernel) -> str:
    seconds = compile_seconds(kernel)
    return "cached" if seconds is None else f"{seconds:.2f}s"


__all__ = ["ACTIVE", "Entry", "Profile", "Record", "compile_seconds", "profiling", "report",
           "requested"]
