"""``fg.losses``: Keras's losses, traced into the step graph.

Two forms, as in Keras:

* functions (``mean_squared_error(y_true, y_pred)``, ...) give one loss per sample:
  the mean (or, for cross-entropies, the sum) over the last axis, shape ``y_pred.shape[:-1]``;
* :class:`Loss` objects (``MeanSquaredError()``, ...) reduce those to one scalar:
  ``__call__(y_true, y_pred, sample_weight=None)`` weights the per-sample losses and
  divides their sum by their number (Keras's ``"sum_over_batch_size"``), computed with
  ``fg.ops.mean`` so the batch size may be symbolic.

Both work on symbolic tensors (the usual case: the runtime traces the loss into the
train step) and, like Keras, on numpy arrays outside a trace: then the loss is traced
once per input signature and run through a cached
:class:`~fusegraph.frontend.function.Function` (the first axis stays symbolic, so other
batch sizes reuse the graph; see :mod:`.dispatch` for the rule and for how lists and
Python numbers become arrays), and the result is a numpy array.

Numerics follow Keras 3 (see KERAS_COMPAT.md, "Losses and logs"):

* from logits, binary cross-entropy is ``max(x, 0) - x*z + log1p(exp(-|x|))``, finite
  for any logit; categorical is ``-sum(z * log_softmax(x))``;
* from probabilities, predictions are clipped to ``[1e-7, 1 - 1e-7]``; categorical
  (and sparse) first rescale the predictions to sum to 1 over the class axis, as
  Keras's backends do;
* label smoothing: binary ``z*(1-s) + s/2``; categorical ``z*(1-s) + s/num_classes``;
* ``kl_divergence`` clips both distributions to ``[1e-7, 1]``.

Targets and predictions are first brought to the same rank as Keras does (a trailing
axis of size 1 is squeezed or added: targets ``(B,)`` with predictions ``(B, 1)`` work).
Targets whose shape still disagrees raise :class:`~fusegraph.ir.errors.ShapeError` at
trace time naming the loss, the user's line, the expected and the given shapes (Keras
would sometimes broadcast such targets silently, e.g. ``(B, 1)`` against ``(B, 3)``
for ``mse``; that is almost always a bug, so fusegraph refuses it).

``get(identifier)`` always returns a :class:`Loss` object (Keras returns the function
for snake-case names); a compiled model needs the reducing object anyway, and the
function forms stay reachable by name in this module.
"""
from __future__ import annotations

import numpy as np

from ..ir import Sym
from ..ir.builder import user_site
from ..ir.errors import ShapeError
from ..ir.types import dims_compatible
from . import guards, nn, ops
from .checks import check_bool, check_number
from .dispatch import eager_or_traced
from .naming import to_snake_case, unique_name
from .tensor import is_symbolic
from .variables import Variable

EPSILON = 1e-7  # keras.backend.epsilon()

__all__ = [
    "EPSILON", "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "KLDivergence", "mean_squared_error", "mean_absolute_error", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "mse",
    "mae", "kld", "MSE", "MAE", "KLD", "kullback_leibler_divergence", "get", "squeeze_or_expand_to_same_rank", "reduce_weighted_values",
]

REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None)


# --- helpers ------------------------------------------------------------------------
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


def _log_probs(y_pred, axis: int, from_logits: bool):
    """log of the class probabilities: log_softmax of logits, or the log of the rescaled,
    clipped probabilities."""
    if from_logits:
        return nn.log_softmax(y_pred, axis=axis)
    probs = ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True))
    return ops.log(ops.clip(probs, EPSILON, 1.0 - EPSILON))


# --- per-sample functions -----------------------------------------------------------
@eager_or_traced(data=("y_true", "y_pred"))  # the other arguments are static
def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred)^2, axis=-1): one value per sample."""
    y_true, y_pred = _prepare("mean_squared_error", y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|, axis=-1): one value per sample."""
    y_true, y_pred = _prepare("mean_absolute_error", y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)


