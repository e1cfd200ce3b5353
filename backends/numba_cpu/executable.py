"""The numba_cpu Executable: each ``fused`` op runs a generated, Numba-compiled kernel, and
a whole call runs as ONE generated straight-line Python function per binding of the
graph's symbols (a *plan*), with as little Python per step as possible.

Compiling
    ``compile(graph)`` plans the graph once (the reference :func:`free_schedule` and per-op
    :class:`~fusegraph.backends.reference.interpreter.Step`), generates every fused op's
    kernel source and imports it from the kernel cache
    (:mod:`fusegraph.backends.numba.kernels`) — **eagerly**,
    so a region the code generator cannot handle is known at compile time. Numba's
    machine code is made **ahead**, off the caller's thread: the first call queues every
    kernel, with the argument types the graph fixes, on one background compile thread
    (:mod:`fusegraph.backends.numba.warmup`; loaded from the disk cache when it holds
    them), and a kernel asked for before it is ready is compiled by its caller or
    waited for; so compiling a graph costs milliseconds and its first run pays for the
    kernels used. Under a tiered start (the default; ``FUSEGRAPH_TIERED_START=0`` waits)
    a fused op runs on the reference until its kernel arrived, and no plan is made
    before all have.

Calling
    * The arrays are checked by a generated binder (:class:`fusegraph.ir.binding.Binder`:
      exact ndarray class and dtype, rank,
      static dims, one size per symbol) that returns the symbol sizes; anything it does
      not accept goes through the reference's
      :func:`~fusegraph.ir.binding.bind_inputs`, so errors are the
      reference's, word for word, and what the reference accepts runs.
    * **The first call for a binding of the symbols** (a batch size, say) runs the
      *checked* path: the reference interpreter's loop, every op that is not fused run
      by the reference's ``run_op`` (numpy; matmul is BLAS through numpy), its result
      checked against its type, every fused op by its kernel. It then builds the plan
      for that binding: a Python function, generated as source (``exe.plan_source()``
      shows it), that calls the kernels and the ops' numpy ``ref`` functions in graph
      order with every size, attribute and decision already fixed, runs it once on the
      same arrays and compares its results with the checked path's (the same types, and
      the same values up to summation order; a plan that does not agree is dropped: that binding
      stays on the checked path, and
      ``exe.plan_errors`` says why). Later calls with that binding run the plan. Types
      are functions of the input types, which the binding fixes, so the checked call's
      result checks hold for every later call. Up to :data:`MAX_PLANS` bindings are kept
      (the oldest is dropped first).
    * If a plan raises, the call runs again on the checked path, which raises the error
      naming the op (or returns, if the plan was wrong: ``exe.plan_errors`` counts it).
      The executable writes into no argument but a donated parameter (``compile(graph,
      donate)``, :mod:`.donation`), and that only in the graph's tail, after every op
      that can fail, so nothing is half applied; a binding's first call runs the plan,
      to be checked, on copies of the donated arrays made before the checked path
      writes them (one copy: the Transformer block's 35 MB of weights and slots, 0.09 s
      of its first step, were copied twice) — unless a plan made from the same graph,
      sizes, kernels and libraries agreed before (:mod:`.plan_trust`).

What a plan does that the checked path does not
    * **Values that depend only on the symbol sizes** — constants, ``dim_size`` (it reads
      a shape, not data), and every pure op of only such values (``broadcast_to`` of a
      constant, the ``1/B`` of a mean's gradient, whole kernels of them) — are computed
      once, by the checked call, and kept: a copy of the checked call's array (which that
      call returns), and copied again whenever it reaches a graph result, so a caller
      never holds the executable's own array.
    * **Buffers are reused across calls** (:mod:`.plan`, following the memory analysis
      :func:`fusegraph.passes.memory.plan_memory`). Kernel outputs and contraction
      results (``np.matmul(a, b, out=...)``: the same BLAS call, into a kept buffer;
      transposed operands stay views, numpy passes BLAS the transpose flag) go into
      arrays the plan allocated once, so a step allocates (and page-faults) nothing for
      them. Values no graph result can reach live in scratch slots, each shared by values
      whose live ranges do not overlap, overwritten by the next call. A buffer that may
      reach a graph result (the result itself, or a value a result may be a view of:
      every op but a kernel, a contraction or a scan may return a view of its operands)
      is handed to the caller, so it is reused only when the caller no longer holds it:
      before each write the plan checks its reference count (``sys.getrefcount``; a view
      counts, since it references its base). Each such buffer has a spare (made the
      first time the last one is found held), so a caller that keeps each step's arrays
      until the next one (a variable holding its new value) allocates nothing either;
      only when both are held is a new array allocated, and the older one left to the
      caller. (Without a GIL, where reference counts are not exact, such results are new
      arrays every call.) A weight is written in place only when the caller donated it
      (the runtime does when it will commit the step's updates whatever its outputs:
      ``Function.step``), by an update kernel of the graph's tail (:mod:`.donation`);
      else a step returns new arrays, which :func:`fusegraph.frontend.function.commit`
      assigns after the whole step ran. Either way a failed step leaves the weights as
      they were.
    * Values die after their last use (``del``), as in the reference.
    * A plan is not reentrant: a call that finds the plan busy (another thread) runs on
      the checked path, which allocates everything fresh.

A ``scan`` op runs its body as a numba_cpu Executable of its own, compiled here once per
scan op (:class:`.scan.ScanStep`): each call binds the body once and loops over the steps
calling the body's plan (``exe.scans`` lists them; their kernels are in :meth:`source`).

Every fused op gets a kernel: a region the generator refuses is an error at compile time
naming the op (:func:`~fusegraph.backends.numba.steps.kernel_spec`; the verifier checked
the kernel contract). A fused op runs the reference interpreter of its region only for a
binding whose iteration space is empty (numpy's max of nothing is an error, which the
reference then reports). Operand sizes need no check: the kernel contract makes them the
types', and symbols broadcast strictly.
"""
from __future__ import annotations

