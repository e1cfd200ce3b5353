"""``fg.metrics``: stateful metrics with Keras's names, traced into the step graph.

A :class:`Metric` keeps its state in non-trainable :class:`~fusegraph.frontend.variables.Variable`
objects (paths ``<metric name>/<variable name>``, e.g. ``accuracy/total``) made by
:meth:`Metric.add_variable`. Subclasses write ``update_state`` and ``result`` with
``fg.ops`` on symbolic tensors, as in Keras, and both work two ways:

* inside a trace (a traced train step, ``fg.function``; or any symbolic argument),
  ``update_state`` records symbolic variable updates (``assign_add``) that the runtime
  writes back after the step, and ``result()`` returns a symbolic scalar;
* called with numpy arrays (or lists, numbers) outside a trace, each runs eagerly: it
  is traced once per input signature into a :class:`~fusegraph.frontend.function.Function`
  cached on the metric (one per method; the batch axis stays symbolic, so every batch
  size reuses one graph), the variables are updated, and ``result()`` returns a numpy
  scalar. So ``m.update_state(y_true, y_pred); m.result()`` works as in Keras. (The rule
  and the conversion of lists and numbers are :mod:`.dispatch`'s; every argument of
  ``update_state`` is data.)

``reset_state()`` writes each variable's initial value back with numpy, all at once
(inside a trace it assigns them as constants instead).

The accuracy metrics follow Keras 3's per-sample functions; :func:`resolve_accuracy`
picks one for ``metrics=["accuracy"]`` from the target's and the prediction's shapes,
as Keras 3 does.
"""
from __future__ import annotations

import numpy as np

from ..ir import as_dtype
from ..ir.builder import user_site
from ..ir.errors import ShapeError
from ..ir.types import dims_compatible
from . import guards, initializers, losses, ops
from .checks import check_bool, check_number
from .dispatch import eager_or_traced, tracing
from .losses import sized_as, squeeze_or_expand_to_same_rank
from .naming import to_snake_case, unique_name
from .nest import map_structure
from .variables import Variable

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "accuracy",
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "get",
    "resolve_accuracy",
]


def _to_numpy_scalar(x):
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


# the methods every subclass gets dispatched (eager or traced), with what their eager
# outputs become
_DUAL_METHODS = {"update_state": None,
                 "result": lambda outputs: map_structure(_to_numpy_scalar, outputs)}


class Metric:
    """Base of the metrics; see the module docstring.

    Subclasses create their state in ``__init__`` with :meth:`add_variable` and define
    ``update_state(...)`` and ``result()`` with ``fg.ops``; both get the eager/traced
    dispatch automatically."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, eager_result in _DUAL_METHODS.items():
            fn = cls.__dict__.get(name)
            if fn is not None and not hasattr(fn, "symbolic"):
                setattr(cls, name, eager_or_traced(fn, method=True, eager_result=eager_result))

    def __init__(self, name=None, dtype="float32"):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{user_site()}: {type(self).__name__}: `name` must be a string, "
                            f"got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = as_dtype(dtype or "float32").keras_name
        self._variables: list[Variable] = []
        self._initial_values: list[np.ndarray] = []

    # --- state ------------------------------------------------------------------------
    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        """A non-trainable Variable at ``<metric name>/<name>``; ``reset_state`` restores
        the value ``initializer`` gives now. (``aggregation`` is accepted for Keras
        compatibility; there is one replica.)"""
        if "_variables" not in self.__dict__:
            raise RuntimeError(f"{user_site()}: {type(self).__name__}.__init__ did not call "
                               f"super().__init__() before add_variable(): call it first (it "
                               f"sets the metric's name, dtype and variables)")
        dtype = dtype or self.dtype
        name = name or f"variable_{len(self._variables)}"
        value = np.asarray(initializers.get(initializer)(tuple(shape), dtype))
        variable = Variable(value, name, f"{self.name}/{name}", trainable=False, dtype=dtype)
        self._variables.append(variable)
        self._initial_values.append(variable.numpy())
        return variable

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name=None):
        """Keras's older name for :meth:`add_variable`."""
        return self.add_variable(shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables)

    def reset_state(self) -> None:
        """Every variable back to its initial value: numpy assignments, all at once (as
        symbolic constants inside a trace, so they are part of that step)."""
        if tracing():
            for variable, value in zip(self._variables, self._initial_values):
                variable.assign(ops.convert_to_tensor(value, variable.dtype))
            return
        for variable, value in zip(self._variables, self._initial_values):
            variable.assign(value)

    def reset_states(self) -> None:
        self.reset_state()

    # --- the metric ---------------------------------------------------------------------
    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"metric {type(self).__name__} must implement update_state()")

    def result(self):
        raise NotImplementedError(f"metric {type(self).__name__} must implement result()")

    def __call__(self, *args, **kwargs):
        """Update with one batch, then return the result (Keras's ``metric(y, p)``)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        """A new metric of this class from :meth:`get_config`'s dict (Keras's rule:
        ``cls(**config)``), with fresh state."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


