"""The regression, margin and similarity losses of frontend/loss_functions.py against
numpy written here from Keras 3's formulas, per sample and as Loss objects (by class and
by name), and their gradients against central differences."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import losses
from fusegraph.ir.errors import ShapeError

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


# --- focal cross-entropies ----------------------------------------------------------------
def np_categorical_focal(z, p, alpha=0.25, gamma=2.0, from_logits=False, smoothing=0.0, axis=-1):
    z = z * (1 - smoothing) + smoothing / z.shape[-1]      # Keras: the last axis's size
    if from_logits:
        e = np.exp(p - p.max(axis=axis, keepdims=True))
        p = e / e.sum(axis=axis, keepdims=True)
    p = np.clip(p / p.sum(axis=axis, keepdims=True), 1e-7, 1 - 1e-7)
    return np.sum(np.asarray(alpha) * (1 - p) ** gamma * -z * np.log(p), axis=axis)


def np_binary_focal(z, p, balance=False, alpha=0.25, gamma=2.0, from_logits=False,
                    smoothing=0.0, axis=-1):
    z = z * (1 - smoothing) + 0.5 * smoothing
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    bce = -(z * np.log(clipped) + (1 - z) * np.log(1 - clipped))
    focal = (1 - (z * p + (1 - z) * (1 - p))) ** gamma * bce
    if balance:
        focal = focal * (z * alpha + (1 - z) * (1 - alpha))
    return focal.mean(axis=axis)


SOFT = np.exp(P) / np.exp(P).sum(-1, keepdims=True)
SIGMOID = 1 / (1 + np.exp(-P))
FOCAL_CASES = [  # (function, Loss class, numpy reference, y_true, y_pred, kwargs)
    (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy,
     np_categorical_focal, ONE_HOT, SOFT, {}),
    (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy,
     np_categorical_focal, ONE_HOT, 3 * P, {"from_logits": True, "gamma": 1.5}),
    (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy,
     np_categorical_focal, ONE_HOT, SOFT * 2.5,   # unnormalized: rescaled
     {"alpha": [0.1, 0.2, 0.3, 0.4], "smoothing": 0.1}),
    (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy,
     np_categorical_focal, ONE_HOT, P, {"from_logits": True, "axis": 0, "smoothing": 0.2}),
    (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy,
     np_binary_focal, LABELS01, SIGMOID, {}),
    (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy,
     np_binary_focal, LABELS01, 4 * P, {"from_logits": True, "gamma": 3.0}),
    (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy,
     np_binary_focal, LABELS01, SIGMOID,
     {"balance": True, "alpha": 0.4, "smoothing": 0.1, "axis": 0}),
    (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy,
     np_binary_focal, LABELS01, np.where(LABELS01 > 0, 1.0, 0.0).astype(np.float32),
     {"balance": True}),   # confident and right: 0 (p clipped in the log only)
]
KERAS_ARGS = {"smoothing": "label_smoothing", "balance": "apply_class_balancing"}


@pytest.mark.parametrize("fn, cls, reference, y, p, kwargs", FOCAL_CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(FOCAL_CASES)])
def test_focal_crossentropies_per_sample_and_as_objects(fn, cls, reference, y, p, kwargs):
    want = reference(y.astype(np.float64), p.astype(np.float64), **kwargs)
    keras_kwargs = {KERAS_ARGS.get(k, k): v for k, v in kwargs.items()}
    np.testing.assert_allclose(fn(y, p, **keras_kwargs), want, rtol=2e-5, atol=1e-6)
    loss = cls(**keras_kwargs)
    np.testing.assert_allclose(loss(y, p), np.mean(want), rtol=2e-5, atol=1e-6)
    if keras_kwargs.get("axis", -1) == -1:
        weights = RNG.random(len(y)).astype(np.float32)
        np.testing.assert_allclose(loss(y, p, sample_weight=weights), np.mean(want * weights),
                                   rtol=2e-5, atol=1e-6)


def test_focal_crossentropies_match_keras_documented_values():
    """The numbers printed in Keras 3's docstrings for these losses."""
    cce = losses.CategoricalFocalCrossentropy()
    y, p = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]
    np.testing.assert_allclose(cce(y, p), 0.23315276, rtol=1e-5)
    np.testing.assert_allclose(losses.CategoricalFocalCrossentropy(reduction=None)(y, p),
                               [3.2058331e-05, 4.6627346e-01], rtol=1e-4)
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(
        [[0, 1, 0], [0, 0, 1]], [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]),
        [2.63401289e-04, 6.75912094e-01], rtol=1e-5)
    np.testing.assert_allclose(losses.binary_focal_crossentropy(
        [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2), [0.330, 0.206], atol=1e-3)


def test_focal_names_config_and_bad_arguments():
    assert isinstance(losses.get("categorical_focal_crossentropy"),
                      losses.CategoricalFocalCrossentropy)
    assert isinstance(losses.get("BinaryFocalCrossentropy"), losses.BinaryFocalCrossentropy)
    assert losses.get(losses.binary_focal_crossentropy).name == "binary_focal_crossentropy"
    config = losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3.0).get_config()
    assert config == {"name": "binary_focal_crossentropy", "reduction": "sum_over_batch_size",
                      "apply_class_balancing": True, "alpha": 0.25, "gamma": 3.0,
                      "from_logits": False, "label_smoothing": 0.0, "axis": -1}
    restored = losses.CategoricalFocalCrossentropy.from_config(
        losses.CategoricalFocalCrossentropy(alpha=[1, 2, 3, 4]).get_config())
    assert restored.get_config()["alpha"] == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ValueError, match=r"BinaryFocalCrossentropy: `alpha` must be a number "
                                         r">= 0 and <= 1, got 1.5"):
        losses.BinaryFocalCrossentropy(alpha=1.5)
    with pytest.raises(ValueError, match=r"CategoricalFocalCrossentropy: `gamma` must be"):
        losses.CategoricalFocalCrossentropy(gamma=-1.0)
    with pytest.raises(ValueError, match=r"`alpha` must be a number >= 0, got 'x'"):
        losses.CategoricalFocalCrossentropy(alpha=[0.5, "x"])
    with pytest.raises(ShapeError, match=r"alpha has shape \(3,\); expected one weight per "
                                         r"class, shape \(4,\)"):
        losses.CategoricalFocalCrossentropy(alpha=[0.1, 0.2, 0.3])(ONE_HOT, SOFT)


