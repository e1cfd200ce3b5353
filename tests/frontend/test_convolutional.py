"""Conv1D and Conv2D against plain-numpy convolutions written here (loops over output
positions and taps) from the layers' own weights, for every padding, stride and dilation
case; their lowering (a gather with iota-built indices, one matmul, no big constant);
gradients w.r.t. input and kernel against central finite differences in float64."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir import Sym
from fusegraph.ir.errors import ShapeError
from helpers.conv_reference import central_differences, np_padding
from helpers.training import trains_alike_on_both_backends

L = fg.layers


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# --- numpy reference ---------------------------------------------------------------------
def np_conv(x, kernel, bias, strides, padding, dilation):
    """N-d channels_last convolution (cross-correlation, as Keras): x (b, *spatial, c),
    kernel (*k, c, f)."""
    n = x.ndim - 2
    ks = kernel.shape[:n]
    pads = [np_padding(x.shape[1 + a], ks[a], strides[a], dilation[a], padding) for a in range(n)]
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)])
    out_shape = [(xp.shape[1 + a] - dilation[a] * (ks[a] - 1) - 1) // strides[a] + 1
                 for a in range(n)]
    y = np.zeros((x.shape[0], *out_shape, kernel.shape[-1]))
    for o in np.ndindex(*out_shape):
        for k in np.ndindex(*ks):
            pos = tuple(o[a] * strides[a] + k[a] * dilation[a] for a in range(n))
            y[(slice(None),) + o] += xp[(slice(None),) + pos] @ kernel[k]
    return y + (0.0 if bias is None else bias)


CONV2D_CASES = [
    # kernel, strides, padding, dilation, input (h, w)
    ((3, 3), (1, 1), "valid", (1, 1), (7, 8)),
    ((3, 3), (1, 1), "same", (1, 1), (7, 8)),
    ((3, 3), (2, 2), "valid", (1, 1), (7, 8)),
    ((3, 3), (2, 2), "same", (1, 1), (7, 8)),
    ((2, 3), (2, 1), "same", (1, 1), (6, 5)),
    ((2, 2), (3, 2), "valid", (1, 1), (8, 7)),
    ((4, 4), (3, 3), "same", (1, 1), (8, 7)),        # even kernel: more padding after
    ((3, 3), (1, 1), "valid", (2, 2), (9, 8)),
    ((3, 2), (1, 1), "same", (2, 3), (7, 8)),
    ((1, 1), (1, 1), "valid", (1, 1), (4, 5)),        # 1x1: no gather at all
    ((1, 1), (2, 2), "same", (1, 1), (5, 5)),
    ((8, 8), (1, 1), "valid", (1, 1), (8, 8)),        # one window
]


@pytest.mark.parametrize("kernel,strides,padding,dilation,size", CONV2D_CASES,
                         ids=lambda v: str(v).replace(" ", ""))
def test_conv2d_matches_numpy(kernel, strides, padding, dilation, size):
    layer = L.Conv2D(4, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    x = _rand(2, *size, 3)
    y = layer(x)
    w, b = layer.get_weights()
    assert w.shape == kernel + (3, 4) and b.shape == (4,)
    b = np.random.default_rng(1).normal(size=4).astype("float32")   # a nonzero bias
    layer.set_weights([w, b])
    expected = np_conv(x, w, b, strides, padding, dilation)
    y = layer(x)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


CONV1D_CASES = [
    (3, 1, "valid", 1), (3, 1, "same", 1), (3, 1, "causal", 1), (4, 2, "same", 1),
    (3, 3, "valid", 1), (2, 2, "causal", 1), (3, 1, "causal", 2), (3, 1, "same", 3),
    (1, 1, "valid", 1),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation", CONV1D_CASES,
                         ids=lambda v: str(v))
def test_conv1d_matches_numpy(kernel, stride, padding, dilation):
    layer = L.Conv1D(5, kernel, strides=stride, padding=padding, dilation_rate=dilation,
                     bias_initializer="ones")
    x = _rand(3, 10, 2)
    y = layer(x)
    w, b = layer.get_weights()
    assert w.shape == (kernel, 2, 5) and b.shape == (5,)
    np.testing.assert_allclose(y, np_conv(x, w, b, (stride,), padding, (dilation,)),
                               rtol=1e-5, atol=1e-5)


def test_causal_conv1d_output_depends_on_the_past_only():
    layer = L.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = _rand(1, 12, 3)
    changed = x.copy()
    changed[:, 7:] += 1.0
    np.testing.assert_allclose(layer(x)[:, :7], layer(changed)[:, :7], rtol=1e-6)


def test_activation_no_bias_and_keras_defaults():
    layer = L.Conv2D(3, 2, activation="relu", use_bias=False)
    x = _rand(2, 5, 5, 2)
    y = layer(x)
    (w,) = layer.get_weights()
    np.testing.assert_allclose(y, np.maximum(np_conv(x, w, None, (1, 1), "valid", (1, 1)), 0),
                               rtol=1e-5, atol=1e-5)
    assert layer.kernel_size == (2, 2) and layer.strides == (1, 1) and layer.padding == "valid"
    # glorot_uniform over fans (kh*kw*c, kh*kw*f) = (8, 12), as Keras computes them
    assert np.abs(w).max() <= np.sqrt(6.0 / (8 + 12))


def test_weights_follow_keras_order_in_a_model():
    inputs = fg.Input(shape=(6, 6, 3))
    x = L.Conv2D(8, (3, 2), name="c1")(inputs)
    x = L.Conv2D(4, 1, name="c2")(x)
    model = fg.Model(inputs, x)
    assert [w.shape for w in model.get_weights()] == [(3, 2, 3, 8), (8,), (1, 1, 8, 4), (4,)]
    assert model.count_params() == 3 * 2 * 3 * 8 + 8 + 8 * 4 + 4


def test_symbolic_batch_one_trace_serves_every_batch_size():
    inputs = fg.Input(shape=(7, 7, 2))
    outputs = L.Conv2D(3, 3, strides=2, padding="same")(inputs)
    model = fg.Model(inputs, outputs)
    assert outputs.shape == (None, 4, 4, 3)
    w, b = model.get_weights()
    for batch in (1, 5, 2):
        x = _rand(batch, 7, 7, 2, seed=batch)
        np.testing.assert_allclose(model(x), np_conv(x, w, b, (2, 2), "same", (1, 1)),
                                   rtol=1e-5, atol=1e-5)
    assert isinstance(model.graph.params[0].type.shape[0], Sym)


def test_lowering_is_a_gather_and_one_matmul_without_a_big_constant():
    inputs = fg.Input(shape=(28, 28, 3))
    model = fg.Model(inputs, L.Conv2D(8, 3, padding="same")(inputs))
    kinds = [op.kind for op in model.graph.ops]
    assert kinds.count("matmul") == 1 and kinds.count("take") == 1
    assert "iota" in kinds and "pad" in kinds
    # the 28*28*9 window indices are iota arithmetic, not a literal: every constant is a
    # scalar
    constants = [op for op in model.graph.ops if op.kind == "constant"]
    assert all(op.results[0].type.shape == () for op in constants)
    matmul = next(op for op in model.graph.ops if op.kind == "matmul")
    assert matmul.operands[1].type.shape == (27, 8)           # kernel as (kh*kw*c, f)


def test_one_by_one_convolution_needs_no_gather():
    inputs = fg.Input(shape=(5, 5, 3))
    model = fg.Model(inputs, L.Conv2D(2, 1)(inputs))
    assert "take" not in [op.kind for op in model.graph.ops]


@pytest.mark.parametrize("kwargs,message", [
    (dict(filters=0, kernel_size=3), "filters"),
    (dict(filters=2, kernel_size=(3,)), "kernel_size"),
    (dict(filters=2, kernel_size=3, strides=0), "strides"),
    (dict(filters=2, kernel_size=3, padding="full"), "padding"),
    (dict(filters=2, kernel_size=3, padding="causal"), "padding"),   # Conv1D only
    (dict(filters=2, kernel_size=3, strides=2, dilation_rate=2), "dilation_rate"),
    (dict(filters=2, kernel_size=3, data_format="channels_first"), "channels_last"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        L.Conv2D(**kwargs)


def test_bad_inputs_are_named():
    with pytest.raises(ShapeError, match=r"conv2d.*rank-4"):
        L.Conv2D(2, 3, name="conv2d")(fg.Input(shape=(8, 3)))
    with pytest.raises(ShapeError, match="known sizes"):
        L.Conv2D(2, 3)(fg.Input(shape=(None, None, 3)))
    with pytest.raises(ShapeError, match="at least one window"):
        L.Conv2D(2, 5)(fg.Input(shape=(4, 8, 3)))
    layer = L.Conv2D(2, 3)
    layer(fg.Input(shape=(6, 6, 3)))
    with pytest.raises(ShapeError, match="3 channels"):
        layer(fg.Input(shape=(6, 6, 4)))


# --- gradients -------------------------------------------------------------------------
@pytest.mark.parametrize("layer_fn,x_shape", [
    (lambda: L.Conv2D(2, (2, 3), strides=(2, 1), padding="same", dtype="float64"), (2, 5, 4, 2)),
    (lambda: L.Conv2D(2, 2, dilation_rate=2, dtype="float64"), (1, 5, 5, 2)),
    (lambda: L.Conv1D(3, 3, padding="causal", dilation_rate=2, dtype="float64"), (2, 7, 2)),
], ids=["conv2d_same_strided", "conv2d_dilated", "conv1d_causal"])
def test_gradients_match_central_differences(layer_fn, x_shape):
    """d(sum(y * r)) / d(input) and / d(kernel) through fg.function + GradientTape in
    float64; the differences perturb the input array and the kernel variable."""
    layer = layer_fn()
    rng = np.random.default_rng(3)
    x = rng.normal(size=x_shape)
    r = rng.normal(size=layer(x).shape)           # builds the layer; a fixed weighting
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])

    @fg.function
    def grads(x, r):
        with fg.GradientTape() as tape:
            loss = fg.ops.sum(fg.ops.multiply(layer(x), r))
        return loss, tape.gradient(loss, [x, layer.kernel])

    loss, (gx, gk) = grads(x, r)
    assert gx.dtype == np.float64 and gx.shape == x.shape and gk.shape == layer.kernel.shape

    def value():
        return float(np.sum(layer(x) * r))

    np.testing.assert_allclose(loss, value(), rtol=1e-12)
    np.testing.assert_allclose(gx, central_differences(value, x), rtol=1e-6, atol=1e-7)
    kernel = layer.kernel.numpy()

    def value_of_kernel():
        layer.kernel.assign(kernel)
        return value()

    expected_gk = central_differences(value_of_kernel, kernel)
    np.testing.assert_allclose(gk, expected_gk, rtol=1e-6, atol=1e-7)


def test_a_convnet_trains_on_both_backends_with_equal_results():
    """Loss falls, and the reference and numba_cpu backends agree step by step."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6, 6, 1)).astype("float32")
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype("int32")

    def build():
        inputs = fg.Input(shape=(6, 6, 1))
        h = L.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        h = L.Conv2D(4, 3, strides=2, activation="relu")(h)
        h = L.Flatten()(h)
        return fg.Model(inputs, L.Dense(2, activation="softmax")(h))

    losses = trains_alike_on_both_backends(build, x, y, "sparse_categorical_crossentropy")
    assert losses[-1] < 0.8 * losses[0]
