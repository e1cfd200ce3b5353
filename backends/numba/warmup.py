"""Making a graph's kernels ready ahead of their first call, in a background thread, and
the *tiered start* that lets a step run before they are.

An Executable adds each kernel it will call from Python, with the argument types the
graph fixes (:mod:`.signatures`), to a :class:`Warmup` (one per Executable). The first
time one of its kernels is asked for (:meth:`Ticket.arrived`: the checked path reaching
its first fused op), the whole group is queued, in graph order, on one background thread
that compiles each kernel for its signature, or loads it from the verified disk cache
(Numba's ``dispatcher.compile``: a cache hit loads, a miss compiles and saves). A kernel
already compiled in this process gets no ticket; a kernel never asked for (the kernels of
a scan body that a compiled loop runs inside itself) is never compiled on its own.

What a caller does while a kernel is not ready yet depends on the group's mode, fixed
when the Executable is made (:func:`tiered_start`):

* **tiered** (the default; ``FUSEGRAPH_TIERED_START=0`` turns it off): it does not wait
  for a kernel (or a scan's compiled loop) that must be compiled; the fused op runs its
  region on the reference (numpy) instead, and switches to the kernel once it arrived. A kernel in the disk cache is waited for (or
  loaded by the caller): a load takes milliseconds, less than the reference's region
  with the background thread competing for the GIL (measured, the ticket model with
  LSTMs, warm: first call 0.77 s not waiting, 0.51 s waiting).
  The first step then costs tracing, passes and one reference step, not the compile.
  Results during the switch are the reference's, afterwards the kernels'; they differ
  only in rounding (the kernels' float32 sums accumulate in float64), so a run is not
  bit-reproducible across the switch point. Numba compiles holding the GIL (and its own
  global compile lock), so the reference steps and the compile share one core's worth
  of Python: measured on this 2-core machine, the compile finishes later than it would
  alone, the first step comes much earlier (2026-12-02, empty cache, 1 thread, the
  workloads of ``benchmarks/compare.py``, first step after building: MLP 2.17 -> 0.09 s,
  LSTM ticket model 9.65 -> 0.71 s; its plan made after 215 reference steps, 11 s).
* **waiting** (``FUSEGRAPH_TIERED_START=0``, what the tests use, and what a run that
  must be bit-reproducible from its first step needs): it waits for its kernel, drawing
  the compile's progress (:mod:`.compile_report`); the kernels after it keep compiling
  while the step runs the ops in between.

Threads, not processes: compile workers in processes (a fresh interpreter each, Numba
and fusegraph imported, compiling into the shared disk cache) were measured slower than
one in-process compile on this loaded 2-core machine (their start-up alone costs about a
second of CPU each), and they would need their compiled code loaded again here.

A compile that fails leaves its ticket done with ``error`` set: the kernel's caller then
calls the dispatcher itself, which compiles again and raises the error where it belongs.
A fork waits for the compile in flight (Numba's compile lock must not stay held by a
thread the child lacks); the child gets a fresh thread, and tickets its parent had
queued are queued again there.
At exit, queued work is dropped and the compile in flight finished, so the interpreter
never shuts down under a running compile.
"""
from __future__ import annotations

import atexit
import os
import queue
import threading
import time

from numba.core.compiler_lock import global_compiler_lock

from . import compile_report, kernel_cache
from .signatures import kernel_arguments, numba_signature, transposed

_EXIT_WAIT_S = 120.0      # the longest exit waits for the compile in flight

_TIERED: list = [None]    # set_tiered_start's choice (None: the environment's)


def tiered_start() -> bool:
    """Whether new Executables start tiered (see the module docstring):
    :func:`set_tiered_start`'s choice, else ``FUSEGRAPH_TIERED_START`` (``1``/``0``;
    default 1)."""
    if _TIERED[0] is not None:
        return _TIERED[0]
    value = os.environ.get("FUSEGRAPH_TIERED_START", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"environment variable FUSEGRAPH_TIERED_START={value!r}: expected "
                         f"1 (tiered start) or 0 (wait for kernels)")
    return value != "0"


def set_tiered_start(flag: bool | None) -> None:
    """Make Executables made from now on start tiered (True) or wait for their kernels
    (False); None: back to the environment's choice."""
    _TIERED[0] = None if flag is None else bool(flag)


