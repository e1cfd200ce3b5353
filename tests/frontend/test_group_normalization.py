"""GroupNormalization (frontend/layers/normalization.py) against numpy written from Keras
3's definition: per sample and group, the mean and biased variance over the group's
channels and every other non-batch axis; gamma and beta per channel."""
import numpy as np
import pytest

import fusegraph as fg
from helpers.training import trains_alike_on_both_backends

L = fg.layers


def np_group_norm(x, groups, axis=-1, epsilon=1e-3):
    """The normalized ``x`` (before gamma and beta)."""
    axis = axis % x.ndim
    moved = np.moveaxis(x, axis, -1)
    channels = moved.shape[-1]
    grouped = moved.reshape(moved.shape[0], -1, groups, channels // groups)
    mean = grouped.mean(axis=(1, 3), keepdims=True)
    variance = grouped.var(axis=(1, 3), keepdims=True)
    out = ((grouped - mean) / np.sqrt(variance + epsilon)).reshape(moved.shape)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("shape, kwargs", [
    ((2, 5, 6), dict(groups=3)), ((2, 4, 3, 8), dict(groups=4)), ((2, 6, 5), dict(groups=-1)),
    ((2, 6, 5), dict(groups=2, axis=1)), ((2, 4, 6, 5), dict(groups=3, axis=2, center=False)),
    ((2, 3, 4), dict(groups=2, scale=False)), ((3, 8), dict(groups=8)),
])
def test_group_normalization_as_keras_defines_it(shape, kwargs):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * 3 + 1).astype("float32")
    layer = L.GroupNormalization(**kwargs)
    layer(x)
    channels = shape[kwargs.get("axis", -1)]
    names = [n for n, on in (("gamma", kwargs.get("scale", True)),
                             ("beta", kwargs.get("center", True))) if on]
    assert [w.path.rsplit("/", 1)[1] for w in layer.weights] == names
    assert all(w.shape == (channels,) for w in layer.get_weights())
    weights = [rng.normal(size=(channels,)).astype("float32") for _ in names]
    layer.set_weights(weights)
    given = dict(zip(names, weights))
    groups = channels if kwargs["groups"] == -1 else kwargs["groups"]
    axis = kwargs.get("axis", -1)
    per_channel = [1] * len(shape)
    per_channel[axis] = channels
    gamma, beta = (given[n].reshape(per_channel) if n in given else None for n in ("gamma", "beta"))
    want = np_group_norm(x, groups, axis)
    want = want * (1 if gamma is None else gamma) + (0 if beta is None else beta)
    np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-4, atol=1e-5)


def test_group_normalization_with_unknown_steps_trains_alike_on_both_backends():
    x = np.random.default_rng(1).normal(size=(48, 5, 4)).astype("float32")
    y = x.mean(axis=(1, 2))[:, None] + 1.0

    def build():
        inputs = fg.Input((None, 4))
        h = L.GroupNormalization(groups=2)(L.Dense(4)(inputs))
        return fg.Model(inputs, L.Dense(1)(L.GlobalAveragePooling1D()(h)))

    trains_alike_on_both_backends(build, x, y, "mse")


def test_group_normalization_arguments_and_inputs_are_checked():
    with pytest.raises(ValueError, match=r"`groups` must be a positive int \(or -1"):
        L.GroupNormalization(groups=0)
    with pytest.raises(Exception, match=r"the 6 channels of axis -1 must split into 4 groups"):
        L.GroupNormalization(groups=4)(fg.Input((3, 6)))
    with pytest.raises(Exception, match=r"the 2 channels of axis -1 must split into 32 groups"):
        L.GroupNormalization()(fg.Input((2,)))
    layer = L.GroupNormalization(groups=2)
    layer(np.ones((1, 4), "float32"))
    with pytest.raises(Exception, match=r"expected axis -1 of the input to have size 4"):
        layer(np.ones((1, 6), "float32"))
