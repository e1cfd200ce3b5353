"""Cross-check against real Keras 3 of the layers of issue 10 item 4 (this part): Dot,
TimeDistributed, Bidirectional, PReLU, GroupNormalization, and GlobalMaxPooling1D after
a mask. Each is built in both libraries by one builder; Keras's weights are copied into
fusegraph's with ``set_weights`` (checking their order and shapes) and both run the same
inputs. Skipped without Keras (CI has none)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fusegraph as fg  # noqa: E402


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


CASES = {
    "dot": (lambda L: L.Dot((2, 2), normalize=True), [(3, 4, 5), (3, 6, 5)]),
    "time_distributed_conv": (lambda L: L.TimeDistributed(L.Conv2D(3, 2)), [(2, 3, 5, 5, 2)]),
    "bidirectional_lstm": (lambda L: L.Bidirectional(L.LSTM(4, return_sequences=True)),
                           [(2, 5, 3)]),
    "bidirectional_gru_states": (lambda L: L.Bidirectional(L.GRU(3, return_state=True),
                                                           merge_mode="mul"), [(2, 5, 3)]),
    "prelu": (lambda L: L.PReLU(alpha_initializer="random_normal", shared_axes=[1]),
              [(2, 4, 3)]),
    "group_normalization": (lambda L: L.GroupNormalization(
        groups=2, axis=1, gamma_initializer="random_normal",
        beta_initializer="random_normal"), [(2, 4, 3, 5)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_weights_same_outputs(case):
    build, shapes = CASES[case]
    inputs = [_rand(*s, seed=i) for i, s in enumerate(shapes)]
    inputs = inputs if len(inputs) > 1 else inputs[0]
    theirs, ours = build(keras.layers), build(fg.layers)
    want, _ = theirs(inputs), ours(inputs)
    ours.set_weights(theirs.get_weights())
    got = ours(inputs)
    want, got = (list(v) if isinstance(v, (list, tuple)) else [v] for v in (want, got))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)


def test_masked_bidirectional_and_global_max_pooling_as_keras():
    ids = np.array([[3, 5, 0, 0, 2], [0, 0, 4, 1, 6]], np.int32)
    models, layers = {}, {}
    for name, lib in (("keras", keras), ("fg", fg)):
        inputs = lib.Input((5,), dtype="int32")
        embedding = lib.layers.Embedding(10, 4, mask_zero=True)
        bidirectional = lib.layers.Bidirectional(lib.layers.LSTM(3, return_sequences=True))
        sequence = bidirectional(embedding(inputs))
        models[name] = lib.Model(inputs, [sequence, lib.layers.GlobalMaxPooling1D()(sequence)])
        layers[name] = (embedding, bidirectional)
    for theirs, ours in zip(*(layers[n] for n in ("keras", "fg"))):
        ours.set_weights(theirs.get_weights())
    for got, want in zip(models["fg"].predict(ids, verbose=0),
                         models["keras"].predict(ids, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
