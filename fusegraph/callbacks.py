"""``fg.callbacks``: hooks into ``fit``/``evaluate``/``predict`` (as ``keras.callbacks``)."""
from .runtime.callbacks import (Callback, EarlyStopping, History, LambdaCallback,
                                TerminateOnNaN)

__all__ = ["Callback", "EarlyStopping", "History", "LambdaCallback", "TerminateOnNaN"]