# --- means ------------------------------------------------------------------------------
def _samplewise(values, sample_weight, dtype):
    """Keras's reduce_to_samplewise_values: per-sample values (mean over the non-batch
    axes) and per-sample weights (None when not given)."""
    values = ops.cast(ops.convert_to_tensor(values), dtype)
    weights = None
    if sample_weight is not None:
        weights = ops.convert_to_tensor(sample_weight, dtype)
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        if values.ndim > weights.ndim:
            values = ops.mean(values, axis=tuple(range(weights.ndim, values.ndim)))
        if weights.type.shape != values.type.shape:
            weights = ops.broadcast_to(weights, values.type.shape)
        values = ops.multiply(values, weights)
        if weights.ndim > 1:
            weights = ops.mean(weights, axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = ops.mean(values, axis=tuple(range(1, values.ndim)))
    return values, weights


class Mean(Metric):
    """The (weighted) running mean of values: variables ``total`` and ``count``;
    ``result() = total / count`` (0 while ``count`` is 0). Values of rank > 1 are first
    averaged per sample; without weights each sample counts 1, with weights the weights
    are summed into ``count``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, values, sample_weight=None):
        values, weights = _samplewise(values, sample_weight, self.dtype)
        self.total.assign_add(ops.sum(values))
        if weights is not None:
            n = ops.sum(weights)
        elif values.ndim >= 1:
            n = ops.dim_size(values, 0, self.dtype)  # the (maybe symbolic) batch size
        else:
            n = 1.0
        self.count.assign_add(n)

    def result(self):
        return losses._divide_no_nan(self.total.read_value(), self.count.read_value())


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"{user_site()}: MeanMetricWrapper: `fn` must be a function "
                            f"fn(y_true, y_pred), got {fn!r}")
        owner = f"{user_site()}: {type(self).__name__}"
        if "from_logits" in kwargs:
            check_bool(owner, "from_logits", kwargs["from_logits"])
        if "label_smoothing" in kwargs:
            check_number(owner, "label_smoothing", kwargs["label_smoothing"], low=0.0, high=1.0)
        super().__init__(name=name or unique_name("mean_metric_wrapper"), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict):
        """Subclasses (``Accuracy``, ...) take their config; a plain wrapper's function is
        not in its config, so copy one with :func:`fresh_copy` instead."""
        if cls is MeanMetricWrapper:
            raise TypeError("a MeanMetricWrapper's config does not hold its function; "
                            "create it as MeanMetricWrapper(fn, **config)")
        return cls(**config)


# --- accuracy functions (per sample) -------------------------------------------------------
def _shape_str(t) -> str:
    return losses._shape_str(t)


def _like(y_true, dims: tuple):
    """``y_true`` typed with ``dims`` when its shape is compatible with them (a fixed
    length against a symbolic one: :func:`.losses.sized_as`); as it is otherwise, for the
    comparison's shape rule to judge."""
    if y_true.ndim == len(dims) and all(map(dims_compatible, y_true.type.shape, dims)):
        return sized_as(y_true, dims)
    return y_true


def accuracy(y_true, y_pred):
    """mean(y_true == y_pred, axis=-1): exact matches (labels against labels)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.type.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_true = _like(y_true, y_pred.type.shape)
    return ops.mean(ops.cast(ops.equal(y_true, y_pred), "float32"), axis=-1)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """mean(y_true == (y_pred > threshold), axis=-1)."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_true = _like(y_true, y_pred.type.shape)
    predicted = ops.cast(ops.greater(y_pred, threshold), y_true.type.dtype)
    return ops.mean(ops.cast(ops.equal(y_true, predicted), "float32"), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """argmax(y_true) == argmax(y_pred) over the last axis: one value per sample."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if y_true.ndim != y_pred.ndim or not all(map(dims_compatible, y_true.type.shape,
                                                 y_pred.type.shape)):
        raise ShapeError(f"{user_site()}: metric 'categorical_accuracy': y_true has shape "
                         f"{_shape_str(y_true)} but y_pred has shape {_shape_str(y_pred)}; "
                         f"expected one-hot targets of shape {_shape_str(y_pred)} (for "
                         f"integer labels use sparse_categorical_accuracy)")
    y_true = sized_as(y_true, y_pred.type.shape)
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)),
                    "float32")


def sparse_categorical_accuracy(y_true, y_pred):
    """y_true == argmax(y_pred, axis=-1) with integer (or float) labels of shape
    ``y_pred.shape[:-1]`` or that plus a trailing 1."""
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.ndim >= 1 and y_true.type.shape[-1] == 1:
        y_true = ops.squeeze_axes(y_true, (-1,))
    expected = y_pred.type.shape[:-1]
    if y_true.ndim != len(expected) or not all(map(dims_compatible, y_true.type.shape,
                                                   expected)):
        raise ShapeError(f"{user_site()}: metric 'sparse_categorical_accuracy': y_true has "
                         f"shape {_shape_str(y_true)}; expected integer class indices of "
                         f"shape {tuple(y_pred.shape[:-1])} or {tuple(y_pred.shape[:-1]) + (1,)} "
                         f"for y_pred of shape {_shape_str(y_pred)}")
    y_true = sized_as(y_true, expected)
    if isinstance(y_pred.type.shape[-1], int):
        guards.require_class_indices(y_true, y_pred.type.shape[-1],
                                     "metric 'sparse_categorical_accuracy'")
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), y_true.type.dtype)
    return ops.cast(ops.equal(y_true, predicted), "float32")


# --- metric classes --------------------------------------------------------------------------
class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is not None and (
                isinstance(threshold, bool)
                or not isinstance(threshold, (int, float, np.integer, np.floating))
                or not 0 < threshold < 1):
            raise ValueError(f"{user_site()}: BinaryAccuracy: threshold must be in (0, 1), "
                             f"got {threshold!r}")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, axis=axis)


class KLDivergence(MeanMetricWrapper):
    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(losses.kl_divergence, name=name, dtype=dtype)


# --- lookup ------------------------------------------------------------------------------------
_CLASSES = {cls.__name__: cls for cls in (
    Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence)}
_BY_NAME = {
    "accuracy": Accuracy, "acc": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kld": KLDivergence, "kl_divergence": KLDivergence,
    **_CLASSES,
}


def check_identifier(identifier) -> None:
    """Raise what :func:`get` would raise for ``identifier``, without creating a metric
    (``compile`` checks its metrics before the first step creates them)."""
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc") or identifier in _BY_NAME:
            return
        raise ValueError(f"{user_site()}: unknown metric {identifier!r}: expected a Metric, "
                         f"a callable(y_true, y_pred) or one of {sorted(_BY_NAME)}")
    if isinstance(identifier, Metric) or callable(identifier):
        return
    raise TypeError(f"{user_site()}: a metric must be a name, a Metric or a callable(y_true, "
                    f"y_pred), got {identifier!r}")


def fresh_copy(metric: Metric, name: str | None = None) -> Metric:
    """A new metric of ``metric``'s class and config (so zero state and variables of its
    own), named ``name`` (default: the same name). ``metric`` is not changed. A TypeError
    says how to fix a class whose ``get_config`` does not give its constructor's
    arguments."""
    config = metric.get_config()
    if name is not None:
        config["name"] = name
    try:
        if type(metric) is MeanMetricWrapper:
            kwargs = {k: v for k, v in config.items() if k not in ("name", "dtype")}
            return MeanMetricWrapper(metric._fn, name=config["name"], dtype=config["dtype"],
                                     **kwargs)
        return type(metric).from_config(config)
    except TypeError as e:
        raise TypeError(f"cannot copy metric {metric.name!r} ({type(metric).__name__}) as "
                        f"{type(metric).__name__}.from_config(get_config()): {e}; give it a "
                        f"get_config() returning its constructor's arguments (and a "
                        f"from_config() if they are not plain values)") from None


def get(identifier) -> Metric:
    """A Metric from a name, a Metric class or instance, or a per-sample function
    ``fn(y_true, y_pred)`` (a :class:`MeanMetricWrapper` named after it).

    A snake-case name gives a new metric named as written, as ``compile`` names it in the
    logs (``"mse"`` logs as ``mse``); a class name (``"BinaryAccuracy"``) gives the
    class's default name. ``"accuracy"`` here is :class:`Accuracy` (exact matches); use
    :func:`resolve_accuracy` to choose by the shapes, as ``compile`` does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    check_identifier(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier, Accuracy)   # "ACC", "Accuracy": exact matches too
        return cls() if identifier in _CLASSES else cls(name=identifier)
    return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None) or None)


