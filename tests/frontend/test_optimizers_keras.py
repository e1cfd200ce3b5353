"""Cross-check against installed Keras 3 (skipped without it; CI has none): Adadelta,
Ftrl, the EMA options (train_on_batch steps, then fit's final overwrite), the clipping
options, and the new schedules, with the same weights and batches in both; also the
optimizers' get_config keys. The core tests (numpy written from Keras's rules) are in
test_optimizers_more.py, test_optimizer_ema.py and test_schedules.py."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fusegraph as fg  # noqa: E402

LIBS = {"fg": fg, "keras": keras}
CASES = [("Adadelta", dict(learning_rate=1.0)),
         ("Adadelta", dict(learning_rate=0.5, rho=0.8, epsilon=1e-4)),
         ("Ftrl", dict(learning_rate=0.1)),
         ("Ftrl", dict(learning_rate=0.1, learning_rate_power=-0.3, initial_accumulator_value=0.3,
                       l1_regularization_strength=0.01, l2_regularization_strength=0.02,
                       l2_shrinkage_regularization_strength=0.03, beta=0.5)),
         ("SGD", dict(learning_rate=0.1, global_clipnorm=0.3)),
         ("SGD", dict(learning_rate=0.1, clipnorm=0.3)),
         ("SGD", dict(learning_rate=0.1, clipvalue=0.01)),
         ("Adam", dict(learning_rate=0.01, use_ema=True)),
         ("Adam", dict(learning_rate=0.01, use_ema=True, ema_momentum=0.5,
                       ema_overwrite_frequency=2))]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


def build(lib, name, kwargs):
    inputs = lib.Input(shape=(5,))
    hidden = lib.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    model = lib.Model(inputs, lib.layers.Dense(3, name="out")(hidden))
    model.compile(optimizer=getattr(lib.optimizers, name)(**kwargs), loss="mse")
    return model


@pytest.mark.parametrize("name, kwargs", CASES)
def test_steps_then_fit_match_keras(name, kwargs):
    models = {key: build(lib, name, kwargs) for key, lib in LIBS.items()}
    models["fg"].set_weights(models["keras"].get_weights())
    for step in range(3):
        x, y = rand(8, 5, seed=step), rand(8, 3, seed=10 + step)
        for model in models.values():
            model.train_on_batch(x, y)
        for a, b in zip(models["fg"].get_weights(), models["keras"].get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    x, y = rand(32, 5, seed=50), rand(32, 3, seed=51)
    for model in models.values():
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(models["fg"].get_weights(), models["keras"].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    configs = [m.optimizer.get_config() for m in models.values()]
    assert list(configs[0]) == list(configs[1])
    assert [v.path.split("/", 1)[1] for v in models["fg"].optimizer.variables] == \
        [v.path.split("/", 1)[1] for v in models["keras"].optimizer.variables]


SCHEDULES = [("PiecewiseConstantDecay", dict(boundaries=[3, 7], values=[0.1, 0.05, 0.01])),
             ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=7,
                                      end_learning_rate=0.01, power=2.0, cycle=True)),
             ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5,
                                       staircase=True)),
             ("CosineDecayRestarts", dict(initial_learning_rate=0.2, first_decay_steps=3,
                                          t_mul=1.5, m_mul=0.8, alpha=0.05))]


@pytest.mark.parametrize("name, kwargs", SCHEDULES)
def test_schedules_match_keras(name, kwargs):
    ours, theirs = (getattr(lib.optimizers.schedules, name)(**kwargs) for lib in LIBS.values())
    assert ours.get_config() == theirs.get_config()
    for step in range(40):        # XLA's cos and log may differ from numpy's by an ulp
        np.testing.assert_allclose(ours(step), np.asarray(theirs(step)), rtol=1e-6)
