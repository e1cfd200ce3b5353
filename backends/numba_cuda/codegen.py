"""From a ``fused`` op's region to the Python source of one ``numba.cuda`` kernel.

The region keeps the kernel contract of the ``fused`` op (:mod:`fusegraph.ir.ops.region`)
and holds what :data:`CAPABILITY` admits. The kernel runs **one thread per
element of the iteration shape's non-reduced part** and loops over the reduced axes
inside the thread::

    @cuda.jit(cache=True, fastmath=False)
    def cuda_kernel_<hash>(in0, in1, out0, out1, n_B):
        t = cuda.grid(1)                 # flattened thread index
        if t >= n_B:                     # threads past the end do nothing
            return
        i0 = t                           # unflattened: one index per thread axis
        acc3 = np.float64(0)
        for i1 in range(10):             # the reduced axes, inside the thread
            a0 = in0[i0, i1]             # %in0
            a1 = in1[i1]                 # %in1: dims of 1 index 0, missing dims drop
            v0 = (a0 + a1)               # %0: f32[B,10] = add %in0, %in1
            out0[i0, i1] = v0
            acc3 = (acc3 + v0)           # %1: f32[B] = reduce_sum %0 {axes=[1], ...}
        out1[i0] = np.float32(acc3)

Arguments, as numba_cpu's: the region's parameters (``in<k>``), one preallocated array
per region result (``out<j>``), then the size of each symbol of the iteration shape
(``n_<symbol>``, int64) in order of first appearance. Integer sizes are literals in the
source (constant divisors); the thread count, ``prod(non-reduced sizes)``, is computed
from them in the kernel, so the caller launches ``ceil(count / block)`` blocks of any
size. The kernel initializes every element of every output; the caller allocates them
with ``cuda.device_array``.

Decided statically, from the types alone:

* thread axes and loop axes: the *reduced axes* ``R`` are the union of the axes of the
  region's reductions; the other axes are the thread axes (all axes when there is no
  reduction; none when a reduction reduces everything: one thread). ``cuda.grid(1)``
  is unflattened into the thread axes' indices (C order: the last axis varies
  fastest, so neighbouring threads read neighbouring elements when the last axis is
  not reduced), and one ``for`` loop per reduced axis, in axis order, runs inside.
* broadcasting, as numba_cpu: an operand dim of literal 1 is indexed with 0; missing
  leading dims are dropped; a rank-0 operand is read as ``in0[()]``; every other dim is
  the iteration dim (the contract), indexed by its loop or thread index.
* placement: each load and elementwise statement goes at the shallowest loop depth
  whose indices it uses (outside every loop when it uses thread indices only); stores
  of elementwise results and reduction updates go in the innermost body.
* reductions: one whose axes are the *last* reduced axes in loop order (always so when
  every reduction of the kernel reduces the same axes, the common case) accumulates in a
  local variable opened before its first loop and stored after it; sums accumulate
  float32 in float64 and ints in int64 (as numba_cpu's,
  :mod:`fusegraph.backends.numba.generator`). Any other one accumulates in its output
  array: each output element belongs to exactly one thread (its thread-axis indices are
  the thread's), which starts it at its first visit (every reduced index 0) and, for a
  mean, divides at its last. No atomics and no races, by construction.

**This is the simple, correct first version.** A kernel whose reduced axes are long and
whose thread axes are short (a loss summed over the batch; a bias gradient, summed over
``B`` for each of 64 units) runs few threads with long serial loops. The faster version
does block-level tree reductions: a block of threads per output element (or per tile of
them) strides the reduced axes, combines partial results in shared memory with
``cuda.syncthreads()`` (or warp shuffles) in log2(block) steps, and one thread writes
the result; a reduction over everything uses a grid of such blocks and a second pass
(or atomics where their order does not matter to the result). Mean/sum accumulators
stay float64 there too (an FP64 add per element is cheap next to the load).

No ``fastmath``: NaN, inf and signed zeros behave as in the reference. The source names
nothing that varies between equal regions, so equal kernels share one source, one
cached file and one compiled function; the kernel's name carries a hash of the region's
structure and of this generator's version
(:func:`fusegraph.backends.numba.generator.structural_hash`).

What the CPU and CUDA generators share (validation, broadcasting, placement, the local
accumulators, the source's layout) is :class:`fusegraph.backends.numba.generator.
KernelGenerator`; this module gives it the CUDA template table and loop wrapper: the
reduced axes as loops inside a thread whose indices come from ``cuda.grid(1)``,
``@cuda.jit``, an output accumulator started at the first visit and divided at the last.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..numba.generator import CodegenError, KernelGenerator, structural_hash
from ...ir.core import Graph
from ...ir.ops.region import KernelCapability
from ...ir.types import Sym

from . import templates

CODEGEN_VERSION = "cuda-1"     # bump when the generated code changes meaning

# What a numba_cuda kernel holds: every elementwise op and reduction with a CUDA template.
CAPABILITY = KernelCapability("numba_cuda",
                              lambda kind, dtype: templates.template_for(kind, dtype) is not None)

__all__ = ["CAPABILITY", "CodegenError", "CudaKernelSpec", "generate_kernel", "kernel_name"]


@dataclass(frozen=True)
class CudaKernelSpec:
    """One generated CUDA kernel.

    ``iteration_shape``: ints and symbols. ``thread_axes``: the axes that threads run
    over (the rest are looped over in each thread). ``symbols``: the size arguments
    after the outputs, in order. ``param_types`` and
    ``result_types``: the region's, for building signatures (PTX).
    """

    name: str
    source: str
    iteration_shape: tuple
    thread_axes: tuple
    symbols: tuple
    param_types: tuple
    result_types: tuple

    def thread_count(self, env: dict) -> int:
        """The number of threads the kernel needs, with the symbols bound by ``env``."""
        return math.prod(env[d] if isinstance(d, Sym) else d
                         for a, d in enumerate(self.iteration_shape) if a in self.thread_axes)


def kernel_name(region: Graph) -> str:
    return f"cuda_kernel_{structural_hash(region, CODEGEN_VERSION)}"


def generate_kernel(region: Graph) -> CudaKernelSpec:
    """The CUDA kernel of ``region``: ContractError if it breaks the kernel contract,
    CodegenError if an op has no CUDA template."""
    return _Generator(region).run()


class _Generator(KernelGenerator):
    backend = "numba_cuda"
    numba_import = "from numba import cuda"
    templates = templates

    def loop_axes(self, results: dict) -> list[int]:
        """The reduced axes of the reductions the kernel computes, in axis order; the
        others are the thread axes."""
        loops = sorted({a for op in self.region.ops
                        if self.is_reduction(op) and op.results[0] in results
                        for a in op.attrs["axes"]})
        self.thread_axes = tuple(a for a in range(len(self.shape)) if a not in loops)
        return loops

    def start_in_output(self, out: int, target: str, start: str, axes: tuple) -> str:
        # Each output element belongs to one thread, which starts it at its first visit.
        at_first = " and ".join(f"i{a} == 0" for a in axes)
        return f"{start} if {at_first} else {target}"

    def finish_in_output(self, out: int, target: str, T: str, count: str, axes: tuple) -> None:
        at_last = " and ".join(f"i{a} == {self.bound(a)} - 1" for a in axes)
        self.pre[-1].append((f"if {at_last}:", None))
        self.pre[-1].append((f"    {target} = {T}({target} / {T}({count}))", None))

    def decorator(self) -> str:
        return "@cuda.jit(cache=True, fastmath=False)"

    def shape_comment(self) -> str:
        threads = ", ".join(map(str, self.thread_axes)) or "none: one thread"
        loops = ", ".join(map(str, self.loops)) or "none"
        return (f"{super().shape_comment()}: threads over axes {threads}; "
                f"loops over reduced axes {loops}")

    def prologue(self) -> list[str]:
        """The thread's indices from its flattened number, the last axis fastest."""
        sizes_of_threads = [self.bound(a) for a in self.thread_axes]
        total = " * ".join(sizes_of_threads) if sizes_of_threads else "1"
        lines = ["    t = cuda.grid(1)", f"    if t >= {total}:", "        return"]
        for pos in range(len(self.thread_axes) - 1, -1, -1):
            a = self.thread_axes[pos]
            if pos == 0:
                lines.append(f"    i{a} = t")
            else:
                lines += [f"    i{a} = t % {self.bound(a)}", f"    t = t // {self.bound(a)}"]
        return lines

    def make_spec(self, symbols: tuple) -> CudaKernelSpec:
        region = self.region
        name = kernel_name(region)
        return CudaKernelSpec(name, self.source(name, symbols), self.shape, self.thread_axes,
                              symbols,
                              tuple(p.type for p in region.params),
                              tuple(r.type for r in region.results))
