"""Models (functional, subclassed, Sequential, nested) against plain-numpy computations
written here from each model's own ``get_weights()``, and their printed IR against
expected text.

The examples' models are imported from examples/*.py. The autouse fixture in
tests/conftest.py clears the session (auto-names start again at ``dense``) and seeds the
weight generator before each test.
"""
import gc
from pathlib import Path

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.cli import load_user_file
from fusegraph.ir.errors import ShapeError

L = fg.layers
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def build_mlp():
    inputs = fg.Input(shape=(3,))
    x = fg.layers.Dense(4, activation="relu")(inputs)
    outputs = fg.layers.Dense(5, activation="softmax")(x)
    return fg.Model(inputs=inputs, outputs=outputs)


# The golden text's line numbers follow build_mlp, wherever it sits in this file.
_MLP_LINE = build_mlp.__code__.co_firstlineno
MLP_IR = f"""\
graph @functional(
    %input_layer: f32[B,3],
    %dense/kernel: f32[3,4],
    %dense/bias: f32[4],
    %dense_1/kernel: f32[4,5],
    %dense_1/bias: f32[5]
) -> (f32[B,5]) {{
  %0: f32[B,4] = matmul %input_layer, %dense/kernel              # test_models.py:{_MLP_LINE + 2} dense
  %1: f32[B,4] = add %0, %dense/bias                             # test_models.py:{_MLP_LINE + 2} dense
  %2: f32[] = constant {{value=0.0, dtype=f32}}                    # test_models.py:{_MLP_LINE + 2} dense
  %3: f32[B,4] = maximum %1, %2                                  # test_models.py:{_MLP_LINE + 2} dense
  %4: f32[B,5] = matmul %3, %dense_1/kernel                      # test_models.py:{_MLP_LINE + 3} dense_1
  %5: f32[B,5] = add %4, %dense_1/bias                           # test_models.py:{_MLP_LINE + 3} dense_1
  %6: f32[B,5] = softmax %5 {{axes=[1]}}                           # test_models.py:{_MLP_LINE + 3} dense_1
  return %6
}}
"""


# --- numpy references (float64) --------------------------------------------------------
def _rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


def np_relu(x):
    return np.maximum(x, 0.0)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_layer_norm(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_mha(w, query, value, key=None, mask=None, causal=False):
    """Keras MultiHeadAttention: w = [q kernel (d,h,k), q bias (h,k), k kernel, k bias,
    v kernel (d,h,v), v bias (h,v), output kernel (h,v,out), output bias (out)]."""
    wq, bq, wk, bk, wv, bv, wo, bo = w
    key = value if key is None else key
    q = (np.einsum("btd,dhk->bthk", query, wq) + bq) / np.sqrt(wq.shape[-1])
    k = np.einsum("bsd,dhk->bshk", key, wk) + bk
    v = np.einsum("bsd,dhv->bshv", value, wv) + bv
    scores = np.einsum("bthk,bshk->bhts", q, k)
    keep = np.ones(scores.shape, bool)
    if mask is not None:
        keep &= np.asarray(mask, bool)[:, None, :, :]
    if causal:
        t, s = scores.shape[-2:]
        keep &= np.arange(s)[None, :] <= np.arange(t)[:, None]
    probs = np_softmax(np.where(keep, scores, -1e9))
    context = np.einsum("bhts,bshv->bthv", probs, v)
    return np.einsum("bthv,hvo->bto", context, wo) + bo


def np_encoder(x, w, mask=None):
    """examples/transformer.py's TransformerEncoder from its 16 weights."""
    attention, (d1k, d1b, d2k, d2b), (g1, b1), (g2, b2) = w[:8], w[8:12], w[12:14], w[14:16]
    proj_input = np_layer_norm(x + np_mha(attention, x, x, mask=mask), g1, b1)
    proj_output = np_relu(proj_input @ d1k + d1b) @ d2k + d2b
    return np_layer_norm(proj_input + proj_output, g2, b2)


def np_decoder(x, encoded, w):
    """examples/transformer.py's TransformerDecoder from its 26 weights."""
    att1, att2, (d1k, d1b, d2k, d2b) = w[:8], w[8:16], w[16:20]
    (g1, b1), (g2, b2), (g3, b3) = w[20:22], w[22:24], w[24:26]
    out_1 = np_layer_norm(x + np_mha(att1, x, x, causal=True), g1, b1)
    out_2 = np_layer_norm(out_1 + np_mha(att2, out_1, encoded), g2, b2)
    proj = np_relu(out_2 @ d1k + d1b) @ d2k + d2b
    return np_layer_norm(out_2 + proj, g3, b3)


def _perturb(model, scale=0.1):
    """Add noise to every weight (biases, gammas and betas stop being 0 or 1, so a
    reference that ignored them would disagree); returns the new weights, as float64."""
    new = [w + _rand(*w.shape, seed=100 + i, scale=scale)
           for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    return [w.astype(np.float64) for w in model.get_weights()]


# --- the MLP ---------------------------------------------------------------------------
def np_mlp(x, w):
    k1, b1, k2, b2 = w
    return np_softmax(np_relu(x @ k1 + b1) @ k2 + b2)


def test_mlp_matches_numpy():
    model = build_mlp()
    weights = _perturb(model)
    x = _rand(6, 3, scale=2.0)
    out = model(x)
    assert out.shape == (6, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, np_mlp(x, weights), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-6)


def test_mlp_ir_text():
    assert build_mlp().ir() == MLP_IR


def test_mlp_names_and_weights():
    model = build_mlp()
    assert model.name == "functional"
    assert [layer.name for layer in model.layers] == ["input_layer", "dense", "dense_1"]
    assert model.input_names == ["input_layer"]
    assert model.output_names == ["dense_1"]
    assert [w.path for w in model.weights] == ["dense/kernel", "dense/bias",
                                               "dense_1/kernel", "dense_1/bias"]
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 5), (5,)]
    assert model.count_params() == 41


