"""Numeric preprocessing layers that are part of the graph: ``Normalization`` and
``CategoryEncoding``, as Keras 3 (3.15) computes them.

``Normalization`` gives ``(x - mean) / max(sqrt(variance), 1e-7)`` (``invert=True``:
``mean + x * max(sqrt(variance), 1e-7)``), the statistics kept per position of the
``axis`` axes (default -1, the features; None: one mean and variance for everything)
and broadcast over the others. They are given (``mean``, ``variance``: scalars, or
arrays filling the trailing kept axes; no weights then) or learned by ``adapt(data)``
into the non-trainable weights ``mean``, ``variance`` and ``count`` (int64, left at 0
as Keras leaves it), in that order. ``adapt`` takes a numpy array (``np.mean`` and
``np.var`` over the other axes) or an iterable of batches (a batched
:class:`fg.data.Dataset`, a list of arrays, a generator; of an ``(x, y)`` batch, ``x``),
combined as Keras does: each batch's mean and variance merged into the running ones,
weighted by sample counts.

``CategoryEncoding`` turns integer ids in [0, num_tokens) into a float vector of
``num_tokens``: "multi_hot" (presence) and "count" (occurrences, each weighted by
``count_weights`` if given) fold the last axis of a rank-2 input (the whole of a rank-1
input, Keras's rule); "one_hot" adds a trailing axis (replacing a last axis of 1). Ids
out of range encode to nothing (Keras does not check them either).
"""
from __future__ import annotations

import math

import numpy as np

from ...ir.builder import user_site
from .. import ops
from ..checks import check_bool, check_positive_int
from ..layer import Layer
from .core import incompatible
from .data_layers import adapt_batches, check_choice, check_not_sparse

EPSILON = 1e-7      # Keras's backend.epsilon()


class Normalization(Layer):
    """Feature-wise standardization by a given or adapted mean and variance (module
    docstring)."""

    single_input = True
    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: Normalization"
        axes = () if axis is None else (axis,) if isinstance(axis, (int, np.integer)) \
            else tuple(axis)
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"{owner}: `axis` must be None, an int or a tuple of ints, got "
                             f"{axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"{owner}: give both `mean` and `variance` or neither, got "
                             f"mean={mean!r}, variance={variance!r}")
        if mean is not None and np.shape(mean) != np.shape(variance):
            raise ValueError(f"{owner}: `mean` and `variance` must have the same shape, got "
                             f"{np.shape(mean)} and {np.shape(variance)}")
        if mean is not None and np.ndim(mean) > len(axes):
            raise ValueError(f"{owner}: `mean` may have at most as many axes as `axis` "
                             f"({len(axes)}), got shape {np.shape(mean)}")
        check_bool(owner, "invert", invert)
        self.axis = tuple(int(a) for a in axes)
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self.mean = self.variance = None     # the statistics, shaped to broadcast
        self._build_shape = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise incompatible(self, f"every axis of {self.axis} must be in [-{ndim}, {ndim})",
                               input_shape)
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[d] is None for d in self._keep):
            raise incompatible(self, f"the normalized axes {self._keep} must have known sizes",
                               input_shape)
        self._build_shape = tuple(input_shape)
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast = tuple(input_shape[d] if d in self._keep else 1 for d in range(ndim))
        if self.input_mean is None:
            shape = tuple(input_shape[d] for d in self._keep)
            self.adapt_mean = self.add_weight(shape, "zeros", name="mean", trainable=False)
            self.adapt_variance = self.add_weight(shape, "ones", name="variance",
                                                  trainable=False)
            self.count = self.add_weight((), "zeros", dtype="int64", name="count",
                                         trainable=False)
            return
        self.mean, self.variance = (self._broadcast_given(v) for v in
                                    (self.input_mean, self.input_variance))

    def _broadcast_given(self, value) -> np.ndarray:
        """A given ``mean``/``variance`` in the broadcast shape: a scalar everywhere, an
        array along the trailing kept axes (Keras's rule)."""
        value = np.asarray(value, dtype=self.dtype)
        expanded = [1] * len(self._broadcast)
        for i in range(1, value.ndim + 1):
            expanded[self._keep[-i]] = value.shape[-i]
        return np.broadcast_to(value.reshape(expanded), self._broadcast)

    def call(self, inputs):
        x = ops.cast(inputs, self.dtype)
        if self.input_mean is None:
            mean = ops.reshape(ops.convert_to_tensor(self.adapt_mean), self._broadcast)
            variance = ops.reshape(ops.convert_to_tensor(self.adapt_variance), self._broadcast)
        else:
            mean, variance = self.mean, self.variance
        scale = ops.maximum(ops.sqrt(variance), EPSILON)
        if self.invert:
            return ops.add(mean, ops.multiply(x, scale))
        return ops.divide(ops.subtract(x, mean), scale)

    def adapt(self, data) -> None:
        """Set the ``mean`` and ``variance`` weights from ``data`` (module docstring)."""
        owner = f"{user_site()}: Normalization '{self.name}'"
        if self.input_mean is not None:
            raise ValueError(f"{owner}: cannot adapt a layer given `mean` and `variance`")
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            batches, whole = [np.asarray(data)], True
        else:
            batches, whole = (np.asarray(b, dtype=self.dtype)
                              for b in adapt_batches(data, owner, listed=True)), False
        mean = variance = None
        total = 0
        for batch in batches:
            self._adapt_build(batch.shape, owner)
            batch_mean, batch_var = (batch.mean(axis=self._reduce), batch.var(axis=self._reduce))
            if whole:
                mean, variance = batch_mean, batch_var
                break
            count = math.prod(batch.shape[d] for d in self._reduce)
            total += count
            weight = count / total
            mean, variance = _merged(mean, variance, batch_mean, batch_var, weight)
        self.adapt_mean.assign(mean)
        self.adapt_variance.assign(variance)

    def _adapt_build(self, shape, owner: str) -> None:
        """Build from adapt's first batch, or check a batch against the built shape."""
        if not self.built:
            self.build(shape)
            self.built = True
            return
        if len(shape) != len(self._build_shape) or any(
                shape[d] != self._build_shape[d] for d in self._keep):
            raise ValueError(f"{owner}: adapt() got data of shape {shape}, but the layer "
                             f"was built for shape {self._build_shape} (normalized axes "
                             f"{self._keep})")


