"""Max/average pooling (1-D and 2-D) and global 2-D pooling against numpy loops written
here: Keras's padding ("same" max pools ignore the padding, "same" average pools divide
by the real positions of each window), the reshape path for non-overlapping windows, and
gradients against central finite differences."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir.errors import ShapeError

L = fg.layers


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def np_pool(x, pool, strides, padding, mode):
    """N-d channels_last pooling over the real positions of each window."""
    n = x.ndim - 2
    spatial = x.shape[1:1 + n]
    starts = []
    for a in range(n):
        if padding == "valid":
            out, before = (spatial[a] - pool[a]) // strides[a] + 1, 0
        else:
            out = int(np.ceil(spatial[a] / strides[a]))
            before = max((out - 1) * strides[a] + pool[a] - spatial[a], 0) // 2
        starts.append([o * strides[a] - before for o in range(out)])
    y = np.zeros((x.shape[0], *[len(s) for s in starts], x.shape[-1]))
    for o in np.ndindex(*y.shape[1:1 + n]):
        window = tuple(slice(max(starts[a][o[a]], 0), starts[a][o[a]] + pool[a])
                       for a in range(n))
        values = x[(slice(None),) + window]
        axes = tuple(range(1, 1 + n))
        y[(slice(None),) + o] = values.max(axis=axes) if mode == "max" else values.mean(axis=axes)
    return y


POOL2D_CASES = [
    # pool, strides, padding, input (h, w)
    ((2, 2), None, "valid", (8, 6)),          # reshape path
    ((2, 2), None, "valid", (7, 5)),          # reshape path after dropping a remainder
    ((2, 2), None, "same", (8, 6)),           # same == valid when sizes divide
    ((2, 2), None, "same", (7, 5)),           # gather path, padding after
    ((3, 3), (1, 1), "valid", (6, 7)),
    ((3, 3), (1, 1), "same", (6, 7)),
    ((3, 2), (2, 1), "same", (7, 6)),
    ((2, 3), (3, 2), "valid", (8, 9)),
    ((4, 4), (3, 3), "same", (8, 7)),         # padding on both sides
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("pool,strides,padding,size", POOL2D_CASES,
                         ids=lambda v: str(v).replace(" ", ""))
def test_pooling2d_matches_numpy(mode, pool, strides, padding, size):
    layer = (L.MaxPooling2D if mode == "max" else L.AveragePooling2D)(pool, strides, padding)
    x = _rand(2, *size, 3) - 2.0             # mostly negative: a zero pad would show
    expected = np_pool(x, pool, strides or pool, padding, mode)
    y = layer(x)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 1, "same"),
                                                  (3, 2, "valid"), (2, 3, "same")])
def test_pooling1d_matches_numpy(mode, pool, strides, padding):
    layer = (L.MaxPooling1D if mode == "max" else L.AveragePooling1D)(pool, strides, padding)
    x = _rand(2, 9, 3) - 2.0
    np.testing.assert_allclose(layer(x), np_pool(x, (pool,), (strides or pool,), padding, mode),
                               rtol=1e-5, atol=1e-6)


def test_defaults_and_paths():
    layer = L.MaxPooling2D()
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
    for cls in (L.MaxPooling2D, L.AveragePooling2D):
        inputs = fg.Input(shape=(7, 6, 2))
        model = fg.Model(inputs, cls()(inputs))          # non-overlapping: reshape + reduce
        kinds = [op.kind for op in model.graph.ops]
        assert "take" not in kinds and "reshape" in kinds and "slice" in kinds
        assert model.outputs[0].shape == (None, 3, 3, 2)
    inputs = fg.Input(shape=(7, 6, 2))
    model = fg.Model(inputs, L.MaxPooling2D(3, strides=1, padding="same")(inputs))
    kinds = [op.kind for op in model.graph.ops]
    assert "take" in kinds and "pad" not in kinds        # edge taps, no -inf padding


def test_global_pooling_2d():
    x = _rand(3, 4, 5, 6)
    np.testing.assert_allclose(L.GlobalAveragePooling2D()(x), x.mean(axis=(1, 2)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(L.GlobalMaxPooling2D()(x), x.max(axis=(1, 2)))
    np.testing.assert_array_equal(L.GlobalMaxPooling2D(keepdims=True)(x),
                                  x.max(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(L.GlobalAveragePooling2D(data_format="channels_first")(x),
                               x.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError, match="rank-4"):
        L.GlobalAveragePooling2D()(fg.Input(shape=(4, 5)))


def test_symbolic_batch_and_bad_arguments():
    inputs = fg.Input(shape=(6, 6, 2))
    model = fg.Model(inputs, L.AveragePooling2D(3, 2, padding="same")(inputs))
    for batch in (1, 4):
        x = _rand(batch, 6, 6, 2, seed=batch)
        np.testing.assert_allclose(model(x), np_pool(x, (3, 3), (2, 2), "same", "average"),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="pool_size"):
        L.MaxPooling2D(pool_size=(2, 0))
    with pytest.raises(ValueError, match="padding"):
        L.MaxPooling2D(padding="causal")
    with pytest.raises(ShapeError, match="at least one window"):
        L.MaxPooling2D(3, strides=1)(fg.Input(shape=(2, 5, 1)))


@pytest.mark.parametrize("cls,kwargs", [
    (L.MaxPooling2D, dict(pool_size=3, strides=2, padding="same")),
    (L.AveragePooling2D, dict(pool_size=3, strides=2, padding="same")),
    (L.MaxPooling2D, dict()),
    (L.AveragePooling2D, dict(pool_size=(2, 3), strides=1)),
])
def test_gradients_match_central_differences(cls, kwargs):
    layer = cls(**kwargs, dtype="float64")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 5, 6, 2))        # distinct values: the max is unique
    r = rng.normal(size=layer(x).shape)

    @fg.function
    def grad(x, r):
        with fg.GradientTape() as tape:
            loss = fg.ops.sum(fg.ops.multiply(layer(x), r))
        return tape.gradient(loss, x)

    expected = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + eps
        up = np.sum(layer(x) * r)
        x[i] = old - eps
        down = np.sum(layer(x) * r)
        x[i] = old
        expected[i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(grad(x, r), expected, rtol=1e-6, atol=1e-7)


def test_global_max_pooling1d_ignores_a_mask_as_keras_3_15():
    """Keras 3.15's GlobalMaxPooling1D takes no mask: padded steps count in the max (its
    output equals the unmasked max), the mask stops with a warning, mask= is refused."""
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 4]], np.int32)
    inputs = fg.Input((4,), dtype="int32")
    embedding = L.Embedding(5, 3, mask_zero=True)
    with pytest.warns(UserWarning, match="does not support masking"):
        pooled = L.GlobalMaxPooling1D()(embedding(inputs))
    assert pooled._keras_mask is None
    table = embedding.get_weights()[0]
    table[0] = 1.0                          # the padding row is the max everywhere
    embedding.set_weights([table])
    np.testing.assert_allclose(fg.Model(inputs, pooled).predict(ids, verbose=0),
                               table[ids].max(axis=1), rtol=1e-6)
    with pytest.raises(TypeError, match="mask"):
        L.GlobalMaxPooling1D()(_rand(2, 4, 3), mask=ids != 0)
