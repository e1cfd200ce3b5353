"""The Metric base and the running means every Keras metric here is built on.

:class:`Metric` gives subclasses state in non-trainable Variables (:meth:`Metric.add_variable`)
and the eager/traced dispatch of ``update_state`` and ``result`` (the rules are
:mod:`.metrics`'s docstring); :class:`Mean` is the weighted running mean (``total`` /
``count``), :class:`MeanMetricWrapper` the running mean of a per-sample function.
"""
from __future__ import annotations

import functools

import numpy as np

from ..ir import as_dtype
from ..ir.builder import user_site
from . import collectives, initializers, ops
from .checks import check_bool, check_number
from .dispatch import eager_or_traced, tracing
from .loss_prepare import _divide_no_nan, apply_mask, squeeze_or_expand_to_same_rank
from .naming import to_snake_case, unique_name
from .nest import map_structure
from .variables import Variable


def _to_numpy_scalar(x):
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


# the methods every subclass gets dispatched (eager or traced), with what their eager
# outputs become
_DUAL_METHODS = {"update_state": None,
                 "result": lambda outputs: map_structure(_to_numpy_scalar, outputs)}


def _summed_over_replicas(update_state):
    """``update_state`` whose changes to the metric's state are summed over the replicas
    of a data-parallel step (:func:`.collectives.summed_update`)."""
    @functools.wraps(update_state)
    def update(self, *args, **kwargs):
        return collectives.summed_update(self.variables,
                                         lambda: update_state(self, *args, **kwargs))
    return update


class Metric:
    """Base of the metrics; see :mod:`.metrics`.

    Subclasses create their state in ``__init__`` with :meth:`add_variable` and define
    ``update_state(...)`` and ``result()`` with ``fg.ops``; both get the eager/traced
    dispatch automatically."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, eager_result in _DUAL_METHODS.items():
            fn = cls.__dict__.get(name)
            if fn is not None and not hasattr(fn, "symbolic"):
                fn = _summed_over_replicas(fn) if name == "update_state" else fn
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
        compatibility: a data-parallel step sums every state variable's changes over the
        replicas, Keras's ``"sum"``, :mod:`.collectives`.)"""
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
        return _divide_no_nan(self.total.read_value(), self.count.read_value())


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
        """As Keras 3: a prediction's mask weighs in only with ``sample_weight`` (masked
        entries weigh 0; no rescaling, the reduction being a sum)."""
        mask = getattr(y_pred, "_keras_mask", None)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        if sample_weight is not None and mask is not None:
            sample_weight = apply_mask(sample_weight, mask, as_dtype(self.dtype), "sum")
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

