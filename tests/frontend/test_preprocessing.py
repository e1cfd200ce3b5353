"""Normalization and CategoryEncoding: numpy formulas from Keras's semantics (mean and
variance over the other axes, max(sqrt(var), 1e-7); the batch-merged statistics of a
dataset), weights as Keras keeps them, encodings counted by hand, both in a model."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.data import Dataset

L = fg.layers


def test_normalization_adapts_mean_and_variance_per_feature():
    data = np.array([[0., 7.], [2., 9.], [5., 1.]], dtype="float32")
    layer = L.Normalization()
    layer.adapt(data)
    assert [(w.name, w.shape, w.dtype.keras_name, w.trainable) for w in layer.weights] == [
        ("mean", (2,), "float32", False), ("variance", (2,), "float32", False),
        ("count", (), "int64", False)]
    mean, var = data.mean(axis=0), data.var(axis=0)
    np.testing.assert_allclose(layer.adapt_mean.numpy(), [7 / 3, 17 / 3], rtol=1e-6)
    x = np.array([[1., 1.], [4., -2.]], dtype="float32")
    np.testing.assert_allclose(layer(x), (x - mean) / np.sqrt(var), rtol=1e-6)
    inputs = fg.Input(shape=(2,))
    model = fg.Model(inputs, layer(inputs))
    np.testing.assert_allclose(model(x), (x - mean) / np.sqrt(var), rtol=1e-6)


def test_normalization_adapts_from_batches_as_keras_merges_them():
    data = np.arange(12.).reshape(6, 2)
    for source in (Dataset.from_tensor_slices(data).batch(4), [data[:4], data[4:]],
                   (b for b in (data[:1], data[1:]))):
        layer = L.Normalization()
        layer.adapt(source)
        np.testing.assert_allclose(layer.adapt_mean.numpy(), [5., 6.])
        np.testing.assert_allclose(layer.adapt_variance.numpy(), [35 / 3, 35 / 3], rtol=1e-6)
    labelled = Dataset.from_tensor_slices((data, np.zeros(6))).batch(3)
    layer = L.Normalization()
    layer.adapt(labelled)                      # of an (x, y) batch, x
    np.testing.assert_allclose(layer.adapt_mean.numpy(), [5., 6.])


def test_normalization_axes_given_statistics_and_invert():
    layer = L.Normalization(axis=None)
    layer.adapt(np.array([[1., 2.], [3., 6.]]))          # one mean 3, variance 3.5
    np.testing.assert_allclose(layer(np.array([[1., 2.]])), [[-2 / np.sqrt(3.5),
                                                              -1 / np.sqrt(3.5)]], rtol=1e-6)
    x = np.arange(24., dtype="float32").reshape(2, 3, 4)
    layer = L.Normalization(axis=(1, 2))
    layer.adapt(x)
    assert layer.adapt_mean.shape == (3, 4)
    np.testing.assert_allclose(layer.adapt_mean.numpy(), x.mean(axis=0))
    # given statistics fill the trailing kept axes and make no weights
    given = L.Normalization(axis=(1, 2), mean=[1., 2.], variance=[1., 4.])
    np.testing.assert_allclose(given(np.ones((1, 3, 2), "float32")),
                               np.broadcast_to([0., -0.5], (1, 3, 2)))
    assert given.weights == []
    scalar = L.Normalization(mean=2.0, variance=4.0)
    np.testing.assert_allclose(scalar(np.array([[1., 2.], [3., 6.]])), [[-.5, 0.], [.5, 2.]])
    inverted = L.Normalization(mean=[1., 2.], variance=[4., 0.], invert=True)
    np.testing.assert_allclose(inverted(np.array([[1., 2.]])), [[3., 2. + 2e-7]], rtol=1e-7)


@pytest.mark.parametrize("make,error,message", [
    (lambda: L.Normalization(mean=1.0), ValueError, "both"),
    (lambda: L.Normalization(mean=[1., 2.], variance=[1.]), ValueError, "same shape"),
    (lambda: L.Normalization(axis=-1, mean=np.ones((2, 2)), variance=np.ones((2, 2))),
     ValueError, "at most"),
    (lambda: L.Normalization(axis="x"), ValueError, "axis"),
    (lambda: L.CategoryEncoding(), ValueError, "num_tokens"),
    (lambda: L.CategoryEncoding(3, output_mode="tf_idf"), ValueError, "output_mode"),
    (lambda: L.CategoryEncoding(3, sparse=True), ValueError, "sparse"),
])
def test_bad_arguments_are_named(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_normalization_adapt_checks_the_built_shape():
    layer = L.Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match="built for shape"):
        layer.adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match="cannot adapt"):
        L.Normalization(mean=0., variance=1.).adapt(np.ones((2, 2)))


def test_category_encoding_modes():
    ids = np.array([[0, 1, 1], [3, 3, 2]])
    np.testing.assert_array_equal(L.CategoryEncoding(4)(ids), [[1, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(L.CategoryEncoding(4, output_mode="count")(ids),
                                  [[1, 2, 0, 0], [0, 0, 1, 2]])
    np.testing.assert_array_equal(L.CategoryEncoding(4)(np.array([3, 2, 0])), [1, 0, 1, 1])
    one_hot = L.CategoryEncoding(4, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(np.array([3, 2, 0])), np.eye(4)[[3, 2, 0]])
    np.testing.assert_array_equal(one_hot(np.array([[3], [2]])), np.eye(4)[[3, 2]])
    weighted = L.CategoryEncoding(3, output_mode="count")(
        np.array([[0, 2, 2]]), count_weights=np.array([[.5, 1., 2.]], "float32"))
    np.testing.assert_allclose(weighted, [[.5, 0., 3.]])
    with pytest.raises(ValueError, match="count_weights"):
        L.CategoryEncoding(3)(np.array([[0]]), count_weights=np.array([[1.]]))


def test_category_encoding_in_a_model_after_integer_inputs():
    inputs = fg.Input(shape=(3,), dtype="int32")
    encoded = L.CategoryEncoding(5, output_mode="count")(inputs)
    assert encoded.shape == (None, 5)
    model = fg.Model(inputs, L.Dense(1)(encoded))
    model.compile(optimizer="sgd", loss="mse")
    x = np.array([[1, 1, 4], [0, 2, 2]])
    history = model.fit(x, np.array([[1.], [2.]]), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_adapt_after_compile_takes_effect_and_fit_leaves_the_statistics():
    inputs = fg.Input(shape=(2,))
    layer = L.Normalization()
    model = fg.Model(inputs, L.Dense(1)(layer(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    x = np.array([[1., 1.]], dtype="float32")
    before = model.predict(x, verbose=0)
    layer.adapt(np.array([[0., 7.], [2., 9.], [5., 1.]]))
    assert not np.allclose(model.predict(x, verbose=0), before)
    statistics = layer.get_weights()
    model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)
    for a, b in zip(layer.get_weights(), statistics):
        np.testing.assert_array_equal(a, b)
