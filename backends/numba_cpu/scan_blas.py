"""The BLAS inside numba_cpu's compiled scan loops: ``np.dot`` into a buffer as one
shared Numba function (:data:`MATMUL`), and the thread count it runs with
(:func:`blas_threads`).

Numba's ``np.dot`` calls SciPy's BLAS (``scipy.linalg.cython_blas``), which is often a
library of its own (SciPy's and numpy's wheels each bundle an OpenBLAS): a second thread
pool beside the one numpy's matmuls use. A recurrent layer's per-step products are small
(``[32,128] x [128,512]`` is 2M multiply-adds, about 90 us on one core), so handing each
to a second thread costs a wake-up per step and, on a busy machine, a wait for a core,
while the other pool's idle threads spin. Measured on the 2-core VM (load average about
5, the ticket model with LSTM(128)/LSTM(32), everything at 2 threads): 363 ms per
training step with the loops' BLAS on 2 threads, 116 ms on one (116 ms is the rest of
the step's 2-thread cost; the step by step path took 143 ms). So a loop whose largest
per-step product is below :data:`THREADED_MIN_MACS` multiply-adds runs with every BLAS
library on one thread, and puts their counts back when it returns
(``openblas_set_num_threads`` and its kin, through threadpoolctl: about a microsecond
each). The limit is process-wide for the length of the loop: a numpy matmul that another
thread runs meanwhile runs on one thread too.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from .native import NativeSpec

THREADED_MIN_MACS = 1 << 24   # a per-step product this large keeps the BLAS's threads

MATMUL = NativeSpec("matmul_into", '''\
# np.dot into a preallocated array, for numba_cpu's scan loops: backends/numba_cpu/scan_blas.py
import numpy as np
from numba import njit


@njit(cache=True)
def matmul_into(a, b, out):
    np.dot(a, b, out)
''')

_libraries: list = []      # threadpoolctl's controllers of the BLAS libraries, once found
_found = threading.Event()
_lock = threading.Lock()


def _blas_libraries() -> list:
    """The loaded BLAS libraries (SciPy's BLAS loaded first, so that it is among them)."""
    if not _found.is_set():
        with _lock:
            if not _found.is_set():
                import scipy.linalg.cython_blas  # noqa: F401  (loads the library Numba calls)
                from threadpoolctl import ThreadpoolController
                _libraries[:] = [lib for lib in ThreadpoolController().lib_controllers
                                 if lib.user_api == "blas"]
                _found.set()
    return _libraries


_lowered = {"depth": 0, "before": []}    # the open blocks of blas_threads, and what they lowered


@contextmanager
def blas_threads(n: int):
    """Every BLAS library on at most ``n`` threads inside the block (see the module
    docstring); their counts as they were after it. Blocks open at once (two loops on two
    threads: a plan runs independent scans concurrently) share one lowering, made by the
    first to open and undone by the last to close; ``n`` is the same for every caller."""
    libraries = _blas_libraries()
    with _lock:
        if _lowered["depth"] == 0:
            _lowered["before"] = [lib.get_num_threads() for lib in libraries]
            for lib, count in zip(libraries, _lowered["before"]):
                if count > n:
                    lib.set_num_threads(n)
        _lowered["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _lowered["depth"] -= 1
            if _lowered["depth"] == 0:
                for lib, count in zip(libraries, _lowered["before"]):
                    if count > n:
                        lib.set_num_threads(count)