def _merged(mean, variance, batch_mean, batch_var, weight: float):
    """The running (mean, variance) after a batch of relative weight ``weight`` (its
    share of the samples seen so far), Keras's update."""
    if mean is None:
        return batch_mean, batch_var
    keep = 1.0 - weight
    new_mean = mean * keep + batch_mean * weight
    new_var = ((variance + (mean - new_mean) ** 2) * keep
               + (batch_var + (batch_mean - new_mean) ** 2) * weight)
    return new_mean, new_var


class CategoryEncoding(Layer):
    """Integer ids to one-hot, multi-hot or count vectors of ``num_tokens`` (module
    docstring)."""

    single_input = True

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: CategoryEncoding"
        output_mode = "multi_hot" if output_mode == "binary" else output_mode
        check_choice(owner, "output_mode", output_mode, ("multi_hot", "one_hot", "count"))
        if num_tokens is None:
            raise ValueError(f"{owner}: `num_tokens` must be set (the number of ids); for an "
                             f"unknown vocabulary use IntegerLookup")
        check_positive_int(owner, "num_tokens", num_tokens)
        check_not_sparse(owner, sparse)
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False

    def call(self, inputs, count_weights=None):
        x = ops.convert_to_tensor(inputs)
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(f"{user_site()}: layer '{self.name}': `count_weights` is only "
                             f"for output_mode='count', got output_mode={self.output_mode!r}")
        if x.ndim == 0:
            x = ops.expand_dims(x, -1)
        if self.output_mode == "one_hot":
            if x.ndim > 1 and x.shape[-1] == 1:
                x = ops.squeeze(x, -1)
            return ops.one_hot(x, self.num_tokens, dtype=self.dtype)
        if x.ndim > 2:
            raise incompatible(self, f"output_mode={self.output_mode!r} takes a rank-1 or "
                                     f"rank-2 input", x.shape)
        hot = ops.one_hot(x, self.num_tokens, dtype=self.dtype)
        if self.output_mode == "multi_hot":
            return ops.max(hot, axis=-2)
        if count_weights is not None:
            weights = ops.convert_to_tensor(count_weights)
            hot = ops.multiply(ops.cast(hot, weights.dtype), ops.expand_dims(weights, -1))
        return ops.sum(hot, axis=-2)
