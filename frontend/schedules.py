"""``fg.optimizers.schedules``: learning rates that change with the optimizer step.

A schedule is called with the step. Inside a trace (the optimizer's update inside a
train step or ``fg.function``) the step is a symbolic tensor and the schedule emits IR,
so the learning rate is computed in the step graph from the optimizer's ``iterations``
variable and one compiled step serves every step. Called with a Python or numpy number
it returns a ``numpy.float32``, computed in float32 as the graph computes it.

The formulas are Keras 3's (``keras.optimizers.schedules``): the step is cast to the
float32 dtype of the learning rate first. Keras chooses the warmup or decay branch of
:class:`CosineDecay` with ``cond``; here both are computed and ``where`` picks one
(the warmup branch divides by ``max(warmup_steps, 1)`` so the unused branch is finite).
"""
from __future__ import annotations

import math

import numpy as np

from . import ops, state
from .checks import check_bool, check_number
from .tensor import is_symbolic
from .variables import Variable


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step)`` (and ``get_config`` to be
    serializable). ``step`` may be symbolic (an int or float scalar tensor) or a number;
    :func:`_prepare` turns it into float32 and picks the matching math functions."""

    def __call__(self, step):
        raise NotImplementedError(f"learning rate schedule '{type(self).__name__}' must "
                                  f"override `__call__(self, step)`")

    def get_config(self) -> dict:
        raise NotImplementedError(f"learning rate schedule '{type(self).__name__}' must "
                                  f"override `get_config()` to be serializable")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class _NumpyMath:
    """The few math functions schedules use, in float32 numpy (mirrors ``fg.ops``)."""

    cos = staticmethod(np.cos)
    floor = staticmethod(np.floor)
    minimum = staticmethod(np.minimum)
    power = staticmethod(np.power)
    where = staticmethod(np.where)

    @staticmethod
    def const(x):
        return np.float32(x)


class _SymbolicMath:
    cos = staticmethod(ops.cos)
    floor = staticmethod(ops.floor)
    minimum = staticmethod(ops.minimum)
    power = staticmethod(ops.power)
    where = staticmethod(ops.where)

    @staticmethod
    def const(x):
        return ops.convert_to_tensor(x, "float32")


def _prepare(step):
    """(step as float32, math namespace, whether symbolic). A Variable is read: its
    symbolic value inside a trace, its array outside."""
    if isinstance(step, Variable):
        step = step.read_value() if state.current() is not None else step.numpy()
    if is_symbolic(step):
        if step.ndim != 0:
            raise ValueError(f"a learning rate schedule's step must be a scalar, got a tensor "
                             f"of shape {step.shape}")
        return ops.cast(step, "float32"), _SymbolicMath, True
    array = np.asarray(step)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        raise ValueError(f"a learning rate schedule's step must be a scalar number or a "
                         f"scalar tensor, got {step!r}")
    return np.float32(array), _NumpyMath, False


def _finish(value, symbolic):
    return value if symbolic else np.float32(value)


def _check_rate(owner: str, key: str, value) -> None:
    """A learning rate (or warmup target): a finite number >= 0."""
    check_number(owner, key, value, low=0.0)


def _check_steps(owner: str, value) -> None:
    """``decay_steps``: a finite number > 0 (Keras's wording of the error)."""
    check_number(owner, "decay_steps", value, low=0.0, open_low=True)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase``
    the exponent is floored (the rate drops every ``decay_steps`` steps)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        _check_rate("ExponentialDecay", "initial_learning_rate", initial_learning_rate)
        _check_steps("ExponentialDecay", decay_steps)
        # a rate <= 0 has no real power of a fractional step: NaN learning rates
        check_number("ExponentialDecay", "decay_rate", decay_rate, low=0.0, open_low=True)
        check_bool("ExponentialDecay", "staircase", staircase)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        step, m, symbolic = _prepare(step)
        p = step / m.const(self.decay_steps)
        if self.staircase:
            p = m.floor(p)
        rate = m.power(m.const(self.decay_rate), p)
        return _finish(m.const(self.initial_learning_rate) * rate, symbolic)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warmup (SGDR, Loshchilov & Hutter).

    Without ``warmup_target``: ``lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps))
    + alpha)`` with ``s = min(step, decay_steps)``. With it: for ``step < warmup_steps`` a
    line from ``lr0`` to ``warmup_target``; then the same decay from ``warmup_target``
    over ``step - warmup_steps`` (the step capped at ``warmup_steps + decay_steps``).
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_rate("CosineDecay", "initial_learning_rate", initial_learning_rate)
        _check_steps("CosineDecay", decay_steps)
        check_number("CosineDecay", "alpha", alpha, low=0.0, high=1.0)
        if warmup_target is not None:
            _check_rate("CosineDecay", "warmup_target", warmup_target)
        check_number("CosineDecay", "warmup_steps", warmup_steps, low=0.0)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name if name is not None else "CosineDecay"
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, m, step, decay_steps, decay_from):
        fraction = step / decay_steps
        cosine = 0.5 * (1.0 + m.cos(m.const(math.pi) * fraction))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step, m, symbolic = _prepare(step)
        lr0 = m.const(self.initial_learning_rate)
        decay_steps = m.const(self.decay_steps)
        if self.warmup_target is None:
            step = m.minimum(step, decay_steps)
            return _finish(self._decay(m, step, decay_steps, lr0), symbolic)
        target = m.const(self.warmup_target)
        warmup_steps = m.const(self.warmup_steps)
        step = m.minimum(step, decay_steps + warmup_steps)
        warmup = (target - lr0) * (step / m.const(max(self.warmup_steps, 1))) + lr0
        decay = self._decay(m, step - warmup_steps, decay_steps, target)
        return _finish(m.where(step < warmup_steps, warmup, decay), symbolic)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


__all__ = ["CosineDecay", "ExponentialDecay", "LearningRateSchedule"]
