"""What a compile spends its time on, and its progress while kernels compile.

**Phases.** Code that makes a graph runnable records how long each phase took
(:mod:`fusegraph.backends.phases`: ``trace`` in the frontend, ``passes`` in the backend
pipeline); the next :class:`CompileReport` takes what was recorded since the last one
took it (so a report shows the phases of the compile that led to it), and an Executable
adds its own (``codegen``: kernel sources generated and imported) with
:meth:`CompileReport.add`.

**A report** (one per Executable whose kernels are made ready in the background, see
:mod:`.warmup`) counts kernels compiled and loaded from the disk cache, and their time
(``numba``: wall time of the background compiles). When all are ready it logs its
summary at INFO on the ``fusegraph.compile`` logger, and writes it on stderr when shown::

    fusegraph: 22 kernels ready in 5.9 s: 22 compiled, 0 loaded from the cache (numba
    5.8 s); trace 0.05 s, passes 0.14 s, codegen 0.02 s

While the caller waits for kernels and the compile has taken more than :data:`SLOW_S`,
a single line on stderr shows its progress, redrawn at most every :data:`REDRAW_S`
(``fusegraph: compiling kernels 7/22 2.1s``), replaced by the summary at the end.

**When it is shown**, from ``FUSEGRAPH_VERBOSE`` (read at each report): ``0`` never,
``1`` always (the summary even of a warm start), unset: when stderr is a terminal and
the kernels took more than :data:`SLOW_S` to be ready (a cold compile; a warm start
loads them in well under that). Tests capture stderr, so they see nothing unless they
ask. A tiered start (its steps run meanwhile, and may draw their own progress bar)
never draws the progress line; its summary is shown only with ``FUSEGRAPH_VERBOSE=1``.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time

from ..phases import take_phases

SLOW_S = 1.0      # a compile that takes longer shows its progress and summary
REDRAW_S = 0.25   # the progress line is redrawn at most this often

LOGGER = logging.getLogger("fusegraph.compile")

def verbosity() -> str:
    """``"quiet"``, ``"always"`` or ``"auto"`` (see the module docstring)."""
    value = os.environ.get("FUSEGRAPH_VERBOSE", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"environment variable FUSEGRAPH_VERBOSE={value!r}: expected 0 "
                         f"(quiet) or 1 (report every compile)")
    return {"": "auto", "0": "quiet", "1": "always"}[value]


def _seconds(s: float) -> str:
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


class CompileReport:
    """Progress and summary of one Executable's kernels (see the module docstring).
    ``live``: the caller may wait for kernels (a progress line may be drawn);
    ``stream``: where it is written (default: ``sys.stderr`` at the time of writing);
    ``clock``: seconds (``time.perf_counter`` unless a test fixes it)."""

    def __init__(self, live: bool = True, stream=None, clock=time.perf_counter):
        self.live, self._stream, self._clock = live, stream, clock
        self.phases: dict[str, float] = take_phases()
        self.total = self.compiled = self.loaded = 0
        self.numba_s = 0.0
        self.elapsed: float | None = None     # set when every kernel is ready
        self._start = None
        self._drawn_at = None                 # when the progress line was last drawn
        self._width = 0
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to this report's phase ``name``."""
        self.phases[name] = self.phases.get(name, 0.0) + seconds

    def start(self, total: int, ready: int = 0) -> None:
        """The background work begins: ``total`` kernels, ``ready`` of them ready already."""
        self.total, self.loaded = total, ready
        self._start = self._clock()

    def kernel_done(self, seconds: float, loaded: bool) -> None:
        with self._lock:
            if loaded:
                self.loaded += 1
            else:
                self.compiled += 1
            self.numba_s += seconds

    def waiting(self) -> None:
        """Called while the caller waits for a kernel: draws the progress line when due."""
        with self._lock:
            if self.elapsed is not None or not self._shown(self._clock() - self._start):
                return
            now = self._clock()
            if self._drawn_at is not None and now - self._drawn_at < REDRAW_S:
                return
            self._drawn_at = now
            done = self.compiled + self.loaded
            self._write(f"fusegraph: compiling kernels {done}/{self.total} "
                        f"{now - self._start:.1f}s", end="")

    def finish(self) -> None:
        """Every kernel is ready: log the summary, and show it if due."""
        with self._lock:
            self.elapsed = self._clock() - self._start
            text = self.summary()
            LOGGER.info("%s", text)
            if self._drawn_at is not None or self._shown(self.elapsed, final=True):
                self._write(text, end="\n")

    def summary(self) -> str:
        done = self.compiled + self.loaded
        text = (f"fusegraph: {done} kernel{'s' if done != 1 else ''} ready in "
                f"{_seconds(self.elapsed or 0.0)}: {self.compiled} compiled, {self.loaded} "
                f"loaded from the cache (numba {_seconds(self.numba_s)})")
        phases = ", ".join(f"{name} {_seconds(s)}" for name, s in self.phases.items())
        return text + (f"; {phases}" if phases else "")

    def _shown(self, elapsed: float, final: bool = False) -> bool:
        mode = verbosity()
        if mode != "auto":
            return mode == "always" and (final or self.live)
        stream = self._stream or sys.stderr
        return (self.live and elapsed > SLOW_S
                and bool(getattr(stream, "isatty", lambda: False)()))

    def _write(self, text: str, end: str) -> None:
        stream = self._stream or sys.stderr
        try:
            stream.write("\r" + text + " " * max(self._width - len(text), 0) + end)
            stream.flush()
        except (OSError, ValueError):      # a closed or broken stderr: nothing shown
            return
        self._width = 0 if end else len(text)
