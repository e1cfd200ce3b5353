"""``fg.callbacks``: hooks into ``fit``/``evaluate``/``predict`` (as ``keras.callbacks``)."""
from .runtime.backup import BackupAndRestore
from .runtime.callbacks import (Callback, EarlyStopping, History, LambdaCallback,
                                TerminateOnNaN)
from .runtime.checkpoints import ModelCheckpoint
from .runtime.lr_callbacks import CSVLogger, LearningRateScheduler, ReduceLROnPlateau
from .runtime.tensorboard import TensorBoard

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau",
           "TensorBoard", "TerminateOnNaN"]
