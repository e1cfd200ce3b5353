"""Cross-check against real Keras 3 (JAX backend) of DepthwiseConv2D, SeparableConv2D,
Normalization and CategoryEncoding: the same weights (copied with get/set_weights, which
checks their order and shapes), the same inputs, the same outputs; Normalization's
adapted statistics. Skipped without Keras (not a fusegraph dependency). The string
layers need TensorFlow inside Keras, so their expected values are in
tests/frontend/test_lookup.py and test_text.py instead."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fusegraph as fg  # noqa: E402


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


@pytest.mark.parametrize("name,kwargs", [
    ("DepthwiseConv2D", dict(kernel_size=3, padding="same", depth_multiplier=2, strides=2)),
    ("DepthwiseConv2D", dict(kernel_size=(2, 3), dilation_rate=2, activation="relu")),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, depth_multiplier=2, padding="same")),
    ("SeparableConv2D", dict(filters=3, kernel_size=2, strides=2, activation="tanh")),
])
def test_convolutions_equal_keras(name, kwargs):
    x = _rand(2, 7, 6, 3)
    ours, theirs = getattr(fg.layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    ours(x)
    theirs(x)
    weights = [_rand(*w.shape, seed=i + 1) for i, w in enumerate(theirs.get_weights())]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)


def test_normalization_and_category_encoding_equal_keras():
    data = _rand(5, 3, 4)
    for axis in (-1, (1, 2), None):
        ours, theirs = fg.layers.Normalization(axis=axis), keras.layers.Normalization(axis=axis)
        ours.adapt(data)
        theirs.adapt(data)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(ours(data)), np.asarray(theirs(data)), rtol=1e-5,
                                   atol=1e-6)
    ids = np.array([[0, 3, 3], [2, 1, 0]])
    for mode in ("multi_hot", "one_hot", "count"):
        ours = fg.layers.CategoryEncoding(4, output_mode=mode)
        theirs = keras.layers.CategoryEncoding(4, output_mode=mode)
        np.testing.assert_array_equal(np.asarray(ours(ids)), np.asarray(theirs(ids)))
