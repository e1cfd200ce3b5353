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
