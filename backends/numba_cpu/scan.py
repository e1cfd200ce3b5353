"""Running a ``scan`` op on numba_cpu: the whole loop compiled, or its body's plan per step.

The reference runs a scan's body through its interpreter at every step: binding and
checking the inputs, looking up every op, checking every result. Here each scan op gets
a :class:`ScanStep` when the enclosing graph is compiled, which runs it one of two ways;
``mode`` says which, and ``reason`` why not the first:

* ``"loop"``: the whole loop is ONE generated Numba function
  (:class:`.scan_loop.CompiledLoop`, source from :mod:`.scan_codegen`): every step's
  kernels and matmuls run inside one compiled ``for`` loop, with no Python between
  steps. Made when every op of the body is one the loop runs (kernels, float matmuls,
  views, pads, and whatever depends on the invariants alone); checked against the
  reference on its first call (see :mod:`.scan_loop`); a loop that raises or disagrees is
  dropped for good (``reason`` and the enclosing executable's ``plan_errors`` say why)
  and the scan runs step by step from then on. The loop is compiled ahead with the
  enclosing executable's kernels (its :class:`~fusegraph.backends.numba.warmup.Warmup`);
  under a tiered start the reference runs the scan until the loop arrived.
* ``"steps"``: the body is a compiled numba_cpu Executable of its own (its kernels are
  those the pipeline's ``scan_fusion`` pass formed in it), and a call loops over the
  steps in Python calling the body's *plan* (its generated step function, see
  :mod:`.plan`) directly:

  * **one binding per call**: the body's symbols are the scan's, so the body's inputs
    are bound once, on the first step's arrays (which also picks, or makes, the body's
    plan for that binding: :meth:`.executable.Executable.repeated`); every later step
    calls the plan on arrays of the same types;
  * **stacked outputs preallocated**, each step's ``y_t`` written into its slot
    (``Y[:, t] = y_t`` for axis 1), as the reference's ``np.stack`` would place it;
  * **carries passed along as they are**: a step's new carries are the next step's
    arguments, no copy. The plan's pooled buffers are reused only when nobody holds
    them (reference counts), so the carry being read is never the one being written:
    each carry slot alternates between two buffers and a step allocates nothing;
  * the final carries are copied once (a fresh array, as the reference returns: never an
    operand, never a buffer the body's plan may write again).

What goes to the reference instead, either way (``run_op`` of the scan, so results and
errors are the reference's word for word): zero steps (``T = 0``: the reference learns the output
shapes from a probe), a body whose ops use a symbol its parameters do not bind, a body
plan that is busy (another thread runs this scan) — the body's checked path then — and
any error: the scan is rerun on the reference, which raises the error naming the op. An
error the reference does not raise (a fallback that hid a problem of this module) is not
silent: it is recorded in :attr:`ScanStep.failures`, in the enclosing executable's
``plan_errors`` (both keep the latest
:data:`~fusegraph.backends.numba.steps.MAX_FAILURES`), and warned about
(``RuntimeWarning``) the first time each scan op falls back.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..numba.signatures import loop_arguments
from ..numba.steps import record_failure
from ..reference.interpreter import Step, describe_op, run_op
from ...ir.binding import param_symbols
from ...ir.core import Graph
from ...ir.types import Sym, resolve_shape

from .scan_codegen import Unsupported
from .scan_loop import CompiledLoop


def _symbols_of(graph: Graph) -> set:
    out = set(param_symbols(graph))
    for op in graph.ops:
        for r in op.results:
            out.update(d for d in r.type.shape if isinstance(d, Sym))
        if op.region is not None:
            out |= _symbols_of(op.region)
    return out


def bound_by_params(graph: Graph) -> bool:
    """Whether every symbol ``graph`` (regions included) uses is bound by its params."""
    return _symbols_of(graph) <= set(param_symbols(graph))


class ScanStep:
    """One scan op, run as a compiled loop or step by step (``mode``; see the module
    docstring)."""

    __slots__ = ("ref", "op", "body", "owner", "nc", "ns", "ni", "axis", "reverse",
                 "out_types", "failures", "warned", "loop", "mode", "reason", "pending")

    def __init__(self, ref: Step, body, owner=None):
        op = ref.op
        self.ref, self.op, self.body = ref, op, body
        self.owner = owner     # the enclosing Executable: its plan_errors get our fallbacks
        attrs = op.attrs
        self.nc, self.ns = attrs["num_carries"], attrs["num_sequences"]
        self.ni = attrs["num_invariants"]
        self.axis, self.reverse = attrs["axis"], attrs["reverse"]
        self.out_types = [(r.type.shape, np.dtype(r.type.dtype.numpy))
                          for r in op.results[self.nc:]]
        self.failures: list[str] = []   # why calls went to the reference (the latest)
        self.warned = False
        self.loop: CompiledLoop | None = None
        self.mode, self.reason = "steps", None
        self.pending = None      # the loop's compile ahead (a warmup Ticket), if any
        try:
            self.loop, self.mode = CompiledLoop(ref, body.kernels), "loop"
        except Unsupported as e:
            self.reason = f"runs step by step: {e}"
        else:
            if owner is not None:
                self.pending = owner.warmup.add(self.loop.function,
                                                loop_arguments(op, self.loop.spec))

    def run(self, args: list, env: dict) -> list:
        """The scan's results; on any failure the reference's (or its error)."""
        try:
            out = self._run(args, env)
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            record_failure(self.failures, reason)
            out = run_op(self.ref, args, env)   # raises the op's error if it is the user's
            self._report(reason)                # it did not: the fallback hid our failure
            return out
        return run_op(self.ref, args, env) if out is None else out

    def _report(self, reason: str) -> None:
        """Surface a fallback the reference did not fail: in the enclosing executable's
        ``plan_errors``, and as a warning the first time for this scan op."""
        message = f"{describe_op(self.op)} ran on the reference: {reason}"
        if self.owner is not None:
            record_failure(self.owner.plan_errors, f"scan fell back: {message}")
        if not self.warned:
            self.warned = True
            warnings.warn(f"numba_cpu: {message} (later fallbacks of this scan are only "
                          f"listed in plan_errors)", RuntimeWarning, stacklevel=2)

    def _run(self, args: list, env: dict):
        nc, ns, axis = self.nc, self.ns, self.axis
        carries = args[:nc]
        seqs = args[nc:nc + ns]
        invs = args[nc + ns:]
        steps = seqs[0].shape[axis]
        if steps == 0:
            return None
        loop = self.loop
        if loop is not None and self.pending is not None and not self.pending.arrived():
            return None          # a tiered start: the reference runs it until the loop arrived
        if loop is not None:
            try:
                out = loop.run(args, env)
            except Exception as e:
                self._drop_loop(f"{type(e).__name__}: {e}")
            else:
                if out is not None:
                    return out
        stacks = [np.empty(resolve_shape(shape, env), dtype) for shape, dtype in self.out_types]
        lead = (slice(None),) * axis
        order = range(steps - 1, -1, -1) if self.reverse else range(steps)
        first = [*carries, *(s[lead + (order[0], ...)] for s in seqs), *invs]
        with self.body.repeated(first) as (run, first_out):
            return self._loop(run, carries, seqs, invs, stacks, lead, order, first_out)

    def _drop_loop(self, reason: str) -> None:
        """Run step by step from now on: the compiled loop raised or disagreed with the
        reference (``reason``), which the enclosing executable's ``plan_errors`` lists."""
        self.loop, self.mode = None, "steps"
        self.reason = f"compiled loop dropped: {reason}"
        if self.owner is not None:
            record_failure(self.owner.plan_errors, f"{describe_op(self.op)}: {self.reason}")

    def _loop(self, run, carries, seqs, invs, stacks, lead, order, first_out=None):
        nc = self.nc
        ny = len(stacks)
        if first_out is not None:     # step order[0] already ran
            t = order[0]
            carries = first_out[:nc]
            for k in range(ny):
                stacks[k][lead + (t,)] = first_out[nc + k]
            order = order[1:]
            first_out = None
        for t in order:
            index = lead + (t, ...)     # a step of a vector is a 0-d array, not a scalar
            out = run([*carries, *(s[index] for s in seqs), *invs])
            carries = out[:nc]
            for k in range(ny):
                stacks[k][index] = out[nc + k]
            del out
        return [np.array(c, copy=True) for c in carries] + stacks
