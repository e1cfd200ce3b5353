"""Losses against numpy formulas written here (float64), from logits and from
probabilities; the Loss objects' batch reduction and sample weights; the names ``get``
knows; losses traced on symbolic tensors (a symbolic batch, gradients); and the shape
errors, which name the loss, the user's line, the expected and the given shapes."""
import inspect

import numpy as np
import pytest

import fusegraph as fg
from fusegraph import losses
from fusegraph.frontend.function import function
from fusegraph.frontend.tape import GradientTape
from fusegraph.ir.errors import ShapeError

EPS = 1e-7
HERE = "test_losses.py"
RNG = np.random.default_rng(0)


def next_line() -> str:
    """``test_losses.py:N`` for the line after the caller's."""
    return f"{HERE}:{inspect.currentframe().f_back.f_lineno + 1}"


# --- numpy references -----------------------------------------------------------------------
def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_bce(z, p, from_logits=False, smoothing=0.0):
    z = z * (1 - smoothing) + 0.5 * smoothing
    if from_logits:
        elem = np.maximum(p, 0) - p * z + np.log1p(np.exp(-np.abs(p)))
    else:
        p = np.clip(p, EPS, 1 - EPS)
        elem = -(z * np.log(p) + (1 - z) * np.log(1 - p))
    return elem.mean(axis=-1)


def np_cce(z, p, from_logits=False, smoothing=0.0, axis=-1):
    z = z * (1 - smoothing) + smoothing / z.shape[axis]
    if from_logits:
        logp = np_log_softmax(p, axis)
    else:
        logp = np.log(np.clip(p / p.sum(axis=axis, keepdims=True), EPS, 1 - EPS))
    return -(z * logp).sum(axis=axis)


def np_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return (t * np.log(t / p)).sum(axis=-1)


def f64(*arrays):
    return [np.asarray(a, dtype="float64") for a in arrays]


def probs(*shape):
    x = RNG.normal(size=shape)
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


def onehot(labels, n):
    return np.eye(n, dtype="float32")[labels]


