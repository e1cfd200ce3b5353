"""Keras's masks (issue 9 item 3, first part): Embedding(mask_zero=True) and Masking make
a mask, layers that support masking pass it on, a call(inputs, mask=None) receives it,
GlobalAveragePooling1D averages the unmasked steps, MultiHeadAttention joins its inputs'
masks to attention_mask (recurrent layers: tests/frontend/test_recurrent.py)."""
import contextlib

import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops

L = fg.layers
IDS = np.array([[3, 5, 0, 0], [7, 0, 0, 0], [1, 2, 4, 6]], np.int32)


def test_an_embeddings_mask_reaches_a_masked_average():
    inputs = fg.Input(shape=(4,), dtype="int32")
    embedding = L.Embedding(10, 3, mask_zero=True)
    hidden = L.Dense(5, activation="tanh")(embedding(inputs))   # passes the mask on
    assert hidden._keras_mask is not None and hidden._keras_mask.shape == (None, 4)
    outputs = L.GlobalAveragePooling1D()(hidden)
    assert outputs._keras_mask is None
    model = fg.Model(inputs, outputs)
    table = embedding.get_weights()[0]
    kernel, bias = model.layers[2].get_weights()
    h = np.tanh(table[IDS] @ kernel + bias)
    keep = (IDS != 0)[..., None]
    want = (h * keep).sum(1) / keep.sum(1)
    np.testing.assert_allclose(model.predict(IDS, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_masking_zeroes_and_masks_the_steps_equal_to_its_value():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    x[0, 2:] = 0.0
    x[1, 1] = 0.0
    inputs = fg.Input(shape=(4, 3))
    masked = L.Masking()(inputs)
    assert masked._keras_mask is not None
    model = fg.Model(inputs, [masked, L.GlobalAveragePooling1D()(masked)])
    out, pooled = model.predict(x, verbose=0)
    keep = np.abs(x).max(-1, keepdims=True) > 0
    np.testing.assert_allclose(out, x * keep)
    np.testing.assert_allclose(pooled, (x * keep).sum(1) / keep.sum(1), rtol=1e-6)


def test_a_subclassed_call_receives_the_mask():
    class MaskedSum(L.Layer):
        supports_masking = True

        def compute_mask(self, inputs, mask=None):
            return None                                # the steps are summed away

        def call(self, inputs, mask=None):
            return ops.sum(inputs * ops.expand_dims(ops.cast(mask, "float32"), -1), axis=1)

    inputs = fg.Input(shape=(4,), dtype="int32")
    embedding = L.Embedding(10, 2, mask_zero=True)
    model = fg.Model(inputs, MaskedSum()(embedding(inputs)))
    table = embedding.get_weights()[0]
    np.testing.assert_allclose(model.predict(IDS, verbose=0),
                               (table[IDS] * (IDS != 0)[..., None]).sum(1), rtol=1e-6)


class TransformerEncoder(L.Layer):
    """The course's encoder, as it writes it (mask[:, tf.newaxis, :] -> mask[:, None, :])."""

    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.attention = L.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = fg.Sequential([L.Dense(dense_dim, activation="relu"),
                                         L.Dense(embed_dim)])
        self.layernorm_1 = L.LayerNormalization()
        self.layernorm_2 = L.LayerNormalization()

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = mask[:, None, :]
        attention_output = self.attention(inputs, inputs, attention_mask=mask)
        proj_input = self.layernorm_1(inputs + attention_output)
        proj_output = self.dense_proj(proj_input)
        return self.layernorm_2(proj_input + proj_output)


@pytest.mark.parametrize("mask_zero", [True, False])
def test_the_courses_encoder_takes_its_mask_from_the_embedding(mask_zero):
    """With mask_zero, what the padding tokens' embedding holds cannot reach the outputs
    at the real tokens (the padding keys are masked); without it, it does. (The encoder
    does not support masking, as in Keras: its output carries no mask, with a warning.)"""
    fg.utils.set_random_seed(1)
    inputs = fg.Input(shape=(4,), dtype="int32")
    embedding = L.Embedding(10, 8, mask_zero=mask_zero)
    with pytest.warns(UserWarning) if mask_zero else contextlib.nullcontext():
        model = fg.Model(inputs, TransformerEncoder(8, 16, 2)(embedding(inputs)))
    real = IDS != 0
    before = model.predict(IDS, verbose=0)[real]
    table = embedding.get_weights()[0]
    table[0] = 5.0                                   # the padding token's row
    embedding.set_weights([table])
    after = model.predict(IDS, verbose=0)[real]
    assert np.allclose(before, after, atol=1e-6) == mask_zero


def test_a_layer_without_mask_support_warns_that_the_mask_stops_there():
    inputs = fg.Input(shape=(4,), dtype="int32")
    masked = L.Embedding(10, 3, mask_zero=True)(inputs)
    with pytest.warns(UserWarning, match=r"layer 'flatten' \(Flatten\) was passed an input "
                                         r"with a mask, but does not support masking"):
        flat = L.Flatten()(masked)
    assert flat._keras_mask is None


def test_attention_joins_its_inputs_masks_to_the_attention_mask():
    """No attention_mask given: the masked tensors' masks alone keep the padding keys from
    the real queries, and the output carries the query's mask."""
    fg.utils.set_random_seed(2)
    inputs = fg.Input(shape=(4,), dtype="int32")
    embedding = L.Embedding(10, 6, mask_zero=True)
    x = embedding(inputs)
    out = L.MultiHeadAttention(num_heads=2, key_dim=3)(x, x)
    assert out._keras_mask is x._keras_mask
    model = fg.Model(inputs, out)
    real = IDS != 0
    before = model.predict(IDS, verbose=0)
    table = embedding.get_weights()[0]
    table[0] = -3.0
    embedding.set_weights([table])
    after = model.predict(IDS, verbose=0)
    np.testing.assert_allclose(before[real], after[real], rtol=1e-5, atol=1e-6)
    # a padded query sees no key (its own mask): its context is zeros (Keras's masked
    # softmax), so its output is the output bias, zeros as initialized
    np.testing.assert_array_equal(after[~real], 0.0)


def test_a_loss_leaves_out_the_masked_steps_of_the_prediction():
    """Keras's apply_mask: a mean over the unmasked steps only (sum / (valid + 1e-7)), in
    evaluate's step graph and in an eager call of the loss on the model's output."""
    inputs = fg.Input(shape=(4,), dtype="int32")
    embedding = L.Embedding(10, 3, mask_zero=True)
    dense = L.Dense(2, activation="softmax")
    model = fg.Model(inputs, dense(embedding(inputs)))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    labels = (IDS % 2).astype(np.int32)
    kernel, bias = dense.get_weights()
    logits = embedding.get_weights()[0][IDS] @ kernel + bias
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ce = -np.log(np.take_along_axis(probs, labels[..., None], -1)[..., 0])
    keep = IDS != 0
    want = (ce * keep).sum() / (keep.sum() + 1e-7)
    assert model.evaluate(IDS, labels, verbose=0) == pytest.approx(want, rel=1e-5)
    prediction = model(ops.convert_to_tensor(IDS))          # eager: carries the mask
    assert prediction._keras_mask is not None
    loss = fg.losses.SparseCategoricalCrossentropy()(labels, prediction)
    assert float(loss) == pytest.approx(want, rel=1e-5)
    assert ce.mean() != pytest.approx(want, rel=1e-3)               # the mask mattered


def test_a_metric_uses_the_mask_with_sample_weights_as_keras_3():
    """Keras 3's MeanMetricWrapper: the prediction's mask weighs in only together with
    sample_weight (masked entries 0, the others their weight)."""
    prediction = fg.layers.Embedding(10, 2, mask_zero=True)
    inputs = ops.convert_to_tensor(IDS)
    probs = ops.softmax(prediction(inputs))                  # eager, carrying the mask
    probs._keras_mask = ops.not_equal(inputs, 0)
    labels = (IDS % 2).astype(np.int32)
    hit = (np.argmax(probs.numpy(), -1) == labels).astype(np.float32)
    keep = IDS != 0
    weights = np.array([1.0, 2.0, 0.5], np.float32)
    weighted = fg.metrics.SparseCategoricalAccuracy()
    weighted.update_state(labels, probs, sample_weight=weights)
    w = weights[:, None] * keep
    assert float(weighted.result()) == pytest.approx((hit * w).sum() / w.sum(), rel=1e-6)
    plain = fg.metrics.SparseCategoricalAccuracy()
    plain.update_state(labels, probs)
    assert float(plain.result()) == pytest.approx(hit.mean(), rel=1e-6)


def test_calls_on_arrays_outside_a_tape_keep_their_masks():
    """A layer that makes a mask, or a model whose output carries one, called on numpy
    arrays eagerly gives results that carry the mask: a masked average and a masked loss
    agree with the step graph's."""
    embedding = L.Embedding(10, 3, mask_zero=True)
    pooled = L.GlobalAveragePooling1D()(embedding(IDS))
    table, keep = embedding.get_weights()[0], (IDS != 0)[..., None]
    np.testing.assert_allclose(np.asarray(pooled), (table[IDS] * keep).sum(1) / keep.sum(1),
                               rtol=1e-6)
    inputs = fg.Input(shape=(4,), dtype="int32")
    model = fg.Model(inputs, L.Dense(2)(L.Embedding(10, 3, mask_zero=True)(inputs)))
    model.compile(loss="mse")
    y = np.ones((3, 4, 2), np.float32)
    prediction = model(IDS)
    assert prediction._keras_mask is not None
    assert float(fg.losses.MeanSquaredError()(y, prediction)) == pytest.approx(
        model.evaluate(IDS, y, verbose=0), rel=1e-6)
