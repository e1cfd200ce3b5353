"""The regression, margin and similarity losses of frontend/loss_functions.py against
numpy written here from Keras 3's formulas, per sample and as Loss objects (by class and
by name), and their gradients against central differences."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import losses

RNG = np.random.default_rng(5)
Y = RNG.normal(size=(6, 4)).astype(np.float32)
P = RNG.normal(size=(6, 4)).astype(np.float32)
LABELS01 = (RNG.random((6, 4)) < 0.5).astype(np.float32)
ONE_HOT = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 6)]


def np_huber(y, p, delta=1.0):
    e = p - y
    return np.mean(np.where(np.abs(e) <= delta, 0.5 * e ** 2,
                            delta * np.abs(e) - 0.5 * delta ** 2), axis=-1)


def np_hinge_labels(y):
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


CASES = [  # (function, Loss class, names, y_true, y_pred, numpy per-sample loss)
    (losses.huber, losses.Huber, ("huber", "huber_loss"), Y, P, np_huber),
    (losses.log_cosh, losses.LogCosh, ("log_cosh", "logcosh"), Y, 30 * P,
     lambda y, p: np.mean(np.log(np.cosh((p - y).astype(np.float64))), axis=-1)),
    (losses.hinge, losses.Hinge, ("hinge",), LABELS01, P,
     lambda y, p: np.mean(np.maximum(1 - np_hinge_labels(y) * p, 0), axis=-1)),
    (losses.hinge, losses.Hinge, ("hinge",), np.sign(Y), P,
     lambda y, p: np.mean(np.maximum(1 - y * p, 0), axis=-1)),
    (losses.squared_hinge, losses.SquaredHinge, ("squared_hinge",), LABELS01, P,
     lambda y, p: np.mean(np.maximum(1 - np_hinge_labels(y) * p, 0) ** 2, axis=-1)),
    (losses.categorical_hinge, losses.CategoricalHinge, ("categorical_hinge",), ONE_HOT, P,
     lambda y, p: np.maximum(np.max((1 - y) * p, -1) - np.sum(y * p, -1) + 1, 0)),
    (losses.poisson, losses.Poisson, ("poisson",), np.abs(Y), np.abs(P),
     lambda y, p: np.mean(p - y * np.log(p + 1e-7), axis=-1)),
    (losses.cosine_similarity, losses.CosineSimilarity, ("cosine_similarity",), Y, P,
     lambda y, p: -np.sum(y / np.linalg.norm(y, axis=-1, keepdims=True)
                          * p / np.linalg.norm(p, axis=-1, keepdims=True), axis=-1)),
    (losses.mean_squared_logarithmic_error, losses.MeanSquaredLogarithmicError,
     ("msle", "MSLE", "mean_squared_logarithmic_error"), np.abs(Y), P,
     lambda y, p: np.mean((np.log(np.maximum(p, 1e-7) + 1) - np.log(y + 1)) ** 2, axis=-1)),
    (losses.mean_absolute_percentage_error, losses.MeanAbsolutePercentageError,
     ("mape", "MAPE", "mean_absolute_percentage_error"), Y, P,
     lambda y, p: 100 * np.mean(np.abs((y - p) / np.abs(y)), axis=-1)),
]


@pytest.mark.parametrize("fn, cls, names, y, p, reference", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_each_loss_per_sample_by_object_and_by_name(fn, cls, names, y, p, reference):
    want = reference(y.astype(np.float64), p.astype(np.float64))
    np.testing.assert_allclose(fn(y, p), want, rtol=2e-5, atol=1e-6)
    weights = RNG.random(len(y)).astype(np.float32)
    np.testing.assert_allclose(cls()(y, p, sample_weight=weights), np.mean(want * weights),
                               rtol=2e-5, atol=1e-6)
    for name in names:
        assert isinstance(losses.get(name), cls)
    assert losses.get(fn).__class__ is cls


def test_huber_delta_and_its_gradient():
    with pytest.raises(ValueError, match=r"Huber: `delta` must be a number >= 0"):
        losses.Huber(delta=-1)
    np.testing.assert_allclose(losses.Huber(delta=0.5)(Y, P), np.mean(np_huber(Y, P, 0.5)),
                               rtol=1e-6)
    y = fg.ops.convert_to_tensor(Y.astype(np.float64))
    p = fg.ops.convert_to_tensor(P.astype(np.float64))
    with fg.GradientTape() as tape:
        tape.watch(p)
        loss = fg.ops.sum(losses.huber(y, p, delta=0.5))
    grad = tape.gradient(loss, p).numpy()
    e = P.astype(np.float64) - Y
    np.testing.assert_allclose(grad, np.clip(e, -0.5, 0.5) / Y.shape[1], rtol=1e-10)


def test_a_model_compiles_with_the_new_names():
    inputs = fg.Input((4,))
    model = fg.Model(inputs, fg.layers.Dense(4)(inputs))
    model.compile("sgd", loss="huber")
    first = model.fit(Y, P, epochs=3, verbose=0).history["loss"]
    assert first[-1] < first[0]
