"""Learning rate schedules against numpy versions of Keras 3's formulas, called with
numbers, with a symbolic step inside ``fg.function``, and with a Variable."""
import math

import numpy as np
import pytest

import fusegraph as fg
from fusegraph import optimizers
from fusegraph.frontend import ops

schedules = optimizers.schedules
STEPS = [0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 25, 28, 30, 31, 100]   # 3, 9, 30: boundaries; 4, 12, 28: restarts


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


def np_piecewise(step, boundaries, values):
    for boundary, value in zip(boundaries, values):
        if step <= boundary:
            return value
    return values[-1]


def np_polynomial(step, lr0, decay_steps, end=0.0001, power=1.0, cycle=False):
    if cycle:     # the first multiple of decay_steps at or past the step (1 at step 0)
        decay_steps = decay_steps * max(1, math.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (lr0 - end) * (1 - step / decay_steps) ** power + end


def np_inverse_time(step, lr0, decay_steps, rate, staircase=False):
    p = step / decay_steps
    return lr0 / (1 + rate * (math.floor(p) if staircase else p))


def np_restarts(step, lr0, first, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """SGDR by walking the periods (Keras uses a closed form for the period index)."""
    start, length, scale = 0.0, first, 1.0
    while step >= start + length:
        start, length, scale = start + length, length * t_mul, scale * m_mul
    cosine = 0.5 * scale * (1 + math.cos(math.pi * (step - start) / length))
    return lr0 * ((1 - alpha) * cosine + alpha)


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
    "piecewise": (schedules.PiecewiseConstantDecay([3, 9], [0.1, 0.05, 0.01]),
                  lambda s: np_piecewise(s, [3, 9], [0.1, 0.05, 0.01])),
    "piecewise_float_boundaries": (schedules.PiecewiseConstantDecay([2.5, 10.0, 30.0],
                                                                    [1.0, 0.5, 0.2, 0.1]),
                                   lambda s: np_piecewise(s, [2.5, 10.0, 30.0],
                                                          [1.0, 0.5, 0.2, 0.1])),
    "polynomial": (schedules.PolynomialDecay(0.1, decay_steps=10),
                   lambda s: np_polynomial(s, 0.1, 10)),
    "polynomial_power": (schedules.PolynomialDecay(0.1, 20, end_learning_rate=0.01, power=0.5),
                         lambda s: np_polynomial(s, 0.1, 20, 0.01, 0.5)),
    "polynomial_cycle": (schedules.PolynomialDecay(0.2, 4, end_learning_rate=0.02, power=2.0,
                                                   cycle=True),
                         lambda s: np_polynomial(s, 0.2, 4, 0.02, 2.0, cycle=True)),
    "inverse_time": (schedules.InverseTimeDecay(0.1, decay_steps=4, decay_rate=0.5),
                     lambda s: np_inverse_time(s, 0.1, 4, 0.5)),
    "inverse_time_staircase": (schedules.InverseTimeDecay(0.1, 4, 0.5, staircase=True),
                               lambda s: np_inverse_time(s, 0.1, 4, 0.5, staircase=True)),
    "restarts": (schedules.CosineDecayRestarts(0.1, first_decay_steps=4),
                 lambda s: np_restarts(s, 0.1, 4)),
    "restarts_constant_periods": (schedules.CosineDecayRestarts(0.1, 4, t_mul=1.0, m_mul=0.5,
                                                                alpha=0.1),
                                  lambda s: np_restarts(s, 0.1, 4, 1.0, 0.5, 0.1)),
    "restarts_all_arguments": (schedules.CosineDecayRestarts(0.2, 3, t_mul=1.5, m_mul=0.8,
                                                             alpha=0.05),
                               lambda s: np_restarts(s, 0.2, 3, 1.5, 0.8, 0.05)),
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


def test_piecewise_compares_in_the_steps_dtype():
    """As Keras: the boundaries are cast to the step's dtype, so an int64 step past 2**24
    is not rounded onto a float32 boundary."""
    schedule = schedules.PiecewiseConstantDecay([2 ** 24], [1.0, 0.5])
    assert schedule(2 ** 24 + 1) == np.float32(0.5) and schedule(2 ** 24) == np.float32(1.0)
    traced = fg.function(lambda step: schedule(step))
    assert traced(np.int64(2 ** 24 + 1)) == np.float32(0.5)
    assert traced(np.int64(2 ** 24)) == np.float32(1.0)
    assert traced(np.float32(2.5)) == np.float32(1.0)


# Keras 3.15's get_config keys and default names
KERAS_CONFIGS = {
    "PiecewiseConstantDecay": (dict(boundaries=[1], values=[0.1, 0.2]),
                               ["boundaries", "values", "name"], "PiecewiseConstant"),
    "PolynomialDecay": (dict(initial_learning_rate=0.1, decay_steps=3),
                        ["initial_learning_rate", "decay_steps", "end_learning_rate", "power",
                         "cycle", "name"], "PolynomialDecay"),
    "InverseTimeDecay": (dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5),
                         ["initial_learning_rate", "decay_steps", "decay_rate", "staircase",
                          "name"], "InverseTimeDecay"),
    "CosineDecayRestarts": (dict(initial_learning_rate=0.1, first_decay_steps=3),
                            ["initial_learning_rate", "first_decay_steps", "t_mul", "m_mul",
                             "alpha", "name"], "SGDRDecay"),
    "ExponentialDecay": (dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5),
                         ["initial_learning_rate", "decay_steps", "decay_rate", "staircase",
                          "name"], "ExponentialDecay"),
}


