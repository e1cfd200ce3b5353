"""Process-wide settings: ``fg.config.set_num_threads(n)`` / ``get_num_threads()`` (the
thread policy, :mod:`fusegraph.backends.threads`) and ``set_default_backend(name)`` /
``get_default_backend()`` (what ``compile()`` uses when no backend is named:
:func:`fusegraph.backends.default_backend`)."""
from .backends import default_backend as get_default_backend
from .backends import set_default_backend
from .backends.threads import get_num_threads, set_num_threads

__all__ = ["get_default_backend", "get_num_threads", "set_default_backend", "set_num_threads"]
