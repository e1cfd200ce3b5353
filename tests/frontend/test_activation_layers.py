"""frontend/layers/activation_layers.py against numpy written from Keras 3's formulas."""
import numpy as np
import pytest

import fusegraph as fg

X = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0, 8.0]], "float32")


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("layer, expected", [
    (fg.layers.ReLU(), np.maximum(X, 0)),
    (fg.layers.ReLU(max_value=6, negative_slope=0.1, threshold=0.5),
     np.minimum(np.where(X >= 0.5, X, 0.1 * (X - 0.5)), 6)),
    (fg.layers.LeakyReLU(), np.where(X > 0, X, 0.3 * X)),         # Keras 3's layer default
    (fg.layers.ELU(alpha=0.5), np.where(X > 0, X, 0.5 * (np.exp(np.minimum(X, 0)) - 1))),
    (fg.layers.Softmax(), np_softmax(X)),
    (fg.layers.Identity(), X),
])
def test_each_layer_as_keras_computes_it(layer, expected):
    got = np.asarray(layer(X))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert not np.signbit(got[expected == 0]).any()          # zeros are +0.0


def test_softmax_gives_masked_positions_no_probability():
    inputs = fg.Input((4,), dtype="int32")
    embedded = fg.layers.Embedding(5, 1, mask_zero=True)(inputs)       # (B, 4, 1), mask (B, 4)
    with pytest.warns(UserWarning, match="does not support masking"):   # the mask is passed
        scores = fg.layers.Reshape((4,))(embedded)                   # by hand below
    model = fg.Model(inputs, fg.layers.Softmax()(scores, mask=embedded._keras_mask))
    ids = np.array([[1, 2, 0, 0], [3, 0, 4, 1]], "int32")
    probs = model.predict(ids, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(probs[ids == 0] < 1e-6) and np.all(probs[ids != 0] > 1e-3)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="negative_slope"):
        fg.layers.LeakyReLU(negative_slope=-1)
    with pytest.raises(TypeError, match="axis must be an int"):
        fg.layers.Softmax(axis="last")