@pytest.mark.parametrize("name", sorted(KERAS_CONFIGS))
def test_keras_config_keys_and_defaults(name):
    kwargs, keys, default_name = KERAS_CONFIGS[name]
    config = getattr(schedules, name)(**kwargs).get_config()
    assert list(config) == keys and config["name"] == default_name
    assert {k: config[k] for k in kwargs} == kwargs
    if name == "PolynomialDecay":
        assert (config["end_learning_rate"], config["power"], config["cycle"]) == \
            (0.0001, 1.0, False)
    if name == "CosineDecayRestarts":
        assert (config["t_mul"], config["m_mul"], config["alpha"]) == (2.0, 1.0, 0.0)


@pytest.mark.parametrize("make, error, words", [
    (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), ValueError,
     r"`boundaries` must be one shorter than `values` and not empty, got 2 boundaries "
     r"\[1, 2\] and 2 values"),
    (lambda: schedules.PiecewiseConstantDecay([], [0.1]), ValueError, "not empty"),
    (lambda: schedules.PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3]), ValueError,
     r"`boundaries` must be strictly increasing, got \[5, 2\]"),
    (lambda: schedules.PiecewiseConstantDecay(3, [0.1, 0.2]), TypeError,
     r"`boundaries` must be a list of numbers, got 3"),
    (lambda: schedules.PiecewiseConstantDecay([1], [0.1, -0.2]), ValueError,
     r"PiecewiseConstantDecay: `values` must be a number >= 0.0, got -0.2"),
    (lambda: schedules.PolynomialDecay(0.1, 0), ValueError,
     r"PolynomialDecay: `decay_steps` must be a number > 0.0, got 0"),
    (lambda: schedules.PolynomialDecay(0.1, 5, power=-1.0), ValueError,
     r"PolynomialDecay: `power` must be a number >= 0.0, got -1.0"),
    (lambda: schedules.PolynomialDecay(0.1, 5, cycle=1), TypeError,
     r"PolynomialDecay: `cycle` must be True or False, got 1"),
    (lambda: schedules.InverseTimeDecay(0.1, 5, -0.5), ValueError,
     r"InverseTimeDecay: `decay_rate` must be a number >= 0.0, got -0.5"),
    (lambda: schedules.InverseTimeDecay(0.1, -5, 0.5), ValueError,
     r"InverseTimeDecay: `decay_steps` must be a number > 0.0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0), ValueError,
     r"CosineDecayRestarts: `first_decay_steps` must be a number > 0.0, got 0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 5, t_mul=0.0), ValueError,
     r"`t_mul` must be a number > 0.0, got 0.0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 5, m_mul=-1.0), ValueError,
     r"`m_mul` must be a number >= 0.0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 5, alpha=1.5), ValueError,
     r"`alpha` must be a number >= 0.0 and <= 1.0, got 1.5"),
])
def test_bad_arguments_of_the_new_schedules(make, error, words):
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize("case", ["piecewise", "polynomial_cycle", "inverse_time_staircase",
                                  "restarts_all_arguments"])
@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
def test_three_optimizer_steps_follow_the_schedule(case, traced):
    """SGD reads the rate at iterations 0, 1, 2 (the step before its increment)."""
    schedule, expected = CASES[case]
    opt = optimizers.SGD(learning_rate=schedule)
    w = fg.Variable(np.zeros(2), "w", "w", dtype="float64")
    g = np.array([1.0, -2.0])
    step = fg.function(lambda g: opt.apply_gradients([(g, w)]), symbolic_batch=False)
    for _ in range(3):
        (step if traced else lambda g: opt.apply_gradients([(g, w)]))(g)
    rates = [float(np.float32(expected(t))) for t in range(3)]
    np.testing.assert_allclose(w.numpy(), -g * sum(rates), rtol=1e-6)
    np.testing.assert_allclose(opt.learning_rate, expected(3), rtol=1e-6)


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


def test_a_schedule_keeping_its_arguments_as_attributes_has_a_config_else_says_why():
    class Halving(fg.optimizers.schedules.LearningRateSchedule):
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate / 2

    class Hidden(Halving):
        def __init__(self, rate):
            self._rate = rate

    assert Halving(0.4).get_config() == {"rate": 0.4}
    with pytest.raises(NotImplementedError, match=r"'Hidden' must override `get_config\(\)` "
                                                  r"to be serializable \(not every "
                                                  r"constructor argument is an attribute"):
        Hidden(0.4).get_config()
