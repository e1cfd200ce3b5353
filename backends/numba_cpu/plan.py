"""A numba_cpu *plan*: the generated straight-line step function of one binding of a
graph's symbols (what :mod:`.executable` runs after a binding's first, checked call;
its docstring says what a plan does and why).

Where each value lives comes from the memory analysis,
:func:`fusegraph.passes.memory.plan_memory`, told what this backend does: kernels,
contractions, native ops (:mod:`.native`) and scans make new arrays (every other op may
return a view of its operands), and all but scans write into buffers the plan keeps. So:

* a value no graph result can reach (not in the analysis's ``escapes``) is written into
  its **slot**, a byte buffer the plan allocates once and shares among values whose live
  ranges (views keeping their bases alive) do not overlap; each value is a fixed view of
  its slot;
* a value that may reach a result is handed to the caller: it goes into a **pooled**
  buffer, reused only when the caller no longer holds it (``sys.getrefcount`` against a
  baseline calibrated at import), with a spare for a caller that keeps one step's arrays
  until the next; without a GIL such values are new arrays every call;
* the in-place candidates of the analysis are not used: parameters are overwritten only
  where the caller donated them, by the kernels of the graph's tail that
  :mod:`.donation` chose (generated to write into their operand), with Ctrl-C held
  back from the first such kernel to the return; and a kernel writing a scratch operand
  it reads would need that promise from the kernel generator for every kernel.

This module generates the code; the Executable decides when a plan is made and trusted.
"""
from __future__ import annotations

import os
import sys
from time import perf_counter

import numpy as np

from .. import profiling, threads
from ..reference.interpreter import run_op
from ...ir.opdef import COLLECTIVE
from ...ir.types import resolve_shape
from ...passes.memory import plan_memory

from ..numba.kernels import load_kernel
from .contractions import contraction_function
from ..interrupts import hold_interrupts, release_interrupts
from .native import NATIVE
from .scan import ScanStep
from .scan_blas import blas_threads


def _refcount_baseline() -> int:
    """``sys.getrefcount`` of a pooled buffer nobody else holds, read by code shaped as
    the plans read it (a global list, a local name), so that interpreter versions that
    count stack references differently agree with the plans."""
    namespace = {"POOL": [np.empty(1)], "getrefcount": sys.getrefcount}
    exec("def probe():\n    v0 = POOL[0]\n    return getrefcount(v0)\n", namespace)
    return namespace["probe"]()


# Reference counts are exact only with the GIL: without it, results are never reused.
_POOLING = getattr(sys, "_is_gil_enabled", lambda: True)()
_HELD = _refcount_baseline()


def op_modes(steps: list, size_only: set, env: dict) -> list[str]:
    """How each op runs in a plan: ``skip`` (its results depend on the sizes only:
    computed once, by the checked call), ``scan``, ``kernel``, ``contraction`` (into a
    buffer), ``native`` (a hand-written kernel into a buffer: :mod:`.native`), ``run_op`` (a region the kernel cannot run for these sizes: an empty
    iteration space) or ``ref`` (its numpy ``ref``). ``steps``: the Executable's ``(Step,
    KernelStep | ScanStep | None)``. ``collective`` (an all-reduce: its ``ref``, on the
    worker thread until its results are read when something can run meanwhile,
    :func:`concurrent_ops`)."""
    modes = []
    for ref, kernel_step in steps:
        op = ref.op
        if ref.opdef.has(COLLECTIVE):
            modes.append("collective")
        elif all(i in size_only for i in ref.results):
            modes.append("skip")
        elif isinstance(kernel_step, ScanStep):
            modes.append("scan")
        elif kernel_step is not None and not kernel_step.empty(env):
            modes.append("kernel")
        elif contraction_function(op) is not None:
            modes.append("contraction")
        elif op.kind in NATIVE:
            modes.append("native")
        elif op.region is not None:
            modes.append("run_op")
        else:
            modes.append("ref")
    return modes