import functools
import threading
import time
from contextlib import contextmanager, nullcontext

import numpy as np

from .. import threads
from ..executable import Executable as ExecutableProtocol
from ..numba import steps
from ..numba.kernels import load_kernel
from ..numba.signatures import native_arguments
from ..numba.warmup import Warmup
from ..reference.interpreter import (ExecutionError, Step, describe_op, free_schedule,
                                     interpret, run_op)
from ...ir.binding import Binder
from ...ir.core import Graph
from ...ir.opdef import COLLECTIVE, RANDOM, SHAPE_ONLY, SIDE_EFFECTS, get_opdef

from .codegen import generate_kernel
from .contractions import checked_runner
from .donation import in_place_writes
from .native import NATIVE
from . import plan_trust
from ...ir.ops import collective
from .plan import StepPlan
from .scan import ScanStep, bound_by_params

MAX_PLANS = 8   # bindings of the symbols (batch sizes) with a plan kept at once


class KernelStep(steps.KernelStep):
    """One fused op run by its kernel; ``ref`` is the reference step (its fallback)."""

    __slots__ = ()

    def run(self, args: list, env: dict) -> list:
        sizes = self.sizes(env)
        if self.static_empty or 0 in sizes or not self.ready():   # empty(env), or tiered
            return run_op(self.ref, args, env)
        written = dict(self.spec.in_place)     # result -> the operand it is written into
        outs = [args[written[j]] if j in written else np.empty(shape, dtype)
                for j, (shape, dtype) in enumerate(zip(self.output_shapes(env),
                                                       self.out_dtypes))]
        try:
            self.kernel(*args, *(o for j, o in enumerate(outs) if j not in written), *sizes)
        except Exception as e:
            raise self.launch_error(args, e) from e
        return outs


