"""Loading generated kernels: the source compiled in memory, a copy of it in a file of
the kernel cache folder, Numba's disk cache beside it, verified; memoized in-process.

* **The folder** is ``$FUSEGRAPH_CACHE_DIR`` (read at each load), default
  ``~/.cache/fusegraph/numba``. It is trusted the way ssh and pip trust theirs (see
  :mod:`.kernel_cache`): created 0700 (its ``__pycache__`` and missing parents too)
  whatever the umask, and refused with :class:`~.kernel_cache.KernelCacheError` when it
  belongs to another user or group/others can write it. A ``FUSEGRAPH_CACHE_DIR`` that
  cannot be created or written is an error too (the user named it). When the *default*
  folder cannot be created or written (a read-only home, say), a private per-process
  temporary folder (``mkdtemp``: 0700) is used instead, with one
  :class:`~.kernel_cache.KernelCacheWarning`: kernels still work, the next process
  compiles them again. An unsafe default folder is refused, not replaced.
* A kernel's file is ``k_<sha256>.py``, the hash taken over its source, the numba, numpy
  and Python versions and :data:`LOADER_VERSION`, so a new version of any of them starts
  fresh files instead of loading stale machine code. Old files are never deleted. The
  file is a readable copy of the source (for tracebacks, ``inspect`` and the user) and is
  **never executed**: the module is compiled from the source string fusegraph generated,
  with the file's path as its file name. A file that differs from that source (changed
  behind fusegraph's back) is rewritten, with a warning. Files are written 0600 to a
  temporary name, then renamed, so a concurrent process never reads half a file.
* Numba's ``cache=True`` on the kernel gives its dispatcher a disk cache
  (``__pycache__/*.nbi``/``*.nbc``); before the first call can read it,
  :func:`~.kernel_cache.verify_disk_cache` swaps in the verified cache: every file sealed
  with a keyed digest (HMAC-SHA256, key in ``__pycache__/.key``), checked before it is
  unpickled; a missing, wrong, empty, truncated or garbage one is removed and rebuilt
  with a warning naming it. So a second process loads the compiled machine code instead
  of compiling, and never code that fusegraph did not write. The same holds for both
  targets' kernels (numba_cpu's and numba_cuda's), loaded here alike (in the CUDA
  simulator there is no disk cache).
* The module is registered in ``sys.modules`` under a unique name (Numba's cached code
  finds its globals by importing the module by name).
* :func:`load_kernel` memoizes by source hash: equal kernels of one process share one
  dispatcher, and so one compilation (under a lock that a forked child gets afresh, so a
  fork while another thread loads a kernel cannot leave the child waiting forever).
  ``__source__`` on the function holds its source
  (as PyTensor's ``compile_function_src`` does), ``__file__``-like ``__kernel_path__``
  the file it came from.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import types
import warnings

import numba
import numpy as np

from . import kernel_cache
from .kernel_cache import KernelCacheError, KernelCacheWarning

# Part of every file hash: bump it when the way kernels are written or imported changes
# (Numba's cached code names the module it was compiled in, so a file must keep its
# module name for as long as it exists). 3: Numba's cache files are sealed (kernel_cache).
LOADER_VERSION = "3"
_MEMO: dict[str, object] = {}
_LOCK = threading.Lock()
_FALLBACK_DIR: str | None = None


def _fresh_lock_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()   # a thread loading a kernel at the fork is not in the child


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def cache_dir() -> str:
    """The folder kernel files go to, as an absolute path (a relative
    ``FUSEGRAPH_CACHE_DIR`` is taken from the current folder at each call): created 0700
    if missing, checked if present (see the module docstring for the rules and the
    fallback)."""
    global _FALLBACK_DIR
    configured = os.environ.get("FUSEGRAPH_CACHE_DIR")
    path = os.path.abspath(configured or os.path.join(os.path.expanduser("~"), ".cache",
                                                      "fusegraph", "numba"))
    try:
        return kernel_cache.private_folder(path)
    except KernelCacheError:
        raise
    except OSError as e:
        reason = f"{e.strerror or e}" + (f": {e.filename}" if e.filename not in (None, path)
                                         else "")
        if configured:
            raise KernelCacheError(
                f"FUSEGRAPH_CACHE_DIR={configured!r} cannot be used as the kernel cache "
                f"folder ({reason}); create it (mode 700) or point FUSEGRAPH_CACHE_DIR at "
                f"a folder you can write") from e
    if _FALLBACK_DIR is None:
        _FALLBACK_DIR = kernel_cache.private_folder(tempfile.mkdtemp(prefix="fusegraph-numba-"))
        warnings.warn(f"fusegraph: the kernel cache folder {path} cannot be used ({reason}); "
                      f"this process caches kernels in {_FALLBACK_DIR}, so the next one "
                      f"compiles them again. Set FUSEGRAPH_CACHE_DIR to a folder you can "
                      f"write", KernelCacheWarning, stacklevel=2)
    return _FALLBACK_DIR


def source_hash(source: str) -> str:
    """sha256 of the source and the versions its compiled code depends on."""
    versions = (f"fusegraph kernels {LOADER_VERSION}; numba {numba.__version__}; "
                f"numpy {np.__version__}; python {sys.version}")
    return hashlib.sha256(f"{versions}\n{source}".encode()).hexdigest()


def load_kernel(spec):
    """The Numba dispatcher of ``spec`` (a kernel spec of either target: its ``name`` and
    ``source``): from the in-process memo, else its source
    executed as a new module (its file in :func:`cache_dir` written first if missing or
    different) with the verified disk cache. Compilation itself happens on the first call
    (or is loaded from Numba's disk cache)."""
    digest = source_hash(spec.source)
    with _LOCK:
        kernel = _MEMO.get(digest)
        if kernel is None:
            kernel = _MEMO[digest] = _import(spec, digest)
    return kernel


def clear_memo() -> None:
    """Forget the loaded kernels of this process (the files stay): the next load imports
    them again, as a new process would."""
    with _LOCK:
        _MEMO.clear()


def kernel_path(spec, digest: str | None = None) -> str:
    """The file ``spec``'s source is (or would be) written to (``digest``: its
    :func:`source_hash`, if the caller has it)."""
    return os.path.join(cache_dir(), f"k_{(digest or source_hash(spec.source))[:32]}.py")


def _write_once(path: str, source: str) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == source:
                return
        warnings.warn(f"fusegraph kernel cache: {path} differs from the source fusegraph "
                      f"generated for it (changed behind its back); rewritten (the file "
                      f"is never executed)", KernelCacheWarning, stacklevel=3)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as e:
        warnings.warn(f"fusegraph kernel cache: {path} cannot be read ({e}); rewritten",
                      KernelCacheWarning, stacklevel=3)
    kernel_cache.write_private(path, source.encode("utf-8"))


def _import(spec, digest: str):
    path = kernel_path(spec, digest)
    _write_once(path, spec.source)
    module_name = f"fusegraph_kernel_{digest[:32]}"
    module = types.ModuleType(module_name)
    module.__file__ = path
    code = compile(spec.source, path, "exec")
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[module_name]
        raise
    kernel = getattr(module, spec.name)
    kernel_cache.verify_disk_cache(kernel)
    kernel.__source__ = spec.source
    kernel.__kernel_path__ = path
    return kernel
