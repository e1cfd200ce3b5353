"""Process-wide settings: ``fg.config.set_num_threads(n)``, ``fg.config.get_num_threads()``
(see :mod:`fusegraph.backends.threads` for the thread policy)."""
from .backends.threads import get_num_threads, set_num_threads

__all__ = ["get_num_threads", "set_num_threads"]
