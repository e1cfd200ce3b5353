"""The kernel step of a Numba Executable, shared by the ``numba_cpu`` and ``numba_cuda``
targets: one ``fused`` op with its kernel and its reference step (:class:`KernelStep`:
the symbol sizes a call passes, the output shapes, whether a binding runs the kernel, not
for an empty iteration space, which the reference runs, and the error that names the op
when a launch fails); :func:`kernel_spec`, a fused op's kernel or the error naming it;
:func:`kernel_sources`, what both Executables' ``source()`` show; the bounded failure
log (:func:`record_failure`); and :func:`disagreement`, how a fast path's results are
checked against the checked path's.
"""
from __future__ import annotations

import numpy as np

from ..reference.interpreter import ExecutionError, Step, describe_op
from ...ir.core import Op
from ...ir.errors import ContractError
from ...ir.types import resolve_shape

from .generator import CodegenError


def kernel_spec(op: Op, generate):
    """``generate(op.region)`` for a ``fused`` op: its kernel's spec; None for any other
    op. A region the generator refuses raises, naming the op: the verifier checked the
    kernel contract and fusion admitted only what the backend's capability holds, so a
    refusal is a bug (or a graph fused for another backend)."""
    if op.kind != "fused":
        return None
    try:
        return generate(op.region)
    except (CodegenError, ContractError) as e:
        raise type(e)(f"{describe_op(op)}: {e}") from e


MAX_FAILURES = 8   # entries a failure log (plan errors, scan fallbacks) keeps: the latest


def record_failure(log: list, entry: str, limit: int = MAX_FAILURES) -> None:
    """Append ``entry`` to ``log`` in place, keeping only its latest ``limit`` entries, so
    that a log of why calls left the fast path stays bounded however long a program runs."""
    log.append(entry)
    del log[:-limit]


class KernelStep:
    """One fused op run by its kernel; ``ref`` is the reference step (its fallback).
    Each target adds how it runs one (numba_cpu: ``run``; numba_cuda: ``launch``)."""

    __slots__ = ("ref", "op", "spec", "kernel", "out_shapes", "out_dtypes", "static_empty",
                 "pending")

    def __init__(self, ref: Step, spec, kernel):
        self.ref, self.op, self.spec, self.kernel = ref, ref.op, spec, kernel
        self.out_shapes = [r.type.shape for r in ref.op.results]
        self.out_dtypes = [r.type.dtype.numpy for r in ref.op.results]
        self.static_empty = 0 in spec.iteration_shape
        self.pending = None     # its :class:`~.warmup.Ticket` while made ready ahead

    def ready(self) -> bool:
        """Whether the kernel can be called without compiling: true unless it is being
        made ready ahead (:mod:`.warmup`); asking starts that, and in a waiting group
        waits for it (:meth:`~.warmup.Ticket.arrived`). Once true, it stays true."""
        if self.pending is None:
            return True
        if not self.pending.arrived():
            return False
        self.pending = None
        return True

    def sizes(self, env: dict) -> list:
        """The size arguments of a call: one per symbol of the iteration shape."""
        try:
            return [env[s] for s in self.spec.symbols]
        except KeyError as e:
            raise ExecutionError(f"{describe_op(self.op)}: dimension {e.args[0]} is not "
                                 f"bound") from None

    def output_shapes(self, env: dict) -> list[tuple]:
        try:
            return [resolve_shape(shape, env) for shape in self.out_shapes]
        except ValueError as e:
            raise ExecutionError(f"{describe_op(self.op)}: {e}") from None

    def empty(self, env: dict) -> bool:
        """Whether the iteration space is empty for the binding ``env``: the reference
        runs the region then (numpy's max of nothing is an error, which it reports).
        Operand sizes need no comparing: the kernel contract makes them the types'."""
        return self.static_empty or 0 in self.sizes(env)

    def launch_error(self, args, error: Exception) -> ExecutionError:
        """The error naming the op, the kernel and the arrays when a kernel call fails."""
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
        return ExecutionError(f"{describe_op(self.op)}: kernel {self.spec.name} on arrays "
                              f"({shapes}): {type(error).__name__}: {error}")


def disagreement(got: list, want: list) -> str | None:
    """Why a fast path's results (a plan's, a compiled loop's) differ from the checked
    path's ``want``: None if they agree, equal up to summation order for floats."""
    if len(got) != len(want):
        return f"{len(got)} results, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if not isinstance(g, np.ndarray) or g.dtype != w.dtype or g.shape != w.shape:
            return (f"result {i} is {type(g).__name__} {getattr(g, 'dtype', '')}"
                    f"{list(getattr(g, 'shape', ()))}, expected {w.dtype}{list(w.shape)}")
        if np.array_equal(g, w):        # the usual case, and a cheap test
            continue
        if w.dtype.kind not in "fc" or not _close(g, w):
            return f"result {i} differs from the checked path's"
    return None


def _close(g: np.ndarray, w: np.ndarray) -> bool:
    """Float results equal up to summation order (a threaded BLAS may split sums
    differently): NaN where ``w`` has NaN, the same infinities, the rest close."""
    nan, inf = np.isnan(w), np.isinf(w)
    finite = ~(nan | inf)
    scale = float(np.max(np.abs(w[finite]))) if finite.any() else 0.0
    return (np.array_equal(np.isnan(g), nan) and np.array_equal(g[inf], w[inf])
            and np.allclose(g[finite], w[finite], rtol=1e-5, atol=1e-6 * scale))


def kernel_sources(kernels) -> str:
    """Every generated kernel's source, once each, headed by the fused ops using it."""
    users: dict[str, list[KernelStep]] = {}
    for k in kernels:
        users.setdefault(k.spec.source, []).append(k)
    parts = []
    for source, steps in users.items():
        where = "; ".join(str(k.op.loc) or "?" for k in steps)
        parts.append(f"# ---- {steps[0].spec.name}: {len(steps)} fused op(s) "
                     f"[{where}]\n{source}")
    return "\n".join(parts)
