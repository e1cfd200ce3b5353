"""``fg.losses``: Keras's losses (functions per sample, Loss objects reduced over the
batch) and ``get`` for names; see :mod:`fusegraph.frontend.losses`."""
from .frontend.losses import *  # noqa: F401,F403
from .frontend.losses import __all__  # noqa: F401