def _loss_kind(loss) -> str | None:
    """"binary", "sparse", "categorical" or None for a loss given any way compile takes."""
    kinds = {losses.binary_crossentropy: "binary",
             losses.sparse_categorical_crossentropy: "sparse",
             losses.categorical_crossentropy: "categorical"}
    if loss is None:
        return None
    if isinstance(loss, str):
        cls = losses._BY_NAME.get(loss)
        return kinds.get(losses.FUNCTIONS.get(cls)) if cls is not None else None
    if isinstance(loss, type):
        for cls, fn in losses.FUNCTIONS.items():
            if issubclass(loss, cls):
                return kinds.get(fn)
        return None
    if isinstance(loss, losses.LossFunctionWrapper):
        return kinds.get(loss.fn)
    return kinds.get(loss) if callable(loss) else None


def _int_dim(shape, i):
    """``shape[i]`` when it is a known int (not a symbol), else None."""
    d = shape[i] if shape else None
    return d if isinstance(d, (int, np.integer)) and not isinstance(d, bool) else None


def resolve_accuracy(identifier, loss, output_shape, target_shape=None) -> Metric:
    """The metric ``compile(metrics=["accuracy"])`` means for an output, named as written
    (``"accuracy"``, ``"acc"``); other identifiers go to :func:`get`.

    With the target's shape known (``compile`` resolves on the first step, from the
    traced batch) this is Keras 3's rule (``compile_utils.get_metric``), by shapes only:
    :class:`BinaryAccuracy` when the prediction's last dim is 1; else
    :class:`SparseCategoricalAccuracy` when the target has a lower rank than the
    prediction, or a last dim of 1 against several classes; else
    :class:`CategoricalAccuracy`. Without the target's shape, the loss decides (binary,
    sparse or categorical cross-entropy; a last dim of 1 is binary), and
    :class:`Accuracy` (exact matches) is left for the rest."""
    if not (isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc")):
        return get(identifier)
    name = identifier
    output_shape = None if output_shape is None else tuple(output_shape)
    last = _int_dim(output_shape, -1)
    if target_shape is not None and output_shape is not None:
        target_shape = tuple(target_shape)
        if last == 1:
            return BinaryAccuracy(name=name)
        target_last = _int_dim(target_shape, -1)
        if len(target_shape) < len(output_shape) or (
                target_last == 1 and last is not None and last > 1):
            return SparseCategoricalAccuracy(name=name)
        return CategoricalAccuracy(name=name)
    kind = _loss_kind(loss)
    if kind == "binary" or last == 1:
        return BinaryAccuracy(name=name)
    if kind == "sparse":
        return SparseCategoricalAccuracy(name=name)
    if kind == "categorical":
        return CategoricalAccuracy(name=name)
    return Accuracy(name=name)
