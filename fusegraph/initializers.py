"""``fg.initializers``: Keras's weight initializers (classes, and ``get`` for the names
layers take: ``kernel_initializer="he_normal"``); see
:mod:`fusegraph.frontend.initializers`."""
from .frontend.initializers import (Constant, GlorotNormal, GlorotUniform, HeNormal,
                                    HeUniform, Identity, Initializer, LecunNormal,
                                    LecunUniform, Ones, Orthogonal, RandomNormal,
                                    RandomUniform, TruncatedNormal, VarianceScaling, Zeros, get)

__all__ = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
           "Initializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "RandomNormal",
           "RandomUniform", "TruncatedNormal", "VarianceScaling", "Zeros", "get"]
