"""Learning rate schedules against numpy versions of Keras 3's formulas, called with
numbers, with a symbolic step inside ``fg.function``, and with a Variable."""
import math

import numpy as np
import pytest

import fusegraph as fg
from fusegraph import optimizers
from fusegraph.frontend import ops

schedules = optimizers.schedules
STEPS = [0, 1, 2, 5, 9, 10, 11, 25, 100]


def np_exponential(step, lr0, decay_steps, rate, staircase=False):
    p = step / decay_steps
    return lr0 * rate ** (math.floor(p) if staircase else p)


def np_cosine(step, lr0, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    def decay(s, start):
        s = min(s, decay_steps)
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay_steps)) + alpha)
    if warmup_target is None:
        return decay(step, lr0)
    step = min(step, decay_steps + warmup_steps)
    if step < warmup_steps:
        return lr0 + (warmup_target - lr0) * step / warmup_steps
    return decay(step - warmup_steps, warmup_target)


CASES = {
    "exponential": (schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5),
                    lambda s: np_exponential(s, 0.1, 10, 0.5)),
    "exponential_staircase": (schedules.ExponentialDecay(0.2, 4, 0.9, staircase=True),
                              lambda s: np_exponential(s, 0.2, 4, 0.9, staircase=True)),
    "cosine": (schedules.CosineDecay(0.1, decay_steps=10),
               lambda s: np_cosine(s, 0.1, 10)),
    "cosine_alpha": (schedules.CosineDecay(0.5, decay_steps=20, alpha=0.1),
                     lambda s: np_cosine(s, 0.5, 20, alpha=0.1)),
    "cosine_warmup": (schedules.CosineDecay(0.0, decay_steps=10, warmup_target=0.2,
                                            warmup_steps=5),
                      lambda s: np_cosine(s, 0.0, 10, warmup_target=0.2, warmup_steps=5)),
    "cosine_warmup_from_lr0": (schedules.CosineDecay(0.01, 8, alpha=0.05, warmup_target=0.1,
                                                     warmup_steps=3),
                               lambda s: np_cosine(s, 0.01, 8, 0.05, 0.1, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_at_python_and_numpy_steps(case):
    schedule, expected = CASES[case]
    for step in STEPS:
        for given in (step, float(step), np.int64(step), np.float32(step)):
            value = schedule(given)
            assert isinstance(value, np.float32)
            np.testing.assert_allclose(value, expected(step), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_values_at_symbolic_steps(case, dtype):
    schedule, expected = CASES[case]
    traced = fg.function(lambda step: schedule(step))
    for step in STEPS:
        value = traced(np.asarray(step, dtype))
        assert value.dtype == np.float32 and value.shape == ()
        np.testing.assert_allclose(value, expected(step), rtol=1e-6, atol=1e-9)
        # the graph computes what the numpy path computes
        np.testing.assert_allclose(value, schedule(step), rtol=1e-6, atol=1e-9)


def test_step_from_a_variable():
    schedule, expected = CASES["cosine_warmup"]
    step = fg.Variable(np.int64(3), "step", "step", trainable=False, dtype="int64")
    np.testing.assert_allclose(schedule(step), expected(3), rtol=1e-6)
    traced = fg.function(lambda: schedule(step) + 0.0)
    np.testing.assert_allclose(traced(), expected(3), rtol=1e-6)


@pytest.mark.parametrize("make, words", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.9),
     r"ExponentialDecay: `decay_steps` must be a number > 0.0, got 0"),
    (lambda: schedules.CosineDecay(0.1, -5), r"CosineDecay: `decay_steps` must be a number > 0"),
    # decay_rate -1 once gave NaN learning rates at every fractional step
    (lambda: schedules.ExponentialDecay(0.1, 10, -1.0),
     r"ExponentialDecay: `decay_rate` must be a number > 0.0, got -1.0"),
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.0), r"`decay_rate` must be a number > 0"),
    (lambda: schedules.ExponentialDecay("0.1", 10, 0.9),
     r"`initial_learning_rate` must be a number >= 0.0, got '0.1'"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=2.0),
     r"CosineDecay: `alpha` must be a number >= 0.0 and <= 1.0, got 2.0"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target=-1.0, warmup_steps=2),
     r"`warmup_target` must be a number >= 0.0"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1), r"`warmup_steps` must be a number >= 0"),
])
def test_bad_constructor_arguments(make, words):
    with pytest.raises(ValueError, match=words):
        make()
    with pytest.raises(TypeError, match=r"ExponentialDecay: `staircase` must be True or False"):
        schedules.ExponentialDecay(0.1, 10, 0.9, staircase="yes")


def test_bad_arguments():
    with pytest.raises(ValueError, match="step must be a scalar"):
        schedules.CosineDecay(0.1, 5)(np.arange(3))
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        schedules.LearningRateSchedule()(1)


def test_config_round_trip():
    for schedule, _ in CASES.values():
        again = type(schedule).from_config(schedule.get_config())
        assert again.get_config() == schedule.get_config()
        for step in STEPS:
            assert again(step) == schedule(step)
    assert "decay_rate=0.5" in repr(CASES["exponential"][0])


class InverseTime(schedules.LearningRateSchedule):
    """The custom schedule of Keras's documentation: lr0 / (step + 1)."""

    def __init__(self, lr0):
        self.lr0 = lr0

    def __call__(self, step):
        return self.lr0 / (step + 1)


@pytest.mark.parametrize("traced", [False, True])
def test_custom_schedule_drives_an_optimizer(traced):
    opt = optimizers.SGD(learning_rate=InverseTime(0.3))
    w = fg.Variable(np.zeros(2, np.float32), "w", "w")
    g = np.array([1.0, -2.0], np.float32)

    @fg.function
    def apply_step(g):
        opt.apply_gradients([(ops.sum(g, axis=0), w)])

    for _ in range(3):
        if traced:
            apply_step(g[np.newaxis])
        else:
            opt.apply_gradients([(g, w)])
    np.testing.assert_allclose(w.numpy(), -g * 0.3 * (1 + 1 / 2 + 1 / 3), rtol=1e-6)
    np.testing.assert_allclose(opt.learning_rate, 0.3 / 4, rtol=1e-6)
