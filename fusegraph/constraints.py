"""``fg.constraints``: Keras's weight constraints (``MaxNorm``, ``NonNeg``, ``UnitNorm``,
``MinMaxNorm``, ``get``); see :mod:`fusegraph.frontend.constraints`."""
from .frontend.constraints import Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, get

max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "max_norm",
           "min_max_norm", "non_neg", "unit_norm"]
