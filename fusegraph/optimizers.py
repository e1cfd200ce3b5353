"""``fg.optimizers``: Keras's optimizers (``SGD``, ``RMSprop``, ``Adam``, ``AdamW``,
``Adagrad``, ``Adadelta``, ``Ftrl``, ``Adamax``, ``Nadam``, ``Lion``), ``get``,
and ``fg.optimizers.schedules`` (``ExponentialDecay``, ``CosineDecay``, ...)."""
import sys as _sys

from .frontend import schedules
from .frontend.optimizers import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Ftrl, Lion, Nadam,
                                  Optimizer, RMSprop, get)

# ``from fusegraph.optimizers.schedules import ExponentialDecay`` works as in Keras
_sys.modules.setdefault(__name__ + ".schedules", schedules)
del _sys

__all__ = ["Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Ftrl", "Lion", "Nadam", "Optimizer",
           "RMSprop", "SGD", "get", "schedules"]
