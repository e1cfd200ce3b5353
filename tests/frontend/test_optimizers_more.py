"""Adagrad, Adadelta, Ftrl, Adamax, Nadam and Lion (frontend/optimizers.py): three steps on
two variables equal to numpy written here from Keras 3's update rules, traced (fit's way)
and eager; their names, Keras's config keys, and argument checks."""
import numpy as np
import pytest

import fusegraph as fg

RNG = np.random.default_rng(4)
W0 = [RNG.normal(size=(3, 2)), RNG.normal(size=(2,))]
GRADS = [[RNG.normal(size=w.shape) for w in W0] for _ in range(3)]
LR = float(np.float32(0.01))      # the learning rate as its float32 variable holds it


def np_adagrad(steps, lr=LR, init=0.1, eps=1e-7):
    w, acc = [x.copy() for x in W0], [np.full(x.shape, init) for x in W0]
    for grads in steps:
        for i, g in enumerate(grads):
            acc[i] = acc[i] + g * g
            w[i] = w[i] - lr * g / np.sqrt(acc[i] + eps)
    return w


def np_adadelta(steps, lr=LR, rho=0.95, eps=1e-7):
    w, acc_g, acc_d = [x.copy() for x in W0], [0 * x for x in W0], [0 * x for x in W0]
    for grads in steps:
        for i, g in enumerate(grads):
            acc_g[i] = rho * acc_g[i] + (1 - rho) * g * g
            delta = -np.sqrt(acc_d[i] + eps) * g / np.sqrt(acc_g[i] + eps)
            acc_d[i] = rho * acc_d[i] + (1 - rho) * delta * delta
            w[i] = w[i] + lr * delta
    return w


def np_ftrl(steps, lr=LR, lr_power=-0.5, init=0.1, l1=0.0, l2=0.0, shrinkage=0.0, beta=0.0):
    """McMahan et al.'s FTRL-proximal as Keras 3 writes it (sigma uses the old and new
    accumulators; beta joins the L2 term as beta / (2 lr))."""
    w, n, z = [x.copy() for x in W0], [np.full(x.shape, init) for x in W0], [0 * x for x in W0]
    for grads in steps:
        for i, g in enumerate(grads):
            n_new = n[i] + g * g
            sigma = (n_new ** -lr_power - n[i] ** -lr_power) / lr
            z[i] = z[i] + g + 2 * shrinkage * w[i] - sigma * w[i]
            quadratic = n_new ** -lr_power / lr + 2 * (l2 + beta / (2 * lr))
            w[i] = np.where(np.abs(z[i]) <= l1, 0.0, (np.sign(z[i]) * l1 - z[i]) / quadratic)
            n[i] = n_new
    return w


def np_adamax(steps, lr=LR, b1=0.9, b2=0.999, eps=1e-7):
    w, m, u = [x.copy() for x in W0], [0 * x for x in W0], [0 * x for x in W0]
    for t, grads in enumerate(steps, 1):
        for i, g in enumerate(grads):
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            u[i] = np.maximum(b2 * u[i], np.abs(g))
            w[i] = w[i] - lr * m[i] / ((1 - b1 ** t) * (u[i] + eps))
    return w


def np_nadam(steps, lr=LR, b1=0.9, b2=0.999, eps=1e-7):
    w, m, v, product = [x.copy() for x in W0], [0 * x for x in W0], [0 * x for x in W0], 1.0
    for t, grads in enumerate(steps, 1):
        mu_t, mu_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product *= mu_t
        for i, g in enumerate(grads):
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            v[i] = v[i] + (g * g - v[i]) * (1 - b2)
            m_hat = mu_next * m[i] / (1 - product * mu_next) + (1 - mu_t) * g / (1 - product)
            w[i] = w[i] - lr * m_hat / (np.sqrt(v[i] / (1 - b2 ** t)) + eps)
    return w


def np_lion(steps, lr=LR, b1=0.9, b2=0.99):
    w, m = [x.copy() for x in W0], [0 * x for x in W0]
    for grads in steps:
        for i, g in enumerate(grads):
            w[i] = w[i] - lr * np.sign(b1 * m[i] + (1 - b1) * g)
            m[i] = b2 * m[i] + (1 - b2) * g
    return w


FTRL_ARGS = dict(learning_rate_power=-0.3, initial_accumulator_value=0.3,
                 l1_regularization_strength=0.8, l2_regularization_strength=0.02,
                 l2_shrinkage_regularization_strength=0.03, beta=0.5)
CASES = {"adagrad": (fg.optimizers.Adagrad, {}, np_adagrad),
         "adadelta": (fg.optimizers.Adadelta, {}, np_adadelta),
         "adadelta_args": (fg.optimizers.Adadelta, dict(rho=0.8, epsilon=1e-4),
                           lambda s: np_adadelta(s, rho=0.8, eps=1e-4)),
         "ftrl": (fg.optimizers.Ftrl, {}, np_ftrl),
         # l1 0.8 sets some weights to 0 and leaves the others to the quadratic
         "ftrl_args": (fg.optimizers.Ftrl, FTRL_ARGS,
                       lambda s: np_ftrl(s, lr_power=-0.3, init=0.3, l1=0.8, l2=0.02,
                                         shrinkage=0.03, beta=0.5)),
         "adamax": (fg.optimizers.Adamax, {}, np_adamax),
         "nadam": (fg.optimizers.Nadam, {}, np_nadam),
         "lion": (fg.optimizers.Lion, {}, np_lion)}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("traced", [True, False], ids=["traced", "eager"])
