"""DepthwiseConv2D and SeparableConv2D against plain-numpy convolutions written here from
Keras's semantics (output channel i * m + j is input channel i convolved with kernel[...,
i, j]; separable = depthwise then a 1x1 convolution); weight shapes and order; gradients
against central differences in float64; a compiled fit alike on both backends."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir.errors import ShapeError
from helpers.conv_reference import central_differences, np_padding
from helpers.training import trains_alike_on_both_backends

L = fg.layers


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def np_depthwise(x, kernel, strides, padding, dilation):
    """x (b, h, w, c), kernel (kh, kw, c, m) -> (b, oh, ow, c * m), looping over output
    positions, taps, channels and multipliers."""
    kh, kw, c, m = kernel.shape
    pads = [np_padding(x.shape[1 + a], kernel.shape[a], strides[a], dilation[a], padding)
            for a in range(2)]
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)])
    oh = (xp.shape[1] - dilation[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (xp.shape[2] - dilation[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((x.shape[0], oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    row, col = i * strides[0] + p * dilation[0], j * strides[1] + q * dilation[1]
                    pixel = xp[:, row, col]
                    for ch in range(c):
                        for k in range(m):
                            y[:, i, j, ch * m + k] += pixel[:, ch] * kernel[p, q, ch, k]
    return y


CASES = [
    # kernel, strides, padding, dilation, depth_multiplier, input (h, w)
    ((3, 3), (1, 1), "valid", (1, 1), 1, (6, 7)),
    ((3, 3), (1, 1), "same", (1, 1), 2, (6, 7)),
    ((3, 2), (2, 2), "valid", (1, 1), 3, (7, 6)),
    ((4, 4), (3, 2), "same", (1, 1), 1, (8, 7)),
    ((3, 3), (1, 1), "same", (2, 2), 2, (7, 8)),
    ((1, 1), (1, 1), "valid", (1, 1), 2, (4, 5)),
]


@pytest.mark.parametrize("kernel,strides,padding,dilation,multiplier,size", CASES,
                         ids=lambda v: str(v).replace(" ", ""))
def test_depthwise_matches_numpy(kernel, strides, padding, dilation, multiplier, size):
    layer = L.DepthwiseConv2D(kernel, strides=strides, padding=padding, dilation_rate=dilation,
                              depth_multiplier=multiplier)
    x = _rand(2, *size, 3)
    layer(x)
    w, b = layer.get_weights()
    assert w.shape == kernel + (3, multiplier) and b.shape == (3 * multiplier,)
    b = _rand(3 * multiplier, seed=1)
    layer.set_weights([w, b])
    expected = np_depthwise(x, w, strides, padding, dilation) + b
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel,strides,padding,dilation,multiplier,size", CASES[1:4],
                         ids=lambda v: str(v).replace(" ", ""))
def test_separable_is_depthwise_then_pointwise(kernel, strides, padding, dilation, multiplier,
                                               size):
    layer = L.SeparableConv2D(4, kernel, strides=strides, padding=padding,
                              dilation_rate=dilation, depth_multiplier=multiplier,
                              activation="relu")
    x = _rand(2, *size, 3)
    layer(x)
    dw, pw, b = layer.get_weights()
    assert (dw.shape, pw.shape, b.shape) == (kernel + (3, multiplier),
                                             (1, 1, 3 * multiplier, 4), (4,))
    b = _rand(4, seed=2)
    layer.set_weights([dw, pw, b])
    expected = np.maximum(np_depthwise(x, dw, strides, padding, dilation) @ pw[0, 0] + b, 0)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_keras_weight_names_order_and_defaults():
    inputs = fg.Input(shape=(5, 5, 2))
    d = L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="dw")
    s = L.SeparableConv2D(3, 2, name="sep")
    model = fg.Model(inputs, s(d(inputs)))
    assert [w.path for w in model.weights] == ["dw/kernel", "sep/depthwise_kernel",
                                               "sep/pointwise_kernel", "sep/bias"]
    assert [w.shape for w in model.weights] == [(3, 3, 2, 2), (2, 2, 4, 1), (1, 1, 4, 3), (3,)]
    assert d.kernel is model.weights[0] and s.depthwise_kernel is model.weights[1]
    assert (d.strides, d.padding, d.dilation_rate, d.data_format) == ((1, 1), "valid", (1, 1),
                                                                     "channels_last")
    assert s.output.shape == (None, 2, 2, 3)
    # glorot_uniform over Keras's fans of (3, 3, 2, 2): (9 * 2, 9 * 2)
    assert np.abs(d.kernel.numpy()).max() <= np.sqrt(6.0 / 36)


def test_regularizers_and_constraints_use_keras_names():
    layer = L.SeparableConv2D(2, 2, depthwise_regularizer="l2", pointwise_regularizer="l1",
                              bias_regularizer="l2", depthwise_constraint="non_neg",
                              pointwise_constraint="non_neg", bias_constraint="non_neg")
    layer(_rand(1, 4, 4, 2))
    assert layer.depthwise_kernel.regularizer is not None
    assert layer.pointwise_kernel.regularizer is not None and layer.bias.regularizer is not None
    assert all(w.constraint is not None for w in layer.weights)
    assert len(layer.losses) == 3
    d = L.DepthwiseConv2D(2, depthwise_regularizer="l2", depthwise_constraint="non_neg",
                          activity_regularizer="l1")
    d(_rand(1, 4, 4, 2))
    assert d.kernel.regularizer is not None and d.kernel.constraint is not None
    assert d.activity_regularizer is not None


@pytest.mark.parametrize("make,message", [
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: L.DepthwiseConv2D(3, padding="causal"), "padding"),
    (lambda: L.DepthwiseConv2D(3, data_format="channels_first"), "channels_last"),
    (lambda: L.DepthwiseConv2D(3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: L.SeparableConv2D(0, 3), "filters"),
    (lambda: L.SeparableConv2D(2, (3, 3, 3)), "kernel_size"),
    (lambda: L.SeparableConv2D(2, 3, pointwise_initializer="nope"), "pointwise_initializer"),
])
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_are_named():
    with pytest.raises(ShapeError, match="rank-4"):
        L.DepthwiseConv2D(3)(fg.Input(shape=(8, 3)))
    layer = L.SeparableConv2D(2, 3)
    layer(fg.Input(shape=(6, 6, 3)))
    with pytest.raises(ShapeError, match="3 channels"):
        layer(fg.Input(shape=(6, 6, 4)))


@pytest.mark.parametrize("layer_fn", [
    lambda: L.DepthwiseConv2D((2, 3), strides=(2, 1), padding="same", depth_multiplier=2,
                              dtype="float64"),
    lambda: L.SeparableConv2D(2, 2, dilation_rate=2, depth_multiplier=2, dtype="float64"),
], ids=["depthwise", "separable"])
def test_gradients_match_central_differences(layer_fn):
    layer = layer_fn()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 5, 2))
    r = rng.normal(size=layer(x).shape)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    weights = layer.trainable_weights

    @fg.function
    def grads(x, r):
        with fg.GradientTape() as tape:
            loss = fg.ops.sum(fg.ops.multiply(layer(x), r))
        return tape.gradient(loss, [x] + weights)

    got = grads(x, r)

    def value():
        return float(np.sum(layer(x) * r))

    np.testing.assert_allclose(got[0], central_differences(value, x), rtol=1e-6, atol=1e-7)
    for variable, g in zip(weights, got[1:]):
        array = variable.numpy()

        def value_of_weight():
            variable.assign(array)
            return value()

        expected = central_differences(value_of_weight, array)
        variable.assign(array)          # the last difference left it one step off
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-7)


def test_a_separable_convnet_trains_on_both_backends_with_equal_results():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6, 6, 2)).astype("float32")
    y = (x[:, :3, :, 0].mean(axis=(1, 2)) > x[:, 3:, :, 1].mean(axis=(1, 2))).astype("int32")

    def build():
        inputs = fg.Input(shape=(6, 6, 2))
        h = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(inputs)
        h = L.SeparableConv2D(4, 3, strides=2, activation="relu")(h)
        h = L.Flatten()(h)
        return fg.Model(inputs, L.Dense(2, activation="softmax")(h))

    losses = trains_alike_on_both_backends(build, x, y, "sparse_categorical_crossentropy")
    assert losses[-1] < losses[0]
