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


def np_dot(x, y, axes, normalize=False):
    """Keras's Dot from its definition: per sample, the tensordot over the two axes
    (numbered with the batch axis); a lone batch axis left gets a trailing 1."""
    a, b = (axes, axes) if isinstance(axes, int) else axes
    a, b = a % x.ndim, b % y.ndim
    if normalize:
        x = x * np.minimum(1 / np.sqrt((x ** 2).sum(a, keepdims=True)), 1e7)
        y = y * np.minimum(1 / np.sqrt((y ** 2).sum(b, keepdims=True)), 1e7)
    out = np.stack([np.tensordot(xs, ys, axes=(a - 1, b - 1)) for xs, ys in zip(x, y)])
    return out.reshape(len(x), 1) if out.ndim == 1 else out


@pytest.mark.parametrize("x_shape, y_shape, axes", [
    ((4, 5), (4, 5), -1), ((4, 3, 5), (4, 6, 5), (2, 2)), ((4, 3, 5), (4, 5, 6), (2, 1)),
    ((4, 2, 3, 5), (4, 5, 6), (3, 1)), ((4, 5), (4, 5, 3), (1, 1)), ((4, 3, 5), (4, 5), (2, 1)),
    ((4, 3, 4, 5), (4, 6, 7, 4), (2, 3)),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_as_keras_defines_it(x_shape, y_shape, axes, normalize):
    x, y = RNG.normal(size=x_shape).astype("float32"), RNG.normal(size=y_shape).astype("float32")
    if normalize:
        x[0] = 1e-5                              # a tiny norm: Keras's clamp at 1e-7
    got = np.asarray(fg.layers.Dot(axes, normalize=normalize)([x, y]))
    want = np_dot(x, y, axes, normalize)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dot_function_in_a_model_trains_alike_on_both_backends():
    from helpers.training import trains_alike_on_both_backends
    x1 = RNG.normal(size=(48, 4)).astype("float32")
    x2 = RNG.normal(size=(48, 2, 4)).astype("float32")
    y = (np.sum(x1 * x2[:, 0], axis=1, keepdims=True) > 0).astype("float32")

    def build():
        a, b = fg.Input((4,)), fg.Input((2, 4))
        seq = fg.layers.Dense(3)(b)
        scores = fg.layers.dot([fg.layers.Dense(3)(a), seq], axes=(1, 2), normalize=True)
        return fg.Model([a, b], fg.layers.Dense(1, activation="sigmoid")(scores))

    trains_alike_on_both_backends(build, [x1, x2], y, "binary_crossentropy")


def test_dot_arguments_and_inputs_are_checked():
    a, b = fg.Input((3,)), fg.Input((4,))
    with pytest.raises(ValueError, match=r"`axes` must be an int or a list of two ints, got "
                                         r"\(1, 2, 3\)"):
        fg.layers.Dot((1, 2, 3))
    with pytest.raises(ValueError, match=r"axis 1 of the first input \(size 3\) and axis 1 of "
                                         r"the second \(size 4\) must have the same size"):
        fg.layers.Dot(1)([a, b])
    with pytest.raises(ValueError, match=r"axis 0 is not a non-batch axis"):
        fg.layers.Dot(0)([a, a])
    with pytest.raises(ValueError, match=r"\(Dot\) takes a list of 2 tensors to merge, got 3"):
        fg.layers.Dot(1)([a, a, a])
