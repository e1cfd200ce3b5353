"""``fg.optimizers.schedules``: learning rates that change with the optimizer step.

A schedule is called with the step. Inside a trace (the optimizer's update inside a
train step or ``fg.function``) the step is a symbolic tensor and the schedule emits IR,
so the learning rate is computed in the step graph from the optimizer's ``iterations``
variable and one compiled step serves every step. Called with a Python or numpy number
it returns a ``numpy.float32``, computed in float32 as the graph computes it.

The formulas are Keras 3's (``keras.optimizers.schedules``): the step is cast to the
float32 dtype of the learning rate first (:class:`PiecewiseConstantDecay` compares it,
as Keras, in its own dtype). Keras chooses the warmup or decay branch of
:class:`CosineDecay` with ``cond``; here both are computed and ``where`` picks one
(the warmup branch divides by ``max(warmup_steps, 1)`` so the unused branch is finite).
:class:`CosineDecayRestarts` picks its branch (``t_mul`` 1 or not) in Python, since
``t_mul`` is a number.
"""
from __future__ import annotations

import math

import numpy as np

from . import ops, state
from .checks import check_bool, check_number
from .serialization import arguments_config
from .tensor import is_symbolic
from .variables import Variable


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step)``; ``get_config`` is their
    constructor's arguments when each is kept as an attribute of its name (all of
    ours), else they override it to be serializable. ``step`` may be symbolic (an int or
    float scalar tensor) or a number; :func:`_prepare` turns it into float32 and picks
    the matching math functions."""

    def __call__(self, step):
        raise NotImplementedError(f"learning rate schedule '{type(self).__name__}' must "
                                  f"override `__call__(self, step)`")

    def get_config(self) -> dict:
        try:
            return arguments_config(self)
        except AttributeError:
            raise NotImplementedError(f"learning rate schedule '{type(self).__name__}' must "
                                      f"override `get_config()` to be serializable (not "
                                      f"every constructor argument is an attribute of its "
                                      f"name)") from None

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
    log = staticmethod(np.log)
    logical_and = staticmethod(np.logical_and)
    minimum = staticmethod(np.minimum)
    power = staticmethod(np.power)
    where = staticmethod(np.where)

    @staticmethod
    def const(x, dtype="float32"):
        return np.asarray(x, dtype)[()]

    @staticmethod
    def cast(x, dtype):
        return np.asarray(x).astype(dtype)[()]


class _SymbolicMath:
    cos = staticmethod(ops.cos)
    floor = staticmethod(ops.floor)
    log = staticmethod(ops.log)
    logical_and = staticmethod(ops.logical_and)
    minimum = staticmethod(ops.minimum)
    power = staticmethod(ops.power)
    where = staticmethod(ops.where)
    cast = staticmethod(ops.cast)

    @staticmethod
    def const(x, dtype="float32"):
        return ops.convert_to_tensor(x, dtype)


def _read_step(step):
    """(step in its own dtype, math namespace, whether symbolic): a scalar tensor, or a
    0-d numpy array. A Variable is read: its symbolic value inside a trace, its array
    outside."""
    if isinstance(step, Variable):
        step = step.read_value() if state.current() is not None else step.numpy()
    if is_symbolic(step):
        if step.ndim != 0:
            raise ValueError(f"a learning rate schedule's step must be a scalar, got a tensor "
                             f"of shape {step.shape}")
        return step, _SymbolicMath, True
    array = np.asarray(step)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        raise ValueError(f"a learning rate schedule's step must be a scalar number or a "
                         f"scalar tensor, got {step!r}")
    return array, _NumpyMath, False


def _prepare(step):
    """(step as float32, math namespace, whether symbolic): :func:`_read_step`, cast."""
    step, m, symbolic = _read_step(step)
    return m.cast(step, "float32"), m, symbolic


def _finish(value, symbolic):
    return value if symbolic else np.float32(value)


def _check_rate(owner: str, key: str, value) -> None:
    """A learning rate (or warmup target): a finite number >= 0."""
    check_number(owner, key, value, low=0.0)


def _check_steps(owner: str, value, key: str = "decay_steps") -> None:
    """``decay_steps`` (or ``key``): a finite number > 0."""
    check_number(owner, key, value, low=0.0, open_low=True)


class _StepDecay(LearningRateSchedule):
    """A decay of ``initial_learning_rate`` by ``decay_rate`` along ``p = step /
    decay_steps``, floored with ``staircase``: the arguments, checks and config that
    :class:`ExponentialDecay` and :class:`InverseTimeDecay` share (``name`` defaults to
    the class's name, as Keras's)."""

    decay_rate_must_be_positive = False

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        owner = type(self).__name__
        _check_rate(owner, "initial_learning_rate", initial_learning_rate)
        _check_steps(owner, decay_steps)
        check_number(owner, "decay_rate", decay_rate, low=0.0,
                     open_low=self.decay_rate_must_be_positive)
        check_bool(owner, "staircase", staircase)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name if name is not None else owner

    def _progress(self, step):
        """``(p, math namespace, whether symbolic)`` at ``step``."""
        step, m, symbolic = _prepare(step)
        p = step / m.const(self.decay_steps)
        return (m.floor(p) if self.staircase else p), m, symbolic


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** p`` (``p`` as :class:`_StepDecay`'s: with
    ``staircase`` the rate drops every ``decay_steps`` steps); ``decay_rate`` > 0 (a
    rate <= 0 has no real power of a fractional step: NaN learning rates)."""

    decay_rate_must_be_positive = True

    def __call__(self, step):
        p, m, symbolic = self._progress(step)
        rate = m.power(m.const(self.decay_rate), p)
        return _finish(m.const(self.initial_learning_rate) * rate, symbolic)


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


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1]
    < step <= boundaries[i]``, ``values[-1]`` after ``boundaries[-1]``. As Keras, the
    boundaries are cast to the step's dtype (an int step compares with 2.5 as 2) and
    the rate is the sum of each value times its interval's indicator; it is float32."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        for key, seq in (("boundaries", boundaries), ("values", values)):
            if not isinstance(seq, (list, tuple)):
                raise TypeError(f"PiecewiseConstantDecay: `{key}` must be a list of numbers, "
                                f"got {seq!r}")
        for boundary in boundaries:
            check_number("PiecewiseConstantDecay", "boundaries", boundary)
        for value in values:
            _check_rate("PiecewiseConstantDecay", "values", value)
        if len(boundaries) != len(values) - 1 or not boundaries:
            raise ValueError(f"PiecewiseConstantDecay: `boundaries` must be one shorter than "
                             f"`values` and not empty, got {len(boundaries)} boundaries "
                             f"{list(boundaries)} and {len(values)} values {list(values)}")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: `boundaries` must be strictly "
                             f"increasing, got {list(boundaries)}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step, m, symbolic = _read_step(step)
        dtype = str(step.dtype)
        edges = [m.cast(m.const(b, "int64" if isinstance(b, (int, np.integer)) else "float32"),
                        dtype) for b in self.boundaries]
        values = [m.const(v) for v in self.values]

        def indicator(condition):
            return m.cast(condition, "float32")

        rate = indicator(step <= edges[0]) * values[0] + indicator(step > edges[-1]) * values[-1]
        for low, high, value in zip(edges, edges[1:], values[1:-1]):
            rate = rate + indicator(m.logical_and(step > low, step <= high)) * value
        return _finish(rate, symbolic)