# --- the per-sample functions -----------------------------------------------------------------
def test_mean_squared_and_absolute_error_per_sample():
    y, p = RNG.normal(size=(5, 3)).astype("float32"), RNG.normal(size=(5, 3)).astype("float32")
    y64, p64 = f64(y, p)
    out = losses.mean_squared_error(y, p)
    assert out.shape == (5,)
    np.testing.assert_allclose(out, ((y64 - p64) ** 2).mean(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses.mean_absolute_error(y, p), np.abs(y64 - p64).mean(-1),
                               rtol=1e-5, atol=1e-6)
    assert losses.mse is losses.mean_squared_error and losses.mae is losses.mean_absolute_error


def test_targets_of_shape_b_against_predictions_b_1_are_aligned():
    y, p = RNG.normal(size=(6,)).astype("float32"), RNG.normal(size=(6, 1)).astype("float32")
    np.testing.assert_allclose(losses.mean_squared_error(y, p), (f64(y)[0] - f64(p)[0][:, 0]) ** 2,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_crossentropy_from_probabilities(smoothing):
    z = RNG.integers(0, 2, size=(6, 4)).astype("float32")
    p = RNG.uniform(0.001, 0.999, size=(6, 4)).astype("float32")
    out = losses.binary_crossentropy(z, p, label_smoothing=smoothing)
    assert out.shape == (6,)
    np.testing.assert_allclose(out, np_bce(*f64(z, p), smoothing=smoothing), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_binary_crossentropy_from_logits(smoothing):
    z = RNG.integers(0, 2, size=(6, 4)).astype("float32")
    x = (RNG.normal(size=(6, 4)) * 3).astype("float32")
    out = losses.binary_crossentropy(z, x, from_logits=True, label_smoothing=smoothing)
    np.testing.assert_allclose(out, np_bce(*f64(z, x), from_logits=True, smoothing=smoothing),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_categorical_crossentropy_from_probabilities_and_logits(smoothing):
    labels = RNG.integers(0, 5, size=7)
    z, p = onehot(labels, 5), probs(7, 5)
    x = (RNG.normal(size=(7, 5)) * 4).astype("float32")
    np.testing.assert_allclose(losses.categorical_crossentropy(z, p, label_smoothing=smoothing),
                               np_cce(*f64(z, p), smoothing=smoothing), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        losses.categorical_crossentropy(z, x, from_logits=True, label_smoothing=smoothing),
        np_cce(*f64(z, x), from_logits=True, smoothing=smoothing), rtol=1e-5, atol=1e-6)


def test_categorical_crossentropy_rescales_unnormalized_probabilities_and_takes_an_axis():
    z = onehot(RNG.integers(0, 4, size=3), 4)
    p = RNG.uniform(0.1, 2.0, size=(3, 4)).astype("float32")  # rows do not sum to 1
    np.testing.assert_allclose(losses.categorical_crossentropy(z, p), np_cce(*f64(z, p)),
                               rtol=1e-5, atol=1e-6)
    zt, xt = np.ascontiguousarray(z.T), (RNG.normal(size=(4, 3))).astype("float32")
    np.testing.assert_allclose(losses.categorical_crossentropy(zt, xt, from_logits=True, axis=0),
                               np_cce(*f64(zt, xt), from_logits=True, axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("label_form", ["int_b", "int_b1", "float_b", "float_b1"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy_matches_categorical_on_one_hot(label_form, from_logits):
    labels = RNG.integers(0, 5, size=8)
    pred = (RNG.normal(size=(8, 5)) * 3).astype("float32") if from_logits else probs(8, 5)
    y = labels.astype("float32" if label_form.startswith("float") else "int32")
    if label_form.endswith("b1"):
        y = y[:, None]
    out = losses.sparse_categorical_crossentropy(y, pred, from_logits=from_logits)
    assert out.shape == (8,)
    expected = np_cce(onehot(labels, 5).astype("float64"), pred.astype("float64"),
                      from_logits=from_logits)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_kl_divergence():
    t, p = probs(4, 6), probs(4, 6)
    t[0, 0] = 0.0  # clipped to 1e-7, not log(0)
    np.testing.assert_allclose(losses.kl_divergence(t, p), np_kld(*f64(t, p)), rtol=1e-4,
                               atol=1e-7)
    assert losses.kld is losses.kl_divergence


# --- numerical stability ------------------------------------------------------------------------
def test_extreme_logits_stay_finite_and_exact():
    z = np.array([[1.0, 0.0, 1.0, 0.0, 1.0]], dtype="float32")
    x = np.array([[1e4, 1e4, -1e4, -1e4, 0.0]], dtype="float32")
    out = losses.binary_crossentropy(z, x, from_logits=True)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [(0 + 1e4 + 1e4 + 0 + np.log(2)) / 5], rtol=1e-6)
    big = np.array([[1e4, -1e4, 0.0], [-3e4, 2e4, 5e3]], dtype="float32")
    zc = onehot([0, 0], 3)
    out = losses.categorical_crossentropy(zc, big, from_logits=True)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [0.0, 5e4], rtol=1e-6, atol=1e-6)
    out = losses.sparse_categorical_crossentropy(np.array([0, 1]), big, from_logits=True)
    np.testing.assert_allclose(out, [0.0, 0.0], atol=1e-6)


def test_probabilities_of_exactly_zero_and_one_are_clipped():
    z = np.array([[1.0, 0.0]], dtype="float32")
    p = np.array([[0.0, 1.0]], dtype="float32")
    out = losses.binary_crossentropy(z, p)
    assert np.isfinite(out).all()
    lo, hi = np.float32(EPS), np.float32(1) - np.float32(EPS)  # the clip bounds in float32
    np.testing.assert_allclose(out, [-(np.log(lo) + np.log(np.float32(1) - hi)) / 2], rtol=1e-5)
    out = losses.categorical_crossentropy(np.array([[1.0, 0.0]], "float32"), p)
    np.testing.assert_allclose(out, [-np.log(np.float32(EPS))], rtol=1e-3)


def test_gradients_from_logits_are_finite_and_match_the_closed_forms():
    cce = losses.CategoricalCrossentropy(from_logits=True)
    bce = losses.BinaryCrossentropy(from_logits=True)

    @function
    def grads(y, x):
        with GradientTape(persistent=True) as tape:
            lc, lb = cce(y, x), bce(y, x)
        return tape.gradient(lc, x), tape.gradient(lb, x)

    y = onehot([0, 1, 2, 0], 3)
    x = (RNG.normal(size=(4, 3)) * 100).astype("float32")
    gc, gb = grads(y, x)
    x64 = x.astype("float64")
    softmax = np.exp(np_log_softmax(x64))
    np.testing.assert_allclose(gc, (softmax - y) / 4, atol=1e-6)
    np.testing.assert_allclose(gb, (np_sigmoid(x64) - y) / 12, atol=1e-6)


# --- Loss objects: reduction and sample weights ----------------------------------------------------
CASES = [
    (losses.MeanSquaredError, {}, lambda z, p: ((z - p) ** 2).mean(-1), "mean_squared_error"),
    (losses.MeanAbsoluteError, {}, lambda z, p: np.abs(z - p).mean(-1), "mean_absolute_error"),
    (losses.BinaryCrossentropy, {}, np_bce, "binary_crossentropy"),
    (losses.BinaryCrossentropy, {"from_logits": True},
     lambda z, p: np_bce(z, p, from_logits=True), "binary_crossentropy"),
    (losses.CategoricalCrossentropy, {}, np_cce, "categorical_crossentropy"),
    (losses.CategoricalCrossentropy, {"from_logits": True},
     lambda z, p: np_cce(z, p, from_logits=True), "categorical_crossentropy"),
    (losses.KLDivergence, {}, np_kld, "kl_divergence"),
]


def _data_for(cls, kwargs, batch=6, classes=4):
    logits = kwargs.get("from_logits", False)
    if cls is losses.BinaryCrossentropy:
        z = RNG.integers(0, 2, size=(batch, classes)).astype("float32")
        p = (RNG.normal(size=(batch, classes)) * 2).astype("float32") if logits else \
            RNG.uniform(0.01, 0.99, size=(batch, classes)).astype("float32")
        return z, p
    if cls in (losses.CategoricalCrossentropy, losses.KLDivergence):
        z = onehot(RNG.integers(0, classes, size=batch), classes) \
            if cls is losses.CategoricalCrossentropy else probs(batch, classes)
        p = (RNG.normal(size=(batch, classes)) * 2).astype("float32") if logits else \
            probs(batch, classes)
        return z, p
    return (RNG.normal(size=(batch, classes)).astype("float32"),
            RNG.normal(size=(batch, classes)).astype("float32"))


@pytest.mark.parametrize("cls,kwargs,reference,name", CASES)
def test_loss_objects_take_the_mean_over_the_batch(cls, kwargs, reference, name):
    loss = cls(**kwargs)
    assert loss.name == name and loss.reduction == "sum_over_batch_size"
    z, p = _data_for(cls, kwargs)
    per_sample = reference(*f64(z, p))
    out = loss(z, p)
    assert np.ndim(out) == 0
    np.testing.assert_allclose(out, per_sample.mean(), rtol=1e-5, atol=1e-6)
    w = RNG.uniform(0, 2, size=6).astype("float32")
    np.testing.assert_allclose(loss(z, p, sample_weight=w), (per_sample * w).sum() / 6, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss(z, p, sample_weight=w[:, None]), (per_sample * w).sum() / 6,
                               rtol=1e-5, atol=1e-6)


def test_sparse_categorical_crossentropy_object_with_weights():
    labels = RNG.integers(0, 3, size=5)
    x = RNG.normal(size=(5, 3)).astype("float32")
    w = np.array([1.0, 0.0, 2.0, 0.5, 1.0], dtype="float32")
    per_sample = np_cce(onehot(labels, 3).astype("float64"), x.astype("float64"), from_logits=True)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert loss.name == "sparse_categorical_crossentropy"
    np.testing.assert_allclose(loss(labels, x), per_sample.mean(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss(labels[:, None], x, sample_weight=w),
                               (per_sample * w).sum() / 5, rtol=1e-5, atol=1e-6)


def test_reductions():
    z, p = RNG.normal(size=(4, 3)).astype("float32"), RNG.normal(size=(4, 3)).astype("float32")
    per_sample = ((f64(z)[0] - f64(p)[0]) ** 2).mean(-1)
    w = np.array([1.0, 2.0, 0.0, 1.0], dtype="float32")
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="sum")(z, p), per_sample.sum(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(z, p), per_sample,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(z, p, sample_weight=w),
                               per_sample * w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        losses.MeanSquaredError(reduction="mean_with_sample_weight")(z, p, sample_weight=w),
        (per_sample * w).sum() / w.sum(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


ALL_LOSS_CLASSES = sorted({type(losses.get(name)) for name in (
    "mse", "mae", "binary_crossentropy", "categorical_crossentropy", "kld", "huber", "log_cosh",
    "hinge", "squared_hinge", "categorical_hinge", "poisson", "cosine_similarity", "msle",
    "mape", "binary_focal_crossentropy", "categorical_focal_crossentropy")},
    key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", ALL_LOSS_CLASSES, ids=lambda cls: cls.__name__)
def test_every_reduction_and_weight_shape_of_every_loss(cls):
    """Keras 3.15's reduce_weighted_values, written out: weights aligned (a trailing 1
    squeezed) and multiplied in; the mean divides by the number of losses,
    mean_with_sample_weight by the sum of the weights as given (a scalar weight w: the
    plain sum), sum sums, None/"none" keep the weighted losses."""
    z = onehot(RNG.integers(0, 3, size=4), 3)
    p = probs(4, 3)
    per_sample = np.asarray(cls(reduction=None)(z, p), dtype="float64")
    for weight, flat in ((None, np.ones(4)), (2.0, np.full(4, 2.0)),
                         (np.array([1.0, 2.0, 0.0, 0.5]), np.array([1.0, 2.0, 0.0, 0.5])),
                         (np.array([[1.0], [2.0], [0.0], [0.5]]), np.array([1.0, 2.0, 0.0, 0.5]))):
        weighted = per_sample * flat
        given = 4.0 if weight is None else np.sum(weight)
        expected = {"sum_over_batch_size": weighted.mean(), "mean": weighted.mean(),
                    "sum": weighted.sum(), "mean_with_sample_weight": weighted.sum() / given}
        for reduction, want in expected.items():
            got = cls(reduction=reduction)(z, p, sample_weight=weight)
            assert np.shape(got) == ()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=reduction)
        for reduction in (None, "none"):
            got = cls(reduction=reduction)(z, p, sample_weight=weight)
            shape = (4, 1) if np.ndim(weight) == 2 else (4,)     # Keras expands the losses
            np.testing.assert_allclose(got, weighted.reshape(shape), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"invalid reduction 'auto' for loss "
                                         rf"{cls.__name__}: expected one of \['sum_over_batch"
                                         r"_size', 'mean', 'sum', 'mean_with_sample_weight', "
                                         r"'none', None\]"):
        cls(reduction="auto")


def test_mean_with_sample_weight_divides_by_the_weights_as_given():
    """(B, 1) weights on (B, T) losses: Keras divides by the B weights' sum, not by the sum
    of the weights broadcast over T; all-zero weights give 0, not nan."""
    z, p = RNG.normal(size=(3, 5, 2)).astype("float32"), RNG.normal(size=(3, 5, 2)).astype("float32")
    per_step = ((f64(z)[0] - f64(p)[0]) ** 2).mean(-1)  # (3, 5)
    w = np.array([[1.0], [0.0], [3.0]], dtype="float32")
    loss = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    np.testing.assert_allclose(loss(z, p, sample_weight=w), (per_step * w).sum() / 4.0,
                               rtol=1e-5)
    assert loss(z, p, sample_weight=np.zeros((3, 1), "float32")) == 0.0
    step_weights = RNG.uniform(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(loss(z, p, sample_weight=step_weights),
                               (per_step * step_weights).sum() / step_weights.sum(), rtol=1e-5)


def test_reduce_weighted_values_names_the_valid_reductions():
    with pytest.raises(ValueError, match=r"loss 'custom': unknown reduction 'avg': expected one "
                                         r"of \['sum_over_batch_size'"):
        losses.reduce_weighted_values(np.ones(3, "float32"), reduction="avg", loss="custom")


def test_sample_weight_per_sample_applies_to_losses_with_a_time_axis():
    z, p = RNG.normal(size=(3, 5, 2)).astype("float32"), RNG.normal(size=(3, 5, 2)).astype("float32")
    w = np.array([1.0, 0.0, 3.0], dtype="float32")
    per_step = ((f64(z)[0] - f64(p)[0]) ** 2).mean(-1)  # (3, 5)
    out = losses.MeanSquaredError()(z, p, sample_weight=w)
    np.testing.assert_allclose(out, (per_step * w[:, None]).mean(), rtol=1e-5, atol=1e-6)


# --- symbolic tensors ---------------------------------------------------------------------------------
def test_losses_on_symbolic_inputs_give_symbolic_per_sample_losses():
    y, p = fg.Input(shape=(3,)), fg.Input(shape=(3,))
    out = losses.binary_crossentropy(y, p)
    assert isinstance(out, fg.SymbolicTensor) and out.shape == (None,)
    scalar = losses.BinaryCrossentropy()(y, p)
    assert isinstance(scalar, fg.SymbolicTensor) and scalar.shape == ()


def test_traced_loss_reuses_one_graph_for_every_batch_size():
    loss = losses.CategoricalCrossentropy(from_logits=True)

    @function
    def step(y, x):
        return loss(y, x)

    for batch in (8, 3, 1):
        y = onehot(RNG.integers(0, 4, size=batch), 4)
        x = RNG.normal(size=(batch, 4)).astype("float32")
        np.testing.assert_allclose(step(y, x), np_cce(*f64(y, x), from_logits=True).mean(),
                                   rtol=1e-5, atol=1e-6)
    assert len(step._traces) == 1
    text = step.ir()
    assert "f32[B,4]" in text and "reduce_mean" in text


def test_loss_inside_a_trace_with_symbolic_sample_weight():
    loss = losses.MeanAbsoluteError()

    @function
    def step(y, p, w):
        return loss(y, p, sample_weight=w)

    y, p = RNG.normal(size=(5, 2)).astype("float32"), RNG.normal(size=(5, 2)).astype("float32")
    w = RNG.uniform(size=5).astype("float32")
    np.testing.assert_allclose(step(y, p, w), (np.abs(f64(y)[0] - f64(p)[0]).mean(-1) * w).mean(),
                               rtol=1e-5, atol=1e-6)


# --- get ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alias,cls,name", [
    ("mse", losses.MeanSquaredError, "mean_squared_error"),
    ("mean_squared_error", losses.MeanSquaredError, "mean_squared_error"),
    ("mae", losses.MeanAbsoluteError, "mean_absolute_error"),
    ("mean_absolute_error", losses.MeanAbsoluteError, "mean_absolute_error"),
    ("binary_crossentropy", losses.BinaryCrossentropy, "binary_crossentropy"),
    ("categorical_crossentropy", losses.CategoricalCrossentropy, "categorical_crossentropy"),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy,
     "sparse_categorical_crossentropy"),
    ("kld", losses.KLDivergence, "kl_divergence"),
    ("kl_divergence", losses.KLDivergence, "kl_divergence"),
    ("BinaryCrossentropy", losses.BinaryCrossentropy, "binary_crossentropy"),
])
def test_get_by_name(alias, cls, name):
    loss = losses.get(alias)
    assert type(loss) is cls and loss.name == name


def test_get_class_instance_and_callable():
    instance = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    assert type(losses.get(losses.KLDivergence)) is losses.KLDivergence
    assert type(losses.get(losses.mean_squared_error)) is losses.MeanSquaredError
    assert losses.get(None) is None

    def my_loss(y_true, y_pred):
        return fg.ops.mean(fg.ops.abs(y_true - y_pred) * 2.0, axis=-1)

    wrapped = losses.get(my_loss)
    assert isinstance(wrapped, losses.Loss) and wrapped.name == "my_loss"
    y, p = np.ones((4, 2), "float32"), np.zeros((4, 2), "float32")
    np.testing.assert_allclose(wrapped(y, p), 2.0)
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        losses.get("msee")


def test_subclassed_loss():
    class Scaled(losses.Loss):
        def call(self, y_true, y_pred):
            return fg.ops.sum(fg.ops.square(y_true - y_pred), axis=-1) * 0.5

    loss = Scaled()
    assert loss.name == "scaled"
    y, p = np.ones((2, 3), "float32"), np.zeros((2, 3), "float32")
    np.testing.assert_allclose(loss(y, p), 1.5)


# --- shape errors ---------------------------------------------------------------------------------------
def test_categorical_targets_with_another_class_count():
    y, p = fg.Input(shape=(3,)), fg.Input(shape=(5,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        losses.categorical_crossentropy(y, p)
    msg = str(err.value)
    assert site in msg and "categorical_crossentropy" in msg
    assert "(None, 3)" in msg and "(None, 5)" in msg and "3 classes" in msg


def test_categorical_loss_object_with_integer_labels_suggests_sparse():
    y, p = fg.Input(shape=(), dtype="int32"), fg.Input(shape=(5,))
    loss = losses.CategoricalCrossentropy()
    with pytest.raises(ShapeError) as err:
        site = next_line()
        loss(y, p)
    msg = str(err.value)
    assert site in msg and "categorical_crossentropy" in msg
    assert "(None,)" in msg and "(None, 5)" in msg and "sparse_categorical_crossentropy" in msg


def test_sparse_targets_of_rank_2_with_last_dim_not_1():
    y, p = fg.Input(shape=(5,)), fg.Input(shape=(5,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        losses.sparse_categorical_crossentropy(y, p)
    msg = str(err.value)
    assert site in msg and "sparse_categorical_crossentropy" in msg
    assert "(None, 5)" in msg and "(None,)" in msg and "(None, 1)" in msg
    assert "categorical_crossentropy" in msg  # the hint for one-hot targets


def test_shape_error_when_called_eagerly_names_the_callers_line():
    loss = losses.SparseCategoricalCrossentropy()
    with pytest.raises(ShapeError) as err:
        site = next_line()
        loss(np.zeros((4, 3)), probs(4, 3))
    assert site in str(err.value) and "(None, 3)" in str(err.value)


@pytest.mark.parametrize("fn", [losses.mean_squared_error, losses.binary_crossentropy,
                                losses.kl_divergence])
def test_elementwise_losses_refuse_targets_of_another_shape(fn):
    y, p = fg.Input(shape=(1,)), fg.Input(shape=(3,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fn(y, p)
    msg = str(err.value)
    assert site in msg and fn.__name__ in msg and "(None, 1)" in msg and "(None, 3)" in msg


def test_sample_weight_of_the_wrong_shape():
    loss = losses.MeanSquaredError()
    y, p, w = fg.Input(shape=(3,)), fg.Input(shape=(3,)), fg.Input(shape=(2,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        loss(y, p, sample_weight=w)
    msg = str(err.value)
    assert site in msg and "sample_weight" in msg and "(None, 2)" in msg and "(None,)" in msg


def test_a_loss_that_returns_no_tensor_is_named_at_its_line():
    """A loss callable (or subclass call) returning None or a string: a TypeError naming
    the loss, not numpy's words about int() of None."""
    inputs = fg.Input(shape=(2,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))

    class Nothing(fg.losses.Loss):
        def call(self, y_true, y_pred):
            return None

    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    for loss, name, got in [(lambda yt, yp: None, "<lambda>", "None"),
                            (Nothing(name="nothing"), "nothing", "None"),
                            (lambda yt, yp: "abc", "<lambda>", "'abc'")]:
        model.compile(optimizer="sgd", loss=loss)
        before = [w.numpy().copy() for w in model.weights]
        with pytest.raises(TypeError, match=rf"fit\(\): .*test_losses\.py:\d+: loss '{name}': "
                                            rf"call\(y_true, y_pred\) returned {got}; expected "
                                            rf"the per-sample losses"):
            model.fit(x, y, verbose=0)
        assert all((a == b).all() for a, b in zip(before, [w.numpy() for w in model.weights]))


def test_targets_of_a_fixed_length_train_a_model_whose_length_is_a_symbol():
    # Input(shape=(None, 3)): the output's length is a symbol, the targets' a size.
    inputs = fg.Input(shape=(None, 3))
    model = fg.Model(inputs, fg.layers.Dense(4)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 10, 3)).astype("float32")
    y = np.zeros((8, 10, 4), "float32")
    loss = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(loss, np.mean(model.predict(x, verbose=0) ** 2), rtol=1e-5)
    model.compile(optimizer="sgd",
                  loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = np.arange(80).reshape(8, 10) % 4
    logits = model.predict(x, verbose=0)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    want = -np.take_along_axis(log_p, labels[..., None], -1).mean()
    np.testing.assert_allclose(model.evaluate(x, labels, verbose=0), want, rtol=1e-5)


def test_targets_whose_length_differs_from_the_sequences_fail_naming_the_batch():
    inputs = fg.Input(shape=(None, 3))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    before = [w.copy() for w in model.get_weights()]

    def batches():
        yield np.ones((8, 7, 3), "float32"), np.zeros((8, 10, 1), "float32")

    from fusegraph.backends.reference import ExecutionError
    with pytest.raises(ExecutionError, match=r"fit\(\), epoch 1, batch \d.*reshape.*size 80"):
        model.fit(batches(), epochs=1, verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_per_step_sample_weights_of_a_fixed_length_weigh_a_symbolic_length():
    inputs = fg.Input(shape=(None, 3))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(1).normal(size=(4, 5, 3)).astype("float32")
    y = np.zeros((4, 5, 1), "float32")
    weights = np.tile(np.array([1.0, 0.0, 2.0, 0.0, 1.0], "float32"), (4, 1))
    squared = model.predict(x, verbose=0)[..., 0] ** 2
    got = model.evaluate(x, y, sample_weight=weights, verbose=0)
    np.testing.assert_allclose(got, np.mean(squared * weights), rtol=1e-5)
