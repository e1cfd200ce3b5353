"""The Numba CPU backend: every ``fused`` op runs a generated, ``numba.njit``-compiled
kernel; every other op runs as in the reference backend (numpy, BLAS for matmul).

What it shares with numba_cuda (the templates, the kernel generator, the kernel loader
and its verified disk cache, the kernel step) is :mod:`fusegraph.backends.numba`; here:

* :mod:`.codegen`: the CPU's loop wrapper: a fused op's region -> the readable source of
  one ``@njit`` kernel (one loop nest over the iteration shape, the outermost a
  ``prange`` when large enough, one statement per region op, the IR line as a comment);
* :mod:`.executable`: ``compile(graph) -> Executable``: the first call for a batch size
  runs the reference interpreter's loop with kernels in place of fused ops (every
  result checked), then generates a *plan*, one straight-line Python function for that
  batch size that runs the kernels and BLAS into buffers it keeps across calls, with
  the values that depend on the sizes alone computed once; later calls run the plan.
  ``Executable.source()`` dumps the kernels, ``Executable.plan_source()`` the plan.

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

# The passes before this backend. "scan_fusion" (kernels inside loop bodies,
# :mod:`fusegraph.passes.regions`) is left out, measured: on an LSTM(64) training step
# (B=32, T=50) numba_cpu took 13.2 ms with it and 9.8 ms without. A step's cell is only
# [B,64] = 2048 elements, and the gates' exp/tanh run as scalar libm calls in a kernel (no
# SVML) where numpy's ufuncs use SIMD: 59 us per step for the fused forward cell against
# about 20 us for its numpy ops. Add it to a pipeline to try.
PIPELINE = FUSION_PIPELINE

__all__ = ["CAPABILITY", "CodegenError", "ExecutionError", "Executable", "InputError",
           "KernelCacheError", "KernelCacheWarning", "KernelSpec", "KernelStep", "PIPELINE",
           "cache_dir", "clear_memo", "compile", "generate_kernel", "load_kernel"]
