"""Weight constraints with Keras 3's names and formulas, applied to a weight after each
optimizer update, inside the step graph (:meth:`.optimizer_base.Optimizer.apply`).

``MaxNorm(max_value=2, axis=0)`` rescales each slice along ``axis`` whose L2 norm exceeds
``max_value``; ``NonNeg`` zeroes negative entries; ``UnitNorm(axis=0)`` rescales to unit
norm; ``MinMaxNorm(min_value, max_value, rate, axis)`` moves the norms ``rate`` of the way
into ``[min_value, max_value]``. Norms get Keras's epsilon (1e-7) in the divisions.
Layers take them as ``kernel_constraint``, ``bias_constraint`` (Dense, the convolutions)
and ``embeddings_constraint`` (objects or the names ``"max_norm"``, ``"non_neg"``,
``"unit_norm"``, ``"min_max_norm"``).
"""
from __future__ import annotations

from . import ops
from .checks import named_object

EPSILON = 1e-7


class Constraint:
    """Base: ``__call__(w)`` returns the constrained weight."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}


def _norms(w, axis):
    return ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0.0, float(self.max_value))
        return ops.multiply(w, ops.divide(desired, ops.add(norms, EPSILON)))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return ops.multiply(w, ops.cast(ops.greater_equal(w, 0.0), w.dtype))


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return ops.divide(w, ops.add(_norms(w, self.axis), EPSILON))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        clipped = ops.clip(norms, float(self.min_value), float(self.max_value))
        desired = ops.add(ops.multiply(clipped, float(self.rate)),
                          ops.multiply(norms, 1.0 - float(self.rate)))
        return ops.multiply(w, ops.divide(desired, ops.add(norms, EPSILON)))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


_BY_NAME = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
            "min_max_norm": MinMaxNorm, "MaxNorm": MaxNorm, "NonNeg": NonNeg,
            "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm}


def get(identifier):
    """A constraint from a name, a Constraint, or any callable(weight) -> weight; None
    gives None."""
    return named_object(identifier, Constraint, _BY_NAME, "constraint")
