"""Process-wide settings: ``fg.config.set_num_threads(n)`` / ``get_num_threads()`` (the
thread policy, :mod:`fusegraph.backends.threads`), ``set_default_backend(name)`` /
``get_default_backend()`` (what ``compile()`` uses when no backend is named:
:func:`fusegraph.backends.default_backend`) and ``wait_for_kernels()`` (the end of a
tiered start: :mod:`fusegraph.backends.numba.warmup`)."""
import sys

from .backends import default_backend as get_default_backend
from .backends import set_default_backend
from .backends.threads import get_num_threads, set_num_threads

_WARMUP = "fusegraph.backends.numba.warmup"


def wait_for_kernels(timeout: float | None = None) -> bool:
    """Wait until every kernel queued for compiling in the background is ready, so that
    the steps from now on run at full speed (numba_cpu starts tiered: until its kernels
    arrive, ops run on the reference). True when none is left, False when ``timeout``
    seconds passed first. Imports nothing when no kernel was ever queued."""
    if _WARMUP not in sys.modules:
        return True
    return sys.modules[_WARMUP].wait_for_kernels(timeout)


__all__ = ["get_default_backend", "get_num_threads", "set_default_backend", "set_num_threads",
           "wait_for_kernels"]