class PolynomialDecay(LearningRateSchedule):
    """``(lr0 - end_learning_rate) * (1 - s / decay_steps) ** power + end_learning_rate``
    with ``s = min(step, decay_steps)``; with ``cycle``, ``s = step`` and ``decay_steps``
    times ``ceil(step / decay_steps)`` (1 at step 0): the decay restarts every
    ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        _check_rate("PolynomialDecay", "initial_learning_rate", initial_learning_rate)
        _check_steps("PolynomialDecay", decay_steps)
        _check_rate("PolynomialDecay", "end_learning_rate", end_learning_rate)
        # a negative power makes the rate infinite at decay_steps
        check_number("PolynomialDecay", "power", power, low=0.0)
        check_bool("PolynomialDecay", "cycle", cycle)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step, m, symbolic = _prepare(step)
        decay_steps = m.const(self.decay_steps)
        if self.cycle:
            multiplier = m.where(step == 0, m.const(1.0), -m.floor(-(step / decay_steps)))
            decay_steps = decay_steps * multiplier
        else:
            step = m.minimum(step, decay_steps)
        end = m.const(self.end_learning_rate)
        decay = m.power(1 - step / decay_steps, m.const(self.power))
        return _finish((m.const(self.initial_learning_rate) - end) * decay + end, symbolic)


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * p)`` (``p`` as :class:`_StepDecay`'s);
    ``decay_rate`` >= 0 (a negative one divides by zero at some step)."""

    def __call__(self, step):
        p, m, symbolic = self._progress(step)
        denominator = m.const(1.0) + m.const(self.decay_rate) * p
        return _finish(m.const(self.initial_learning_rate) / denominator, symbolic)


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods of ``first_decay_steps``, each
    ``t_mul`` times longer than the last and starting from ``m_mul`` times the last
    start; within a period at fraction ``f``, ``lr0 * ((1 - alpha) * 0.5 * m_mul**i * (1
    + cos(pi f)) + alpha)`` in period ``i`` (from 0). With ``t_mul`` != 1, ``i =
    floor(log(1 - c (1 - t_mul)) / log(t_mul))`` for ``c = step / first_decay_steps``
    (Keras's closed form; with ``t_mul`` < 1 the periods sum to a finite length, after
    which the rate is NaN, as in Keras)."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        _check_rate("CosineDecayRestarts", "initial_learning_rate", initial_learning_rate)
        _check_steps("CosineDecayRestarts", first_decay_steps, "first_decay_steps")
        check_number("CosineDecayRestarts", "t_mul", t_mul, low=0.0, open_low=True)
        check_number("CosineDecayRestarts", "m_mul", m_mul, low=0.0)
        check_number("CosineDecayRestarts", "alpha", alpha, low=0.0, high=1.0)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        step, m, symbolic = _prepare(step)
        fraction = step / m.const(self.first_decay_steps)
        if np.float32(self.t_mul) == 1:      # Keras's test, on the float32 t_mul
            restarts = m.floor(fraction)
            fraction = fraction - restarts
        else:
            t_mul = m.const(self.t_mul)
            restarts = m.floor(m.log(1.0 - fraction * (1.0 - t_mul)) / m.log(t_mul))
            finished = (1.0 - m.power(t_mul, restarts)) / (1.0 - t_mul)
            fraction = (fraction - finished) / m.power(t_mul, restarts)
        cosine = 0.5 * m.power(m.const(self.m_mul), restarts) * (
            1.0 + m.cos(m.const(math.pi) * fraction))
        alpha = m.const(self.alpha)
        decayed = (1 - alpha) * cosine + alpha
        return _finish(m.const(self.initial_learning_rate) * decayed, symbolic)


__all__ = ["CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
           "LearningRateSchedule", "PiecewiseConstantDecay", "PolynomialDecay"]