def test_focal_gradients_match_central_differences():
    y, p = ONE_HOT.astype(np.float64), P.astype(np.float64)
    for fn, reference, kwargs in ((losses.categorical_focal_crossentropy, np_categorical_focal,
                                   {}),
                                  (losses.binary_focal_crossentropy, np_binary_focal,
                                   {"apply_class_balancing": True})):
        logits = fg.ops.convert_to_tensor(p)
        with fg.GradientTape() as tape:
            tape.watch(logits)
            loss = fg.ops.sum(fn(y, logits, from_logits=True, **kwargs))
        grad = tape.gradient(loss, logits).numpy()
        numpy_kwargs = {"balance": True} if kwargs else {}
        step, numeric = 1e-6, np.zeros_like(p)
        for index in np.ndindex(p.shape):
            shift = np.zeros_like(p)
            shift[index] = step
            numeric[index] = (reference(y, p + shift, from_logits=True, **numpy_kwargs).sum()
                              - reference(y, p - shift, from_logits=True,
                                          **numpy_kwargs).sum()) / (2 * step)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_a_model_compiles_with_the_focal_names():
    inputs = fg.Input((4,))
    model = fg.Model(inputs, fg.layers.Dense(4, activation="softmax")(inputs))
    model.compile("adam", loss="categorical_focal_crossentropy")
    first = model.fit(Y, ONE_HOT, epochs=3, verbose=0).history["loss"]
    assert first[-1] < first[0]
    model.compile("adam", loss="binary_focal_crossentropy")
    first = model.fit(Y, LABELS01, epochs=3, verbose=0).history["loss"]
    assert first[-1] < first[0]
