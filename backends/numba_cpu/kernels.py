"""Loading generated kernels: a source file per kernel in a cache folder, imported from
there, memoized in-process.

* The folder is ``$FUSEGRAPH_CACHE_DIR`` (read at each load), default
  ``~/.cache/fusegraph/numba``; when it cannot be created, a per-process temporary
  folder is used instead (kernels still work, a second process compiles again).
* A kernel's file is ``k_<sha256>.py``, the hash taken over its source, the numba, numpy
  and Python versions and :data:`LOADER_VERSION`, so a new version of any of them starts
  fresh files instead of loading stale machine code. Old files are never deleted. A file is written once (to a temporary name, then
  renamed, so a concurrent process never reads half a file) and never rewritten: Numba's
  ``cache=True`` keys its on-disk cache (``__pycache__/*.nbi``/``*.nbc`` beside the file)
  by the file's path and modification time, so a second process importing the same file
  loads the compiled machine code instead of compiling.
* The module is imported under a unique name registered in ``sys.modules`` (Numba's
  cached code finds its globals by importing the module by name).
* :func:`load_kernel` memoizes by file hash: equal kernels of one process share one
  dispatcher, and so one compilation. ``__source__`` on the function holds its source
  (as PyTensor's ``compile_function_src`` does), ``__file__``-like ``__kernel_path__``
  the file it came from.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading

import numba
import numpy as np

from .codegen import KernelSpec

# Part of every file hash: bump it when the way kernels are written or imported changes
# (Numba's cached code names the module it was compiled in, so a file must keep its
# module name for as long as it exists).
LOADER_VERSION = "2"
_MEMO: dict[str, object] = {}
_LOCK = threading.Lock()
_FALLBACK_DIR: str | None = None


def cache_dir() -> str:
    """The folder kernel files go to (created if missing)."""
    global _FALLBACK_DIR
    path = os.environ.get("FUSEGRAPH_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "fusegraph", "numba")
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    if _FALLBACK_DIR is None:
        _FALLBACK_DIR = tempfile.mkdtemp(prefix="fusegraph-numba-")
    return _FALLBACK_DIR


def source_hash(source: str) -> str:
    """sha256 of the source and the versions its compiled code depends on."""
    versions = (f"fusegraph kernels {LOADER_VERSION}; numba {numba.__version__}; "
                f"numpy {np.__version__}; python {sys.version}")
    return hashlib.sha256(f"{versions}\n{source}".encode()).hexdigest()


def load_kernel(spec: KernelSpec):
    """The Numba dispatcher of ``spec``: from the in-process memo, else imported from its
    file in :func:`cache_dir` (written first if missing). Compilation itself happens on
    the first call (or is loaded from Numba's disk cache)."""
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


def kernel_path(spec: KernelSpec) -> str:
    """The file ``spec``'s source is (or would be) written to."""
    return os.path.join(cache_dir(), f"k_{source_hash(spec.source)[:32]}.py")


def _write_once(path: str, source: str) -> None:
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == source:
                return
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _import(spec: KernelSpec, digest: str):
    path = kernel_path(spec)
    _write_once(path, spec.source)
    module_name = f"fusegraph_kernel_{digest[:32]}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    kernel = getattr(module, spec.name)
    kernel.__source__ = spec.source
    kernel.__kernel_path__ = path
    return kernel
