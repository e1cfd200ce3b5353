"""frontend/layers/merging.py: the elementwise merge layers against numpy, as layers in
a functional model and as functions, and their input-count errors."""
import numpy as np
import pytest

import fusegraph as fg

RNG = np.random.default_rng(2)
A, B, C = (RNG.normal(size=(4, 3)).astype("float32") for _ in range(3))


@pytest.mark.parametrize("layer, function, reference", [
    (fg.layers.Multiply, fg.layers.multiply, lambda *xs: xs[0] * xs[1] * xs[2]),
    (fg.layers.Average, fg.layers.average, lambda *xs: sum(xs) / 3),
    (fg.layers.Maximum, fg.layers.maximum, lambda *xs: np.maximum(np.maximum(*xs[:2]), xs[2])),
    (fg.layers.Minimum, fg.layers.minimum, lambda *xs: np.minimum(np.minimum(*xs[:2]), xs[2])),
])
def test_three_inputs_merge_as_numpy_says(layer, function, reference):
    inputs = [fg.Input((3,)) for _ in range(3)]
    model = fg.Model(inputs, layer()(inputs))
    np.testing.assert_allclose(model.predict([A, B, C], verbose=0), reference(A, B, C),
                               rtol=1e-6)
    functional = fg.Model(inputs, function(inputs))
    np.testing.assert_allclose(functional.predict([A, B, C], verbose=0), reference(A, B, C),
                               rtol=1e-6)


def test_subtract_takes_exactly_two():
    a, b = fg.Input((3,)), fg.Input((3,))
    model = fg.Model([a, b], fg.layers.subtract([a, b]))
    np.testing.assert_allclose(model.predict([A, B], verbose=0), A - B, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(Subtract\) takes a list of 2 tensors to merge, "
                                         r"got 3"):
        fg.layers.Subtract()([a, b, fg.Input((3,))])
    with pytest.raises(ValueError, match=r"takes a list of at least 2 tensors to merge, got 1"):
        fg.layers.Multiply()([a])


def test_inputs_broadcast_and_gradients_flow():
    a, b = fg.Input((4, 3)), fg.Input((1, 3))
    model = fg.Model([a, b], fg.layers.Dense(1)(fg.layers.Multiply()([a, b])))
    model.compile("sgd", "mse")
    x1, x2 = RNG.normal(size=(8, 4, 3)).astype("float32"), RNG.normal(size=(8, 1, 3)).astype("float32")
    history = model.fit([x1, x2], np.ones((8, 4, 1), "float32"), epochs=5, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
