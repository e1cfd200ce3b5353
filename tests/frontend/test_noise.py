"""frontend/layers/noise.py: SpatialDropout1D/2D drop whole channels, GaussianNoise and
GaussianDropout draw Keras's distributions in training and are the identity otherwise,
including through a functional model's training flag."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import layers as L

X = np.ones((300, 6, 8), "float32")


def test_spatial_dropout_drops_whole_channels():
    y = np.asarray(L.SpatialDropout1D(0.5)(X, training=True))
    assert np.all(y.std(axis=1) == 0)                       # one draw per sample and channel
    assert set(np.unique(y)) == {0.0, 2.0} and abs(y.mean() - 1.0) < 0.1
    y2 = np.asarray(L.SpatialDropout2D(0.5)(np.ones((200, 3, 4, 5), "float32"), training=True))
    assert np.all(y2.reshape(200, 12, 5).std(axis=1) == 0)


@pytest.mark.parametrize("layer, mean, std", [
    (L.GaussianNoise(0.3), 1.0, 0.3),
    (L.GaussianDropout(0.2), 1.0, np.sqrt(0.2 / 0.8)),
])
def test_gaussian_layers_draw_their_distribution_in_training_only(layer, mean, std):
    y = np.asarray(layer(X, training=True))
    assert y.mean() == pytest.approx(mean, abs=0.01) and y.std() == pytest.approx(std, rel=0.03)
    np.testing.assert_array_equal(np.asarray(layer(X)), X)


def test_a_functional_model_uses_its_training_flag():
    inputs = fg.Input((6, 8))
    model = fg.Model(inputs, L.GaussianNoise(1.0)(inputs))
    np.testing.assert_array_equal(model.predict(X, verbose=0), X)
    assert np.asarray(model(X, training=True)).std() > 0.5
    with pytest.raises(ValueError, match="stddev"):
        L.GaussianNoise(-1.0)


def test_alpha_dropout_is_keras_affine_map_of_kept_and_saturated_values():
    """Keras 3: kept x -> a*x + b, dropped -> a*alpha' + b, so that a standard normal
    input keeps mean 0 and variance 1; the identity outside training."""
    rate, alpha = 0.2, -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha ** 2)) ** -0.5
    b = -a * alpha * rate
    x = np.random.default_rng(0).normal(size=(4000, 50)).astype("float32")
    layer = L.AlphaDropout(rate, seed=1)
    y = np.asarray(layer(x, training=True))
    kept = np.isclose(y, a * x + b, rtol=1e-5, atol=1e-6)
    dropped = np.isclose(y, a * alpha + b, rtol=1e-5, atol=1e-6)
    assert np.all(kept | dropped) and dropped.mean() == pytest.approx(rate, abs=0.01)
    assert y.mean() == pytest.approx(0.0, abs=0.01) and y.std() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    shared = np.asarray(L.AlphaDropout(0.5, noise_shape=(None, 1))(np.ones((100, 6), "float32"),
                                                                   training=True))
    assert np.all(shared.std(axis=1) == 0)                  # one draw per sample
    with pytest.raises(ValueError, match="rate"):
        L.AlphaDropout(1.5)


def test_alpha_dropout_in_a_model_trains_alike_on_both_backends():
    from helpers.training import trains_alike_on_both_backends
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)

    def build():
        inputs = fg.Input((4,))
        hidden = L.AlphaDropout(0.1, seed=3)(L.Dense(8, activation="tanh")(inputs))
        return fg.Model(inputs, L.Dense(1)(hidden))

    trains_alike_on_both_backends(build, x, y, "mse")
    model = build()
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x), rtol=1e-6)  # inference
