"""One thread count for everything fusegraph runs on the CPU.

A training step spends its time in two thread pools: BLAS's (numpy's OpenBLAS or MKL:
every matmul, on every backend) and Numba's (numba_cpu's parallel kernels, OpenMP
workers). Left alone, each starts one worker per core and both spin while idle, so on a
small machine they steal each other's cores: measured on 2 cores (wide MLP 784-512-512-10,
Adam, batch 128, numba_cpu), 15.9 ms per step with both pools at 2 threads and OpenMP's
default (spinning) wait policy, 3.2 ms with the same pools when idle OpenMP workers sleep,
4.6 ms with everything on 1 thread. The policy here:

* **one number**, :func:`set_num_threads` (``fg.config.set_num_threads``), sets BLAS's
  threads (through threadpoolctl, every BLAS library loaded, scipy's included) and
  Numba's kernel threads together;
* **idle kernel workers sleep** (``OMP_WAIT_POLICY=PASSIVE``, set when fusegraph is
  imported unless the environment sets it: OpenMP reads it once, when Numba first
  starts its pool), so a parallel kernel's workers never spin against BLAS's threads.
  Measured: at 2 threads that is as fast as running kernels on one thread, and large
  kernels still get both cores;
* the count, unless set by :func:`set_num_threads`, comes from the environment:
  ``FUSEGRAPH_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the smallest of
  ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` that is set,
  else the CPUs this process may run on. Kernel threads are capped at the pool Numba
  started with (``NUMBA_NUM_THREADS``, fixed at its launch);
* **one BLAS pool**: when numba_cpu's GEMMs go to MKL, numpy's OpenBLAS keeps to one
  thread (:func:`keep_on_one_thread`; :mod:`fusegraph.backends.numba_cpu.gemm` says
  why); on more than one thread numba_cpu's large kernels are threaded
  (:mod:`fusegraph.backends.numba_cpu.codegen`), and a child forked after their pool
  started runs serial ones (:func:`forks`).

Numba's count is per calling thread; :func:`apply` is called before each compiled call
(:meth:`fusegraph.frontend.graphs.TracedGraph.run`, after the
graph is compiled) and applies the policy to the calling
thread the first time it runs there, and again after each change, at the cost of one
attribute read otherwise. BLAS libraries are limited process-wide, once per change.
"""
from __future__ import annotations

import os
import sys
import threading

_ENV_ORDER = ("FUSEGRAPH_NUM_THREADS", "OMP_NUM_THREADS")
_ENV_OTHERS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

_state = {"threads": None, "generation": 0, "blas_generation": -1}
_one_thread: set = set()             # BLAS libraries (internal_api) kept on one thread
_local = threading.local()          # .generation: the policy this thread has applied
_lock = threading.Lock()


def quiet_idle_workers() -> None:
    """Make idle OpenMP workers sleep rather than spin, unless the environment says
    otherwise (called when fusegraph is imported, before Numba can start its pool)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _env_count(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        n = int(text.split(",")[0])     # OMP_NUM_THREADS may list counts per level
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r}: expected a positive "
                         f"integer number of threads") from None
    if n < 1:
        raise ValueError(f"environment variable {name}={text!r}: expected a positive "
                         f"integer number of threads")
    return n


def default_num_threads() -> int:
    """The thread count the environment asks for (see the module docstring)."""
    for name in _ENV_ORDER:
        n = _env_count(name)
        if n is not None:
            return n
    others = [n for n in map(_env_count, _ENV_OTHERS) if n is not None]
    if others:
        return min(others)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:     # not on Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """The number of threads BLAS and fusegraph's kernels use."""
    n = _state["threads"]
    return default_num_threads() if n is None else n


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for BLAS and for fusegraph's kernels, from the next step on.
    ``n`` must be a positive int; kernel threads are capped at the pool Numba started
    with (``NUMBA_NUM_THREADS``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int number of threads, "
                         f"got {n!r}")
    with _lock:
        _state["threads"] = n
        _state["generation"] += 1
    apply()


def apply() -> None:
    """Apply the policy to BLAS (once per change) and to the calling thread's Numba
    count (once per thread per change, counted from when Numba's pool has started).
    Cheap when nothing changed."""
    generation = _state["generation"]
    if getattr(_local, "generation", -1) == generation:
        return
    n = get_num_threads()
    with _lock:
        if _state["blas_generation"] != generation:
            _limit_blas(n)
            _state["blas_generation"] = generation
    if _limit_numba(n):
        _local.generation = generation


def _limit_blas(n: int) -> None:
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n, user_api="blas")
    if _one_thread:
        from threadpoolctl import ThreadpoolController
        for library in ThreadpoolController().lib_controllers:
            if library.internal_api in _one_thread:
                library.set_num_threads(1)


def keep_on_one_thread(internal_api: str) -> None:
    """From now on, BLAS libraries of ``internal_api`` (threadpoolctl's name:
    ``"openblas"``) run on one thread whatever the count: numba_cpu's GEMM does this to
    numpy's OpenBLAS when MKL takes the large products (two BLAS pools must not take
    turns: :mod:`fusegraph.backends.numba_cpu.gemm`)."""
    with _lock:
        if internal_api in _one_thread:
            return
        _one_thread.add(internal_api)
        _state["generation"] += 1
    apply()


def _limit_numba(n: int) -> bool:
    """Set Numba's kernel threads for the calling thread; False while Numba's pool has
    not started (asking for the count starts it, and a program whose kernels are all
    serial never needs it: with GNU OpenMP a started pool makes a later ``fork``ed
    child's parallel kernels fatal, see :func:`forks`). The pool starts with the first
    parallel kernel, with NUMBA_NUM_THREADS threads; the next step applies the policy."""
    return set_kernel_threads_here(n) is not None


def set_kernel_threads_here(n: int) -> int | None:
    """Numba's kernel threads for the calling thread set to ``n`` (capped at its pool);
    the count before, or None (nothing set) while the pool has not started."""
    numba = sys.modules.get("numba")
    if numba is None or not _pool_started():
        return None
    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return before


def _pool_started() -> bool:
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    return bool(getattr(parallel, "_is_initialized", False))


_forks = {"generation": 0}     # forks into a child of a process whose kernel pool had started


def _after_fork_in_child() -> None:
    """In a child ``fork``ed from a process whose Numba pool had started (GNU OpenMP),
    Numba kills the process at its first parallel kernel: from here on every kernel
    generated is serial (``FUSEGRAPH_NUMBA_PARALLEL_MIN=off``), and :func:`forks`
    changes, which tells numba_cpu's executables to swap their parallel kernels for
    serial ones."""
    if _pool_started():
        os.environ["FUSEGRAPH_NUMBA_PARALLEL_MIN"] = "off"
        _forks["generation"] += 1


def forks() -> int:
    """How many times this process is a child forked from a process whose Numba pool had
    started (0 in a process that was not): a change means parallel kernels must go."""
    return _forks["generation"]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = ["apply", "default_num_threads", "forks", "get_num_threads", "keep_on_one_thread",
           "quiet_idle_workers", "set_kernel_threads_here", "set_num_threads"]