class StepPlan:
    """The generated step function of one binding: ``run(arrays)`` on arrays the binder
    accepted. ``steps`` and ``size_only`` are the Executable's (see :func:`op_modes`),
    ``captured`` the checked call's copies of the size-only values. ``memory`` is the
    analysis the plan follows, ``buffers`` its slots, ``source`` the generated code.

    The source holds two functions: ``run``, and ``run_profiled``, the same lines each
    timed into a :class:`~fusegraph.backends.profiling.Record` (``entries`` says what
    each timed line runs), which ``run`` calls instead while a
    :func:`~fusegraph.backends.profiling.profiling` block is open."""

    def __init__(self, graph, steps: list, size_only: set, env: dict, captured: dict):
        self.env = env
        modes = op_modes(steps, size_only, env)
        fresh = [ref.op for (ref, _), mode in zip(steps, modes)
                 if mode in ("kernel", "contraction", "native", "scan")]
        slotted = [ref.op for (ref, _), mode in zip(steps, modes)
                   if mode in ("kernel", "contraction", "native")]
        self.forks = concurrent_ops(graph, modes)
        self.memory = plan_memory(graph, env, fresh=fresh, slotted=slotted,
                                  keep_operands=self.forks)
        gen = _Generator(graph, env, captured, size_only, self.memory)
        writes = [i for i, ((_, kernel_step), mode) in enumerate(zip(steps, modes))
                  if mode == "kernel" and kernel_step.spec.in_place]
        for i, ((ref, kernel_step), mode) in enumerate(zip(steps, modes)):
            if writes and i == writes[0]:
                gen.start_writes()
            if mode != "skip":
                gen.op(ref, kernel_step, mode, i, self.forks.get(i))
        self.buffers = gen.slot_arrays
        self.title = f"@{graph.name} for {self.env_text()}"
        self.entries = gen.entries
        header = (f"# plan of @{graph.name} for {self.env_text()}: generated by fusegraph's "
                  f"numba_cpu backend (backends/numba_cpu/plan.py)\n")
        self.source = header + gen.finish(graph.results)
        self.wrote = gen.wrote     # [True] once a call started writing donated parameters
        gen.ns["PLAN"] = self
        exec(self.source, gen.ns)
        self.run = gen.ns["run"]

    def env_text(self) -> str:
        return ", ".join(f"{s}={n}" for s, n in self.env.items()) or "static shapes"