@eager_or_traced(data=("y_true", "y_pred"))
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy of each element, averaged over ``axis`` (the last)."""
    name = "binary_crossentropy"
    y_true, y_pred = _prepare(name, y_true, y_pred)
    axis = _class_axis(name, y_pred, axis)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        # max(x, 0) - x*z + log(1 + e^-|x|): no exp of a large positive number
        x = y_pred
        elementwise = ops.add(ops.subtract(ops.maximum(x, 0.0), ops.multiply(x, y_true)),
                              ops.log1p(ops.exp(ops.negative(ops.abs(x)))))
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        elementwise = ops.negative(ops.add(
            ops.multiply(y_true, ops.log(p)),
            ops.multiply(ops.subtract(1.0, y_true), ops.log(ops.subtract(1.0, p)))))
    return ops.mean(elementwise, axis=axis)


@eager_or_traced(data=("y_true", "y_pred"))
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log p, axis): one value per sample; ``y_true`` one-hot (or any
    distribution) of the same shape as ``y_pred``."""
    name = "categorical_crossentropy"
    y_pred = _float_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if (y_true.ndim == y_pred.ndim and y_pred.ndim >= 1
            and not all(map(dims_compatible, y_true.type.shape, y_pred.type.shape))
            and all(map(dims_compatible, y_true.type.shape[:-1], y_pred.type.shape[:-1]))):
        raise _shape_error(name, f"y_true has {y_true.type.shape[-1]} classes (shape "
                                 f"{_shape_str(y_true)}) but y_pred has {y_pred.type.shape[-1]} "
                                 f"(shape {_shape_str(y_pred)}); expected one-hot targets of "
                                 f"shape {_shape_str(y_pred)}"
                                 + ("; for integer class labels in a (batch_size, 1) array use "
                                    "sparse_categorical_crossentropy"
                                    if y_true.type.shape[-1] == 1 else ""))
    y_true, y_pred = _prepare(name, y_true, y_pred,
                              hint="; for integer class labels use "
                                   "sparse_categorical_crossentropy")
    axis = _class_axis(name, y_pred, axis)
    if label_smoothing:
        num_classes = y_pred.type.shape[axis]
        if isinstance(num_classes, Sym):
            raise _shape_error(name, f"label_smoothing needs the number of classes, but axis "
                                     f"{axis} of y_pred {_shape_str(y_pred)} has unknown size")
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing),
                         label_smoothing / num_classes)
    return ops.negative(ops.sum(ops.multiply(y_true, _log_probs(y_pred, axis, from_logits)),
                                axis=axis))


