"""Conv1DTranspose, Conv2DTranspose, UpSampling1D and UpSampling2D against numpy written
here from the layers' own weights: a transposed convolution by its definition (each
input position spreads its window into the output, TensorFlow's crop for "same"), the
adjoint of Conv2D, repeats and half-pixel bilinear interpolation; Keras's output shapes;
training on the reference and numba_cpu with equal results."""
import numpy as np
import pytest

import fusegraph as fg
from helpers.training import trains_alike_on_both_backends

L = fg.layers


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def keras_length(n, k, stride, dilation, padding, output_padding):
    """Keras's ``deconv_output_length`` as its documentation gives it."""
    span = (k - 1) * dilation + 1
    if output_padding is None:
        return n * stride + max(span - stride, 0) if padding == "valid" else n * stride
    pad = span // 2 if padding == "same" else 0
    return (n - 1) * stride + span - 2 * pad + output_padding


def np_conv_transpose(x, kernel, bias, strides, padding, dilation, output_padding):
    """x (b, *spatial, c), kernel (*k, f, c): every input position adds ``x @ kernel^T``
    at ``i * stride + k * dilation`` of a full-length output, which is then cropped (for
    "same", as conv2d's "same" padding before, for that output size) or extended."""
    n = x.ndim - 2
    ks = kernel.shape[:n]
    spans = [(ks[a] - 1) * dilation[a] + 1 for a in range(n)]
    full = [(x.shape[1 + a] - 1) * strides[a] + spans[a] for a in range(n)]
    y = np.zeros((x.shape[0], *full, kernel.shape[-2]))
    for i in np.ndindex(*x.shape[1:1 + n]):
        for k in np.ndindex(*ks):
            pos = tuple(i[a] * strides[a] + k[a] * dilation[a] for a in range(n))
            y[(slice(None),) + pos] += x[(slice(None),) + i].astype(np.float64) @ kernel[k].T
    ops = output_padding or (None,) * n
    sizes = [keras_length(x.shape[1 + a], ks[a], strides[a], dilation[a], padding, ops[a])
             for a in range(n)]
    out = np.zeros((x.shape[0], *sizes, kernel.shape[-2]))
    region = []
    for a in range(n):
        before = 0 if padding == "valid" else max(
            (x.shape[1 + a] - 1) * strides[a] + spans[a] - sizes[a], 0) // 2
        region.append((before, min(full[a], before + sizes[a])))
    src = (slice(None),) + tuple(slice(b, e) for b, e in region)
    dst = (slice(None),) + tuple(slice(0, e - b) for b, e in region)
    out[dst] = y[src]
    return out + (0.0 if bias is None else bias)


CASES = [
    # kernel, strides, padding, dilation, output_padding, input (h, w)
    ((3, 3), (2, 2), "same", (1, 1), None, (4, 5)),
    ((3, 3), (2, 2), "valid", (1, 1), None, (4, 5)),
    ((2, 3), (3, 2), "valid", (1, 1), None, (3, 4)),
    ((4, 4), (2, 2), "same", (1, 1), None, (3, 3)),
    ((3, 3), (1, 1), "same", (2, 2), None, (5, 4)),
    ((3, 2), (1, 1), "valid", (2, 1), None, (4, 4)),
    ((3, 3), (2, 2), "same", (1, 1), (1, 0), (4, 5)),
    ((3, 3), (3, 2), "valid", (1, 1), (2, 1), (3, 3)),
    ((1, 1), (2, 2), "valid", (1, 1), None, (3, 3)),
]


@pytest.mark.parametrize("kernel,strides,padding,dilation,output_padding,size", CASES,
                         ids=lambda v: str(v))
def test_conv2d_transpose_matches_numpy(kernel, strides, padding, dilation, output_padding,
                                        size):
    x = _rand(2, *size, 3)
    inputs = fg.Input(shape=size + (3,))
    layer = L.Conv2DTranspose(4, kernel, strides=strides, padding=padding,
                              dilation_rate=dilation, output_padding=output_padding,
                              bias_initializer="glorot_uniform")
    model = fg.Model(inputs, layer(inputs))
    assert layer.kernel.shape == kernel + (4, 3) and layer.bias.shape == (4,)
    got = model.predict(x, verbose=0)
    want = np_conv_transpose(x, layer.kernel.numpy(), layer.bias.numpy(), strides, padding,
                             dilation, output_padding)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride, padding", [(2, "same"), (3, "valid"), (1, "same")])
