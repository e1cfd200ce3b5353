"""``fg.layers``."""
from .frontend.layers import *  # noqa: F401,F403
from .frontend.layers import __all__  # noqa: F401
