"""The numba_cpu Executable: the reference interpreter's plan, with each ``fused`` op run by
a generated, Numba-compiled kernel.

* ``compile(graph)`` plans the graph once (the reference :func:`free_schedule` and
  per-op ``_Step``), generates every fused op's kernel source and imports it from the
  kernel cache (:mod:`.kernels`) — **eagerly**, so a region the code generator cannot
  handle is known at compile time. Numba compiles each kernel **lazily**, on its first
  call, for the array types it gets (or loads the machine code from its disk cache),
  so compiling a graph costs milliseconds and its first run pays for the kernels used.
* A call binds and checks the inputs exactly as the reference does
  (:func:`~fusegraph.backends.reference.interpreter.bind_inputs`: same errors, same
  symbol binding). Every op that is not fused runs through the reference's
  ``run_op`` (numpy; matmul is BLAS through numpy), with its checks. A fused op
  allocates its outputs with ``np.empty`` (shapes with the bound symbol sizes) and calls
  its kernel, which initializes them; values die after their last use.
* A fused op falls back to the reference interpreter of its region (a) for good, when
  its region has no kernel (a :class:`~.codegen.CodegenError`; listed in
  ``Executable.fallbacks`` with the reason), and (b) for one call, when the arrays break
  what the kernel decided statically: two different symbols in a broadcast turned out of
  different sizes (numpy broadcasts a size 1 there), or the iteration space is empty
  (numpy's max of nothing is an error, which the reference then reports).
"""
from __future__ import annotations

import numpy as np

from fusegraph.backends.reference.interpreter import (ExecutionError, _Step, bind_inputs,
                                                      free_schedule, run_op)
from fusegraph.ir.core import Graph, Op
from fusegraph.ir.types import Sym

from .codegen import CodegenError, KernelSpec, generate_kernel
from .kernels import load_kernel


class KernelStep:
    """One fused op run by its kernel; ``ref`` is the reference step (its fallback)."""

    __slots__ = ("ref", "op", "spec", "kernel", "out_shapes", "out_dtypes", "static_empty")

    def __init__(self, ref: _Step, spec: KernelSpec, kernel):
        self.ref, self.op, self.spec, self.kernel = ref, ref.op, spec, kernel
        self.out_shapes = [r.type.shape for r in ref.op.results]
        self.out_dtypes = [r.type.dtype.numpy for r in ref.op.results]
        self.static_empty = 0 in spec.iteration_shape

    def run(self, args: list, env: dict) -> list:
        spec = self.spec
        try:
            sizes = [env[s] for s in spec.symbols]
            outs = [np.empty(tuple(env[d] if d.__class__ is Sym else d for d in shape), dtype)
                    for shape, dtype in zip(self.out_shapes, self.out_dtypes)]
        except KeyError as e:
            raise ExecutionError(f"{_where(self.op)}: dimension {e.args[0]} is not bound") from None
        if self.static_empty or 0 in sizes or (spec.checks and not self._sizes_agree(args, env)):
            return run_op(self.ref, args, env)
        try:
            self.kernel(*args, *outs, *sizes)
        except Exception as e:
            shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
            raise ExecutionError(f"{_where(self.op)}: kernel {spec.name} on arrays ({shapes}): "
                                 f"{type(e).__name__}: {e}") from e
        return outs

    def _sizes_agree(self, args, env) -> bool:
        shape = self.spec.iteration_shape
        for k, axis, it_axis in self.spec.checks:
            dim = shape[it_axis]
            if args[k].shape[axis] != (env[dim] if isinstance(dim, Sym) else dim):
                return False
        return True


class Executable:
    """A compiled graph: ``exe(*arrays)`` returns one array per graph result.

    ``kernels``: the KernelSteps, one per fused op with a kernel, in graph order.
    ``fallbacks``: ``(op, reason)`` for fused ops run by the reference interpreter.
    :meth:`source` gives the generated kernel sources (what ``fusegraph dump`` shows).
    Like the reference, it holds no state buffers: weights are passed in as arrays.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self.kernels: list[KernelStep] = []
        self.fallbacks: list[tuple[Op, str]] = []
        self._steps = []          # (run function, step, operand ids, result ids, dying ids)
        for op, dying in zip(graph.ops, free_schedule(graph)):
            ref = _Step(op, dying)
            run, step = run_op, ref
            if op.kind == "fused":
                try:
                    spec = generate_kernel(op.region)
                except CodegenError as e:
                    self.fallbacks.append((op, str(e)))
                else:
                    step = KernelStep(ref, spec, load_kernel(spec))
                    run = KernelStep.run
                    self.kernels.append(step)
            self._steps.append((run, step, ref.operands, ref.results, ref.dying))

    def __call__(self, *arrays) -> list[np.ndarray]:
        graph = self.graph
        arrays, env = bind_inputs(graph, arrays, {})
        values = {id(p): a for p, a in zip(graph.params, arrays)}
        for run, step, operands, results, dying in self._steps:
            outs = run(step, [values[i] for i in operands], env)
            values.update(zip(results, outs))
            for i in dying:
                del values[i]
        return [values[id(r)] for r in graph.results]

    def source(self) -> str:
        """Every generated kernel's source, once each, headed by the fused ops using it."""
        users: dict[str, list[KernelStep]] = {}
        for k in self.kernels:
            users.setdefault(k.spec.source, []).append(k)
        parts = []
        for source, steps in users.items():
            where = "; ".join(str(k.op.loc) or "?" for k in steps)
            parts.append(f"# ---- {steps[0].spec.name}: {len(steps)} fused op(s) "
                         f"[{where}]\n{source}")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (f"<numba_cpu Executable of {self.graph!r}: {len(self.kernels)} kernels, "
                f"{len(self.fallbacks)} fallbacks>")


def compile(graph: Graph) -> Executable:
    """The numba_cpu Executable of ``graph`` (see the module docstring)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"compile expects a Graph, got {type(graph).__name__}")
    return Executable(graph)


def _where(op: Op) -> str:
    return f"op {op.kind}" + (f" at {op.loc}" if str(op.loc) else "")
