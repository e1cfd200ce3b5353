"""frontend/constraints.py: each constraint against numpy from Keras 3's formulas, and a
constrained weight after every step of fit (applied inside the step graph)."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import constraints

RNG = np.random.default_rng(9)
W = RNG.normal(size=(4, 3)).astype("float32") * 3


def norms(w, axis=0):
    return np.sqrt((w ** 2).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("constraint, expected", [
    (constraints.MaxNorm(2.0), W * np.clip(norms(W), 0, 2) / (norms(W) + 1e-7)),
    (constraints.MaxNorm(1.0, axis=1), W * np.clip(norms(W, 1), 0, 1) / (norms(W, 1) + 1e-7)),
    (constraints.NonNeg(), np.where(W >= 0, W, 0)),
    (constraints.UnitNorm(), W / (norms(W) + 1e-7)),
    (constraints.MinMaxNorm(1.0, 2.0, rate=0.5),
     W * (0.5 * np.clip(norms(W), 1, 2) + 0.5 * norms(W)) / (norms(W) + 1e-7)),
])
def test_each_constraint(constraint, expected):
    np.testing.assert_allclose(np.asarray(constraint(W)), expected, rtol=1e-5, atol=1e-6)


def test_a_constrained_weight_holds_after_every_step():
    inputs = fg.Input((3,))
    dense = fg.layers.Dense(4, kernel_constraint="non_neg", bias_constraint=constraints.MaxNorm(0.1))
    model = fg.Model(inputs, dense(inputs))
    model.compile(fg.optimizers.SGD(0.5), "mse")
    x = RNG.normal(size=(16, 3)).astype("float32")
    after = []
    model.fit(x, -np.abs(x @ RNG.normal(size=(3, 4))).astype("float32"), epochs=3,
              batch_size=4, verbose=0, callbacks=[fg.callbacks.LambdaCallback(
                  on_train_batch_end=lambda b, logs: after.append(
                      (dense.kernel.numpy().min(), np.linalg.norm(dense.bias.numpy()))))])
    assert len(after) == 12
    assert all(low >= 0 and norm <= 0.1 + 1e-6 for low, norm in after)
    with pytest.raises(ValueError, match="unknown constraint 'positive'"):
        fg.layers.Dense(2, kernel_constraint="positive")
