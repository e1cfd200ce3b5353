"""The Numba CPU backend: every ``fused`` op runs a generated, ``numba.njit``-compiled
kernel; every other op runs as in the reference backend (numpy, BLAS for matmul).

What it shares with numba_cuda (the templates, the kernel generator, the kernel loader
and its verified disk cache, the kernel step) is :mod:`fusegraph.backends.numba`; here:

* :mod:`.codegen`: the CPU's loop wrapper: a fused op's region -> the readable source of
  one ``@njit`` kernel (one loop nest over the iteration shape, the outermost a
  ``prange`` when opted in and large enough, one statement per region op, the IR line
  as a comment);
* :mod:`.executable`: ``compile(graph) -> Executable``: the first call for a batch size
  runs the reference interpreter's loop with kernels in place of fused ops (every
  result checked), then generates a *plan*, one straight-line Python function for that
  batch size that runs the kernels and BLAS into buffers it keeps across calls, with
  the values that depend on the sizes alone computed once; later calls run the plan.
  ``Executable.source()`` dumps the kernels, ``Executable.plan_source()`` the plan;
* :mod:`.scan`, :mod:`.scan_loop`, :mod:`.scan_codegen`: a ``scan`` op (a recurrent
  layer's loop) as ONE generated Numba function running every step's kernels and
  matmuls, or, when its body holds an op that function cannot run, a Python loop over
  its body's plan.

Use it through ``fusegraph.backends.optimizing_compiler("numba_cpu")``, which runs
:data:`PIPELINE` first, fusion forming the kernels :data:`CAPABILITY` admits: on a graph
without ``fused`` ops this backend is the reference.
"""
from ..reference.interpreter import ExecutionError
from ...ir.binding import InputError

from ...passes import FUSION_PIPELINE

from ..numba import (KernelCacheError, KernelCacheWarning, cache_dir,
                                      clear_memo, load_kernel)

from .codegen import CAPABILITY, CodegenError, KernelSpec, generate_kernel
from .executable import Executable, KernelStep, compile

# The passes before this backend: the kernel pipeline with "permuted_matmuls" before its
# "reduce_views" (a product only a transpose reads written in the transposed layout by its
# GEMM, :mod:`fusegraph.passes.permuted_matmuls`: the attention's heads put side by side
# without a copy; first, so that a reduction of that view then reads the product in its
# new order) and "late_scaling" (a scalar product that only contractions and sums read
# applied to their results, :mod:`fusegraph.passes.late_scaling`: the query scaling's
# gradient), then "sparse_rows" (an
# Embedding's table gradient as per-id row sums that the optimizer's kernel gathers,
# :mod:`fusegraph.passes.sparse_rows`: ticket model 1.88 -> 1.58 ms per step, 1 thread,
# MKL; its two 10000x64 scatters had zeroed and written 2.56 MB each), then "scan_fusion" (kernels inside
# loop bodies, :mod:`fusegraph.passes.regions`), which the compiled scan loops need: a
# loop runs its body's kernels (:mod:`.scan_codegen`), and an op that fusion left alone
# becomes a one-op kernel of its own (without scan_fusion the ticket LSTM model's loops
# took 30 s to compile cold). With the loops: ticket LSTM model 23.2 -> 14.4 ms per step
# (measured in .scan_loop's docstring). Then "early_scans": every scan as early as its
# operands allow, so that a plan on more than one thread runs independent loops at once
# (:func:`.plan.concurrent_ops`). Then "updates_last": the kernels whose results only the
# graph returns (an optimizer's updates) at the end, where a donated weight is written in
# place (:mod:`.donation`).
_BEFORE_REDUCE_VIEWS = FUSION_PIPELINE.index("reduce_views")
PIPELINE = (FUSION_PIPELINE[:_BEFORE_REDUCE_VIEWS] + ["permuted_matmuls", "late_scaling"]
            + FUSION_PIPELINE[_BEFORE_REDUCE_VIEWS:]
            + ["sparse_rows", "scan_fusion", "early_scans", "updates_last"])

__all__ = ["CAPABILITY", "CodegenError", "ExecutionError", "Executable", "InputError",
           "KernelCacheError", "KernelCacheWarning", "KernelSpec", "KernelStep", "PIPELINE",
           "cache_dir", "clear_memo", "compile", "generate_kernel", "load_kernel"]
