"""What every loss does around its per-sample formula: bring targets and predictions to
one dtype, rank and shape (Keras's rules; a mismatch is a ShapeError naming the loss, the
user's line, the expected and the given shapes), and weight and reduce per-sample losses
to what a :class:`~.losses.Loss` returns (:func:`reduce_weighted_values`). The metrics
use the same alignment (:func:`squeeze_or_expand_to_same_rank`, :func:`sized_as`).
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site
from ..ir.errors import ShapeError
from ..ir.types import dims_compatible
from . import collectives, ops

EPSILON = 1e-7  # keras.backend.epsilon()
REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None)


# --- shapes -------------------------------------------------------------------------
def _shape_str(t) -> str:
    """Keras's spelling of a tensor's shape: unknown sizes (symbols) are None."""
    shape = t.shape
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape_error(loss: str, message: str) -> ShapeError:
    return ShapeError(f"{user_site()}: loss '{loss}': {message}")


def _float_tensor(x, dtype=None):
    x = ops.convert_to_tensor(x)
    if dtype is not None:
        return ops.cast(x, dtype)
    return x if x.type.dtype.is_float else ops.cast(x, "float32")


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rank alignment: if the ranks differ by one and the longer has a trailing
    axis of size 1, squeeze it (or, when the shorter is rank 1, add one to the shorter)."""
    x1, x2 = ops.convert_to_tensor(x1), ops.convert_to_tensor(x2)
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.type.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze_axes(x1, (-1,))
    elif r2 == r1 + 1 and x2.type.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze_axes(x2, (-1,))
    return x1, x2


def sized_as(x, dims: tuple):
    """``x`` typed with ``dims``, its shape already checked compatible with them dim by dim
    (:func:`~fusegraph.ir.types.dims_compatible`). Where a size meets a symbol (targets of
    a fixed length against the output of ``Input(shape=(None, ...))``, whose length is a
    symbol) the shape rules would refuse to combine the two; a reshape changing that one
    dim types ``x`` as the other side, and the run checks its element count, which, with
    every other dim the same, proves the two sizes equal (so one reshape per such dim)."""
    shape = list(x.type.shape)
    for axis, dim in enumerate(dims):
        if shape[axis] != dim:
            shape[axis] = dim
            x = ops.reshape(x, tuple(shape))
    return x


def _prepare(loss: str, y_true, y_pred, hint: str = ""):
    """y_pred as float, y_true cast to its dtype, ranks aligned, shapes checked compatible,
    y_true typed as y_pred (:func:`sized_as`)."""
    y_pred = _float_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.type.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    a, b = y_true.type.shape, y_pred.type.shape
    if len(a) != len(b) or not all(map(dims_compatible, a, b)):
        raise _shape_error(loss, f"y_true has shape {_shape_str(y_true)} but y_pred has shape "
                                 f"{_shape_str(y_pred)}; expected y_true of shape "
                                 f"{_shape_str(y_pred)} (the same as y_pred){hint}")
    return sized_as(y_true, b), y_pred


def _class_axis(loss: str, y_pred, axis) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{user_site()}: loss '{loss}': axis must be an int, got {axis!r}")
    if y_pred.ndim == 0:
        raise _shape_error(loss, "y_pred is a scalar (shape ()); expected predictions with a "
                                 "class axis, such as (batch_size, num_classes)")
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise _shape_error(loss, f"axis {axis} is out of range for y_pred of shape "
                                 f"{_shape_str(y_pred)}: expected an int in "
                                 f"[{-y_pred.ndim}, {y_pred.ndim})")
    return int(axis) % y_pred.ndim


# --- reduction ----------------------------------------------------------------------
def _divide_no_nan(a, b):
    zero = ops.equal(b, 0.0)
    return ops.where(zero, 0.0, ops.divide(a, ops.where(zero, 1.0, b)))


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size",
                           loss: str = "loss"):
    """Weight per-sample losses and reduce them as Keras does.

    ``sample_weight`` is aligned to ``values`` (Keras's squeeze/expand of a trailing 1;
    fusegraph also adds trailing axes, so a ``(B,)`` weight applies to ``(B, T)`` losses)
    and must then broadcast to them. ``"sum_over_batch_size"`` (= ``"mean"``) divides the
    weighted sum by the number of losses (not by the sum of the weights);
    ``"mean_with_sample_weight"`` divides by the sum of the weights as given (after that
    alignment, before broadcasting: a scalar weight ``w`` gives ``sum(values)``, a
    ``(B, 1)`` weight on ``(B, T)`` losses divides by the B weights' sum, as in Keras);
    ``"sum"`` sums; ``None``/``"none"`` returns the weighted losses. Scalar losses are
    returned as they are, whatever the reduction.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"{user_site()}: loss '{loss}': unknown reduction {reduction!r}: "
                         f"expected one of {list(REDUCTIONS)}")
    values = _float_tensor(values)
    weights = None
    if sample_weight is not None:
        weights = ops.convert_to_tensor(sample_weight, values.type.dtype)
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        while weights.ndim < values.ndim:
            weights = ops.expand_dims(weights, -1)
        if weights.ndim > values.ndim or not all(
                w == 1 or dims_compatible(w, v)
                for w, v in zip(weights.type.shape, values.type.shape)):
            raise _shape_error(loss, f"sample_weight has shape {_shape_str(weights)}, which does "
                                     f"not match the per-sample losses of shape "
                                     f"{_shape_str(values)}; expected one weight per sample "
                                     f"(shape {_shape_str(values)}) or a shape that "
                                     f"broadcasts to it")
        weights = sized_as(weights, tuple(w if w == 1 else v for w, v in
                                          zip(weights.type.shape, values.type.shape)))
        values = ops.multiply(values, weights)
    if reduction in (None, "none") or values.ndim == 0:
        return values
    if reduction == "sum":        # replicated: the global sum's share of the average
        total, replicas = ops.sum(values), collectives.replicas()
        return total if replicas == 1 else ops.multiply(total, float(replicas))
    if reduction == "mean_with_sample_weight" and weights is not None:
        return _divide_no_nan(ops.sum(values), collectives.global_count(ops.sum(weights)))
    return ops.mean(values)


def apply_mask(sample_weight, mask, dtype, reduction):
    """The sample weights with a prediction's ``mask`` (Keras's ``apply_mask``): masked
    entries weigh 0; for a mean, the others ``total / valid`` (0 when nothing is valid),
    so the mean is over the valid entries only; times ``sample_weight`` when given."""
    mask = ops.cast(mask, dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        total = ops.convert_to_tensor(1.0, dtype)
        for axis in range(mask.ndim):                 # the batch and steps may be symbols
            total = ops.multiply(total, ops.dim_size(mask, axis, dtype))
        valid = collectives.global_count(ops.sum(mask))     # replicated: the global batch's
        mask = ops.multiply(mask, _divide_no_nan(total, valid))
    if sample_weight is None:
        return mask
    weights = ops.convert_to_tensor(sample_weight, dtype)
    mask, weights = squeeze_or_expand_to_same_rank(mask, weights)
    while weights.ndim < mask.ndim:              # a (B,) weight for (B, T) steps
        weights = ops.expand_dims(weights, -1)
    return ops.multiply(weights, mask)
