"""Adagrad, Adamax, Nadam and Lion (frontend/optimizers.py): three steps on two variables
equal to numpy written here from Keras 3's update rules, traced (fit's way) and eager."""
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


CASES = [(fg.optimizers.Adagrad, np_adagrad), (fg.optimizers.Adamax, np_adamax),
         (fg.optimizers.Nadam, np_nadam), (fg.optimizers.Lion, np_lion)]


@pytest.mark.parametrize("cls, reference", CASES, ids=[c[0].__name__ for c in CASES])
@pytest.mark.parametrize("traced", [True, False], ids=["traced", "eager"])
def test_three_steps_equal_keras_rules(cls, reference, traced):
    variables = [fg.Variable(w.astype(np.float64), dtype="float64") for w in W0]
    optimizer = cls(learning_rate=0.01)

    @fg.function(symbolic_batch=False)
    def step(g0, g1):
        optimizer.apply_gradients(zip([g0, g1], variables))

    for grads in GRADS:
        if traced:
            step(*grads)
        else:
            optimizer.apply_gradients(zip(grads, variables))
    for got, want in zip(variables, reference(GRADS)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    assert int(optimizer.iterations.numpy()) == 3


def test_names_and_a_fit():
    for name, cls in (("adagrad", fg.optimizers.Adagrad), ("adamax", fg.optimizers.Adamax),
                      ("nadam", fg.optimizers.Nadam), ("lion", fg.optimizers.Lion)):
        assert isinstance(fg.optimizers.get(name), cls)
    inputs = fg.Input((3,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    model.compile(optimizer="nadam", loss="mse")
    x = RNG.normal(size=(32, 3)).astype("float32")
    history = model.fit(x, x.sum(axis=1, keepdims=True), epochs=5, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    with pytest.raises(ValueError, match="beta_1"):
        fg.optimizers.Lion(beta_1=0.0)
