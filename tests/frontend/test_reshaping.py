"""frontend/layers/reshaping.py against numpy: Permute, RepeatVector, ZeroPadding1D/2D,
Cropping1D/2D, Rescaling, UnitNormalization, in a functional model (symbolic batch) and
on arrays, and their argument errors."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import layers as L

RNG = np.random.default_rng(8)
X3 = RNG.normal(size=(2, 5, 3)).astype("float32")
X4 = RNG.normal(size=(2, 4, 5, 3)).astype("float32")


@pytest.mark.parametrize("layer, x, expected", [
    (L.Permute((2, 1)), X3, np.transpose(X3, (0, 2, 1))),
    (L.RepeatVector(4), X3[:, 0], np.repeat(X3[:, None, 0], 4, axis=1)),
    (L.ZeroPadding1D(2), X3, np.pad(X3, ((0, 0), (2, 2), (0, 0)))),
    (L.ZeroPadding1D((1, 3)), X3, np.pad(X3, ((0, 0), (1, 3), (0, 0)))),
    (L.ZeroPadding2D(((1, 0), (2, 1))), X4, np.pad(X4, ((0, 0), (1, 0), (2, 1), (0, 0)))),
    (L.ZeroPadding2D(1), X4, np.pad(X4, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    (L.Cropping1D((1, 2)), X3, X3[:, 1:3]),
    (L.Cropping2D(((1, 1), (0, 2))), X4, X4[:, 1:3, 0:3]),
    (L.Cropping2D(1), X4, X4[:, 1:3, 1:4]),
    (L.Rescaling(1 / 255, offset=-0.5), X3, X3 / 255 - 0.5),
    (L.UnitNormalization(), X3, X3 / np.linalg.norm(X3, axis=-1, keepdims=True)),
])
def test_each_layer_as_numpy_says(layer, x, expected):
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-6, atol=1e-7)
    inputs = fg.Input(x.shape[1:])
    model = fg.Model(inputs, layer(inputs))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)


def test_arguments_and_inputs_are_checked():
    with pytest.raises(ValueError, match=r"Permute: `dims` must be a permutation of 1..2"):
        L.Permute((0, 1))
    with pytest.raises(ValueError, match=r"ZeroPadding2D: `padding` must be an int, 2 ints"):
        L.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="leaves nothing of axis 1"):
        L.Cropping1D((3, 2))(X3)
    with pytest.raises(ValueError, match="rank-2 input"):
        L.RepeatVector(2)(X3)