@eager_or_traced(data=("y_true", "y_pred"))
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Categorical cross-entropy with integer class labels: ``y_true`` of shape
    ``y_pred.shape`` without the class axis, or with it of size 1 (``(B,)`` or ``(B, 1)``
    for ``(B, C)`` predictions); int or float labels. Labels must be in ``[0, C)``: the
    graph cannot raise on values (such a label's one-hot row is empty, a loss of 0), so
    labels that are an argument of the traced function are checked on the host before
    each run (:func:`.guards.require_class_indices`), as Keras raises."""
    name = "sparse_categorical_crossentropy"
    if ignore_class is not None:
        raise NotImplementedError(f"{user_site()}: loss '{name}': ignore_class is not "
                                  f"supported yet; mask the labels with sample_weight instead")
    y_pred = _float_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    axis = _class_axis(name, y_pred, axis)
    if y_true.ndim == y_pred.ndim and y_true.type.shape[-1] == 1:
        y_true = ops.squeeze_axes(y_true, (-1,))
    expected = y_pred.type.shape[:axis] + y_pred.type.shape[axis + 1:]
    if y_true.ndim != len(expected) or not all(map(dims_compatible, y_true.type.shape,
                                                    expected)):
        shown = tuple(None if isinstance(d, Sym) else d for d in expected)
        with_one = shown[:axis] + (1,) + shown[axis:] if axis == y_pred.ndim - 1 else None
        alternatives = f"{shown}" + (f" or {with_one}" if with_one else "")
        raise _shape_error(name, f"y_true has shape {_shape_str(y_true)}; expected integer "
                                 f"class indices of shape {alternatives} for y_pred of shape "
                                 f"{_shape_str(y_pred)}"
                                 + ("; for one-hot targets use categorical_crossentropy"
                                    if y_true.ndim == y_pred.ndim else ""))
    y_true = sized_as(y_true, expected)
    labels = y_true if y_true.type.dtype.is_int else ops.cast(y_true, "int32")
    num_classes = y_pred.type.shape[axis]
    if isinstance(num_classes, Sym):
        raise _shape_error(name, f"the class axis {axis} of y_pred {_shape_str(y_pred)} has "
                                 f"unknown size; expected a known number of classes")
    guards.require_class_indices(y_true, num_classes, f"loss '{name}'")
    log_probs = _log_probs(y_pred, axis, from_logits)
    one_hot = ops.one_hot(labels, num_classes, axis=axis, dtype=y_pred.dtype)
    return ops.negative(ops.sum(ops.multiply(one_hot, log_probs), axis=axis))


@eager_or_traced(data=("y_true", "y_pred"))
def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [1e-7, 1]."""
    y_true, y_pred = _prepare("kl_divergence", y_true, y_pred)
    y_true = ops.clip(y_true, EPSILON, 1.0)
    y_pred = ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence = kl_divergence


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
    ``"mean_with_sample_weight"`` divides by the sum of the weights; ``"sum"`` sums;
    ``None``/``"none"`` returns the weighted losses.
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
    if reduction == "sum":
        return ops.sum(values)
    if reduction == "mean_with_sample_weight" and weights is not None:
        return _divide_no_nan(ops.sum(values),
                              ops.sum(ops.broadcast_to(weights, values.type.shape)))
    return ops.mean(values)


# --- Loss objects -------------------------------------------------------------------
class Loss:
    """Base of the loss objects: subclasses implement ``call(y_true, y_pred)`` returning
    per-sample losses; ``__call__`` weights and reduces them (see
    :func:`reduce_weighted_values`). ``y_pred`` is cast to ``dtype`` (float32) first."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{user_site()}: invalid reduction {reduction!r} for loss "
                             f"{type(self).__name__}: expected one of {list(REDUCTIONS)}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.reduction = reduction
        self.dtype = dtype or "float32"

    @eager_or_traced(method=True, name=lambda loss: loss.name)
    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _float_tensor(y_pred, self.dtype)
        values = self.call(y_true, y_pred)
        if not _is_numeric(values):
            raise TypeError(f"{user_site()}: loss '{self.name}': call(y_true, y_pred) returned "
                            f"{values!r:.80}; expected the per-sample losses, a float tensor "
                            f"(made with fg.ops)")
        return reduce_weighted_values(values, sample_weight, self.reduction, self.name)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"loss {type(self).__name__} must implement "
                                  f"call(y_true, y_pred) returning per-sample losses")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name} reduction={self.reduction}>"


def _is_numeric(x) -> bool:
    """A tensor, a variable, or numbers (a Python or numpy number or array)."""
    if is_symbolic(x) or isinstance(x, Variable):
        return True
    try:
        return np.asarray(x).dtype.kind in "biuf"
    except (TypeError, ValueError):   # a ragged list
        return False


def _check_crossentropy_args(loss, from_logits, label_smoothing, axis) -> None:
    """A cross-entropy's ``from_logits`` (a bool), ``label_smoothing`` (in [0, 1]) and
    ``axis`` (an int); a ``TypeError``/``ValueError`` naming the loss class otherwise."""
    owner = f"{user_site()}: {type(loss).__name__}"
    check_bool(owner, "from_logits", from_logits)
    if label_smoothing is not None:
        check_number(owner, "label_smoothing", label_smoothing, 0, 1)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{owner}: `axis` must be an int, got {axis!r}")


class LossFunctionWrapper(Loss):
    """A Loss from a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        _check_crossentropy_args(self, from_logits, label_smoothing, axis)
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        _check_crossentropy_args(self, from_logits, label_smoothing, axis)
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None, axis=-1):
        if ignore_class is not None:
            raise NotImplementedError(f"{user_site()}: SparseCategoricalCrossentropy: "
                                      f"ignore_class is not supported yet; mask the labels "
                                      f"with sample_weight instead")
        _check_crossentropy_args(self, from_logits, None, axis)
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, from_logits=from_logits, axis=axis)
        self.from_logits, self.axis = from_logits, axis


class KLDivergence(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


# --- lookup -------------------------------------------------------------------------
_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence)}
_BY_NAME = {
    "mse": MeanSquaredError, "MSE": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kld": KLDivergence, "KLD": KLDivergence, "kl_divergence": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    **_CLASSES,
}
# the function each Loss class wraps, for code that recognizes a loss by its kind
FUNCTIONS = {MeanSquaredError: mean_squared_error, MeanAbsoluteError: mean_absolute_error,
             BinaryCrossentropy: binary_crossentropy,
             CategoricalCrossentropy: categorical_crossentropy,
             SparseCategoricalCrossentropy: sparse_categorical_crossentropy,
             KLDivergence: kl_divergence}


def get(identifier):
    """A :class:`Loss` object from a Keras name (``"mse"``, ``"binary_crossentropy"``,
    ``"BinaryCrossentropy"``, ...), a Loss class or instance, or a per-sample function
    ``fn(y_true, y_pred)`` (wrapped, named after the function). None gives None.

    A string gives a new object with the Keras name of its loss
    (``get("mse").name == "mean_squared_error"``)."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"{user_site()}: unknown loss {identifier!r}: expected a Loss, a "
                             f"callable(y_true, y_pred) or one of {sorted(_BY_NAME)}")
        return cls()
    if callable(identifier):
        for cls, fn in FUNCTIONS.items():
            if identifier is fn:
                return cls()
        return LossFunctionWrapper(identifier)
    raise TypeError(f"{user_site()}: a loss must be a name, a Loss or a callable(y_true, "
                    f"y_pred), got {identifier!r}")
