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


@pytest.mark.parametrize("shared_axes, alpha_shape", [(None, (3, 4, 5)), ([1, 2], (1, 1, 5)),
                                                      (3, (3, 4, 1))])
def test_prelu_has_keras_alpha_shape_and_formula(shared_axes, alpha_shape):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    layer = fg.layers.PReLU(shared_axes=shared_axes)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.maximum(x, 0))   # alpha starts at 0
    assert [w.path.rsplit("/", 1)[1] for w in layer.weights] == ["alpha"]
    alpha = np.random.default_rng(1).normal(size=alpha_shape).astype("float32")
    layer.set_weights([alpha])
    np.testing.assert_allclose(np.asarray(layer(x)), np.where(x > 0, x, alpha * x), rtol=1e-6)


def test_prelu_learns_its_slope_alike_on_both_backends():
    from helpers.training import trains_alike_on_both_backends
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = np.where(x > 0, x, 0.5 * x)

    def build():
        inputs = fg.Input((3,))
        return fg.Model(inputs, fg.layers.PReLU(alpha_initializer="ones")(inputs))

    trains_alike_on_both_backends(build, x, y, "mse", lr=5e-2)


def test_prelu_regularizer_constraint_and_errors():
    layer = fg.layers.PReLU(alpha_initializer=fg.initializers.Constant(-2.0),
                            alpha_regularizer=fg.regularizers.L2(0.1),
                            alpha_constraint=fg.constraints.NonNeg())
    layer(np.ones((1, 2), "float32"))
    assert float(np.asarray(layer.losses[0])) == pytest.approx(0.1 * 4 * 2)
    assert layer.weights[0].constraint is not None
    with pytest.raises(ValueError, match=r"`shared_axes` must be an int or a list of ints >= 1"):
        fg.layers.PReLU(shared_axes=[0])
    with pytest.raises(Exception, match=r"expected an input of shape \(batch, 2\)"):
        layer(np.ones((1, 3), "float32"))
    with pytest.raises(Exception, match=r"must have known sizes"):
        fg.layers.PReLU()(fg.Input((None, 3)))
