"""Numerical cross-check of fusegraph against real Keras 3.

Each case builds the same model with ``fusegraph`` and with ``keras`` (the same
builder, handed either module), copies the weights with ``get_weights``/``set_weights``
in both directions (which also checks the weight order and shapes of
/work/shared/KERAS_COMPAT.md), runs the same float32 inputs and compares the outputs.
Losses are compared on the same tensors, one ``train_on_batch`` step per optimizer on a
small MLP (returned loss and updated weights), and the initializer defaults by their
statistics (same family and bounds, not equal values).

Keras is NOT a fusegraph dependency: this module is skipped where it is not installed
(CI has no Keras). Locally: ``pip install keras jax`` (the JAX backend is selected
below, before the import, unless ``KERAS_BACKEND`` is already set).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fusegraph as fg  # noqa: E402

RTOL, ATOL = 1e-5, 1e-5
LIBS = {"fg": fg, "keras": keras}


def rand(*shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype("float32")


def assert_close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def as_list(outputs):
    if isinstance(outputs, dict):
        return [outputs[k] for k in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return list(outputs)
    return [outputs]


def check_weights_and_outputs(build, inputs, rtol=RTOL, atol=ATOL, seed=1):
    """``build(lib)`` returns a model; compare its weights' shapes, then its outputs on
    ``inputs`` after copying Keras's weights into fusegraph, and after copying fresh
    random weights from fusegraph into Keras."""
    km, fm = build(keras), build(fg)
    kw, fw = km.get_weights(), fm.get_weights()
    assert [w.shape for w in fw] == [w.shape for w in kw]
    fm.set_weights(kw)                                        # keras -> fusegraph
    for a, b in zip(as_list(fm(inputs)), as_list(km(inputs))):
        assert_close(a, b, rtol, atol)
    rng = np.random.default_rng(seed)                         # fusegraph -> keras
    fm.set_weights([(w + rng.uniform(-0.3, 0.3, w.shape)).astype(w.dtype) for w in kw])
    km.set_weights(fm.get_weights())
    for a, b in zip(as_list(fm(inputs)), as_list(km(inputs))):
        assert_close(a, b, rtol, atol)
    return km, fm


def single(layer_fn, shape, dtype="float32"):
    def build(lib):
        i = lib.Input(shape=shape, dtype=dtype)
        return lib.Model(i, layer_fn(lib)(i))
    return build


# ----------------------------------------------------------------------------- layers

ACTIVATIONS = ["linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax",
               "softplus", "softsign", "silu", "swish", "gelu", "elu", "leaky_relu",
               "hard_sigmoid", "exponential", None]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense(activation):
    check_weights_and_outputs(single(lambda L: L.layers.Dense(5, activation=activation), (7,)),
                              rand(4, 7) * 3)


def test_dense_no_bias_3d():
    check_weights_and_outputs(single(lambda L: L.layers.Dense(5, use_bias=False), (3, 7)),
                              rand(2, 3, 7))


def test_embedding():
    ids = np.random.default_rng(0).integers(0, 50, (3, 6)).astype("int32")
    check_weights_and_outputs(single(lambda L: L.layers.Embedding(50, 8), (6,), "int32"), ids)


def test_layer_normalization():
    check_weights_and_outputs(single(lambda L: L.layers.LayerNormalization(), (5, 8)),
                              rand(3, 5, 8) * 4 + 1)


def test_batch_normalization_inference():
    check_weights_and_outputs(single(lambda L: L.layers.BatchNormalization(), (4, 6)),
                              rand(3, 4, 6) * 4 + 1)


def test_batch_normalization_training_step_moving_statistics():
    def build(lib):
        i = lib.Input(shape=(6,))
        m = lib.Model(i, lib.layers.BatchNormalization()(lib.layers.Dense(6)(i)))
        m.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return m
    km, fm = build(keras), build(fg)
    fm.set_weights(km.get_weights())
    x, y = rand(8, 6) * 3 + 2, rand(8, 6, seed=2)
    assert_close(fm.train_on_batch(x, y), km.train_on_batch(x, y))
    for a, b in zip(fm.get_weights(), km.get_weights()):
        assert_close(a, b)


# Keras 3.15's JAX backend fails on its fused path (``ops.dot_product_attention``) when
# value_dim != key_dim (it reshapes the values to key_dim; a Keras bug, not fusegraph's).
# ``return_attention_scores=True`` takes Keras's einsum path in every case, and lets the
# attention probabilities be compared too.
@pytest.mark.parametrize("kwargs", [dict(), dict(value_dim=3), dict(output_shape=5),
                                    dict(value_dim=6, output_shape=(7,)),
                                    dict(use_bias=False)])
def test_multi_head_attention(kwargs):
    def build(lib):
        q, v = lib.Input(shape=(4, 6)), lib.Input(shape=(5, 3))
        mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4, **kwargs)
        return lib.Model([q, v], list(mha(q, v, return_attention_scores=True)))
    check_weights_and_outputs(build, [rand(2, 4, 6), rand(2, 5, 3, seed=1)])


def test_multi_head_attention_key_and_attention_mask():
    def build(lib):
        q, v, k = lib.Input(shape=(4, 6)), lib.Input(shape=(5, 3)), lib.Input(shape=(5, 2))
        mask = lib.Input(shape=(4, 5), dtype="bool")
        mha = lib.layers.MultiHeadAttention(num_heads=3, key_dim=2)
        return lib.Model([q, v, k, mask], list(mha(q, v, key=k, attention_mask=mask,
                                                   return_attention_scores=True)))
    mask = np.random.default_rng(0).uniform(size=(2, 4, 5)) > 0.4
    mask[:, :, 0] = True
    mask[1, 2, :] = False                                # a query that sees no key
    check_weights_and_outputs(build, [rand(2, 4, 6), rand(2, 5, 3, seed=1),
                                      rand(2, 5, 2, seed=2), mask])


@pytest.mark.parametrize("scores", [False, True])
def test_multi_head_attention_causal_mask(scores):
    def build(lib):
        q = lib.Input(shape=(5, 6))
        mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3)
        out = mha(q, q, use_causal_mask=True, return_attention_scores=scores)
        return lib.Model(q, list(out) if scores else out)
    check_weights_and_outputs(build, rand(2, 5, 6))


CONV_CASES = [dict(padding="valid"), dict(padding="same"), dict(strides=2),
              dict(strides=2, padding="same"), dict(dilation_rate=2),
              dict(dilation_rate=2, padding="same"), dict(activation="relu", use_bias=False)]


@pytest.mark.parametrize("kwargs", CONV_CASES)
def test_conv1d(kwargs):
    check_weights_and_outputs(single(lambda L: L.layers.Conv1D(4, 3, **kwargs), (11, 3)),
                              rand(2, 11, 3))


@pytest.mark.parametrize("kwargs", CONV_CASES + [dict(kernel_size=(2, 3), strides=(1, 2))])
def test_conv2d(kwargs):
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_size", 3)
    check_weights_and_outputs(single(lambda L: L.layers.Conv2D(4, kernel, **kwargs), (9, 10, 3)),
                              rand(2, 9, 10, 3))


# pool_size is always passed: Keras 3.15's AveragePooling1D/2D require it (MaxPooling has
# the default 2 / (2, 2)); fusegraph's AveragePooling gives it MaxPooling's default, a
# harmless superset left as it is.
@pytest.mark.parametrize("layer", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("kwargs", [dict(pool_size=2), dict(pool_size=2, padding="same"),
                                    dict(pool_size=3, strides=2),
                                    dict(pool_size=3, strides=2, padding="same"),
                                    dict(pool_size=(2, 3), strides=1)])
def test_pooling2d(layer, kwargs):
    check_weights_and_outputs(single(lambda L: getattr(L.layers, layer)(**kwargs), (7, 8, 3)),
                              rand(2, 7, 8, 3))


@pytest.mark.parametrize("layer", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("kwargs", [dict(pool_size=2), dict(pool_size=2, padding="same"),
                                    dict(pool_size=3, strides=2),
                                    dict(pool_size=3, strides=2, padding="same")])
def test_pooling1d(layer, kwargs):
    check_weights_and_outputs(single(lambda L: getattr(L.layers, layer)(**kwargs), (9, 3)),
                              rand(2, 9, 3))


@pytest.mark.parametrize("layer,shape", [("GlobalAveragePooling1D", (5, 3)),
                                         ("GlobalMaxPooling1D", (5, 3)),
                                         ("GlobalAveragePooling2D", (4, 5, 3)),
                                         ("GlobalMaxPooling2D", (4, 5, 3))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(layer, shape, keepdims):
    check_weights_and_outputs(single(lambda L: getattr(L.layers, layer)(keepdims=keepdims),
                                     shape), rand(2, *shape))


@pytest.mark.parametrize("layer", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_recurrent(layer, return_sequences, go_backwards):
    check_weights_and_outputs(
        single(lambda L: getattr(L.layers, layer)(5, return_sequences=return_sequences,
                                                  go_backwards=go_backwards), (6, 3)),
        rand(2, 6, 3))


def _ticket_models():
    from examples import ticket_classifier as tc
    title = keras.Input(shape=(tc.SEQ_LEN,), dtype="int32", name="title")
    body = keras.Input(shape=(tc.SEQ_LEN,), dtype="int32", name="body")
    tags = keras.Input(shape=(tc.NUM_TAGS,), name="tags")
    embed_title = keras.layers.Embedding(tc.NUM_WORDS, 64, name="embed_title")
    embed_body = keras.layers.Embedding(tc.NUM_WORDS, 64, name="embed_body")
    t = keras.layers.GlobalAveragePooling1D()(embed_title(title))
    b = keras.layers.GlobalAveragePooling1D()(embed_body(body))
    x = keras.layers.concatenate([t, b, tags])
    km = keras.Model([title, body, tags],
                     {"priority": keras.layers.Dense(1, name="priority")(x),
                      "department": keras.layers.Dense(tc.NUM_DEPARTMENTS, name="department")(x)})
    return km, tc.build_model(), tc.load_data(num_samples=8)[0]


def test_ticket_classifier():
    """Weights copied layer by layer (see the next test for the model-level order)."""
    km, fm, x = _ticket_models()
    f_embeddings = [layer for layer in fm.layers if type(layer).__name__ == "Embedding"]
    pairs = {"embed_title": f_embeddings[0], "embed_body": f_embeddings[1],   # call order
             "priority": fm.get_layer("priority"), "department": fm.get_layer("department")}
    for name, f in pairs.items():
        f.set_weights(km.get_layer(name).get_weights())
    got, want = fm(x), km(x)
    assert sorted(got) == sorted(want)
    for key in want:
        assert_close(got[key], want[key])


def test_ticket_classifier_model_weight_order():
    # Keras orders a functional model's layers (and get_weights) deepest first, ties by a
    # depth-first walk back from the outputs flattened (a dict by sorted keys); so does
    # fusegraph (frontend/functional.py records_between). KERAS_COMPAT.md's "order first
    # called" holds for a single chain only.
    km, fm, _ = _ticket_models()
    assert [w.shape for w in fm.get_weights()] == [w.shape for w in km.get_weights()]
    assert [type(layer).__name__ for layer in fm.layers] == [
        type(layer).__name__ for layer in km.layers]


def _keras_transformer_encoder():
    class TransformerEncoder(keras.layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.attention = keras.layers.MultiHeadAttention(num_heads=num_heads,
                                                             key_dim=embed_dim)
            self.dense_proj = keras.Sequential([keras.layers.Dense(dense_dim, activation="relu"),
                                                keras.layers.Dense(embed_dim)])
            self.layernorm_1 = keras.layers.LayerNormalization()
            self.layernorm_2 = keras.layers.LayerNormalization()

        def call(self, inputs, mask=None):
            attention_output = self.attention(inputs, inputs, attention_mask=mask)
            proj_input = self.layernorm_1(inputs + attention_output)
            return self.layernorm_2(proj_input + self.dense_proj(proj_input))
    return TransformerEncoder


def test_transformer_encoder():
    from examples import transformer as tr
    encoders = {"fg": tr.TransformerEncoder, "keras": _keras_transformer_encoder()}

    def build(lib):
        enc = encoders["fg" if lib is fg else "keras"]
        inputs = lib.Input(shape=(tr.SEQ_LEN,), dtype="int32")
        x = lib.layers.Embedding(tr.VOCAB, tr.EMBED_DIM)(inputs)
        x = enc(tr.EMBED_DIM, tr.DENSE_DIM, tr.NUM_HEADS)(x)
        x = lib.layers.GlobalMaxPooling1D()(x)
        return lib.Model(inputs, lib.layers.Dense(2, activation="softmax")(x))
    km, fm = check_weights_and_outputs(
        build, np.random.default_rng(0).integers(0, tr.VOCAB, (3, tr.SEQ_LEN)).astype("int32"))
    assert len(fm.layers[2].get_weights()) == 16


# ----------------------------------------------------------------------------- losses

def _loss_inputs(name, from_logits):
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (6, 4)).astype("float32")
    if name in ("MeanSquaredError", "MeanAbsoluteError"):
        return rand(6, 4, seed=4), logits
    if name == "KLDivergence":
        p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        return rand(6, 4, seed=4, low=0.0), p.astype("float32")
    if name == "BinaryCrossentropy":
        y = (rng.uniform(size=(6, 4)) > 0.5).astype("float32")
        y[0] = 0.3                                   # soft labels too
        pred = logits if from_logits else 1 / (1 + np.exp(-logits))
        pred = pred.astype("float32")
        pred[1, 0] = 0.0 if not from_logits else pred[1, 0]    # exercises the clipping
        return y, pred
    if name == "CategoricalCrossentropy":
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, 6)]
        y[0] = [0.1, 0.2, 0.3, 0.4]
    else:
        y = rng.integers(0, 4, 6).astype("int32")
    pred = logits if from_logits else np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return y, pred.astype("float32")


LOSSES = [("MeanSquaredError", {}), ("MeanAbsoluteError", {}), ("KLDivergence", {})] + [
    (name, dict(from_logits=fl)) for name in ("BinaryCrossentropy", "CategoricalCrossentropy",
                                              "SparseCategoricalCrossentropy")
    for fl in (False, True)]


@pytest.mark.parametrize("name,kwargs", LOSSES)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_losses(name, kwargs, reduction):
    y, pred = _loss_inputs(name, kwargs.get("from_logits", False))
    sw = rand(6, seed=9, low=0.0)
    for sample_weight in (None, sw):
        got = getattr(fg.losses, name)(reduction=reduction, **kwargs)(y, pred, sample_weight)
        want = getattr(keras.losses, name)(reduction=reduction, **kwargs)(y, pred, sample_weight)
        assert_close(got, want)


@pytest.mark.parametrize("name", ["BinaryCrossentropy", "CategoricalCrossentropy"])
def test_label_smoothing(name):
    y, pred = _loss_inputs(name, True)
    got = getattr(fg.losses, name)(from_logits=True, label_smoothing=0.1)(y, pred)
    want = getattr(keras.losses, name)(from_logits=True, label_smoothing=0.1)(y, pred)
    assert_close(got, want)


# ----------------------------------------------------------------------------- optimizers

OPTIMIZERS = [("SGD", dict(learning_rate=0.1)), ("SGD", dict(learning_rate=0.1, momentum=0.9)),
              ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
              ("RMSprop", dict(learning_rate=0.01)),
              ("RMSprop", dict(learning_rate=0.01, momentum=0.5, centered=True)),
              ("Adam", dict(learning_rate=0.01)), ("Adam", dict(learning_rate=0.01, amsgrad=True)),
              ("AdamW", dict(learning_rate=0.01)),
              ("AdamW", dict(learning_rate=0.01, weight_decay=0.1))]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_optimizer_train_on_batch(name, kwargs):
    def build(lib):
        i = lib.Input(shape=(5,))
        h = lib.layers.Dense(8, activation="tanh")(i)
        m = lib.Model(i, lib.layers.Dense(3)(h))
        m.compile(optimizer=getattr(lib.optimizers, name)(**kwargs), loss="mse")
        return m
    km, fm = build(keras), build(fg)
    fm.set_weights(km.get_weights())
    for step in range(3):
        x, y = rand(8, 5, seed=step), rand(8, 3, seed=10 + step)
        assert_close(np.ravel(fm.train_on_batch(x, y))[0], np.ravel(km.train_on_batch(x, y))[0])
        for a, b in zip(fm.get_weights(), km.get_weights()):
            assert_close(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- initializers

INIT_CASES = [("Dense", (10, 200), lambda L: L.layers.Dense(300)),
              ("LSTM", (10, 200), lambda L: L.layers.LSTM(64)),
              ("GRU", (10, 200), lambda L: L.layers.GRU(64)),
              ("SimpleRNN", (10, 200), lambda L: L.layers.SimpleRNN(64)),
              ("Embedding", (3,), lambda L: L.layers.Embedding(500, 300)),
              ("Conv2D", (8, 8, 30), lambda L: L.layers.Conv2D(100, 3)),
              ("MultiHeadAttention", (4, 200), None),
              ("LayerNormalization", (4, 200), lambda L: L.layers.LayerNormalization()),
              ("BatchNormalization", (4, 200), lambda L: L.layers.BatchNormalization())]


@pytest.mark.parametrize("name,shape,make", INIT_CASES, ids=[c[0] for c in INIT_CASES])
def test_initializer_defaults_statistics(name, shape, make):
    def build(lib):
        i = lib.Input(shape=shape, dtype="int32" if name == "Embedding" else "float32")
        if make is None:
            return lib.Model(i, lib.layers.MultiHeadAttention(2, 16)(i, i))
        return lib.Model(i, make(lib)(i))
    km, fm = build(keras), build(fg)
    kws, fws = km.get_weights(), fm.get_weights()
    assert [w.shape for w in fws] == [w.shape for w in kws]
    for index, (k, f) in enumerate(zip(kws, fws)):
        where = f"{name} weight {index}"
        if not (name in ("LSTM", "GRU", "SimpleRNN") and index == 1):   # bounded families
            assert abs(k.min() - f.min()) <= 0.01 * abs(k.min()) + 1e-6, where
            assert abs(k.max() - f.max()) <= 0.01 * abs(k.max()) + 1e-6, where
        assert abs(k.std() - f.std()) <= 0.05 * k.std() + 1e-6, where
        assert abs(k.mean() - f.mean()) <= 0.05 * k.std() + 1e-6, where
    if name in ("LSTM", "GRU", "SimpleRNN"):   # orthogonal recurrent kernels (u, gates*u)
        for weights in (kws, fws):
            assert_close(weights[1] @ weights[1].T, np.eye(64), atol=1e-4)
    if name == "LSTM":                          # the forget-gate bias starts at 1
        assert_close(fws[2], np.repeat(np.float32([0, 1, 0, 0]), 64))
        assert_close(kws[2], fws[2])