def test_mlp_summary():
    lines = []
    build_mlp().summary(print_fn=lines.append)
    text = "\n".join(lines)
    rows = [line.split() for line in text.splitlines()]
    assert text.splitlines()[0] == 'Model: "functional"'
    assert ["Layer", "(type)", "Output", "Shape", "Param", "#"] in rows
    assert ["input_layer", "(InputLayer)", "(None,", "3)", "0"] in rows
    assert ["dense", "(Dense)", "(None,", "4)", "16"] in rows
    assert ["dense_1", "(Dense)", "(None,", "5)", "25"] in rows
    assert " Total params: 41 (164.00 B)" in text.splitlines()
    assert " Trainable params: 41 (164.00 B)" in text.splitlines()
    assert " Non-trainable params: 0 (0.00 B)" in text.splitlines()


def test_mlp_predict_with_a_batch_size_that_does_not_divide():
    model = build_mlp()
    weights = _perturb(model)
    x = _rand(7, 3)
    out = model.predict(x, batch_size=3)
    assert out.shape == (7, 5)
    np.testing.assert_allclose(out, np_mlp(x, weights), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict(x), out, rtol=1e-6)       # default batch 32


def test_mlp_rejects_a_wrong_input_shape():
    with pytest.raises(ValueError,
                       match=r"input 'input_layer': expected an array of shape \(None, 3\)"):
        build_mlp()(_rand(2, 4))


# --- the ticket classifier -------------------------------------------------------------------
@pytest.fixture(scope="module")
def ticket():
    return load_user_file(str(EXAMPLES / "ticket_classifier.py"))


@pytest.fixture(scope="module")
def transformer():
    return load_user_file(str(EXAMPLES / "transformer.py"))


def _ticket_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"title": rng.integers(0, 10000, (n, 100)).astype("int32"),
            "body": rng.integers(0, 10000, (n, 100)).astype("int32"),
            "tags": rng.integers(0, 2, (n, 12)).astype("float32")}


def np_ticket(x, w):
    title_table, body_table, dk, db, pk, pb = w   # Keras order: department first
    features = np.concatenate([title_table[x["title"]].mean(axis=1),
                               body_table[x["body"]].mean(axis=1), x["tags"]], axis=1)
    return {"priority": features @ pk + pb, "department": features @ dk + db}


def test_ticket_weights_follow_keras_order(ticket):
    # Keras 3 orders a functional model's layers deepest first, ties by a depth-first walk
    # from the outputs, a dict of outputs by sorted key: "department" before "priority"
    # (checked against Keras 3.15 in tests/compat/test_keras_crosscheck.py).
    model = ticket.build_model()
    assert [w.path for w in model.weights] == [
        "embedding/embeddings", "embedding_1/embeddings", "department/kernel",
        "department/bias", "priority/kernel", "priority/bias"]
    assert [w.shape for w in model.get_weights()] == [
        (10000, 64), (10000, 64), (140, 4), (4,), (140, 1), (1,)]
    assert [layer.name for layer in model.layers] == [
        "title", "body", "embedding", "embedding_1", "global_average_pooling1d",
        "global_average_pooling1d_1", "tags", "concatenate", "department", "priority"]


def test_ticket_dict_inputs_and_outputs_match_numpy(ticket):
    model = ticket.build_model()
    weights = _perturb(model)
    x = _ticket_inputs(5)
    out = model(x)
    assert isinstance(out, dict) and list(out) == ["priority", "department"]
    assert model.output_names == ["priority", "department"]
    assert model.input_names == ["title", "body", "tags"]
    want = np_ticket(x, weights)
    assert out["priority"].shape == (5, 1) and out["department"].shape == (5, 4)
    for name in ("priority", "department"):
        np.testing.assert_allclose(out[name], want[name], rtol=1e-4, atol=1e-6)
    # a dict in another order, and a list in the inputs' order, give the same
    reordered = model({"tags": x["tags"], "body": x["body"], "title": x["title"]})
    positional = model([x["title"], x["body"], x["tags"]])
    for name in ("priority", "department"):
        np.testing.assert_array_equal(reordered[name], out[name])
        np.testing.assert_array_equal(positional[name], out[name])


def test_ticket_embeddings_are_separate(ticket):
    # swapping title and body changes the result: each input has its own table
    model = ticket.build_model()
    x = _ticket_inputs(3)
    swapped = dict(x, title=x["body"], body=x["title"])
    assert not np.allclose(model(x)["department"], model(swapped)["department"], atol=1e-6)


def test_ticket_predict_keeps_the_dict(ticket):
    model = ticket.build_model()
    weights = _perturb(model)
    x = _ticket_inputs(5, seed=1)
    out = model.predict(x, batch_size=2)
    want = np_ticket(x, weights)
    assert list(out) == ["priority", "department"]
    for name in ("priority", "department"):
        np.testing.assert_allclose(out[name], want[name], rtol=1e-4, atol=1e-6)


