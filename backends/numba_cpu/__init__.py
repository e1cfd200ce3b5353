"""The Numba CPU backend: every ``fused`` op runs a generated, ``numba.njit``-compiled
kernel; every other op runs as in the reference backend (numpy, BLAS for matmul).

* :mod:`.templates`: scalar expression templates keyed by op name;
* :mod:`.codegen`: a fused op's region -> the readable source of one kernel (one loop
  nest over the iteration shape, one statement per region op, the IR line as a comment);
* :mod:`.kernels`: each kernel's source compiled in memory, a copy of it in
  ``$FUSEGRAPH_CACHE_DIR`` (default ``~/.cache/fusegraph/numba``) with Numba's disk cache
  beside it, so a second process starts fast; memoized in-process by source hash;
* :mod:`.kernel_cache`: the cache's trust model: a private folder (created 0700, files
  0600, whatever the umask; a folder of another user or writable by group/others is
  refused with :class:`KernelCacheError`), and every Numba cache file sealed with a keyed
  digest and verified before it is unpickled (a bad one is removed and rebuilt, with a
  :class:`KernelCacheWarning` naming it); saves and loads under a file lock;
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
from fusegraph.backends.reference.interpreter import ExecutionError, InputError

from fusegraph.passes import FUSION_PIPELINE

from .codegen import CAPABILITY, CodegenError, KernelSpec, generate_kernel
from .executable import Executable, KernelStep, compile
from .kernel_cache import KernelCacheError, KernelCacheWarning
from .kernels import cache_dir, clear_memo, load_kernel

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