class Executable(ExecutableProtocol):
    """A compiled graph (:class:`fusegraph.backends.executable.Executable`):
    ``exe(*arrays)`` returns one array per graph result.

    ``kernels``: the KernelSteps, one per fused op with a kernel, in graph order.
    :meth:`source` gives the generated kernel sources (what ``fusegraph dump`` shows),
    :meth:`plan_source` the generated step function of a binding. ``plan_errors`` lists
    plans dropped or rerun on the checked path, and scans of this graph that fell back to
    the reference, with the reason (empty unless something left the fast path; only the
    latest :data:`~fusegraph.backends.numba.steps.MAX_FAILURES` are kept). Like the
    reference, it holds no state buffers: weights are passed in as arrays and new values
    come back as new arrays, or, for donated parameters, in them (``in_place``: op
    index -> the ``(result, operand)`` pairs its kernel writes in place).
    """

    def __init__(self, graph: Graph, donate=()):
        self.graph = graph
        self.in_place = in_place_writes(graph, donate) if donate else {}
        # the parameters some kernel writes into (copied for a binding's first plan run)
        self._written = sorted({graph.params.index(graph.ops[i].operands[m])
                                for i, pairs in self.in_place.items() for _, m in pairs})
        self.kernels: list[KernelStep] = []
        self.plan_errors: list[str] = []
        self.scans: list[ScanStep] = []
        self._steps: list[tuple[Step, KernelStep | ScanStep | None]] = []
        self._schedule = []      # the checked path's (run, step, ref): see ``interpret``
        self.warmup = Warmup()   # the kernels made ready ahead of their first call
        for index, (op, dying) in enumerate(zip(graph.ops, free_schedule(graph))):
            ref = Step(op, dying)
            kernel_step = None
            start = time.perf_counter()
            spec = steps.kernel_spec(op, self._generator(index))
            if spec is not None:
                kernel_step = KernelStep(ref, spec, load_kernel(spec))
                kernel_step.pending = self.warmup.claim(kernel_step)
                self.kernels.append(kernel_step)
                self.warmup.report.add("codegen", time.perf_counter() - start)
            elif native_arguments(op) is not None:     # the plan's hand-written kernel
                self.warmup.add(load_kernel(NATIVE[op.kind][0]), native_arguments(op))
            elif op.kind == "scan" and bound_by_params(op.region):
                kernel_step = ScanStep(ref, Executable(op.region), self)
                self.scans.append(kernel_step)
            self._steps.append((ref, kernel_step))
            contraction = checked_runner(op) if kernel_step is None else None
            if contraction is not None:
                self._schedule.append((*contraction, ref))
            else:
                self._schedule.append((run_op, ref, ref) if kernel_step is None
                                      else (type(kernel_step).run, kernel_step, ref))
        self._binding = Binder(graph)
        self._symbols = self._binding.symbols
        self._size_only = _size_only_values(graph)
        self._plans: dict[tuple, StepPlan | None] = {}   # None: that binding stays checked
        self._lock = threading.Lock()
        self._last_plan: StepPlan | None = None
        self._forks = threads.forks()
        self._collectives = any(get_opdef(op.kind).has(COLLECTIVE) for op in graph.ops)

    def serialize_after_fork(self) -> None:
        """In a child forked after Numba's pool started (:func:`~fusegraph.backends.
        threads.forks`), where a parallel kernel would get the process killed: each
        parallel kernel (scan bodies' included) is replaced by its serial twin, loaded or
        compiled now, a scan whose compiled loop called one runs step by step, and the
        plans, which call the kernels they were made with, are dropped."""
        self._forks = threads.forks()
        for kernel_step in self.kernels:
            if kernel_step.spec.parallel:
                index = next(i for i, op in enumerate(self.graph.ops) if op is kernel_step.op)
                spec = steps.kernel_spec(kernel_step.op, self._generator(index))  # serial now
                kernel_step.spec, kernel_step.kernel = spec, load_kernel(spec)
                kernel_step.pending = None
        for scan in self.scans:
            if scan.loop is not None and any(k.spec.parallel for k in scan.body.all_kernels()):
                scan.loop, scan.mode, scan.pending = None, "steps", None
                scan.reason = "runs step by step: forked after Numba's pool started"
            scan.body.serialize_after_fork()
        self._plans.clear()
        self._last_plan = None

    def _generator(self, index: int):
        """The kernel generator of op ``index``: writing in place what :attr:`in_place`
        says (:mod:`.donation`)."""
        return functools.partial(generate_kernel, in_place=self.in_place.get(index, ()))

    def __call__(self, *arrays) -> list[np.ndarray]:
        if threads.forks() != self._forks:
            self.serialize_after_fork()
        arrays, key = self._binding(arrays)
        plan = self._plans.get(key, False)
        if plan is False:
            return self._first_call(arrays, key)
        if plan is None or not self._lock.acquire(False):
            return self._run_checked(arrays, dict(zip(self._symbols, key)))
        reduced: dict = {}      # a collective's results: what a rerun must not send again
        try:
            with collective.recording(reduced) if self._collectives else nullcontext():
                return plan.run(arrays)
        except Exception as e:   # rerun checked: it raises the error naming the op
            if plan.wrote[0]:    # not after writes into donated parameters: a second update
                raise ExecutionError(f"plan for {plan.env_text()} raised after writing "
                                     f"donated parameters in place: {type(e).__name__}: "
                                     f"{e}") from e
            failure = f"{type(e).__name__}: {e}"
        finally:
            self._lock.release()
        with collective.replaying(reduced):     # the other processes got those already
            out = self._run_checked(arrays, plan.env)
        steps.record_failure(self.plan_errors, f"plan for {plan.env_text()} raised "
                             f"{failure} but the checked path did not")
        return out

    # --- the checked path and plans ------------------------------------------------------
    def _run_checked(self, arrays, env: dict, capture: dict | None = None) -> list:
        """The interpreter's loop: ``run_op`` with its checks, or the kernel, per op.
        ``capture`` gets copies of the size-only values the plan keeps: the arrays this
        call returns are the caller's, so the plan must never keep one of them."""
        size_only = self._size_only

        def observe(ref, outs):
            for r, out in zip(ref.results, outs):
                if r in size_only:
                    capture[r] = np.array(out, copy=True)
        return interpret(self.graph, self._schedule, arrays, env,
                         None if capture is None else observe)

    def _first_call(self, arrays, key: tuple) -> list:
        env = dict(zip(self._symbols, key))
        captured: dict = {}
        trust = plan_trust.plan_key(self.graph, env, [k.spec.source for k in self.kernels])
        trusted = plan_trust.verified(trust)    # checked before: not run twice (plan_trust)
        spare = None if trusted else self._copy_written(arrays)   # one update, not two
        with collective.recording() as reduced:
            want = self._run_checked(arrays, env, captured)
        if not self.warmup.arrived():       # tiered start: the plan waits for its kernels
            return want
        plan = problem = None
        try:
            plan = StepPlan(self.graph, self._steps, self._size_only, env, captured)
            if not trusted:     # all-reduces give the checked path's results: one message
                with self._lock, collective.replaying(reduced):
                    got = plan.run(spare)
                problem = steps.disagreement(got, want)
                if problem is None:
                    plan_trust.mark_verified(trust)
        except Exception as e:
            problem = f"{type(e).__name__}: {e}"
        if problem is not None:
            where = plan.env_text() if plan is not None else str(env)
            steps.record_failure(self.plan_errors,
                                 f"plan for {where} dropped: {problem}")
            plan = None
        while self._plans and len(self._plans) >= MAX_PLANS:
            del self._plans[next(iter(self._plans))]
        self._plans[key] = plan
        if plan is not None:
            self._last_plan = plan
        return want

    def _copy_written(self, arrays) -> list:
        """``arrays`` with a copy of each parameter a kernel writes into."""
        if not self._written:
            return arrays
        arrays = list(arrays)
        for i in self._written:
            arrays[i] = arrays[i].copy()
        return arrays

    @contextmanager
    def repeated(self, arrays):
        """For many calls whose arrays bind the symbols as ``arrays`` do (a scan's steps),
        bound once: yields ``(run, first)``, ``run(arrays)`` the fastest path for that
        binding (the plan, held for the block; the checked path when there is none or
        another thread holds it), ``first`` the results for ``arrays`` when making the
        plan already ran them (the binding's first call), else None."""
        arrays, key = self._binding(arrays)
        first = None
        plan = self._plans.get(key, False)
        if plan is False:
            first = self._first_call(arrays, key)
            plan = self._plans.get(key)
        if plan is None or not self._lock.acquire(False):
            env = dict(zip(self._symbols, key))
            yield (lambda xs: self._run_checked(xs, env)), first
            return
        try:
            yield plan.run, first
        finally:
            self._lock.release()

    def plan_source(self, *sizes) -> str:
        """The generated step function of the binding ``sizes`` (one per symbol, in order
        of first appearance in the parameters), or of the latest plan made."""
        plan = self._plans.get(tuple(sizes)) if sizes else self._last_plan
        if plan is None:
            raise ValueError("no plan for that binding yet: call the executable first")
        return plan.source

    def all_kernels(self) -> list[KernelStep]:
        """The kernels of this graph, then those of each scan body (nested ones too)."""
        out = list(self.kernels)
        for scan in self.scans:
            out += scan.body.all_kernels()
        return out

    def source(self) -> str:
        """Every generated kernel's source (scan bodies' included), once each, headed by
        the fused ops using it; then each compiled scan loop's source (nested ones too)."""
        loops = [f"# ---- {s.loop.spec.name}: the compiled loop of "
                 f"{describe_op(s.op)}\n{s.loop.spec.source}" for s in self.all_scans()
                 if s.loop is not None]
        return "\n".join([steps.kernel_sources(self.all_kernels()), *loops])

    def all_scans(self) -> list[ScanStep]:
        """This graph's scan steps, then those of each scan body (nested ones too)."""
        out = list(self.scans)
        for scan in self.scans:
            out += scan.body.all_scans()
        return out

    def __repr__(self) -> str:
        return f"<numba_cpu Executable of {self.graph!r}: {len(self.kernels)} kernels>"


def compile(graph: Graph, donate=()) -> Executable:
    """The numba_cpu Executable of ``graph`` (see the module docstring); ``donate``:
    ``(result j, parameter i)`` pairs whose parameter arrays a call may overwrite with
    the result's values (:mod:`.donation`)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"compile expects a Graph, got {type(graph).__name__}")
    return Executable(graph, donate)


# --- analysis -----------------------------------------------------------------------------

def _size_only_values(graph: Graph) -> set:
    """The values that depend on the symbol sizes only: results of pure ops whose
    operands are all such values (constants, iota: no operands), and of SHAPE_ONLY ops
    (``dim_size``)."""
    out: set = set()
    for op in graph.ops:
        opdef = get_opdef(op.kind)
        if opdef.has(RANDOM) or opdef.has(SIDE_EFFECTS) or opdef.has(COLLECTIVE):
            continue
        if opdef.has(SHAPE_ONLY) or all(v in out for v in op.operands):
            out.update(op.results)
    return out