class Ticket:
    """One kernel of a :class:`Warmup` group, made ready for one signature. ``error``:
    why its compile failed (None if it did not); ``seconds``: how long it took, timed
    under Numba's compile lock; ``loaded``: it came from the disk cache."""

    __slots__ = ("dispatcher", "signature", "group", "cached", "_done", "_taken", "error",
                 "seconds", "loaded")

    def __init__(self, dispatcher, signature, group: "Warmup"):
        self.dispatcher, self.signature, self.group = dispatcher, signature, group
        self.cached = (group.tiered     # only a tiered caller asks
                       and signature in kernel_cache.cached_signatures(dispatcher))
        self._done = threading.Event()
        self._taken = False          # a thread is making it ready (or made it)
        self.error: str | None = None
        self.seconds = 0.0
        self.loaded = False

    def done(self) -> bool:
        return self._done.is_set()

    def arrived(self) -> bool:
        """Whether the kernel is ready, asked by its caller: starts the group if it has
        not started; then, unless the group is tiered and the kernel must be compiled
        (not in the disk cache), makes it ready here if no thread has begun to, else
        waits for it (drawing the progress line), so it is then true."""
        if self._done.is_set():
            return True
        group = self.group
        group.start()
        if group.tiered and not self.cached:
            time.sleep(0)      # the compile goes first: hand it the GIL
            return False
        if self.take():
            self.make_ready()
        while not self._done.wait(compile_report.REDRAW_S):
            group.report.waiting()
        group.report.waiting()
        return True

    def take(self) -> bool:
        """Claim the work of making the kernel ready: True for the one thread that gets
        it (it then calls :meth:`make_ready`)."""
        with _LOCK:
            taken, self._taken = self._taken, True
        return not taken

    def make_ready(self) -> None:
        """Compile or load the kernel (by the thread that took it), then tell its group."""
        hits = sum(self.dispatcher.stats.cache_hits.values())
        start = None
        try:
            with global_compiler_lock:     # timed from when no other compile can run
                start = time.perf_counter()
                self.dispatcher.compile(self.signature)
        except Exception as e:  # noqa: BLE001 -- the caller's own call raises it again
            self.error = f"{type(e).__name__}: {e}"
        except BaseException as e:         # an interrupt: the ticket is done all the same
            self.error = f"interrupted ({type(e).__name__})"
            raise
        finally:
            self.seconds = 0.0 if start is None else time.perf_counter() - start
            self.loaded = sum(self.dispatcher.stats.cache_hits.values()) > hits
            self._done.set()
            self.group.finished(self)


class _Compiler:
    """The background thread and its queue of tickets (one per process); ``unfinished``:
    the tickets queued and not done (queued again in a forked child)."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self.unfinished: set[Ticket] = set()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="fusegraph-compile",
                                       daemon=True)
        self.thread.start()

    def submit(self, ticket: Ticket) -> None:
        with _LOCK:
            self.unfinished.add(ticket)
        self.queue.put(ticket)

    def _loop(self) -> None:
        while True:
            ticket = self.queue.get()
            if ticket is None or self.stopping:
                return
            if ticket.take():
                ticket.make_ready()
            with _LOCK:
                self.unfinished.discard(ticket)

    def stop(self) -> None:
        """Drop the queued work and wait for the compile in flight (at exit)."""
        self.stopping = True
        self.queue.put(None)
        self.thread.join(_EXIT_WAIT_S)


_LOCK = threading.Lock()            # tickets' claims, the compiler's set
_COMPILER: list = [None]            # the process's _Compiler, made on first use


def _compiler() -> _Compiler:
    with _LOCK:
        if _COMPILER[0] is None:
            _COMPILER[0] = _Compiler()
        return _COMPILER[0]


_FORK_HELD: list = [False]         # the fork waited for Numba's compile lock


def _before_fork() -> None:
    """A fork waits for the background compile in flight: Numba's compile lock held by a
    thread the child does not have would block every compile of the child."""
    _FORK_HELD[0] = _COMPILER[0] is not None
    if _FORK_HELD[0]:
        global_compiler_lock._lock.acquire()   # the RLock itself: no compile events


def _after_fork_in_parent() -> None:
    if _FORK_HELD[0]:
        global_compiler_lock._lock.release()


def _after_fork_in_child() -> None:
    global _LOCK
    if _FORK_HELD[0]:
        global_compiler_lock._lock.release()  # held by this (the forking) thread
    _LOCK = threading.Lock()         # a thread holding it at the fork is not here
    parent, _COMPILER[0] = _COMPILER[0], None
    if parent is None:
        return
    for ticket in list(parent.unfinished):
        if not ticket.done():        # its parent's thread is not in this process
            ticket._taken = False
            _compiler().submit(ticket)


def wait_for_kernels(timeout: float | None = None) -> bool:
    """Wait until every kernel (and compiled loop) queued for the background compile in
    this process is ready, compiled or loaded: True when none is left, False when
    ``timeout`` seconds passed first. After it, a tiered start runs at full speed (a
    benchmark's timed steps, a run that must be reproducible from a known step)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _LOCK:
            compiler = _COMPILER[0]
            left = [] if compiler is None else [t for t in compiler.unfinished if not t.done()]
        if not left:
            return True
        for ticket in left:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not ticket._done.wait(remaining):
                return False


def _stop_at_exit() -> None:
    if _COMPILER[0] is not None:
        _COMPILER[0].stop()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)
