"""The Numba core that the ``numba_cpu`` and ``numba_cuda`` targets share; each target
adds only its loop wrapper, its template overrides and its Executable.

* :mod:`.templates`: the scalar expression templates, keyed by op name (numba_cpu's
  table; numba_cuda overrides a few entries by dict-merge);
* :mod:`.generator`: :class:`~.generator.KernelGenerator`, a fused op's region -> the
  readable source of one kernel, parametrized by a target's templates and loops, and
  :func:`~.generator.structural_hash`, what a kernel's name carries;
* :mod:`.kernels`: each kernel's source compiled in memory, a copy of it in
  ``$FUSEGRAPH_CACHE_DIR`` (default ``~/.cache/fusegraph/numba``) with Numba's disk cache
  beside it, so a second process starts fast; memoized in-process by source hash;
* :mod:`.kernel_cache`: the cache's trust model: a private folder (created 0700, files
  0600, whatever the umask; a folder of another user or writable by group/others is
  refused with :class:`KernelCacheError`), and every Numba cache file sealed with a keyed
  digest and verified before it is unpickled (a bad one is removed and rebuilt, with a
  :class:`KernelCacheWarning` naming it); saves and loads under a file lock;
* :mod:`.steps`: the kernel step of an Executable (a fused op with its kernel and its
  reference step), the kernel sources an Executable shows, the bounded failure log.

Importing this package imports Numba (through :mod:`.kernels`) but not ``numba.cuda``.
"""
from .generator import CodegenError, KernelGenerator, structural_hash
from .kernel_cache import KernelCacheError, KernelCacheWarning
from .kernels import cache_dir, clear_memo, load_kernel
from .steps import KernelStep, kernel_sources, kernel_spec, record_failure

__all__ = ["CodegenError", "KernelCacheError", "KernelCacheWarning", "KernelGenerator",
           "KernelStep", "cache_dir", "clear_memo", "kernel_sources", "kernel_spec",
           "load_kernel", "record_failure", "structural_hash"]