def test_ticket_summary_shows_connections(ticket):
    lines = []
    ticket.build_model().summary(line_length=150, print_fn=lines.append)
    rows = [line.split() for line in "\n".join(lines).splitlines()]
    assert ["Layer", "(type)", "Output", "Shape", "Param", "#", "Connected", "to"] in rows
    assert ["embedding", "(Embedding)", "(None,", "100,", "64)", "640,000", "title[0][0]"] in rows
    assert ["concatenate", "(Concatenate)", "(None,", "140)", "0",
            "global_average_pooling1d[0][0],"] in rows           # its cell wraps at spaces:
    assert ["global_average_pooling1d_1[0][0],"] in rows and ["tags[0][0]"] in rows
    assert ["department", "(Dense)", "(None,", "4)", "564", "concatenate[0][0]"] in rows
    assert ["Total", "params:", "1,280,705", "(4.89", "MB)"] in rows


def test_ticket_missing_input_is_named(ticket):
    model = ticket.build_model()
    x = _ticket_inputs(2)
    del x["tags"]
    with pytest.raises(KeyError, match=r"missing input\(s\) \['tags'\]"):
        model(x)


# --- the Transformer ---------------------------------------------------------------------
ENCODER_WEIGHTS = [  # (path suffix, shape) for embed 32, dense 64, 2 heads, key_dim 32
    ("multi_head_attention/query/kernel", (32, 2, 32)),
    ("multi_head_attention/query/bias", (2, 32)),
    ("multi_head_attention/key/kernel", (32, 2, 32)),
    ("multi_head_attention/key/bias", (2, 32)),
    ("multi_head_attention/value/kernel", (32, 2, 32)),
    ("multi_head_attention/value/bias", (2, 32)),
    ("multi_head_attention/attention_output/kernel", (2, 32, 32)),
    ("multi_head_attention/attention_output/bias", (32,)),
    ("sequential/dense/kernel", (32, 64)), ("sequential/dense/bias", (64,)),
    ("sequential/dense_1/kernel", (64, 32)), ("sequential/dense_1/bias", (32,)),
    ("layer_normalization/gamma", (32,)), ("layer_normalization/beta", (32,)),
    ("layer_normalization_1/gamma", (32,)), ("layer_normalization_1/beta", (32,)),
]


def _tokens(n, seed=0, length=16):
    return np.random.default_rng(seed).integers(0, 1000, (n, length)).astype("int32")


def test_encoder_layer_weights_in_keras_order(transformer):
    model = transformer.build_encoder_model()
    encoder = model.layers[2]
    assert isinstance(encoder, transformer.TransformerEncoder)
    assert [(w.path, w.shape) for w in encoder.weights] == [
        (f"transformer_encoder/{suffix}", shape) for suffix, shape in ENCODER_WEIGHTS]
    arrays = encoder.get_weights()
    assert len(arrays) == 16 and [a.shape for a in arrays] == [s for _, s in ENCODER_WEIGHTS]
    np.testing.assert_array_equal(arrays[12], np.ones(32))      # layernorm_1 gamma
    np.testing.assert_array_equal(arrays[7], np.zeros(32))      # attention output bias


def test_encoder_model_summary(transformer):
    lines = []
    transformer.build_encoder_model().summary(line_length=100, print_fn=lines.append)
    rows = [line.split() for line in "\n".join(lines).splitlines()]
    # attention 3*(32*64 + 64) + 64*32 + 32, dense_proj 32*64 + 64 + 64*32 + 32, 2 norms 4*32
    assert ["transformer_encoder", "(TransformerEncoder)", "(None,", "16,", "32)", "12,736"] in rows
    assert ["Total", "params:", "44,802", "(175.01", "KB)"] in rows


def test_encoder_model_matches_numpy(transformer):
    model = transformer.build_encoder_model()
    assert [layer.name for layer in model.layers] == [
        "tokens", "embedding", "transformer_encoder", "global_max_pooling1d", "dense_2"]
    w = _perturb(model)
    assert len(w) == 1 + 16 + 2
    tokens = _tokens(3)
    encoded = np_encoder(w[0][tokens], w[1:17])
    want = np_softmax(encoded.max(axis=1) @ w[17] + w[18])
    out = model(tokens)
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-6)


def test_encoder_layer_alone_with_a_padding_mask(transformer):
    x_in = fg.Input(shape=(5, 8), name="x")
    mask_in = fg.Input(shape=(5, 5), dtype="bool", name="mask")
    layer = transformer.TransformerEncoder(8, 16, 2)
    model = fg.Model([x_in, mask_in], layer(x_in, mask=mask_in))
    w = _perturb(model)
    x = _rand(2, 5, 8)
    lengths = np.array([3, 5])
    mask = (np.arange(5)[None, None, :] < lengths[:, None, None]) & np.ones((2, 5, 1), bool)
    out = model({"x": x, "mask": mask})
    np.testing.assert_allclose(out, np_encoder(x.astype(np.float64), w, mask=mask),
                               rtol=1e-4, atol=1e-5)
    # padding (keys 3, 4 of sample 0) does not reach the unpadded positions' outputs
    x2 = x.copy()
    x2[0, 3:] = _rand(2, 8, seed=9)
    np.testing.assert_allclose(model({"x": x2, "mask": mask})[0, :3], out[0, :3],
                               rtol=1e-5, atol=1e-6)


def test_encoder_decoder_matches_numpy(transformer):
    model = transformer.build_model()
    # Keras 3's order: deepest first (the encoder's embedding, then the decoder's), ties
    # by a depth-first walk from the output
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "InputLayer", "Embedding", "Embedding", "TransformerEncoder",
        "TransformerDecoder", "Dense"]
    w = _perturb(model, scale=0.05)
    assert [a.shape for a in w[:2]] == [(1000, 32), (1000, 32)]
    assert len(w) == 1 + 1 + 16 + 26 + 2
    source, target = _tokens(2, seed=1), _tokens(2, seed=2)
    encoded = np_encoder(w[0][source], w[2:18])
    decoded = np_decoder(w[1][target], encoded, w[18:44])
    want = np_softmax(decoded @ w[44] + w[45])
    out = model([source, target])
    assert out.shape == (2, 16, 1000)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-7)


