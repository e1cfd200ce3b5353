"""The optimizers' exponential moving average (``use_ema``, ``ema_momentum``,
``ema_overwrite_frequency``, ``finalize_variable_values``; frontend/optimizer_base.py)
against numpy written from Keras 3's semantics: after each step's update, ``a <- m a +
(1 - m) w`` with ``m`` 0 at the first step; every N-th step ``w <- a``; fit ends with
``w <- a``. Traced (``fg.function``, compiled fit) and eager (GradientTape +
apply_gradients), and one fit on numba_cpu, whose steps write weights in place."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend import ops

RNG = np.random.default_rng(11)
W0 = [RNG.normal(size=(3, 2)), RNG.normal(size=(2,))]
C = [RNG.uniform(0.5, 2.0, size=w.shape) for w in W0]    # loss 0.5 * sum(C (w - T)**2)
T = [RNG.normal(size=w.shape) for w in W0]
LR, MU = float(np.float32(0.1)), 0.5                    # the float32 learning-rate variable


def np_sgd_ema(steps, ema, frequency=None):
    """``steps`` SGD-with-momentum steps on the quadratic loss, then Keras's EMA: the
    weights and the averages after them."""
    w, m, average = [x.copy() for x in W0], [0 * x for x in W0], [0 * x for x in W0]
    for t in range(1, steps + 1):
        for i in range(len(w)):
            m[i] = MU * m[i] - LR * C[i] * (w[i] - T[i])
            w[i] = w[i] + m[i]
        momentum = 0.0 if t == 1 else ema
        for i in range(len(w)):
            average[i] = momentum * average[i] + (1 - momentum) * w[i]
            if frequency is not None and t % frequency == 0:
                w[i] = average[i].copy()
    return w, average


def make(ema=0.9, frequency=None):
    variables = [fg.Variable(w.copy(), f"v{i}", f"layer/v{i}", dtype="float64")
                 for i, w in enumerate(W0)]
    optimizer = fg.optimizers.SGD(LR, momentum=MU, use_ema=True, ema_momentum=ema,
                                  ema_overwrite_frequency=frequency)
    return variables, optimizer


def quadratic_loss(variables):
    return sum(0.5 * ops.sum(c * ops.square(v.read_value() - t))
               for v, c, t in zip(variables, C, T))


@pytest.mark.parametrize("frequency", [None, 2, 1])
@pytest.mark.parametrize("traced", [True, False], ids=["traced", "eager"])
def test_three_steps_equal_keras_ema(frequency, traced):
    variables, optimizer = make(ema=0.8, frequency=frequency)

    def step():
        with fg.GradientTape() as tape:
            loss = quadratic_loss(variables)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    run = fg.function(step) if traced else step
    for _ in range(3):
        run()
    want_w, want_average = np_sgd_ema(3, 0.8, frequency)
    for v, w, a in zip(variables, want_w, want_average):
        np.testing.assert_allclose(v.numpy(), w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(optimizer.get_slot(v, "average").numpy(), a,
                                   rtol=1e-12, atol=1e-14)
    if frequency is None:     # the averages lag the weights until finalized
        assert not np.allclose(variables[0].numpy(), want_average[0])
    averages = [optimizer.get_slot(v, "average").numpy() for v in variables]
    optimizer.finalize_variable_values(variables)
    for v, a in zip(variables, averages):
        np.testing.assert_array_equal(v.numpy(), a)


def test_variables_order_and_names():
    variables, optimizer = make()
    optimizer.build(variables)
    assert [v.path for v in optimizer.variables] == [   # Keras's: the averages first
        "SGD/iteration", "SGD/learning_rate", "SGD/layer_v0_average", "SGD/layer_v1_average",
        "SGD/layer_v0_momentum", "SGD/layer_v1_momentum"]
    adagrad = fg.optimizers.Adagrad(use_ema=True)      # an average starts at 0, any slot's fill
    adagrad.build(variables[:1])
    np.testing.assert_array_equal(adagrad.variables[2].numpy(), np.zeros((3, 2)))
    np.testing.assert_array_equal(adagrad.variables[3].numpy(), np.full((3, 2), 0.1))


def test_a_variable_without_gradient_is_averaged_too():
    """Keras averages every variable the optimizer was built on, updated or not."""
    variables, optimizer = make(ema=0.5)
    optimizer.apply_gradients([(np.ones((3, 2)), variables[0]), (np.ones(2), variables[1])])
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        optimizer.apply_gradients([(np.ones((3, 2)), variables[0]), (None, variables[1])])
    b = variables[1].numpy()          # updated at step 1 only
    np.testing.assert_allclose(optimizer.get_slot(variables[1], "average").numpy(), b)


def test_finalize_edge_cases():
    variables, optimizer = make()
    optimizer.finalize_variable_values(variables)        # not built: no averages yet
    np.testing.assert_array_equal(variables[0].numpy(), W0[0])
    plain = fg.optimizers.SGD(0.1)
    plain.apply_gradients([(np.ones((3, 2)), variables[0])])
    before = variables[0].numpy()
    plain.finalize_variable_values([variables[0]])       # no EMA: nothing
    np.testing.assert_array_equal(variables[0].numpy(), before)
    optimizer.apply_gradients([(np.ones((3, 2)), variables[0])])
    stranger = fg.Variable(np.zeros(2), "s", "other/s", dtype="float64")
    with pytest.raises(ValueError, match=r"keeps no moving average of \['other/s'\]"):
        optimizer.finalize_variable_values([variables[0], stranger])


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(ema_momentum=1.5), ValueError, r"SGD: `ema_momentum` must be a number >= 0.0 and "
                                         r"<= 1.0, got 1.5"),
    (dict(ema_overwrite_frequency=0), ValueError,
     r"`ema_overwrite_frequency` must be a positive int, got 0"),
    (dict(ema_overwrite_frequency=2.0), ValueError, r"must be a positive int, got 2.0"),
    (dict(ema_overwrite_frequency=True), ValueError, r"must be a positive int, got True"),
])
def test_bad_ema_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        fg.optimizers.SGD(use_ema=True, **kwargs)
    fg.optimizers.SGD(use_ema=False, **kwargs)      # checked only with use_ema, as Keras
    with pytest.raises(TypeError, match=r"`use_ema` must be True or False, got 'yes'"):
        fg.optimizers.SGD(use_ema="yes")


def linear_fit_expected(x, y, steps, batch, lr, ema, frequency):
    """A Dense(2) on ``x`` under mse, plain SGD with EMA, in float64: the weights after
    ``steps`` batches in order and fit's final overwrite with the averages."""
    kernel, bias = KERNEL0.astype(np.float64), np.zeros(2)
    average = [0 * kernel, 0 * bias]
    for t in range(1, steps + 1):
        xs, ys = x[(t - 1) * batch % len(x):][:batch], y[(t - 1) * batch % len(x):][:batch]
        error = 2 * (xs @ kernel + bias - ys) / ys.size
        kernel, bias = kernel - lr * xs.T @ error, bias - lr * error.sum(axis=0)
        momentum = 0.0 if t == 1 else ema
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, (kernel, bias))]
        if frequency is not None and t % frequency == 0:
            kernel, bias = average
    return average


KERNEL0 = RNG.normal(size=(3, 2)).astype(np.float32)


@pytest.mark.parametrize("backend, frequency", [("reference", None), ("reference", 3),
                                                ("numba_cpu", 3)])
def test_fit_ends_with_the_averages(backend, frequency):
    x = RNG.normal(size=(16, 3)).astype(np.float32)
    y = RNG.normal(size=(16, 2)).astype(np.float32)
    inputs = fg.Input((3,))
    model = fg.Model(inputs, fg.layers.Dense(2)(inputs))
    model.set_weights([KERNEL0, np.zeros(2, np.float32)])
    model.compile(optimizer=fg.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.7,
                                              ema_overwrite_frequency=frequency),
                  loss="mse", backend=backend)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)     # 4 steps
    for got, want in zip(model.get_weights(),
                         linear_fit_expected(x, y, 4, 8, float(np.float32(0.1)), 0.7, frequency)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # train_on_batch does not finalize: one more step leaves the weights off the averages
    model.train_on_batch(x[:8], y[:8])
    kernel_average = model.optimizer.get_slot(model.trainable_weights[0], "average").numpy()
    assert not np.allclose(model.get_weights()[0], kernel_average)