class _Generator:
    """The lines of one plan's ``run`` and the globals they name (``ns``)."""

    def __init__(self, graph, env: dict, captured: dict, size_only: set, memory):
        self.env, self.captured, self.size_only, self.memory = env, captured, size_only, memory
        self.ns: dict = {"empty": np.empty, "asarray": np.asarray, "run_op": run_op,
                         "getrefcount": sys.getrefcount, "HELD": _HELD, "env": env,
                         "POOL": [], "SPARE": [], "ACTIVE": profiling.ACTIVE,
                         "clock": perf_counter}
        self.slot_arrays: dict[int, np.ndarray] = {}   # slot index -> its byte buffer
        self.name: dict = {}                           # Value -> its name in the code
        self.local: set = set()                        # values held by local names
        self.prologue: list[str] = []
        self.body: list[str] = []                      # the lines of the op being written
        self.groups: list[list[str]] = []              # each op's lines
        self.entries: list[profiling.Entry] = []       # what each op's lines run
        self.joins: list[tuple[int, list[str]]] = []   # (op index, lines) of scans to join
        self.forked = False                            # whether a scan runs on the worker
        self.writes_from: int | None = None            # the first group writing a parameter
        self.wrote = [False]       # set by ``run`` once it started writing parameters
        self.join_all = False                          # the next op joins every scan first
        self.count = 0
        params = [f"p{k}" for k in range(len(graph.params))]
        if params:
            self.prologue.append(f"{', '.join(params)}, = arrays")
        for p, pname in zip(graph.params, params):
            self.name[p] = pname
            self.local.add(p)

    def global_(self, prefix: str, value) -> str:
        n = f"{prefix}{len(self.ns)}"
        self.ns[n] = value
        return n

    def operand(self, v) -> str:
        """A value's name; a size-only value is a kept constant (a copy of it when it
        may reach a result: the caller never holds the plan's own array)."""
        if v not in self.size_only:
            return self.name[v]
        if v not in self.name:
            self.name[v] = self.global_("c", self.captured[v])
        return self.name[v] + (".copy()" if v in self.memory.escapes else "")

    def new_local(self, v) -> str:
        self.count += 1
        self.name[v] = f"v{self.count}"
        self.local.add(v)
        return self.name[v]

    def output(self, r) -> str:
        """The array a kernel or contraction writes ``r`` into: a view of its slot, or a
        pooled buffer when a result may reach it."""
        shape = resolve_shape(r.type.shape, self.env)
        dtype = np.dtype(r.type.dtype.numpy)
        if r not in self.memory.escapes:
            k = self.memory.slots[r]
            if k not in self.slot_arrays:
                self.slot_arrays[k] = np.empty(self.memory.slot_bytes[k], np.uint8)
            view = self.slot_arrays[k][:self.memory.nbytes[r]].view(dtype).reshape(shape)
            self.name[r] = self.global_("b", view)
            return self.name[r]
        v = self.new_local(r)
        d = self.global_("D", dtype)
        if not _POOLING:
            self.body.append(f"{v} = empty({shape}, {d})")
            return v
        pool, spare = self.ns["POOL"], self.ns["SPARE"]
        pool.append(np.empty(shape, dtype))
        spare.append(None)            # made when first needed (None is always held)
        j = len(pool) - 1
        self.body += [f"{v} = POOL[{j}]",
                      f"if getrefcount({v}) != HELD:",
                      f"    {v} = SPARE[{j}]",
                      f"    if getrefcount({v}) != HELD: {v} = empty({shape}, {d})",
                      f"    SPARE[{j}] = POOL[{j}]",
                      f"    POOL[{j}] = {v}"]
        return v

    def op(self, ref, kernel_step, mode: str, index: int, join: int | None = None) -> None:
        """The lines running op ``index`` of the graph, then the ``del`` of the locals that
        die there; first the joins of concurrent scans due before it. A scan with a
        ``join`` index runs on the worker thread (:func:`concurrent_scans`) until then."""
        op = ref.op
        self.body = self.due_joins(sys.maxsize if self.join_all else index)
        self.join_all = False
        dying = ref.dying
        args = [self.operand(v) for v in op.operands]
        comment = f"  # {op.kind}" + (f" at {op.loc}" if str(op.loc) else "")
        if mode == "kernel":
            written = dict(kernel_step.spec.in_place)   # result -> operand it overwrites
            outs = []
            for j, r in enumerate(op.results):
                if j in written:    # the operand's array, by a name that outlives its own
                    self.body.append(f"{self.new_local(r)} = {args[written[j]]}")
                else:
                    outs.append(self.output(r))
            k = self.global_("k", kernel_step.kernel)
            sizes = [str(n) for n in kernel_step.sizes(self.env)]
            self.body.append(f"{k}({', '.join(args + outs + sizes)}){comment} "
                             f"{kernel_step.spec.name}" + (" (in place)" if written else ""))
        elif mode == "contraction":
            out = self.output(op.results[0])
            f = self.global_(op.kind, contraction_function(op))
            self.body.append(f"{f}({', '.join(args)}, out={out}){comment}")
        elif mode == "native":
            spec, runner = NATIVE[op.kind]
            outs = [self.output(r) for r in op.results]
            k, f = self.global_("k", load_kernel(spec)), self.global_("n", runner)
            a = self.global_("a", dict(op.attrs))
            zero = self._is_zero(op.operands[0])
            self.body.append(f"{f}({k}, [{', '.join(args)}], [{', '.join(outs)}], {a}, {zero})"
                             f"{comment}")
        elif mode in ("scan", "collective") and join is not None:   # on the worker until join
            if mode == "scan":
                task, submit = self.global_("L", kernel_step.run), "SUBMIT"
            else:
                task, submit = self.global_("L", _collective(ref.opdef.ref, dict(ref.attrs))), \
                    "SUBMIT_COLLECTIVE"
            outs = [self.new_local(r) for r in op.results]
            future = f"F{index}"
            self.body.append(f"{future} = {submit}({task}, [{', '.join(args)}], env){comment} "
                             f"(on the worker thread)")
            unused = [self.name[r] for r in op.results if r in dying]
            self.joins.append((join, [f"{', '.join(outs)}, = JOIN({future})"]
                               + ([f"del {', '.join(unused)}"] if unused else [])))
            self.forked = True
            dying = [v for v in dying if v not in op.results]   # named only at the join
        elif mode == "scan":     # final carries copied, stacks new: fresh arrays
            scan = self.global_("L", kernel_step.run)
            outs = [self.new_local(r) for r in op.results]
            self.body.append(f"{', '.join(outs)}, = {scan}([{', '.join(args)}], env){comment}")
        elif mode == "run_op":
            step = self.global_("S", ref)
            outs = [self.new_local(r) for r in op.results]
            self.body.append(f"{', '.join(outs)}, = run_op({step}, [{', '.join(args)}], env)"
                             f"{comment}")
        else:
            self._ref(ref, args, comment)
        dead = [self.name[v] for v in dying if v in self.local]
        if dead:
            self.body.append(f"del {', '.join(dead)}")
        self.groups.append(self.body)
        self.entries.append(_entry(op, kernel_step, mode))

    def start_writes(self) -> None:
        """From the next op on, kernels write into donated parameters (:mod:`.donation`):
        every scan on the worker is joined before it (none may still read them), and
        Ctrl-C is held back from there to the return."""
        self.writes_from = len(self.groups)
        self.join_all = True

    def due_joins(self, index: int) -> list[str]:
        """The join lines of the concurrent scans whose results op ``index`` (or, with
        the number of ops, the return) may read."""
        lines = [line for at, join in self.joins if at <= index for line in join]
        self.joins = [(at, join) for at, join in self.joins if at > index]
        return lines

    def _is_zero(self, v) -> bool:
        """Whether ``v`` is a size-only value that is all zeros (autodiff's zero start)."""
        return v in self.size_only and not np.any(self.captured[v])

    def _ref(self, ref, args: list, comment: str) -> None:
        """An op run by its numpy ``ref`` with its attributes fixed for these sizes."""
        attrs = dict(ref.attrs)
        for a in ref.shape_attrs:
            attrs[a] = resolve_shape(attrs[a], self.env)
        f = self.global_("f", ref.opdef.ref)
        a = self.global_("a", attrs)
        outs = [self.new_local(r) for r in ref.op.results]
        target = f"{', '.join(outs)} = " if outs else ""
        self.body.append(f"{target}{f}([{', '.join(args)}], {a}){comment}")
        for r, v in zip(ref.op.results, outs):
            if r.type.rank == 0:
                self.body.append(f"{v} = asarray({v})")

    def finish(self, results) -> str:
        """The source of ``run`` and ``run_profiled`` (see :class:`StepPlan`). With
        concurrent scans, a failure waits for the worker before it propagates (the
        checked path then runs the step again, those scans included)."""
        last = self.due_joins(sys.maxsize)
        forked = self.forked
        ret = f"return [{', '.join(self.operand(r) for r in results)}]"
        split = len(self.groups) if self.writes_from is None else self.writes_from
        plain = [[line for group in self.groups[a:b] for line in group]
                 for a, b in ((0, split), (split, len(self.groups)))]
        timed: list[list[str]] = [[], []]
        for i, group in enumerate(self.groups):
            timed[i >= split] += ["t = clock()", *group, f"T[{i}] += clock() - t"]
        plain = ["if ACTIVE[0] is not None:",
                 "    return run_profiled(arrays, ACTIVE[0].record(PLAN))",
                 *self.prologue, *_guarded(_writes(*plain) + last, forked), ret]
        timed = ["T = R.seconds", "t_call = clock()", *self.prologue,
                 *_guarded(_writes(*timed) + last, forked),
                 "R.calls += 1", "R.total += clock() - t_call", ret]
        if forked:
            self.ns.update(SUBMIT=_submit, SUBMIT_COLLECTIVE=_submit_collective, JOIN=_join,
                           DRAIN=_drain)
        if self.writes_from is not None:
            self.ns.update(HOLD=hold_interrupts, RELEASE=release_interrupts, WROTE=self.wrote)
        return "\n".join(["def run(arrays):", *_indent(plain), "",
                          "def run_profiled(arrays, R):", *_indent(timed)]) + "\n"


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _writes(before: list[str], writing: list[str]) -> list[str]:
    """``before``, then the lines ``writing`` into donated parameters with Ctrl-C held
    back (:func:`.donation.hold_interrupts`) until they are all done."""
    if not writing:
        return before
    return ["WROTE[0] = False", *before, "H = HOLD()", "WROTE[0] = True", "try:",
            *_indent(writing), "finally:", "    RELEASE(H)"]


