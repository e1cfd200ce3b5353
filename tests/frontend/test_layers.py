"""Each layer of ``fg.layers`` against a plain-numpy computation written here from the
layer's own weights, and the initializers' statistics (Keras defaults, KERAS_COMPAT.md).

Layers are called eagerly on numpy arrays (traced once, run on the reference backend);
the autouse fixture in tests/conftest.py clears the session and seeds the generator.
"""
import math

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir.errors import ShapeError

L = fg.layers
RTOL, ATOL = 1e-5, 1e-6


def _rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


# --- numpy references ------------------------------------------------------------------
def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_erf = np.vectorize(math.erf)

NP_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "sigmoid": np_sigmoid,
    "tanh": np.tanh,
    "softmax": np_softmax,
    "log_softmax": lambda x: np.log(np_softmax(x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "silu": lambda x: x * np_sigmoid(x),
    "swish": lambda x: x * np_sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),   # Keras: exact by default
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),          # Keras: negative_slope 0.2
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "exponential": np.exp,
}


def np_layer_norm(x, gamma, beta, axes=(-1,), eps=1e-3):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_mha(weights, query, value, key=None, mask=None, causal=False):
    """Keras 3 MultiHeadAttention from its 8 weights; returns (output, scores)."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    key = value if key is None else key
    q = np.einsum("btd,dhk->bhtk", query, wq) + bq[None, :, None, :]
    k = np.einsum("bsd,dhk->bhsk", key, wk) + bk[None, :, None, :]
    v = np.einsum("bsd,dhv->bhsv", value, wv) + bv[None, :, None, :]
    scores = np.einsum("bhtk,bhsk->bhts", q / np.sqrt(wq.shape[-1]), k)
    keep = np.ones(scores.shape, bool)
    if mask is not None:
        keep &= np.asarray(mask, bool)[:, None]
    if causal:
        t, s = scores.shape[-2:]
        keep &= np.arange(s)[None, :] <= np.arange(t)[:, None]
    probs = np.where(keep, np_softmax(np.where(keep, scores, -1e9)), 0.0)
    context = np.einsum("bhts,bhsv->bthv", probs, v)
    return np.einsum("bthv,hvo->bto", context, wo) + bo, probs


# --- Dense and Activation -----------------------------------------------------------------
@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
def test_dense_each_activation_name(activation):
    layer = L.Dense(6, activation=activation)
    x = _rand(8, 4, scale=2.0)
    layer(x)                                             # builds the weights
    kernel, bias = _rand(4, 6, seed=1, scale=2.0), _rand(6, seed=2)
    layer.set_weights([kernel, bias])
    pre = x @ kernel + bias
    assert pre.max() > 6 and pre.min() < -3              # the clipping regions are exercised
    np.testing.assert_allclose(layer(x), NP_ACTIVATIONS[activation](pre), rtol=RTOL, atol=ATOL)


def test_dense_linear_by_default_and_no_bias():
    layer = L.Dense(3, use_bias=False)
    x = _rand(4, 5)
    out = layer(x)
    (kernel,) = layer.get_weights()
    assert kernel.shape == (5, 3)
    np.testing.assert_allclose(out, x @ kernel, rtol=RTOL, atol=ATOL)


def test_dense_on_rank3_contracts_last_axis():
    layer = L.Dense(3, activation=fg.ops.relu)
    x = _rand(2, 4, 5)
    out = layer(x)
    kernel, bias = layer.get_weights()
    assert out.shape == (2, 4, 3)
    np.testing.assert_allclose(out, np.maximum(x @ kernel + bias, 0), rtol=RTOL, atol=ATOL)


def test_dense_rejects_wrong_feature_size():
    layer = L.Dense(3)
    layer(_rand(2, 4))
    with pytest.raises(fg.ir.ShapeError,
                       match=r"dense.*expected axis -1 of the input to have size 4"):
        layer(_rand(2, 5))


def test_float64_arrays_are_autocast_to_the_layer_dtype():
    # Keras's autocast: a float64 numpy array into a float32 layer computes in float32
    layer = L.Dense(3)
    x = np.random.default_rng(0).normal(size=(4, 5))       # float64
    out = layer(x)
    kernel, bias = layer.get_weights()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x.astype("float32") @ kernel + bias, rtol=RTOL, atol=ATOL)
    assert L.LayerNormalization()(x).dtype == np.float32
    ids = np.array([[1, 2]], dtype="int64")                  # ints are not cast to floats
    assert L.Embedding(5, 2)(ids).dtype == np.float32


@pytest.mark.parametrize("activation", ["relu", "softmax", "gelu", "hard_sigmoid"])
def test_activation_layer(activation):
    x = _rand(3, 7, scale=4.0)
    np.testing.assert_allclose(L.Activation(activation)(x), NP_ACTIVATIONS[activation](x),
                               rtol=RTOL, atol=ATOL)


def test_activation_layer_with_callable():
    x = _rand(3, 4)
    np.testing.assert_allclose(L.Activation(fg.ops.tanh)(x), np.tanh(x), rtol=RTOL, atol=ATOL)


def test_unknown_activation_name_is_an_error():
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        L.Dense(3, activation="relux")


# --- Dropout ------------------------------------------------------------------------------
def test_dropout_is_identity_at_inference():
    x = _rand(4, 6)
    layer = L.Dropout(0.5)
    np.testing.assert_array_equal(layer(x), x)
    inputs = fg.Input(shape=(6,))
    model = fg.Model(inputs, L.Dropout(0.9)(inputs))
    np.testing.assert_array_equal(model(x), x)
    np.testing.assert_array_equal(model.predict(x, batch_size=3), x)


def test_dropout_rate_is_checked():
    for rate in (1.0, "a", None, True):
        with pytest.raises(ValueError, match=r"Dropout rate must be a number in \[0, 1\)"):
            L.Dropout(rate)
    with pytest.raises(ValueError, match=r"Dropout: `noise_shape` must be a tuple of sizes"):
        L.Dropout(0.5, noise_shape=3)


@pytest.mark.parametrize("target", [(2, "a"), (-2, -2), 4, (2.0, 2)])
def test_reshape_target_shape_is_checked_at_construction(target):
    with pytest.raises(ValueError, match=r"Reshape: `target_shape` must be a tuple of sizes"):
        L.Reshape(target)


def test_numpy_ints_are_taken_as_sizes():
    """Input shapes, layer sizes and Reshape targets given as numpy ints (a shape read
    from an array) work as Python ints (probe item 10)."""
    i64 = np.int64
    x = fg.Input(shape=(i64(4),), batch_size=i64(2))
    assert x.shape == (2, 4)
    y = L.Reshape((i64(2), i64(-1)))(L.Dense(i64(4))(x))
    assert y.shape == (2, 2, 2)
    seq = fg.Input(shape=(i64(3), i64(4)))
    z = L.GRU(i64(2))(L.Conv1D(i64(4), i64(2))(seq))
    assert z.shape == (None, 2)
    assert L.BatchNormalization(axis=i64(-1))(x).shape == (2, 4)
    model = fg.Model(x, y)
    assert model(np.ones((2, 4), "float32")).shape == (2, 2, 2)


@pytest.mark.parametrize("make, words", [
    (lambda: L.Dense(2, trainable="no"), ["Dense", "`trainable`", "True or False"]),
    (lambda: L.Dense(2, dtype="float17"), ["Dense", "`dtype`", "float17"]),
    (lambda: L.LayerNormalization(center="yes"), ["LayerNormalization", "`center`"]),
    (lambda: L.Conv2D(2, 3, use_bias=1), ["Conv2D", "`use_bias`"]),
    (lambda: L.Embedding(3, 2, embeddings_initializer="unifrom"), ["Embedding",
                                                                   "`embeddings_initializer`"]),
    (lambda: L.BatchNormalization(moving_variance_initializer="one"),
     ["BatchNormalization", "`moving_variance_initializer`"]),
])
def test_layer_flags_dtypes_and_initializers_are_checked_at_construction(make, words):
    with pytest.raises((TypeError, ValueError)) as caught:
        make()
    for word in words:
        assert word in str(caught.value)



# --- Layer: tracking, variables, training ---------------------------------------------------
def test_sub_layers_assigned_before_super_init_are_tracked():
    class Early(fg.layers.Layer):
        def __init__(self, **kwargs):
            self.inner = L.Dense(3)                    # Keras allows this before super()
            self.blocks = [L.Dense(2), L.Dense(3)]
            super().__init__(**kwargs)
            self.late = L.Dense(1)

        def call(self, inputs):
            return self.late(self.blocks[1](self.blocks[0](self.inner(inputs))))

    layer = Early()
    x = _rand(4, 5)
    layer(x)
    assert [w.path for w in layer.weights] == [
        f"early/{name}/{kind}" for name in ("dense", "dense_1", "dense_2", "dense_3")
        for kind in ("kernel", "bias")]
    k1, b1, k2, b2, k3, b3, k4, b4 = (w.astype(np.float64) for w in layer.get_weights())
    np.testing.assert_allclose(layer(x), (((x @ k1 + b1) @ k2 + b2) @ k3 + b3) @ k4 + b4,
                               rtol=1e-5, atol=1e-6)


def test_variables_are_keras_3_names_for_the_weights():
    layer = L.Dense(3)
    layer(_rand(2, 4))
    layer.add_weight((2,), "zeros", trainable=False, name="count")
    assert layer.variables == layer.weights and len(layer.variables) == 3
    assert layer.trainable_variables == layer.trainable_weights == layer.weights[:2]
    assert layer.non_trainable_variables == layer.non_trainable_weights == layer.weights[2:]
    layer.trainable = False
    assert layer.trainable_variables == [] and len(layer.non_trainable_variables) == 3


def test_training_reaches_sub_layers_of_a_call_without_a_training_parameter():
    class Block(fg.layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = L.Dropout(0.5)

        def call(self, inputs):                       # no `training` parameter
            return self.drop(inputs)

    x = np.ones((16, 32), "float32")
    block = Block()
    dropped = block(x, training=True)
    assert set(np.unique(dropped)) == {0.0, 2.0}
    np.testing.assert_array_equal(block(x, training=False), x)
    np.testing.assert_array_equal(block(x), x)


def test_explicit_training_none_inherits_the_enclosing_call():
    class Block(fg.layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = L.Dropout(0.5)

        def call(self, inputs, training=None):
            return self.drop(inputs, training=None)   # None: the caller's mode, as in Keras

    x = np.ones((16, 32), "float32")
    assert set(np.unique(Block()(x, training=True))) == {0.0, 2.0}
    np.testing.assert_array_equal(Block()(x, training=False), x)


# --- Embedding ----------------------------------------------------------------------------
def test_embedding_int_ids():
    layer = L.Embedding(10, 3)
    ids = np.array([[1, 2, 9], [0, 0, 5]], dtype="int32")
    out = layer(ids)
    (table,) = layer.get_weights()
    assert table.shape == (10, 3)
    np.testing.assert_array_equal(out, table[ids])


def test_embedding_float_ids_are_cast():
    layer = L.Embedding(10, 4)
    ids = np.array([[1.0, 2.0], [3.0, 9.0]], dtype="float32")
    out = layer(ids)
    (table,) = layer.get_weights()
    np.testing.assert_array_equal(out, table[ids.astype(int)])


def test_embedding_in_model_with_float_input():
    inputs = fg.Input(shape=(3,))                        # float32 input, as Keras allows
    layer = L.Embedding(7, 2)
    model = fg.Model(inputs, layer(inputs))
    ids = np.array([[6, 0, 3]], dtype="float32")
    np.testing.assert_array_equal(model(ids), layer.get_weights()[0][[[6, 0, 3]]])


# --- LayerNormalization -------------------------------------------------------------------
def test_layer_normalization_default():
    layer = L.LayerNormalization()
    x = _rand(2, 3, 8, scale=3.0) + 1.5
    layer(x)
    gamma, beta = _rand(8, seed=1), _rand(8, seed=2)
    layer.set_weights([gamma, beta])
    np.testing.assert_allclose(layer(x), np_layer_norm(x, gamma, beta), rtol=1e-4, atol=1e-5)


def test_layer_normalization_epsilon_is_keras_default():
    # with a tiny variance the epsilon dominates: 1e-3 (Keras), not 1e-5 or 1e-6
    x = np.array([[0.0, 0.01]], dtype="float32")
    out = L.LayerNormalization()(x)
    np.testing.assert_allclose(out, np_layer_norm(x, 1.0, 0.0, eps=1e-3), rtol=1e-4)
    assert abs(out[0, 1]) < 0.2


def test_layer_normalization_axis_tuple():
    layer = L.LayerNormalization(axis=(1, 2))
    x = _rand(3, 4, 5, scale=2.0)
    layer(x)
    gamma, beta = layer.get_weights()
    assert gamma.shape == beta.shape == (4, 5)
    gamma, beta = _rand(4, 5, seed=1), _rand(4, 5, seed=2)
    layer.set_weights([gamma, beta])
    np.testing.assert_allclose(layer(x), np_layer_norm(x, gamma, beta, axes=(1, 2)),
                               rtol=1e-4, atol=1e-5)


def test_layer_normalization_no_center_no_scale():
    layer = L.LayerNormalization(center=False, scale=False, epsilon=1e-5)
    x = _rand(4, 6)
    out = layer(x)
    assert layer.get_weights() == []
    np.testing.assert_allclose(out, np_layer_norm(x, 1.0, 0.0, eps=1e-5), rtol=1e-4, atol=1e-5)


# --- MultiHeadAttention -------------------------------------------------------------------
def _mha_with_random_weights(layer):
    """Replace every weight by a random normal array (biases nonzero, so they matter)."""
    layer.set_weights([_rand(*w.shape, seed=10 + i, scale=0.5)
                       for i, w in enumerate(layer.weights)])
    return layer.get_weights()


def test_mha_self_attention():
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4)
    x = _rand(2, 5, 6)
    layer(x, x)
    weights = _mha_with_random_weights(layer)
    np.testing.assert_allclose(layer(x, x), np_mha(weights, x, x)[0], rtol=1e-4, atol=1e-5)


def test_mha_weight_shapes_with_value_dim_and_output_shape():
    layer = L.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2, output_shape=7)
    q, v = _rand(2, 5, 6), _rand(2, 4, 9, seed=1)
    assert layer(q, v).shape == (2, 5, 7)
    assert [w.shape for w in layer.get_weights()] == [
        (6, 3, 4), (3, 4), (9, 3, 4), (3, 4), (9, 3, 2), (3, 2), (3, 2, 7), (7,)]


@pytest.mark.parametrize("value_dim,output_shape", [(None, None), (2, None), (None, 7), (3, 5)])
def test_mha_cross_attention_variants(value_dim, output_shape):
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=value_dim,
                                 output_shape=output_shape)
    q, v, k = _rand(2, 5, 6), _rand(2, 3, 8, seed=1), _rand(2, 3, 8, seed=2)
    layer(q, v, key=k)
    weights = _mha_with_random_weights(layer)
    out = layer(q, v, key=k)
    assert out.shape == (2, 5, output_shape or 6)
    np.testing.assert_allclose(out, np_mha(weights, q, v, key=k)[0], rtol=1e-4, atol=1e-5)


def test_mha_key_defaults_to_value():
    layer = L.MultiHeadAttention(num_heads=2, key_dim=3)
    q, v = _rand(1, 4, 5), _rand(1, 6, 5, seed=1)
    layer(q, v)
    weights = _mha_with_random_weights(layer)
    np.testing.assert_allclose(layer(q, v), np_mha(weights, q, v, key=v)[0], rtol=1e-4, atol=1e-5)
    # and the key really is used when given: a different key gives a different result
    assert not np.allclose(layer(q, v, key=_rand(1, 6, 5, seed=2)), layer(q, v), atol=1e-3)


def test_mha_return_attention_scores():
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4)
    q, v = _rand(2, 3, 6), _rand(2, 5, 6, seed=1)
    layer(q, v)
    weights = _mha_with_random_weights(layer)
    out, scores = layer(q, v, return_attention_scores=True)
    want_out, want_scores = np_mha(weights, q, v)
    assert scores.shape == (2, 2, 3, 5)
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)


def test_mha_scales_query_by_inverse_sqrt_key_dim():
    # identity-like projections make the unscaled and scaled scores easy to tell apart
    layer = L.MultiHeadAttention(num_heads=1, key_dim=4, use_bias=False)
    x = _rand(1, 3, 4, scale=3.0)
    layer(x, x)
    eye = np.eye(4, dtype="float32")[:, None, :]
    layer.set_weights([eye, eye, eye, np.eye(4, dtype="float32")[None]])
    _, scores = layer(x, x, return_attention_scores=True)
    logits = x[0] @ x[0].T
    np.testing.assert_allclose(scores[0, 0], np_softmax(logits / 2.0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(scores[0, 0], np_softmax(logits), atol=1e-3)


def test_mha_explicit_attention_mask():
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4)
    q, v = _rand(2, 3, 6), _rand(2, 4, 6, seed=1)
    layer(q, v)
    weights = _mha_with_random_weights(layer)
    mask = np.array([[[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]],
                     [[0, 0, 0, 1], [1, 1, 1, 0], [0, 1, 0, 1]]], dtype=bool)
    out, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
    want_out, want_scores = np_mha(weights, q, v, mask=mask)
    np.testing.assert_array_equal(scores[:, 0] == 0, ~mask)      # masked keys get no weight
    np.testing.assert_array_equal(scores[:, 1] == 0, ~mask)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)
    unmasked = layer(q, v)
    assert not np.allclose(out, unmasked, atol=1e-3)


def test_mha_query_that_sees_no_key_attends_to_nothing():
    # Keras's masked Softmax zeroes masked probabilities, so a fully masked query row
    # gets all-zero scores (not a uniform average) and its output is the output bias
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4)
    q, v = _rand(2, 3, 6), _rand(2, 4, 6, seed=1)
    layer(q, v)
    weights = _mha_with_random_weights(layer)
    mask = np.ones((2, 3, 4), bool)
    mask[1, 2] = False
    out, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_array_equal(scores[1, :, 2], 0.0)
    np.testing.assert_allclose(out[1, 2], weights[-1], rtol=1e-6)
    np.testing.assert_allclose(out, np_mha(weights, q, v, mask=mask)[0], rtol=1e-4, atol=1e-5)


def test_mha_output_shape_tuple():
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4, output_shape=(3, 5))
    q, v = _rand(2, 4, 6), _rand(2, 3, 8, seed=1)
    assert layer(q, v).shape == (2, 4, 3, 5)
    weights = _mha_with_random_weights(layer)
    assert [w.shape for w in weights[-2:]] == [(2, 4, 3, 5), (3, 5)]
    flat = weights[:-2] + [weights[-2].reshape(2, 4, 15), weights[-1].reshape(15)]
    np.testing.assert_allclose(layer(q, v), np_mha(flat, q, v)[0].reshape(2, 4, 3, 5),
                               rtol=1e-4, atol=1e-5)


def test_mha_causal_mask():
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4)
    x = _rand(2, 5, 6)
    layer(x, x)
    weights = _mha_with_random_weights(layer)
    out, scores = layer(x, x, use_causal_mask=True, return_attention_scores=True)
    assert np.all(np.triu(np.ones((5, 5)), k=1)[None, None] * scores == 0)
    np.testing.assert_allclose(out, np_mha(weights, x, x, causal=True)[0], rtol=1e-4, atol=1e-5)
    # the first query sees only the first key
    np.testing.assert_allclose(scores[:, :, 0, 0], 1.0, rtol=1e-6)


def test_mha_in_functional_model_with_keyword_query():
    q_in, v_in = fg.Input(shape=(3, 4), name="q"), fg.Input(shape=(5, 4), name="v")
    layer = L.MultiHeadAttention(num_heads=2, key_dim=2)
    model = fg.Model([q_in, v_in], layer(query=q_in, value=v_in))
    weights = _mha_with_random_weights(layer)
    q, v = _rand(2, 3, 4), _rand(2, 5, 4, seed=1)
    np.testing.assert_allclose(model({"q": q, "v": v}), np_mha(weights, q, v)[0],
                               rtol=1e-4, atol=1e-5)



def _uniform_attention_on_one_hot_values(dropout, seq=8):
    """One head over one-hot values: zero query kernel (every key gets 1/seq of the
    attention) and identity value and output kernels, so the output is the attention
    probabilities themselves, as applied to the values: (1, seq, seq)."""
    layer = L.MultiHeadAttention(num_heads=1, key_dim=seq, use_bias=False, dropout=dropout,
                                 seed=3)
    x = np.eye(seq, dtype="float32")[None]
    layer(x, x)
    eye = np.eye(seq, dtype="float32")
    layer.set_weights([np.zeros((seq, 1, seq), "float32"), eye[:, None], eye[:, None],
                       eye[None]])
    return layer, x


def test_mha_dropout_drops_attention_probabilities_in_training_only():
    layer, x = _uniform_attention_on_one_hot_values(dropout=0.5)
    np.testing.assert_allclose(layer(x, x), np.full((1, 8, 8), 1 / 8), rtol=1e-6)
    out, scores = layer(x, x, training=True, return_attention_scores=True)
    # each probability 1/8 is dropped (0) or kept and scaled by 1/(1 - rate): 2/8
    np.testing.assert_allclose(np.unique(np.round(out, 6)), [0.0, 0.25], atol=1e-6)
    assert 0.2 < np.mean(out == 0) < 0.8
    np.testing.assert_allclose(scores, np.full((1, 1, 8, 8), 1 / 8), rtol=1e-6)  # before dropout


def test_mha_dropout_follows_the_training_flag_in_a_functional_model():
    q_in = fg.Input(shape=(8, 8), name="q")
    layer = L.MultiHeadAttention(num_heads=1, key_dim=8, use_bias=False, dropout=0.5)
    model = fg.Model(q_in, layer(q_in, q_in))                # training left open
    assert "training" in [p.name for p in model.graph.params]
    eye = np.eye(8, dtype="float32")
    layer.set_weights([np.zeros((8, 1, 8), "float32"), eye[:, None], eye[:, None], eye[None]])
    x = eye[None]
    np.testing.assert_allclose(model(x), np.full((1, 8, 8), 1 / 8), rtol=1e-6)
    np.testing.assert_allclose(model.predict(x), np.full((1, 8, 8), 1 / 8), rtol=1e-6)
    for out in (model(x, training=True),
                fg.function(lambda b: model(b, training=True))(x)):
        np.testing.assert_allclose(np.unique(np.round(out, 6)), [0.0, 0.25], atol=1e-6)


def test_mha_dropout_adds_no_weights():
    plain = L.MultiHeadAttention(num_heads=2, key_dim=3)
    dropping = L.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.3)
    x = _rand(2, 4, 5)
    plain(x, x)
    dropping(x, x)
    assert [w.path.split("/", 1)[1] for w in dropping.weights] == \
        [w.path.split("/", 1)[1] for w in plain.weights]
    assert [w.shape for w in dropping.get_weights()] == [w.shape for w in plain.get_weights()]
    dropping.set_weights(plain.get_weights())
    np.testing.assert_allclose(dropping(x, x), plain(x, x), rtol=1e-6)   # inference: no dropout
    assert not np.allclose(dropping(x, x, training=True), plain(x, x), atol=1e-4)
    # the MHA's Dropout takes no auto-name away from the user's
    assert L.Dropout(0.1).name == "dropout"


# --- pooling, Flatten, Reshape ------------------------------------------------------------
def test_global_average_pooling_1d():
    x = _rand(2, 5, 3)
    np.testing.assert_allclose(L.GlobalAveragePooling1D()(x), x.mean(axis=1), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(L.GlobalAveragePooling1D(keepdims=True)(x),
                               x.mean(axis=1, keepdims=True), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(L.GlobalAveragePooling1D(data_format="channels_first")(x),
                               x.mean(axis=2), rtol=RTOL, atol=ATOL)


def test_global_max_pooling_1d():
    x = _rand(2, 5, 3)
    np.testing.assert_array_equal(L.GlobalMaxPooling1D()(x), x.max(axis=1))
    np.testing.assert_array_equal(L.GlobalMaxPooling1D(keepdims=True)(x),
                                  x.max(axis=1, keepdims=True))
    np.testing.assert_array_equal(L.GlobalMaxPooling1D(data_format="channels_first")(x),
                                  x.max(axis=2))


def test_flatten():
    x = _rand(2, 3, 4, 5)
    np.testing.assert_array_equal(L.Flatten()(x), x.reshape(2, 60))


@pytest.mark.parametrize("target", [(4, 3), (-1, 2), (2, -1, 3), (12,), (-1,)])
def test_reshape(target):
    x = _rand(2, 3, 4)
    np.testing.assert_array_equal(L.Reshape(target)(x), x.reshape((2,) + target))


def test_reshape_in_model_keeps_symbolic_batch():
    inputs = fg.Input(shape=(3, 4))
    out = L.Reshape((-1, 2))(inputs)
    assert out.shape == (None, 6, 2)
    x = _rand(5, 3, 4)
    np.testing.assert_array_equal(fg.Model(inputs, out)(x), x.reshape(5, 6, 2))


def test_reshape_wrong_size_is_an_error():
    with pytest.raises(fg.ir.ShapeError, match=r"reshape.*target_shape \(5,\)"):
        L.Reshape((5,))(_rand(2, 3, 4))


# --- merging --------------------------------------------------------------------------------
def test_concatenate_layer_and_function():
    a, b, c = _rand(2, 3, 4), _rand(2, 3, 2, seed=1), _rand(2, 1, 4, seed=2)
    np.testing.assert_array_equal(L.Concatenate()([a, b]), np.concatenate([a, b], axis=-1))
    np.testing.assert_array_equal(L.Concatenate(axis=1)([a, c]), np.concatenate([a, c], axis=1))
    x1, x2 = fg.Input(shape=(3, 4)), fg.Input(shape=(3, 2))
    model = fg.Model([x1, x2], L.concatenate([x1, x2]))
    np.testing.assert_array_equal(model([a, b]), np.concatenate([a, b], axis=-1))
    assert isinstance(model.layers[-1], L.Concatenate)


def test_add_layer_and_function():
    a, b, c = _rand(2, 3), _rand(2, 3, seed=1), _rand(2, 3, seed=2)
    np.testing.assert_allclose(L.Add()([a, b, c]), a + b + c, rtol=RTOL, atol=ATOL)
    x1, x2 = fg.Input(shape=(3,)), fg.Input(shape=(3,))
    model = fg.Model([x1, x2], L.add([x1, x2]))
    np.testing.assert_allclose(model([a, b]), a + b, rtol=RTOL, atol=ATOL)
    assert isinstance(model.layers[-1], L.Add)


# --- initializers ---------------------------------------------------------------------------
def _uniform_stats_ok(w, limit):
    """All within ±limit, reaching near both ends, mean ~0, variance ~ limit²/3."""
    assert np.abs(w).max() <= limit
    assert w.max() > 0.98 * limit and w.min() < -0.98 * limit
    assert abs(w.mean()) < 0.02 * limit
    assert abs(w.var() / (limit ** 2 / 3) - 1) < 0.05


def test_dense_glorot_uniform_kernel_and_zero_bias():
    layer = L.Dense(300)
    layer(_rand(1, 200))
    kernel, bias = layer.get_weights()
    _uniform_stats_ok(kernel, math.sqrt(6 / (200 + 300)))
    np.testing.assert_array_equal(bias, np.zeros(300, "float32"))
    assert kernel.dtype == bias.dtype == np.float32


def test_mha_kernels_use_keras_fans():
    # Keras 3's EinsumDense takes the fans from the contraction: a projection (d, h, k)
    # has fan_in d and fan_out h*k, the output kernel (h, v, o) fan_in h*v and fan_out o
    layer = L.MultiHeadAttention(num_heads=4, key_dim=50)
    x = _rand(1, 2, 60)
    layer(x, x)
    wq, bq, *_, wo, bo = layer.get_weights()
    _uniform_stats_ok(wq, math.sqrt(6 / (60 + 4 * 50)))
    _uniform_stats_ok(wo, math.sqrt(6 / (4 * 50 + 60)))
    assert not bq.any() and not bo.any()


def test_compute_fans_with_axes():
    from fusegraph.frontend import initializers
    assert initializers.compute_fans((3, 4, 5)) == (12.0, 15.0)
    assert initializers.compute_fans((3, 4, 5), [0], [1, 2]) == (3.0, 20.0)
    assert initializers.compute_fans((3, 4, 5), [0, 1], [2]) == (12.0, 5.0)
    glorot = initializers.with_fan_axes("glorot_uniform", [0], [1, 2])
    assert (glorot.input_axes, glorot.output_axes) == ([0], [1, 2])
    zeros = initializers.get("zeros")
    assert initializers.with_fan_axes(zeros, [0], [1]) is zeros


def test_embedding_uniform_005():
    layer = L.Embedding(1000, 64)
    layer(np.zeros((1, 1), "int32"))
    _uniform_stats_ok(layer.get_weights()[0], 0.05)


def test_layer_normalization_ones_and_zeros():
    layer = L.LayerNormalization()
    layer(_rand(2, 7))
    gamma, beta = layer.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(7, "float32"))
    np.testing.assert_array_equal(beta, np.zeros(7, "float32"))


def test_initializer_by_name_and_callable():
    layer = L.Dense(3, kernel_initializer="ones",
                    bias_initializer=lambda shape, dtype: np.full(shape, 2.0))
    x = _rand(2, 4)
    want = np.repeat(x.sum(axis=1, keepdims=True) + 2.0, 3, axis=1)
    np.testing.assert_allclose(layer(x), want, rtol=RTOL, atol=ATOL)


def _build_weights():
    inputs = fg.Input(shape=(4,))
    x = L.Dense(5)(L.LayerNormalization()(inputs))
    return fg.Model(inputs, L.Dense(2)(x)).get_weights()


def test_same_seed_same_weights():
    fg.utils.set_random_seed(123)
    first = _build_weights()
    fg.utils.clear_session()
    fg.utils.set_random_seed(123)
    second = _build_weights()
    fg.utils.set_random_seed(124)
    third = _build_weights()
    assert len(first) == len(second) == 6
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], third[2])


def test_unknown_initializer_is_an_error():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        L.Dense(3, kernel_initializer="glorot")(_rand(1, 2))


def test_a_failed_build_leaves_no_weights_and_a_retry_builds_under_the_same_names():
    """Nothing half applied: the weight made before the failure is dropped, its path
    freed (MultiHeadAttention also checks all three shapes before making any)."""
    class TwoStep(fg.layers.Layer):
        def build(self, shape):
            self.first = self.add_weight((shape[-1],), name="first")
            if shape[-1] != 3:
                raise ValueError("needs 3 features")
            self.second = self.add_weight((3,), name="second")

        def call(self, x):
            return x * self.first + self.second

    layer = TwoStep(name="two_step")
    with pytest.raises(ValueError, match="needs 3 features"):
        layer(fg.Input(shape=(2,)))
    assert layer.weights == [] and not layer.built
    layer(fg.Input(shape=(3,)))
    assert [w.path for w in layer.weights] == ["two_step/first", "two_step/second"]
    attention = L.MultiHeadAttention(1, 2)
    with pytest.raises(ShapeError, match="the key must have rank >= 3"):
        attention(fg.Input(shape=(3, 4)), fg.Input(shape=(4,)))
    assert attention.weights == []


@pytest.mark.parametrize("make, x, words", [
    (L.Flatten, np.float32(1.0), "expected an input with a batch axis"),
    (lambda: L.Reshape((1,)), np.float32(1.0), "expected an input with a batch axis"),
    (lambda: L.Dense(2), np.float32(1.0), "the last axis must have a known size"),
    (L.LayerNormalization, np.ones(3, "float32"), "the normalized axes (0,) must have known"),
])
def test_inputs_of_too_low_a_rank_name_the_layer(make, x, words):
    layer = make()
    with pytest.raises(ShapeError) as caught:
        layer(x)
    assert words in str(caught.value) and f"layer '{layer.name}'" in str(caught.value)


@pytest.mark.parametrize("call, error, words", [
    (lambda: L.Dropout(0.5)(fg.Input(shape=(3,), dtype="int32")), ShapeError,
     ["Dropout", "float inputs", "int32"]),
    (lambda: L.Dropout(0.5, noise_shape=(3, 3))(fg.Input(shape=(4,))), ShapeError,
     ["noise_shape (3, 3)", "None, 1 or the axis's size"]),
    (lambda: L.Concatenate()([fg.Input(shape=(3,)), None]), TypeError,
     ["Concatenate", "which holds None"]),
    (lambda: L.Dense(2).add_weight((2,), dtype="uint8"), TypeError,
     ["add_weight 'variable_0'", "`dtype`", "uint8"]),
    (lambda: fg.Input(shape=(3,), dtype="uint8"), TypeError, ["test_layers.py", "`dtype`",
                                                               "uint8"]),
    (lambda: fg.Input(shape=(3.0,)), ValueError, ["test_layers.py", "bad dimension 3.0"]),
])
def test_more_bad_layer_inputs_name_the_layer_and_argument(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_set_weights_on_an_unbuilt_layer_says_to_build_it():
    with pytest.raises(ValueError, match=r"expects 0 weight arrays, got 2 \(it is not built yet"):
        L.Dense(1).set_weights([np.zeros((4, 1)), np.zeros(1)])


def test_a_nested_python_list_for_a_one_input_model_says_it_reads_as_inputs():
    inputs = fg.Input(shape=(4,))
    model = fg.Model(inputs, L.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"got 4 \(a Python list is read as a list of inputs"):
        model([[1.0, 2.0, 3.0, 4.0]])


def test_a_failed_build_drops_the_sub_layers_it_made_with_their_weights():
    class Outer(fg.layers.Layer):
        tries = 0

        def build(self, shape):
            self.inner = fg.layers.Dense(2)
            self.inner.build(shape)
            Outer.tries += 1
            if Outer.tries == 1:
                raise RuntimeError("the first build fails")

        def call(self, x):
            return self.inner(x)

    outer = Outer()
    with pytest.raises(RuntimeError, match="the first build fails"):
        outer(np.ones((1, 3), "float32"))
    outer(np.ones((1, 3), "float32"))
    assert outer._layers == [outer.inner]
    assert not any(w.path.endswith(("dense/kernel", "dense/bias")) for w in outer.weights)
