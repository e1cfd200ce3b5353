"""``fg.callbacks``: hooks into ``fit``/``evaluate``/``predict`` (as ``keras.callbacks``)."""
from .runtime.callbacks import (Callback, EarlyStopping, History, LambdaCallback,
                                TerminateOnNaN)
from .runtime.checkpoints import ModelCheckpoint

__all__ = ["Callback", "EarlyStopping", "History", "LambdaCallback", "ModelCheckpoint",
           "TerminateOnNaN"]