atexit.register(_stop_at_exit)


class Warmup:
    """The kernels of one Executable made ready ahead (see the module docstring):
    ``tickets`` in the order added, queued together on first use; ``tiered`` its mode;
    ``report`` its progress and summary (:class:`~.compile_report.CompileReport`)."""

    def __init__(self, tiered: bool | None = None):
        self.tiered = tiered_start() if tiered is None else tiered
        self.tickets: list[Ticket] = []
        self.report = compile_report.CompileReport(live=not self.tiered)
        self._by_key: dict = {}
        self._started = False
        self._left = 0
        self._lock = threading.Lock()

    def add(self, dispatcher, arguments) -> Ticket | None:
        """The ticket of ``dispatcher`` for the described ``arguments`` (one per kernel
        and signature in a group: equal kernels share a dispatcher), or None when it is
        compiled for them in this process already."""
        signature = numba_signature(arguments)
        if signature in dispatcher.overloads:
            return None
        key = (id(dispatcher), signature)
        if key not in self._by_key:
            self._by_key[key] = Ticket(dispatcher, signature, self)
            self.tickets.append(self._by_key[key])
        return self._by_key[key]

    def claim(self, kernel_step) -> Ticket | None:
        """What a numba_cpu kernel step's ``pending`` holds: the ticket of its kernel for
        the arguments the graph fixes (:func:`~.signatures.kernel_arguments`); None for
        a kernel that never runs (an empty iteration space) or is compiled already. A
        kernel reading a transpose's view also gets a ticket for the signature the plan
        calls it with (that operand strided), queued after it and not waited for: made
        while the cold process trains, it is in the disk cache for the next (the
        Transformer's first warm step had compiled two: 2.2 s, 0.65 s once cached)."""
        if kernel_step.static_empty:
            return None
        op, spec = kernel_step.op, kernel_step.spec
        ticket = self.add(kernel_step.kernel, kernel_arguments(op, spec.symbols, spec.in_place))
        if any(transposed(v) for v in op.operands):
            self.add(kernel_step.kernel, kernel_arguments(op, spec.symbols, spec.in_place,
                                                          strided=True))
        return ticket

    def start(self) -> None:
        """Queue every ticket of the group, in order (once)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            todo = [t for t in self.tickets if not t.done()]
            self._left = len(todo)
            self.report.start(len(self.tickets), len(self.tickets) - len(todo))
        if not todo:
            self.report.finish()
            return
        compiler = _compiler()
        for ticket in todo:
            compiler.submit(ticket)

    def finished(self, ticket: Ticket) -> None:
        """One of the group's tickets is done (told by the thread that made it ready)."""
        self.report.kernel_done(ticket.seconds, ticket.loaded)
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self.report.finish()

    def arrived(self) -> bool:
        """Whether every kernel of the group is ready, asked by the group's caller (the
        Executable, before it makes a plan that calls them all); see
        :meth:`Ticket.arrived`."""
        return all(t.arrived() for t in self.tickets)
