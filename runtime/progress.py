"""A Keras-style progress bar for ``fit``/``evaluate``/``predict``.

``ProgressBar(target, verbose=1)`` then ``update(current, values)`` after each step and
``update(current, values, finalize=True)`` once at the end:

- ``verbose=1`` on a terminal (or in a notebook) redraws one line with ``\\r`` (at most
  every ``interval`` seconds, and always when finalizing), then ends it with a newline;
  written elsewhere (a log file, a pipe, CI), where every update would pile up on one
  line, it prints that line once, when finalizing (``dynamic`` decides; default: the
  file is a terminal)::

      12/40 ━━━━━━────────────── 1s 25ms/step - loss: 0.5123 - priority_loss: 0.1234

  The time before ``ms/step`` is the ETA while running and the elapsed time when
  finalized. On a terminal the bar is coloured as Keras colours it (done part green);
  elsewhere the part still to do is drawn ``─`` so that the bar reads without colour.
  With ``target=None`` the count reads ``     12/Unknown`` and the time is the elapsed.
- ``verbose=2`` prints one line when finalized: ``40/40 - 1s - 25ms/step - loss: ...``.
- ``verbose=0`` prints nothing.

The time per step leaves the first step out (it compiles the step graph). Values are
printed as Keras does: ``0.5123`` (4 decimals) when ``|v| > 1e-3``, else ``1.2340e-05``.
By default values are shown as given: the loop's logs are already running means over
the epoch (Keras fixed its double averaging the same way). Names listed in
``stateful_metrics`` are shown as given and every other value is averaged over the
steps, as in Keras's ``Progbar`` when that list is given.
"""
from __future__ import annotations

import sys
import time

import numpy as np


def _format_value(value) -> str:
    value = float(np.mean(value))
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_time_per_unit(seconds: float, unit_name: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(seconds: float) -> str:
    s = int(seconds)
    if seconds > 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    if seconds > 60:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s}s"


class ProgressBar:
    """See the module. ``file`` defaults to ``sys.stdout``; ``clock`` (seconds) is
    ``time.monotonic`` unless a test fixes it; ``dynamic``: redraw with ``\\r`` (None:
    when ``file`` is a terminal or a notebook runs)."""

    def __init__(self, target, verbose=1, stateful_metrics=None, unit_name="step", width=20,
                 interval=0.05, file=None, clock=time.monotonic, dynamic=None):
        self.target, self.verbose, self.unit_name = target, verbose, unit_name
        self.stateful_metrics = None if stateful_metrics is None else set(stateful_metrics)
        self.width, self.interval = width, interval
        self.file = sys.stdout if file is None else file
        self._clock = clock
        self._color = bool(getattr(self.file, "isatty", lambda: False)())
        self._dynamic = (self._color or "ipykernel" in sys.modules) if dynamic is None \
            else bool(dynamic)
        self._start = self._last_update = clock()
        self._time_after_first_step = None
        self._seen = 0
        self._values = {}  # name -> [weighted sum, weight]
        self._prev_width = 0

    def update(self, current, values=None, finalize=False):
        """Record step ``current`` (1-based count of steps done) with ``values`` (name ->
        number) and redraw; ``finalize`` ends the line (verbose 1) or prints it (verbose 2)."""
        for name, value in (values or {}).items():
            if finalize or self.stateful_metrics is None or name in self.stateful_metrics:
                self._values[name] = [value, 1]
            else:
                steps = max(current - self._seen, 1)
                total, weight = self._values.get(name, [0.0, 0])
                self._values[name] = [total + value * steps, weight + steps]
        self._seen = current
        now = self._clock()
        per_step = self._time_per_step(current, now)
        metrics = "".join(f" - {name}: {_format_value(total / weight)}"
                          for name, (total, weight) in self._values.items())
        if self.verbose == 1:
            if not finalize and (now - self._last_update < self.interval or not self._dynamic):
                return
            self._last_update = now
            if self.target is not None and not finalize:
                when = _format_eta(per_step * (self.target - current))
            else:
                when = f"{now - self._start:.0f}s"
            count, (done, todo) = self._count(current), self._bar(current)
            rest = f" {_format_time_per_unit(per_step, self.unit_name)}{metrics}"
            plain = f"{count}{done}{todo} {when}{rest}"
            if self._color:
                done = f"\x1b[32m{done}\x1b[0m" if done.strip() else done
                todo = f"\x1b[37m{todo.replace('─', '━')}\x1b[0m" if todo else todo
                count, when = f"\x1b[1m{count}\x1b[0m", f"\x1b[1m{when}\x1b[0m"
            self.file.write(("\r" if self._dynamic else "") + f"{count}{done}{todo} {when}{rest}"
                            + " " * max(self._prev_width - len(plain), 0)
                            + ("\n" if finalize else ""))
            self.file.flush()
            self._prev_width = len(plain)
        elif self.verbose == 2 and finalize:
            self.file.write(f"{self._count(current)} - {now - self._start:.0f}s - "
                            f"{_format_time_per_unit(per_step, self.unit_name)}{metrics}\n")
            self.file.flush()

    def _count(self, current) -> str:
        if self.target is None:
            return f"{current:7d}/Unknown"
        return f"{current:{len(str(self.target))}d}/{self.target}"

    def _bar(self, current) -> tuple[str, str]:
        """The bar's done part (with the space before it) and the part still to do."""
        if self.target is None:
            return "", ""
        done = self.width if not self.target else int(self.width * current / self.target)
        done = min(done, self.width)
        return " " + "━" * done, "─" * (self.width - done)

    def _time_per_step(self, current, now) -> float:
        """Seconds per step, leaving the first step (compilation) out once there are more."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_step = (now - self._time_after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_step