def _guarded(lines: list[str], forked: bool) -> list[str]:
    """``lines``, in a block that waits for the worker's scans if one of them raises."""
    if not forked:
        return lines
    return ["try:", *_indent(lines), "except BaseException:", "    DRAIN()", "    raise"]


# --- scans on a second thread ------------------------------------------------------------
_worker: list = []          # the one worker thread's executor, made on first use
_submitted: list = []       # futures of scans submitted and not yet waited for on failure


def concurrent_ops(graph, modes: list[str]) -> dict[int, int]:
    """``{op index: join index}``: the scans (:func:`concurrent_scans`) and the
    collectives a plan runs on its worker thread, each until the first op that reads one
    of its results (the number of ops: the return). Every collective (an all-reduce of
    gradients, placed after the op that makes its last operand) goes to the worker: the
    messages of a data-parallel step travel while the rest of its backward pass
    computes (mpi4py releases the GIL in MPI calls), and the one worker runs them one at
    a time in graph order, as MPI requires of a communicator's collectives on every rank
    (two in flight from two threads may pair up wrongly across ranks)."""
    first_use = _first_uses(graph)
    forks = concurrent_scans(graph, modes, first_use)
    for i, mode in enumerate(modes):
        if mode == "collective":
            join = min((first_use.get(r, len(modes)) for r in graph.ops[i].results),
                       default=len(modes))
            forks[i] = join     # even when read at once: behind the ones in flight
    return forks


