"""Process-wide settings: ``fg.config.set_num_threads(n)`` / ``get_num_threads()`` (the
thread policy, :mod:`fusegraph.backends.threads`), ``set_default_backend(name)`` /
``get_default_backend()`` (what ``compile()`` uses when no backend is named:
:func:`fusegraph.backends.default_backend`), ``wait_for_kernels()`` (the end of a
tiered start: :mod:`fusegraph.backends.numba.warmup`) and Keras's
``enable_traceback_filtering()`` / ``disable_traceback_filtering()`` /
``is_traceback_filtering_enabled()`` (fusegraph's own frames left out of errors' tracebacks,
or not: :mod:`fusegraph.frontend.traceback_filter`)."""
import sys

from .backends import default_backend as get_default_backend
from .backends import set_default_backend
from .backends.threads import get_num_threads, set_num_threads
from .frontend.traceback_filter import (disable_traceback_filtering, enable_traceback_filtering,
                                        is_traceback_filtering_enabled)

_WARMUP = "fusegraph.backends.numba.warmup"


def wait_for_kernels(timeout: float | None = None) -> bool:
    """Wait until every kernel queued for compiling in the background is ready, so that
    the steps from now on run at full speed (numba_cpu starts tiered: until its kernels
    arrive, ops run on the reference). True when none is left, False when ``timeout``
    seconds passed first. Imports nothing when no kernel was ever queued."""
    if _WARMUP not in sys.modules:
        return True
    return sys.modules[_WARMUP].wait_for_kernels(timeout)


__all__ = ["disable_traceback_filtering", "enable_traceback_filtering", "get_default_backend",
           "get_num_threads", "is_traceback_filtering_enabled", "set_default_backend",
           "set_num_threads", "wait_for_kernels"]