def test_conv1d_transpose_matches_numpy(stride, padding):
    x = _rand(2, 5, 2)
    inputs = fg.Input(shape=(5, 2))
    layer = L.Conv1DTranspose(3, 3, strides=stride, padding=padding, activation="tanh")
    got = fg.Model(inputs, layer(inputs)).predict(x, verbose=0)
    want = np.tanh(np_conv_transpose(x, layer.kernel.numpy(), layer.bias.numpy(), (stride,),
                                     padding, (1,), None))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_with_default_output_padding_it_is_the_adjoint_of_conv2d(padding):
    """<conv(u), x> = <u, conv_transpose(x)> with one kernel, strides and padding."""
    x = _rand(2, 4, 5, 3, seed=1)
    inputs = fg.Input(shape=(4, 5, 3))
    up = L.Conv2DTranspose(6, 3, strides=2, padding=padding, use_bias=False)
    y = fg.Model(inputs, up(inputs)).predict(x, verbose=0)
    u = _rand(*y.shape, seed=2)
    back_in = fg.Input(shape=y.shape[1:])
    down = L.Conv2D(3, 3, strides=2, padding=padding, use_bias=False)
    model = fg.Model(back_in, down(back_in))
    down.kernel.assign(up.kernel.numpy())
    cu = model.predict(u, verbose=0)
    assert cu.shape == x.shape
    np.testing.assert_allclose(np.sum(cu * x), np.sum(u * y), rtol=1e-4)


def test_bad_output_padding_is_refused():
    with pytest.raises(ValueError, match=r"test_conv_transpose\.py:\d+: Conv2DTranspose: "
                                         r"`output_padding` \(2, 0\) must be smaller than "
                                         r"`strides` \(2, 2\)"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=(2, 0))
    with pytest.raises(ValueError, match=r"`output_padding` must be an int >= 0 or a tuple "
                                         r"of 1 ints >= 0, got -1"):
        L.Conv1DTranspose(2, 3, output_padding=-1)


def np_bilinear(x, factor, axis):
    n = x.shape[axis]
    out = []
    for i in range(n * factor):
        src = min(max((i + 0.5) / factor - 0.5, 0.0), n - 1.0)
        lo = int(np.floor(src))
        hi = min(lo + 1, n - 1)
        w = src - lo
        out.append(np.take(x, lo, axis) * (1 - w) + np.take(x, hi, axis) * w)
    return np.stack(out, axis)


def test_upsampling_repeats_or_interpolates():
    x = _rand(2, 3, 4, 2)
    inputs = fg.Input(shape=(3, 4, 2))
    near = fg.Model(inputs, L.UpSampling2D((2, 3))(inputs)).predict(x, verbose=0)
    np.testing.assert_array_equal(near, np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))
    bilinear = fg.Model(inputs, L.UpSampling2D(2, interpolation="bilinear")(inputs))
    want = np_bilinear(np_bilinear(x.astype(np.float64), 2, 1), 2, 2)
    np.testing.assert_allclose(bilinear.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)
    steps = fg.Input(shape=(3, 2))
    np.testing.assert_array_equal(
        fg.Model(steps, L.UpSampling1D(3)(steps)).predict(x[:, :, 0], verbose=0),
        np.repeat(x[:, :, 0], 3, axis=1))
    with pytest.raises(ValueError, match=r"`interpolation` must be one of 'nearest', "
                                         r"'bilinear' .* got 'bicubic'"):
        L.UpSampling2D(interpolation="bicubic")


def test_a_decoder_trains_on_both_backends_with_equal_results():
    """Dense -> Reshape -> Conv2DTranspose (strides 2) -> UpSampling2D (bilinear) ->
    Conv2DTranspose: the loss falls, and reference and numba_cpu agree step by step."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(32, 2)).astype("float32")
    target = (rng.random((32, 8, 8, 1)) < 0.3).astype("float32")

    def build():
        inputs = fg.Input(shape=(2,))
        h = L.Reshape((2, 2, 4))(L.Dense(16, activation="relu")(inputs))
        h = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(h)
        h = L.UpSampling2D(interpolation="bilinear")(h)
        return fg.Model(inputs, L.Conv2DTranspose(1, 3, padding="same",
                                                  activation="sigmoid")(h))

    trains_alike_on_both_backends(build, z, target, "binary_crossentropy", batch_size=8)