def _first_uses(graph) -> dict:
    """Value -> the index of the first op that reads it."""
    first_use: dict = {}
    for j, op in enumerate(graph.ops):
        for v in op.operands:
            first_use.setdefault(v, j)
    return first_use


def concurrent_scans(graph, modes: list[str], first_use: dict) -> dict[int, int]:
    """``{op index: join index}``: the scans a plan runs on a worker thread, each until
    the first op that reads one of its results (the number of ops: the return).

    On more than one thread (:func:`fusegraph.backends.threads.get_num_threads`), a scan
    is started on the worker when another scan runs before its results are needed (the
    LSTMs of a two-input model: each layer's forward, then each one's backward), and no
    other scan is on the worker then (one worker). The compiled loops release the GIL
    (``nogil``), so the two scans run on two cores; ops between the start and the join
    run on the calling thread meanwhile, and the memory plan keeps the scan's operands
    from being overwritten until the join (``keep_operands``). Measured on 2 cores (ticket
    model with LSTM(128)/LSTM(32), 2 threads, same session): 9.4 -> 7.2 ms per step, the
    forward loops alone 9.4 -> 8.5 (the backward ones became neighbours with the
    ``early_scans`` pass)."""
    if threads.get_num_threads() < 2:
        return {}
    forks, busy_until = {}, -1
    for i, mode in enumerate(modes):
        if mode != "scan" or i < busy_until:
            continue
        join = min((first_use.get(r, len(modes)) for r in graph.ops[i].results),
                   default=len(modes))
        if any(m == "scan" for m in modes[i + 1:join]):
            forks[i] = busy_until = join
    return forks


