"""``fg.utils``: session helpers with Keras's names."""
from .frontend.naming import clear_session
from .frontend.random_state import set_random_seed

__all__ = ["clear_session", "set_random_seed"]