def test_decoder_causal_mask(transformer):
    model = transformer.build_model()
    _perturb(model, scale=0.05)
    source, target = _tokens(2, seed=1), _tokens(2, seed=2)
    out = model({"source": source, "target": target})
    changed = target.copy()
    changed[:, 9] = (changed[:, 9] + 1) % 1000
    out_changed = model({"source": source, "target": changed})
    # positions before 9 cannot see target token 9 ...
    np.testing.assert_allclose(out_changed[:, :9], out[:, :9], rtol=1e-6, atol=1e-9)
    # ... positions 9 and later can
    for t in range(9, 16):
        assert not np.allclose(out_changed[:, t], out[:, t], rtol=1e-4, atol=1e-7)
    # the source is not masked: changing its last token changes every target position
    other = source.copy()
    other[:, -1] = (other[:, -1] + 1) % 1000
    out_other = model({"source": other, "target": target})
    for t in range(16):
        assert not np.allclose(out_other[:, t], out[:, t], rtol=1e-4, atol=1e-7)


def test_mha_alone_with_an_explicit_attention_mask():
    q_in = fg.Input(shape=(3, 4), name="q")
    v_in = fg.Input(shape=(5, 6), name="v")
    mask_in = fg.Input(shape=(3, 5), dtype="int32", name="mask")
    layer = L.MultiHeadAttention(num_heads=2, key_dim=3)
    model = fg.Model([q_in, v_in, mask_in], layer(q_in, v_in, attention_mask=mask_in))
    w = _perturb(model, scale=0.3)
    q, v = _rand(2, 3, 4, seed=1), _rand(2, 5, 6, seed=2)
    mask = np.random.default_rng(3).integers(0, 2, (2, 3, 5)).astype("int32")
    mask[:, :, 0] = 1                                   # every query sees some key
    out = model([q, v, mask])
    np.testing.assert_allclose(out, np_mha(w, q, v, mask=mask), rtol=1e-4, atol=1e-6)
    assert not np.allclose(out, np_mha(w, q, v), rtol=1e-3, atol=1e-5)
    # a masked value cannot change the output
    v2 = v.copy()
    v2[mask[:, 0] == 0] += 5.0
    np.testing.assert_allclose(model([q, v2, mask])[:, 0], out[:, 0], rtol=1e-5, atol=1e-6)


# --- subclassed models and layers -----------------------------------------------------------
class TwoDense(fg.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = L.Dense(4, activation="relu")
        self.head = L.Dense(2)

    def call(self, inputs):
        return self.head(self.hidden(inputs))


def test_subclassed_model_matches_numpy_and_has_ir_after_first_call():
    model = TwoDense()
    assert model.name == "two_dense"
    with pytest.raises(ValueError, match="has no traced graph yet"):
        model.ir()
    x = _rand(5, 3)
    model(x)
    w = _perturb(model)
    out = model(x)
    np.testing.assert_allclose(out, np_relu(x @ w[0] + w[1]) @ w[2] + w[3], rtol=1e-5, atol=1e-6)
    assert [w.path for w in model.weights] == ["two_dense/dense/kernel", "two_dense/dense/bias",
                                               "two_dense/dense_1/kernel", "two_dense/dense_1/bias"]
    text = model.ir()
    assert text.startswith("graph @two_dense(")
    assert "%two_dense/dense/kernel: f32[3,4]" in text and "-> (f32[B,2])" in text
    assert fg.ir.parse_graph(text) == model.graph


def test_subclassed_model_traced_on_float64_data_computes_in_float32():
    model = TwoDense()
    x = np.random.default_rng(0).normal(size=(3, 3))           # float64
    out = model(x)
    assert out.dtype == np.float32
    assert model.graph.params[0].type == fg.ir.TensorType((fg.ir.BATCH, 3), fg.ir.DType.f32)
    w = model.get_weights()
    np.testing.assert_allclose(out, np_relu(x @ w[0] + w[1]) @ w[2] + w[3], rtol=1e-5, atol=1e-6)


def test_subclassed_model_reads_its_weights_at_each_call():
    model = TwoDense()
    x = _rand(4, 3)
    first = model(x)
    np.testing.assert_array_equal(model(x), first)
    w = model.get_weights()
    model.set_weights([w[0], w[1], w[2], w[3] + 1.0])       # head bias + 1
    np.testing.assert_allclose(model(x), first + 1.0, rtol=1e-6)


class Scaled(fg.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(2)

    def call(self, inputs, scale=1.0, offset=None, training=None):
        out = fg.ops.multiply(self.dense(inputs), scale)
        return out if offset is None else out + offset


def test_subclassed_model_eager_calls_follow_their_other_arguments():
    model = Scaled()
    x = _rand(4, 3)
    two = model(x, scale=2.0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(two, 2.0 * (x @ kernel + bias), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x, scale=5.0), 2.5 * two, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x, 3.0), 1.5 * two, rtol=1e-5, atol=1e-6)   # positional
    offset = np.arange(2, dtype="float32")
    np.testing.assert_allclose(model(x, scale=2.0, offset=offset), two + offset, rtol=1e-5)
    with pytest.warns(UserWarning, match="each new value traces"):   # a second offset
        np.testing.assert_allclose(model(x, scale=2.0, offset=offset + 1), two + offset + 1,
                                   rtol=1e-5)
    np.testing.assert_allclose(model(x, scale=2.0, training=True), two, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), two / 2, rtol=1e-5, atol=1e-6)
    assert len(model._eager_forwards) == 6                     # each set of arguments, once
    model(x, scale=5.0)
    assert len(model._eager_forwards) == 6
    assert "f32[] = constant {value=2.0" in model.ir()         # the first call is the graph


