"""A ``scan`` op run as ONE compiled Numba function: the whole loop over the steps, every
step's kernels and matmuls inside it (:mod:`.scan_codegen` writes its source).

:class:`CompiledLoop` is made when the enclosing graph is compiled: the loop's source is
generated from the scan's body (its ``fused`` ops run the kernels the body's Executable
loaded; a standalone elementwise op or reduction gets a one-op kernel of its own; a
matmul calls :data:`.scan_blas.MATMUL`, ``np.dot`` into a buffer) and imported through
the kernel loader (:func:`fusegraph.backends.numba.kernels.load_kernel`), so it has a
file in the kernel cache folder and Numba's verified disk cache: a second process loads
its machine code instead of compiling it. Numba compiles it, with the kernels inlined
into it, on its first call. ``np.dot`` lives in a function of its own because Numba
expands it at every call site it compiles: shared, it is compiled once per operand
layout and cached, and a loop costs about 0.2 s less to compile.

A call computes the hoisted ops (those of the invariants alone) with the reference,
makes every argument C-contiguous (a no-op for the usual arrays; it keeps one type
signature, which the generated code's layout decisions assume) and runs the function,
its BLAS on one thread unless a step's products are large (:mod:`.scan_blas` says why).
It declines (returns None) when a symbol is bound to 0, where a kernel's empty iteration
space is the reference's to handle, and when an argument is not an array of its
operand's type (the compiled code does not check bounds).

**Trust, checked.** The first call of each type signature of the function in a process
(the call that compiled it, or loaded it from the disk cache) is followed by a check:
the loop and the reference run the scan on the first :data:`CHECKED_STEPS` steps of the
same operands (a prefix of the sequences is a scan of its own) and must agree as a
numba_cpu plan must agree with its checked path (equal up to summation order). Three
steps run every op of the body and use each carry buffer twice. A loop that fails it
raises :class:`LoopDisagrees`, and its scan then runs step by step.

Measured (2026-12-02, the 2-core EPYC VM, BLAS and torch on one thread, medians of 60
interleaved steps in one process, load average about 1.5 from other sessions; kernels
with ``fast_math``, the pipeline with ``hoist_sums``/``hoist_invariants``): the ticket model
with LSTM(128) title (T=10) and LSTM(32) body (T=100), RMSprop, batch 32: step by step
without kernels in the bodies (the pipeline before) 23.2 ms, step by step with them
23.0 ms, compiled loops 14.4 ms, PyTorch eager 14.9 ms. ``benchmarks/step_time.py``'s
lstm (Embedding(1000,32)-LSTM(64), T=50): 13.0 ms step by step, 7.0 ms as loops (3.0x
the reference). Cold start, empty kernel cache, first step of the ticket model: 9.6 s
before, 11.8 s step by step with kernels in the bodies, 16.9 s with the loops (1-7 s
each: their kernels inlined, the matmul function); warm cache 0.60 s before, 0.72 s
with the loops (a loop's check costs under 0.1 s).
"""
from __future__ import annotations

import math

import numpy as np

from ..numba.steps import disagreement
from ..numba.kernels import load_kernel
from ..reference.interpreter import Step, describe_op, run_op
from ...ir.builder import emit_op
from ...ir.core import Graph, Op, Value
from ...ir.errors import ContractError
from ...ir.opdef import ELEMENTWISE, REDUCTION, get_opdef
from ...ir.types import resolve_shape

from .codegen import CodegenError, generate_kernel
from .scan_blas import MATMUL, THREADED_MIN_MACS, blas_threads
from .scan_codegen import LoopSource, Unsupported, generate_loop

CHECKED_STEPS = 3

class LoopDisagrees(Exception):
    """A compiled loop's results on the checked steps differ from the reference's."""


def one_op_region(op: Op) -> Graph:
    """A region holding ``op`` alone, one parameter per distinct operand: the kernel of a
    standalone elementwise op or reduction (fusion leaves groups of one op unfused)."""
    inner: dict[Value, Value] = {}
    for v in op.operands:
        if v not in inner:
            inner[v] = Value(v.type, name=f"in{len(inner)}")
    copy = emit_op(op.kind, [inner[v] for v in op.operands], dict(op.attrs), loc=op.loc)
    return Graph.from_results("kernel", list(inner.values()), list(copy.results))


