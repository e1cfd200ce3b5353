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
* ``kl_divergence`` clips both distributions to ``[1e-7, 1]``;
* the focal cross-entropies compute probabilities first (``softmax``/``sigmoid`` of
  logits), as Keras does, then the clipped cross-entropy times the focal factor.

Targets and predictions are first brought to the same rank as Keras does (a trailing
axis of size 1 is squeezed or added: targets ``(B,)`` with predictions ``(B, 1)`` work).
Targets whose shape still disagrees raise :class:`~fusegraph.ir.errors.ShapeError` at
trace time naming the loss, the user's line, the expected and the given shapes (Keras
would sometimes broadcast such targets silently, e.g. ``(B, 1)`` against ``(B, 3)``
for ``mse``; that is almost always a bug, so fusegraph refuses it).

``get(identifier)`` always returns a :class:`Loss` object (Keras returns the function
for snake-case names); a compiled model needs the reducing object anyway, and the
function forms stay reachable by name in this module.

The pieces: :mod:`.loss_prepare` (shape alignment, weighting and reduction),
:mod:`.loss_functions` (the per-sample functions); this module holds the Loss objects
and the lookup by name.
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site
from .checks import check_bool, check_number
from .dispatch import eager_or_traced
from .loss_functions import (  # noqa: F401
    KLD, MAE, MAPE, MSE, MSLE, binary_crossentropy, binary_focal_crossentropy,
    categorical_crossentropy, categorical_focal_crossentropy, categorical_hinge,
    cosine_similarity, hinge, huber, kl_divergence, kld,
    kullback_leibler_divergence, log_cosh, logcosh, mae, mape, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error, mse,
    msle, poisson, sparse_categorical_crossentropy, squared_hinge)
from .loss_prepare import (  # noqa: F401
    EPSILON, REDUCTIONS, _float_tensor, apply_mask, reduce_weighted_values, sized_as,
    squeeze_or_expand_to_same_rank)
from .naming import to_snake_case, unique_name
from .tensor import is_symbolic
from .variables import Variable

__all__ = [
    "EPSILON", "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "KLDivergence", "mean_squared_error", "mean_absolute_error", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "mse",
    "mae", "kld", "MSE", "MAE", "KLD", "kullback_leibler_divergence", "get",
    "squeeze_or_expand_to_same_rank", "reduce_weighted_values",
    "Huber", "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge", "Poisson",
    "CosineSimilarity", "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError",
    "huber", "log_cosh", "logcosh", "hinge", "squared_hinge", "categorical_hinge", "poisson",
    "cosine_similarity", "mean_squared_logarithmic_error", "mean_absolute_percentage_error",
    "msle", "MSLE", "mape", "MAPE", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy",
    "binary_focal_crossentropy", "categorical_focal_crossentropy",
]


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
        mask = getattr(y_pred, "_keras_mask", None)
        y_pred = _float_tensor(y_pred, self.dtype)
        values = self.call(y_true, y_pred)
        if not _is_numeric(values):
            raise TypeError(f"{user_site()}: loss '{self.name}': call(y_true, y_pred) returned "
                            f"{values!r:.80}; expected the per-sample losses, a float tensor "
                            f"(made with fg.ops)")
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, _float_tensor(values).type.dtype,
                                       self.reduction)
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


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Focal binary cross-entropy (:func:`binary_focal_crossentropy`): down-weights easy
    examples by ``(1 - p_t)^gamma``; ``apply_class_balancing`` weighs positives by
    ``alpha`` and negatives by ``1 - alpha``."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        _check_crossentropy_args(self, from_logits, label_smoothing, axis)
        owner = f"{user_site()}: {type(self).__name__}"
        check_bool(owner, "apply_class_balancing", apply_class_balancing)
        check_number(owner, "alpha", alpha, 0, 1)
        check_number(owner, "gamma", gamma, 0, None)
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Focal categorical cross-entropy (:func:`categorical_focal_crossentropy`) of one-hot
    targets: ``alpha * (1 - p)^gamma`` times the cross-entropy of each class; ``alpha`` a
    number or one weight per class."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
                 dtype=None):
        _check_crossentropy_args(self, from_logits, label_smoothing, axis)
        owner = f"{user_site()}: {type(self).__name__}"
        if isinstance(alpha, (list, tuple, np.ndarray)):
            for weight in np.ravel(np.asarray(alpha, dtype=object)):
                check_number(owner, "alpha", weight, 0, None)
            alpha = tuple(float(weight) for weight in np.ravel(alpha))
        else:
            check_number(owner, "alpha", alpha, 0, None)
        check_number(owner, "gamma", gamma, 0, None)
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


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


class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        check_number(type(self).__name__, "delta", delta, 0, None)
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=float(delta))


class LogCosh(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class Hinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        _check_crossentropy_args(self, False, None, axis)
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype,
                         axis=axis)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error",
                 dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name,
                         dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error",
                 dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name,
                         dtype=dtype)


# --- lookup -------------------------------------------------------------------------
_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, Huber, LogCosh, Hinge, SquaredHinge,
    CategoricalHinge, Poisson, CosineSimilarity, MeanSquaredLogarithmicError,
    MeanAbsolutePercentageError, BinaryFocalCrossentropy, CategoricalFocalCrossentropy)}
_BY_NAME = {
    "mse": MeanSquaredError, "MSE": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kld": KLDivergence, "KLD": KLDivergence, "kl_divergence": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "huber": Huber, "huber_loss": Huber, "log_cosh": LogCosh, "logcosh": LogCosh,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "poisson": Poisson, "cosine_similarity": CosineSimilarity,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    **_CLASSES,
}
# the function each Loss class wraps, for code that recognizes a loss by its kind
FUNCTIONS = {MeanSquaredError: mean_squared_error, MeanAbsoluteError: mean_absolute_error,
             BinaryCrossentropy: binary_crossentropy,
             CategoricalCrossentropy: categorical_crossentropy,
             SparseCategoricalCrossentropy: sparse_categorical_crossentropy,
             KLDivergence: kl_divergence, Huber: huber, LogCosh: log_cosh, Hinge: hinge,
             SquaredHinge: squared_hinge, CategoricalHinge: categorical_hinge, Poisson: poisson,
             CosineSimilarity: cosine_similarity,
             MeanSquaredLogarithmicError: mean_squared_logarithmic_error,
             MeanAbsolutePercentageError: mean_absolute_percentage_error,
             BinaryFocalCrossentropy: binary_focal_crossentropy,
             CategoricalFocalCrossentropy: categorical_focal_crossentropy}


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