def test_a_new_array_argument_each_call_warns_once_and_keeps_few_traces():
    """A per-call array argument (a mask, a bias) is a constant of its trace: each new
    value retraces, so the model warns once and keeps at most MAX_EAGER_TRACES traces."""
    import warnings
    from fusegraph.frontend.model import MAX_EAGER_TRACES
    model = Scaled()
    x = _rand(4, 3)
    plain = model(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3 * MAX_EAGER_TRACES):
            offset = _rand(2, seed=i)
            np.testing.assert_allclose(model(x, offset=offset), plain + offset, rtol=1e-5,
                                       atol=1e-6)
            assert len(model._eager_forwards) <= MAX_EAGER_TRACES
    retrace = [w for w in caught if "each new value traces" in str(w.message)]
    assert len(retrace) == 1 and "'scaled'" in str(retrace[0].message)
    assert retrace[0].filename == __file__                   # the user's line
    np.testing.assert_allclose(model(x), plain, rtol=1e-6)   # the first trace is kept
    assert "offset" not in model.ir()


def test_subclassed_model_built_ahead_follows_its_other_arguments_too():
    model = Scaled()
    model.build((None, 3))
    x = _rand(4, 3)
    plain = model(x)
    np.testing.assert_allclose(model(x, scale=4.0), 4.0 * plain, rtol=1e-5, atol=1e-6)


def test_subclassed_model_inside_a_functional_model_shares_weights():
    model = TwoDense()
    x = _rand(4, 3)
    alone = model(x)
    inputs = fg.Input(shape=(3,))
    outer = fg.Model(inputs, model(inputs))
    np.testing.assert_allclose(outer(x), alone, rtol=1e-6)
    assert [w.path for w in outer.weights] == [w.path for w in model.weights]
    model.set_weights([a * 2 for a in model.get_weights()])
    np.testing.assert_allclose(outer(x), model(x), rtol=1e-6)


def test_subclassed_weights_follow_assignment_order_not_call_order():
    class Reversed(fg.Model):
        def __init__(self):
            super().__init__()
            self.second = L.Dense(2)
            self.first = L.Dense(3)

        def call(self, inputs):
            return self.second(self.first(inputs))

    model = Reversed()
    x = _rand(2, 4)
    out = model(x)
    assert [w.shape for w in model.get_weights()] == [(3, 2), (2,), (4, 3), (3,)]
    w = _perturb(model)
    np.testing.assert_allclose(model(x), (x @ w[2] + w[3]) @ w[0] + w[1], rtol=1e-5, atol=1e-6)
    assert out.shape == (2, 2)