def _on_one_thread(scan, args: list, env: dict):
    """``scan(args, env)`` on the worker, its Numba kernels on one thread."""
    threads.set_kernel_threads_here(1)
    return scan(args, env)


def _submit(scan, args: list, env: dict):
    """Run ``scan(args, env)`` on the worker thread; its future. Until :func:`_join`,
    both threads run their BLAS and kernels on one thread each (two cores, two threads:
    a pool's second worker would only wait for a core)."""
    if not _worker:
        from concurrent.futures import ThreadPoolExecutor
        _worker.append(ThreadPoolExecutor(1, thread_name_prefix="fusegraph-scan"))
    narrow = blas_threads(1)
    narrow.__enter__()
    future = _worker[0].submit(_on_one_thread, scan, args, env)
    future.widen = (narrow, threads.set_kernel_threads_here(1))
    _submitted.append(future)
    return future


def _submit_collective(task, args: list, env: dict):
    """Run collective ``task(args, env)`` on the worker thread (behind any scan there: one
    worker, so every rank's collectives keep their order); its future. The calling
    thread keeps its threads: a collective mostly waits for the network."""
    if not _worker:
        from concurrent.futures import ThreadPoolExecutor
        _worker.append(ThreadPoolExecutor(1, thread_name_prefix="fusegraph-scan"))
    future = _worker[0].submit(task, args, env)
    _submitted.append(future)
    future.widen = None
    return future


def _collective(ref, attrs: dict):
    """A collective op's ``ref`` with its attributes, as the worker calls a task."""
    return lambda args, env: ref(args, attrs)


def _join(future):
    """The results of a scan :func:`_submit` started, the threads given back."""
    try:
        return future.result()
    finally:
        _widen(future)


def _widen(future) -> None:
    """Undo :func:`_submit`'s narrowing for ``future``, once (a collective's: nothing to
    undo)."""
    if _submitted and future in _submitted:
        _submitted.remove(future)
        if future.widen is None:
            return
        narrow, kernel_threads = future.widen
        if kernel_threads is not None:
            threads.set_kernel_threads_here(kernel_threads)
        narrow.__exit__(None, None, None)


def _drain() -> None:
    """Wait for every scan submitted and not joined (a plan failed: the checked path
    will run them again, and must not race them), giving the threads back."""
    for future in list(_submitted):
        future.exception()
        _widen(future)


def _forget_worker_in_child() -> None:
    """A forked child has no worker thread: it makes its own on first use."""
    _worker.clear()
    _submitted.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker_in_child)


def _entry(op, kernel_step, mode: str) -> profiling.Entry:
    """What a plan's lines for ``op`` run, for profiles."""
    ops = op.region.ops if op.region is not None and mode != "scan" else [op]
    lines = tuple(dict.fromkeys(str(o.loc) for o in ops if str(o.loc)))
    if mode == "kernel":
        return profiling.Entry(kernel_step.spec.name, tuple(o.kind for o in ops), lines,
                               kernel_step.kernel)
    label = {"native": f"{op.kind} (native)",
             "scan": f"scan @{op.region.name}" if op.region is not None else "scan"}
    return profiling.Entry(label.get(mode, op.kind), tuple(o.kind for o in ops), lines)
