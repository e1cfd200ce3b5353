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

Use it through ``fusegraph.backends.optimizing_compiler("numba_cpu")``, which runs the
fusion pipeline first: on a graph without ``fused`` ops this backend is the reference.
"""
from fusegraph.backends.reference.interpreter import ExecutionError, InputError

from .codegen import CodegenError, KernelSpec, generate_kernel
from .executable import Executable, KernelStep, compile
from .kernel_cache import KernelCacheError, KernelCacheWarning
from .kernels import cache_dir, clear_memo, load_kernel

__all__ = ["CodegenError", "ExecutionError", "Executable", "InputError", "KernelCacheError",
           "KernelCacheWarning", "KernelSpec", "KernelStep", "cache_dir", "clear_memo",
           "compile", "generate_kernel", "load_kernel"]
