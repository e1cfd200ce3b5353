"""Weight and activity regularizers with Keras 3's names, arguments and penalties.

A regularizer is called on a tensor and returns a scalar penalty: ``L1(l1)`` is
``l1 * sum(|x|)``, ``L2(l2)`` is ``l2 * sum(x**2)``, ``L1L2`` both, and
``OrthogonalRegularizer(factor, mode)`` is ``factor / 2`` times the mean absolute dot
product of the distinct pairs of L2-normalized rows (or columns) of a matrix. Layers take
them as ``kernel_regularizer``, ``bias_regularizer`` and ``activity_regularizer``
(objects or the names ``"l1"``, ``"l2"``, ``"l1_l2"``, ``"orthogonal_regularizer"``);
their penalties are in ``layer.losses`` and ``model.losses``, and a compiled model's
train step adds them to its loss, as Keras does (:mod:`fusegraph.frontend.layer`).
"""
from __future__ import annotations

import math

import numpy as np

from ..ir.builder import user_site
from . import nn, ops
from .checks import named_object


class Regularizer:
    """Base: ``__call__(x)`` returns the scalar penalty of ``x``."""

    def __call__(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define __call__")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _factor(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"{user_site()}: {owner}: `{name}` must be a non-negative number, "
                         f"got {value!r}")
    return float(value)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("L1L2", "l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("L1L2", "l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        penalty = ops.convert_to_tensor(0.0, x.dtype)
        if self.l1:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.abs(x)), self.l1))
        if self.l2:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.square(x)), self.l2))
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    MODES = ("rows", "columns")

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in self.MODES:
            raise ValueError(f"{user_site()}: OrthogonalRegularizer: mode must be 'rows' or "
                             f"'columns', got {mode!r}")
        self.mode = mode

    def __call__(self, x):
        if x.ndim != 2:
            raise ValueError(f"{user_site()}: OrthogonalRegularizer takes a matrix (rank 2), "
                             f"got shape {x.shape}")
        vectors = nn.normalize(x, axis=1) if self.mode == "rows" else \
            ops.transpose(nn.normalize(x, axis=0))
        size = vectors.shape[0]
        products = ops.abs(ops.matmul(vectors, ops.transpose(vectors)))
        off_diagonal = ops.subtract(ops.sum(products), ops.sum(ops.multiply(
            products, ops.convert_to_tensor(np.eye(size), products.dtype))))
        return ops.multiply(off_diagonal, self.factor * 0.5 / (size * (size - 1.0) / 2.0))

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "L1L2": L1L2, "L1": L1,
            "L2": L2, "orthogonal_regularizer": OrthogonalRegularizer,
            "OrthogonalRegularizer": OrthogonalRegularizer}


def get(identifier):
    """A regularizer from a name (``"l1_l2"`` has 0.01 for both, as Keras's), a
    Regularizer, or any callable(tensor) -> scalar; None gives None."""
    return named_object(identifier, Regularizer, _BY_NAME, "regularizer")