def test_subclassed_layer_lists_sub_layer_weights_before_its_own():
    class Scaled(fg.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = L.Dense(3)

        def build(self, input_shape):                      # its own weight is made first
            self.scale = self.add_weight((3,), "ones", name="scale")

        def call(self, inputs):
            return self.inner(inputs) * self.scale

    inputs = fg.Input(shape=(2,))
    layer = Scaled()
    model = fg.Model(inputs, layer(inputs))
    assert [w.path for w in layer.weights] == ["scaled/dense/kernel", "scaled/dense/bias",
                                               "scaled/scale"]
    k, b, scale = _perturb(model)
    x = _rand(4, 2)
    np.testing.assert_allclose(model(x), (x @ k + b) * scale, rtol=1e-5, atol=1e-6)


def test_layer_called_twice_shares_its_weights():
    inputs = fg.Input(shape=(3,), name="x")
    dense = L.Dense(3, activation="tanh")
    model = fg.Model(inputs, dense(dense(inputs)))
    graph = model.graph
    assert [p.name for p in graph.params] == ["x", "dense/kernel", "dense/bias"]
    assert [op.kind for op in graph.ops].count("matmul") == 2
    kernels = [op.operands[1] for op in graph.ops if op.kind == "matmul"]
    assert kernels[0] is kernels[1] is graph.params[1]
    k, b = _perturb(model)
    x = _rand(4, 3)
    np.testing.assert_allclose(model(x), np.tanh(np.tanh(x @ k + b) @ k + b), rtol=1e-5, atol=1e-6)


def test_a_layer_made_inside_a_call_lives_as_long_as_a_graph_reads_it():
    """Nothing holds the inner Dense once the call returns; the model built from the
    call still reads its weights (they had been collected by a garbage collection in
    between, and the model said its kernel was a foreign input)."""
    class MakesItsOwn(fg.layers.Layer):
        def call(self, inputs):
            return L.Dense(2)(inputs)

    inputs = fg.Input(shape=(3,))
    outputs = MakesItsOwn()(inputs)
    gc.collect()
    assert fg.Model(inputs, outputs)(_rand(4, 3)).shape == (4, 2)


def test_layer_made_inside_call_gets_new_weights_each_trace():
    class MakesItsOwn(fg.layers.Layer):
        def call(self, inputs):
            return L.Dense(2, name=None)(inputs)

    inputs = fg.Input(shape=(3,), name="x")
    layer = MakesItsOwn()
    model = fg.Model(inputs, [layer(inputs), layer(inputs)])
    names = [p.name for p in model.graph.params]
    assert names == ["x", "makes_its_own/dense/kernel", "makes_its_own/dense/bias",
                     "makes_its_own/dense_1/kernel", "makes_its_own/dense_1/bias"]
    a, b = model(_rand(4, 3))
    assert not np.allclose(a, b)

    class FreshModel(fg.Model):
        def call(self, inputs):
            return L.Dense(2)(inputs)

    fresh = FreshModel()
    first = fresh(_rand(4, 3))
    traced_again = fg.Model(inputs, fresh(inputs))
    assert "fresh_model/dense_2/kernel" in [p.name for p in fresh.graph.params]
    assert "fresh_model/dense_3/kernel" in [p.name for p in traced_again.graph.params]
    assert not np.allclose(traced_again(_rand(4, 3)), first)


# --- Sequential --------------------------------------------------------------------------------
def _np_seq(x, w):
    return np_relu(x @ w[0] + w[1]) @ w[2] + w[3]


def test_sequential_with_input_first():
    model = fg.Sequential([fg.Input(shape=(3,)), L.Dense(4, activation="relu"), L.Dense(2)])
    assert model.name == "sequential"
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert model.ir().startswith("graph @sequential(")
    w = _perturb(model)
    x = _rand(5, 3)
    np.testing.assert_allclose(model(x), _np_seq(x, w), rtol=1e-5, atol=1e-6)


def test_sequential_with_input_shape_on_first_layer():
    model = fg.Sequential([L.Dense(4, activation="relu", input_shape=(3,)), L.Dense(2)])
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    w = _perturb(model)
    x = _rand(5, 3)
    np.testing.assert_allclose(model(x), _np_seq(x, w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=2), _np_seq(x, w), rtol=1e-5, atol=1e-6)


def test_sequential_built_lazily_by_first_call():
    model = fg.Sequential()
    model.add(L.Dense(4, activation="relu"))
    model.add(L.Dense(2))
    assert model.get_weights() == []
    with pytest.raises(ValueError, match="has no traced graph yet"):
        model.ir()
    x = _rand(5, 3)
    model(x)
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    w = _perturb(model)
    np.testing.assert_allclose(model(x), _np_seq(x, w), rtol=1e-5, atol=1e-6)
    assert "-> (f32[B,2])" in model.ir()


def test_sequential_nested_in_a_functional_model():
    inputs = fg.Input(shape=(3,))
    block = fg.Sequential([L.Dense(4, activation="relu"), L.Dense(2)])
    outputs = L.Dense(1, activation="sigmoid")(block(inputs))
    model = fg.Model(inputs, outputs)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Sequential", "Dense"]
    w = _perturb(model)
    assert [a.shape for a in w] == [(3, 4), (4,), (4, 2), (2,), (2, 1), (1,)]
    x = _rand(5, 3)
    want = 1 / (1 + np.exp(-(_np_seq(x, w[:4]) @ w[4] + w[5])))
    np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(block(x), _np_seq(x, w[:4]), rtol=1e-5, atol=1e-6)


def test_functional_model_used_as_a_layer():
    inner_in = fg.Input(shape=(3,))
    inner = fg.Model(inner_in, L.Dense(2, activation="tanh")(inner_in), name="inner")
    outer_in = fg.Input(shape=(3,))
    outer = fg.Model(outer_in, L.Dense(1)(inner(outer_in)))
    assert [layer.name for layer in outer.layers][1:] == ["inner", "dense_1"]
    assert outer.weights[:2] == inner.weights                  # the same Variables
    lines = []
    outer.summary(print_fn=lines.append)
    rows = [line.split() for line in lines[0].splitlines()]
    assert ["inner", "(Functional)", "(None,", "2)", "8"] in rows
    w = _perturb(outer)
    x = _rand(4, 3)
    np.testing.assert_allclose(outer(x), np.tanh(x @ w[0] + w[1]) @ w[2] + w[3],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inner(x), np.tanh(x @ w[0] + w[1]), rtol=1e-5, atol=1e-6)
    inner.set_weights([np.zeros((3, 2)), np.ones(2)])         # seen by the outer model too
    np.testing.assert_allclose(outer(x), np.tanh(np.ones((4, 2))) @ w[2] + w[3], rtol=1e-5)


def test_functional_model_called_twice_shares_weights():
    inner_in = fg.Input(shape=(3,))
    inner = fg.Model(inner_in, L.Dense(3)(inner_in))
    a, b = fg.Input(shape=(3,), name="a"), fg.Input(shape=(3,), name="b")
    outer = fg.Model([a, b], L.add([inner(a), inner(b)]))
    assert [p.name for p in outer.graph.params] == ["a", "b", "dense/kernel", "dense/bias"]
    k, bias = _perturb(outer)
    xa, xb = _rand(2, 3, seed=1), _rand(2, 3, seed=2)
    np.testing.assert_allclose(outer([xa, xb]), (xa + xb) @ k + 2 * bias, rtol=1e-5, atol=1e-6)


def _flatten_model():
    inputs = fg.Input(shape=(3, 4))
    return fg.Model(inputs, L.Dense(2)(L.Flatten()(inputs)))


def _conv_model():
    inputs = fg.Input(shape=(6, 6, 1))
    return fg.Model(inputs, L.Conv2D(2, 3)(inputs))


@pytest.mark.parametrize("build, shape", [(_flatten_model, (5, 3, 4)), (_conv_model, (5, 6, 6, 1))])
def test_functional_model_inside_a_fixed_shape_function(build, shape):
    """Its reshapes name the batch symbol B; inlined on a concrete batch they take 5."""
    model = build()
    x = _rand(*shape)
    got = fg.function(lambda a: model(a), symbolic_batch=False)(x)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    nested = fg.Input(shape=shape[1:])
    np.testing.assert_allclose(fg.Model(nested, model(nested)).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_model_with_a_fixed_batch_size_trains_with_fit():
    inputs = fg.Input(shape=(3, 4), batch_size=4)
    model = fg.Model(inputs, L.Dense(2)(L.Flatten()(inputs)))
    x, y = _rand(16, 3, 4), _rand(16, 2, seed=1)
    model.compile(optimizer=fg.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0]
    w = model.get_weights()
    np.testing.assert_allclose(model.predict(x[:4], verbose=0),
                               x[:4].reshape(4, 12) @ w[0] + w[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["reference", "numba_cpu"])
def test_a_fixed_batch_model_in_a_trace_refuses_another_batch_size(backend):
    """A model built for a batch of 4, called in a trace whose batch is symbolic, checks
    the batch when the graph runs: a batch of 1 is an error naming the sizes (it was
    stretched to 4 copies of the row), and a batch of 4 computes as the model does."""
    from fusegraph.backends import optimizing_compiler
    from fusegraph.frontend.function import Function
    inputs = fg.Input(shape=(3,), batch_size=4)
    model = fg.Model(inputs, L.Dense(2)(inputs))
    f = Function(lambda x: model(x), compile_fn=optimizing_compiler(backend))
    x = _rand(4, 3)
    np.testing.assert_allclose(f(x), model(x), rtol=1e-6)
    for rows in (1, 2, 8):
        with pytest.raises(Exception, match=rf"size {rows * 3} into shape \(4,\s*3\)"):
            f(_rand(rows, 3))


# --- names and weights --------------------------------------------------------------------
def test_auto_names_restart_after_clear_session():
    names = [L.Dense(1).name, L.Dense(1).name, L.LayerNormalization().name,
             L.MultiHeadAttention(1, 1).name, L.GlobalAveragePooling1D().name]
    assert names == ["dense", "dense_1", "layer_normalization", "multi_head_attention",
                     "global_average_pooling1d"]
    fg.utils.clear_session()
    assert [L.Dense(1).name, L.Dense(1).name] == ["dense", "dense_1"]
    assert L.Dense(1, name="head").name == "head"


def test_set_and_get_weights_round_trip():
    model = build_mlp()
    new = [_rand(*w.shape, seed=i) for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    got = model.get_weights()
    got[0][0, 0] = 123.0                                      # a copy, not the variable
    assert model.get_weights()[0][0, 0] == new[0][0, 0]
    x = _rand(3, 3)
    np.testing.assert_allclose(model(x), np_mlp(x, new), rtol=1e-5, atol=1e-7)


def test_set_weights_with_a_wrong_shape_changes_nothing():
    model = build_mlp()
    before = model.get_weights()
    bad = [w + 1 for w in before[:-1]] + [np.zeros(6, "float32")]   # last one wrong
    with pytest.raises(ValueError, match=r"dense_1/bias.*\(5,\).*\(6,\)"):
        model.set_weights(bad)
    with pytest.raises(ValueError, match="expects 4 weight arrays, got 3"):
        model.set_weights(before[:3])
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


# --- training mode on eager calls --------------------------------------------------------------
def _dropout_mlp():
    inputs = fg.Input(shape=(32,))
    return fg.Model(inputs, L.Dropout(0.5)(inputs))


def _is_dropped(out, x):
    """Dropout(0.5) applied to ``x`` (all ones): zeros and 2.0s, about half each."""
    return set(np.unique(out)) == {0.0, 2.0} and 0.3 < np.mean(out == 0) < 0.7


def test_functional_model_called_with_training_true_applies_dropout():
    model = _dropout_mlp()
    x = np.ones((16, 32), "float32")
    assert _is_dropped(model(x, training=True), x)
    np.testing.assert_array_equal(model(x), x)
    np.testing.assert_array_equal(model(x, training=False), x)
    np.testing.assert_array_equal(model.predict(x), x)


class DropoutHead(fg.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.drop = L.Dropout(0.5)

    def call(self, inputs, training=None):
        return self.drop(inputs, training=training)


@pytest.mark.parametrize("first_training", [True, False, None])
def test_subclassed_model_first_call_does_not_fix_training(first_training):
    model = DropoutHead()
    x = np.ones((16, 32), "float32")
    first = model(x, training=first_training)
    assert _is_dropped(first, x) if first_training else np.array_equal(first, x)
    assert "training" in [p.name for p in model.graph.params]   # the flag is left open
    np.testing.assert_array_equal(model(x), x)
    np.testing.assert_array_equal(model.predict(x), x)
    assert _is_dropped(model(x, training=True), x)
    np.testing.assert_array_equal(model(x, training=False), x)


# --- one functional model called twice in a step -----------------------------------------------
def test_functional_model_called_twice_in_a_step_draws_two_masks():
    inner = _dropout_mlp()
    a = fg.Input(shape=(32,), name="a")
    outer = fg.Model(a, [inner(a), inner(a)])
    x = np.ones((16, 32), "float32")
    first, second = outer(x, training=True)
    assert _is_dropped(first, x) and _is_dropped(second, x)
    assert not np.array_equal(first, second)
    first, second = fg.function(lambda b: [inner(b, training=True), inner(b, training=True)])(x)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(outer(x)[0], x)                  # inference: identity


def test_copies_of_a_model_keep_their_stateless_draws():
    class Noise(fg.layers.Layer):
        def call(self, inputs):
            return inputs + fg.random.uniform((4,), seed=5)     # an int seed: the same draws

    inputs = fg.Input(shape=(4,))
    inner = fg.Model(inputs, Noise()(inputs))
    a = fg.Input(shape=(4,))
    first, second = fg.Model(a, [inner(a), inner(a)])(np.zeros((2, 4), "float32"))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, inner(np.zeros((2, 4), "float32")))


def test_two_calls_of_a_model_in_a_step_trace_the_same_graph_in_a_fresh_session():
    def salts():
        fg.utils.clear_session()
        inner = _dropout_mlp()
        a = fg.Input(shape=(32,))
        outer = fg.Model(a, [inner(a), inner(a)])
        return [op.attrs["salt"] for op in outer.graph.ops if op.kind == "random_uniform"]

    first = salts()
    assert len(first) == 2 and len(set(first)) == 2
    assert salts() == first


# --- Keras-style tracking, missing call() -------------------------------------------------------
def test_subclassed_model_tracks_layers_assigned_before_super_init():
    class EarlyModel(fg.Model):
        def __init__(self):
            self.hidden = L.Dense(4, activation="relu")
            self.head = L.Dense(2)
            super().__init__()

        def call(self, inputs):
            return self.head(self.hidden(inputs))

    model = EarlyModel()
    x = _rand(5, 3)
    model(x)
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    assert len(model.trainable_variables) == 4
    w = _perturb(model)
    np.testing.assert_allclose(model(x), np_relu(x @ w[0] + w[1]) @ w[2] + w[3],
                               rtol=1e-5, atol=1e-6)


def test_model_without_call_says_so():
    class NoCall(fg.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

    model = NoCall()
    message = r"model 'no_call' has no forward graph: NoCall defines no call\(\)"
    with pytest.raises(ValueError, match=message):
        model.ir()
    with pytest.raises(ValueError, match=message):
        model.predict(_rand(4, 3))
    with pytest.raises(ValueError, match=message):
        model(_rand(4, 3))


# --- calls that cannot work say why (probe items 13, 18, 19) -------------------------------
def test_a_subclassed_models_second_batch_sized_array_is_explained():
    """Its other positional arguments are constants of the trace: an array with the
    batch's length there fails to broadcast against the symbolic batch, and the error
    says which argument and what to do instead."""
    class TwoArgs(fg.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, a, b):
            return self.dense(a) + b

    model = TwoArgs()
    with pytest.raises(ShapeError, match=r"positional argument 2 \(shape \(8, 2\)\) is a "
                                         r"constant of the trace.*model\(\[a, b\]\)"):
        model(_rand(8, 2), _rand(8, 2))
    assert model(_rand(8, 2), _rand(1, 2)).shape == (8, 2)   # a broadcast constant is fine


def test_a_model_without_super_init_says_so():
    class Forgetful(fg.Model):
        def __init__(self):
            self.dense = L.Dense(2)

        def call(self, a):
            return self.dense(a)

    with pytest.raises(RuntimeError, match=r"Forgetful.__init__ did not call super"):
        Forgetful()(_rand(2, 2))


def test_a_functional_model_called_on_a_tensor_of_another_rank_names_its_input():
    inputs = fg.Input(shape=(4,), name="features")
    model = fg.Model(inputs, L.Dense(3, name="h")(inputs), name="net")
    with pytest.raises(ShapeError, match=r"test_models.py:\d+: model 'net', input 'features': "
                                         r"expected a tensor of shape \(None, 4\).*\(None, 4, 2\)"):
        model(fg.Input(shape=(4, 2)))
    wide = fg.Input(shape=(4,), dtype="int32")
    assert model(wide).dtype == "float32"     # ints into a float input are cast, as arrays are


def test_a_model_called_on_what_is_not_numbers_names_the_model_and_input():
    inputs = fg.Input(shape=(4,), name="features")
    model = fg.Model(inputs, L.Dense(2)(inputs), name="net")
    for bad in (None, "abc", np.ones((2, 4), dtype=object)):
        with pytest.raises(TypeError, match=r"model 'net', input 'features': expected an array "
                                            r"of numbers"):
            model(bad)

    class Sub(fg.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.dense = L.Dense(2)

        def call(self, a):
            return self.dense(a)

    with pytest.raises(TypeError, match=r"model 'sub', input 'input_0' has dtype <U3"):
        Sub()("abc")
    with pytest.raises(ValueError, match=r"model 'sub', input 'input_0': expected an array "
                                         r"with a batch axis"):
        Sub()(3.0)
    pixels = np.arange(4, dtype="uint8").reshape(2, 2)     # read as int32, as fg.function does
    np.testing.assert_allclose(Sub()(pixels).shape, (2, 2))


def test_a_feature_extractor_from_a_layers_output():
    """fg.Model(model.input, model.get_layer(name).output): Keras's layer.output and
    layer.input (the first call's tensors), model.input and model.output; the extractor
    computes the layer's activation from the model's own weights."""
    inputs = fg.Input(shape=(4,))
    hidden = L.Dense(3, activation="relu", name="hidden")(inputs)
    outputs = L.Dense(2, name="out")(hidden)
    model = fg.Model(inputs, outputs)
    assert model.input is inputs and model.output is outputs
    assert model.get_layer("hidden").output is hidden and model.get_layer("out").input is hidden
    extractor = fg.Model(model.input, model.get_layer("hidden").output)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    kernel, bias = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(extractor.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0),
                               rtol=1e-6)
    with pytest.raises(AttributeError, match="layer 'unused' has never been called on a "
                                             "symbolic tensor"):
        L.Dense(2, name="unused").output
