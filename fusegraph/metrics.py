"""``fg.metrics``: Keras's stateful metrics, usable eagerly on numpy arrays and inside
traced steps; see :mod:`fusegraph.frontend.metrics`."""
from .frontend.metrics import *  # noqa: F401,F403
from .frontend.metrics import __all__  # noqa: F401