def _contiguous(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


class CompiledLoop:
    """The compiled loop of the scan op of ``ref`` (see the module docstring);
    ``body_kernels``: the body Executable's KernelSteps (its fused ops' kernels).
    :class:`Unsupported` when the body holds an op the loop cannot run. ``spec.source``
    is the generated source, ``function`` its Numba dispatcher."""

    __slots__ = ("ref", "nc", "ns", "axis", "spec", "function", "hoisted", "checked")

    def __init__(self, ref: Step, body_kernels):
        op = ref.op
        attrs = dict(op.attrs)
        self.ref = ref
        self.nc, self.ns, self.axis = attrs["num_carries"], attrs["num_sequences"], attrs["axis"]
        kernels = {k.op: k for k in body_kernels}
        self.spec: LoopSource = generate_loop(op.region, attrs,
                                              lambda inner: _kernel_for(inner, kernels),
                                              load_kernel(MATMUL))
        self.function = load_kernel(self.spec)
        self.hoisted = [Step(o, ()) for o in self.spec.hoisted]
        self.checked: set = set()      # the signatures whose first call was checked

    def run(self, args: list, env: dict) -> list | None:
        """The scan's results (final carries, stacked outputs) for ``args`` (its operands)
        and the symbol sizes ``env``; None when a size is 0. :class:`LoopDisagrees` when
        the check of a new type signature fails (see the module docstring)."""
        out = self(args, env)
        compiled = self.function.overloads       # signature -> code, without a copy
        if out is not None and len(self.checked) != len(compiled):
            new = set(compiled) - self.checked   # compiled here or ahead
            self.check(args, env)
            self.checked |= new
        return out

    def __call__(self, args: list, env: dict) -> list | None:
        if not self._fits(args, env):
            return None
        sizes = [env[s] for s in self.spec.symbols]
        if 0 in sizes:
            return None
        n = self.nc + self.ns
        values = self._hoisted(args, env)
        call = ([_contiguous(a) for a in args[:n]]
                + [_contiguous(args[n + j]) for j in self.spec.invariants]
                + [_contiguous(values[v]) for v in self.spec.hoisted_args] + sizes)
        macs = [math.prod(resolve_shape(mkn, env)) for mkn in self.spec.products]
        if max(macs, default=0) >= THREADED_MIN_MACS:
            return list(self.function(*call))
        with blas_threads(1):              # small products: a thread per step costs more
            return list(self.function(*call))

    def check(self, args: list, env: dict) -> None:
        """:class:`LoopDisagrees` unless the loop and the reference agree on the first
        :data:`CHECKED_STEPS` steps of ``args``."""
        n, ref = self.nc + self.ns, self.ref
        index = (slice(None),) * self.axis + (slice(0, CHECKED_STEPS),)
        short = [*args[:self.nc], *(s[index] for s in args[self.nc:n]), *args[n:]]
        want = ref.opdef.ref(short, ref.attrs, ref.op.region,
                             lambda g, xs: ref.region_plan.run(xs, env))
        problem = disagreement(self(short, env), [np.asarray(w) for w in want])
        if problem is not None:
            raise LoopDisagrees(f"on its first {CHECKED_STEPS} steps, {problem}")

    def _fits(self, args: list, env: dict) -> bool:
        """Whether ``args`` are arrays of the operands' types under ``env``, every
        sequence as long as the first (any length: :meth:`check` runs a prefix). The
        compiled code reads them without bounds checks, so nothing else may reach it (the
        enclosing executable only ever passes such arrays; a direct call may not)."""
        n, axis = self.nc + self.ns, self.axis
        try:
            steps = args[self.nc].shape[axis]
            for i, (a, v) in enumerate(zip(args, self.ref.op.operands, strict=True)):
                shape = resolve_shape(v.type.shape, env)
                if self.nc <= i < n:
                    shape = shape[:axis] + (steps,) + shape[axis + 1:]
                if a.dtype != v.type.dtype.numpy or a.shape != shape:
                    return False
        except (AttributeError, IndexError, ValueError):   # not an array, unbound symbol
            return False
        return True

    def _hoisted(self, args: list, env: dict) -> dict:
        """The hoisted values, by the reference, from the invariants (a SHAPE_ONLY op's
        operand that changes per step is stood for by an array of its shape)."""
        n = self.nc + self.ns
        values = dict(zip(self.ref.op.region.params[n:], args[n:]))
        for step in self.hoisted:
            ins = [values[v] if v in values else
                   np.empty(resolve_shape(v.type.shape, env), v.type.dtype.numpy)
                   for v in step.operands]
            values.update(zip(step.results, run_op(step, ins, env)))
        return values


def _kernel_for(op: Op, kernels: dict):
    """``(dispatcher, spec, operands)`` of a body op run by a kernel in the loop:
    a fused op's own kernel, or a one-op kernel of an elementwise op or reduction (whose
    operands are the op's distinct ones: :func:`one_op_region`)."""
    step = kernels.get(op)
    if step is not None:
        if step.static_empty:
            raise Unsupported(f"{describe_op(op)}: a kernel with an empty iteration space")
        return step.kernel, step.spec, op.operands
    opdef = get_opdef(op.kind)
    if op.kind == "fused" or not (opdef.has(ELEMENTWISE) or opdef.has(REDUCTION)):
        raise Unsupported(f"{describe_op(op)}: a {op.kind} in a loop body")
    try:
        spec = generate_kernel(one_op_region(op))
    except (CodegenError, ContractError) as e:
        raise Unsupported(f"{describe_op(op)}: no kernel ({e})") from None
    if 0 in spec.iteration_shape:
        raise Unsupported(f"{describe_op(op)}: a kernel with an empty iteration space")
    return load_kernel(spec), spec, tuple(dict.fromkeys(op.operands))
