"""``fg.regularizers``: Keras's weight and activity regularizers (``L1``, ``L2``,
``L1L2``, ``OrthogonalRegularizer``, ``get``); see :mod:`fusegraph.frontend.regularizers`."""
from .frontend.regularizers import L1, L1L2, L2, OrthogonalRegularizer, Regularizer, get

l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

__all__ = ["L1", "L1L2", "L2", "OrthogonalRegularizer", "Regularizer", "get", "l1", "l1_l2",
           "l2", "orthogonal_regularizer"]