def test_three_steps_equal_keras_rules(case, traced):
    cls, kwargs, reference = CASES[case]
    variables = [fg.Variable(w.astype(np.float64), dtype="float64") for w in W0]
    optimizer = cls(learning_rate=0.01, **kwargs)

    @fg.function(symbolic_batch=False)
    def step(g0, g1):
        optimizer.apply_gradients(zip([g0, g1], variables))

    for grads in GRADS:
        if traced:
            step(*grads)
        else:
            optimizer.apply_gradients(zip(grads, variables))
    expected = reference(GRADS)
    for got, want in zip(variables, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    assert int(optimizer.iterations.numpy()) == 3
    if case == "ftrl_args":     # the L1 case the test is for: some weights exactly 0
        assert 0 < sum(np.sum(w == 0) for w in expected) < sum(w.size for w in expected)


# get_config's keys of Keras 3.15 (keras.optimizers.X().get_config())
BASE_KEYS = ["name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue",
             "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
             "gradient_accumulation_steps"]
KERAS_KEYS = {"Adadelta": ["rho", "epsilon"],
              "Ftrl": ["learning_rate_power", "initial_accumulator_value",
                       "l1_regularization_strength", "l2_regularization_strength",
                       "l2_shrinkage_regularization_strength", "beta"]}


@pytest.mark.parametrize("name", sorted(KERAS_KEYS))
def test_config_keys_defaults_and_round_trip(name):
    cls = getattr(fg.optimizers, name)
    config = cls().get_config()
    assert list(config) == BASE_KEYS + KERAS_KEYS[name]
    assert config["learning_rate"] == pytest.approx(0.001)
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"]) == \
        (False, 0.99, None)
    assert config["name"] == name.lower()
    again = cls.from_config(cls(learning_rate=0.5, use_ema=True, ema_overwrite_frequency=3,
                                **(FTRL_ARGS if name == "Ftrl" else {})).get_config())
    assert again.get_config() == cls.from_config(again.get_config()).get_config()
    assert again.use_ema and again.ema_overwrite_frequency == 3


def test_adadelta_ftrl_defaults():
    adadelta, ftrl = fg.optimizers.Adadelta(), fg.optimizers.Ftrl()
    assert (adadelta.rho, adadelta.epsilon) == (0.95, 1e-7)
    assert (ftrl.learning_rate_power, ftrl.initial_accumulator_value, ftrl.beta,
            ftrl.l1_regularization_strength, ftrl.l2_regularization_strength,
            ftrl.l2_shrinkage_regularization_strength) == (-0.5, 0.1, 0.0, 0.0, 0.0, 0.0)
    w = fg.Variable(np.zeros((2, 3), np.float32), "kernel", "dense/kernel")
    ftrl.build([w])
    assert [v.path for v in ftrl.variables] == ["ftrl/iteration", "ftrl/learning_rate",
                                                "ftrl/dense_kernel_accumulator",
                                                "ftrl/dense_kernel_linear"]
    np.testing.assert_array_equal(ftrl.variables[2].numpy(), np.full((2, 3), 0.1, np.float32))


@pytest.mark.parametrize("make, error, words", [
    (lambda: fg.optimizers.Ftrl(learning_rate_power=0.5), ValueError,
     r"Ftrl: `learning_rate_power` must be a number <= 0.0, got 0.5"),
    (lambda: fg.optimizers.Ftrl(initial_accumulator_value=-1.0), ValueError,
     r"Ftrl: `initial_accumulator_value` must be a number >= 0.0, got -1.0"),
    (lambda: fg.optimizers.Ftrl(l1_regularization_strength=-0.1), ValueError,
     r"`l1_regularization_strength` must be a number >= 0.0"),
    (lambda: fg.optimizers.Ftrl(l2_shrinkage_regularization_strength="0"), ValueError,
     r"`l2_shrinkage_regularization_strength` must be a number >= 0.0, got '0'"),
    (lambda: fg.optimizers.Adadelta(rho=1.5), ValueError,
     r"Adadelta: `rho` must be a number >= 0.0 and <= 1.0, got 1.5"),
    (lambda: fg.optimizers.Adadelta(epsilon=-1e-7), ValueError, r"`epsilon` must be a number"),
    (lambda: fg.optimizers.Adadelta(rhoo=0.9), TypeError, r"not recognized: \['rhoo'\]"),
])
def test_bad_arguments(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_names_and_a_fit():
    for name, cls in (("adagrad", fg.optimizers.Adagrad), ("adamax", fg.optimizers.Adamax),
                      ("nadam", fg.optimizers.Nadam), ("lion", fg.optimizers.Lion),
                      ("adadelta", fg.optimizers.Adadelta), ("Ftrl", fg.optimizers.Ftrl)):
        assert isinstance(fg.optimizers.get(name), cls)
    inputs = fg.Input((3,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    model.compile(optimizer="nadam", loss="mse")
    x = RNG.normal(size=(32, 3)).astype("float32")
    history = model.fit(x, x.sum(axis=1, keepdims=True), epochs=5, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    with pytest.raises(ValueError, match="beta_1"):
        fg.optimizers.Lion(beta_1=0.0)
