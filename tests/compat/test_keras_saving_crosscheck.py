"""Files both ways between fusegraph and real Keras 3: a .keras or .weights.h5 file
written by one loads in the other and predicts the same (optimizer state included).
Skipped where Keras is not installed (tests/runtime/test_keras_files.py checks files
Keras wrote, without Keras)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fusegraph as fg  # noqa: E402


def build(lib):
    L = lib.layers
    inputs = lib.Input((6, 4), name="x")
    h = L.Dense(5, activation="relu", kernel_regularizer="l2")(inputs)
    seq = L.LSTM(5, return_sequences=True)(h)
    attended = L.MultiHeadAttention(2, 3)(seq, seq)
    x = L.LayerNormalization()(L.Add()([h, attended]))
    x = L.Conv1D(4, 3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.GRU(3)(L.Dropout(0.1)(x))
    return lib.Model(inputs, L.Dense(2, activation="softmax")(x))


def trained(lib, x, y):
    model = build(lib)
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    return model


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 6, 4)).astype("float32"), rng.integers(0, 2, 8)


def same_optimizer_state(a, b):
    left = [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in a.optimizer.variables]
    right = [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in b.optimizer.variables]
    assert len(left) == len(right)
    for u, v in zip(left, right):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_a_fusegraph_keras_file_loads_in_keras(tmp_path, xy):
    x, y = xy
    ours = trained(fg, x, y)
    ours.save(tmp_path / "fg.keras")
    theirs = keras.models.load_model(tmp_path / "fg.keras")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    same_optimizer_state(ours, theirs)
    ours.save_weights(tmp_path / "fg.weights.h5")
    fresh = build(keras)
    fresh.load_weights(tmp_path / "fg.weights.h5")
    np.testing.assert_allclose(np.asarray(fresh.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_keras_file_loads_in_fusegraph(tmp_path, xy):
    x, y = xy
    theirs = trained(keras, x, y)
    theirs.save(tmp_path / "k.keras")
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = fg.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)
    same_optimizer_state(ours, theirs)
    fresh = build(fg)
    fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


def test_sequential_and_registered_subclassed_models_load_both_ways(tmp_path, xy):
    x, _ = xy
    flat = x.reshape(8, -1)
    stack = fg.Sequential([fg.Input((24,)), fg.layers.Dense(4, activation="relu"),
                           fg.layers.Dense(2)])
    stack.save(tmp_path / "s.keras")
    np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / "s.keras")(flat)),
                               np.asarray(stack(flat)), rtol=1e-5, atol=1e-6)
    ks = keras.Sequential([keras.Input((24,)), keras.layers.Dense(3)])
    ks.save(tmp_path / "ks.keras")
    np.testing.assert_allclose(np.asarray(fg.models.load_model(tmp_path / "ks.keras")(flat)),
                               np.asarray(ks(flat)), rtol=1e-5, atol=1e-6)


def test_ops_between_layers_load_both_ways(tmp_path, xy):
    """fg.ops / keras.ops on a functional model's tensors: written as Keras's op nodes."""
    x, _ = xy

    def build(lib):
        inputs = lib.Input((6, 4))
        h = lib.layers.Dense(3)(inputs)
        pooled = lib.ops.mean(h * 2.0 + 1.0, axis=1, keepdims=True) - h[:, :1, :]
        flat = lib.ops.reshape(lib.ops.transpose(pooled, (0, 2, 1)), (-1, 3))
        gated = lib.ops.where(lib.ops.greater(flat, 0.0), lib.ops.sigmoid(flat), -flat)
        return lib.Model(inputs, lib.layers.Dense(2)(lib.ops.concatenate([gated, flat], axis=-1)))

    ours = build(fg)
    ours.save(tmp_path / "fg.keras")
    theirs = keras.models.load_model(tmp_path / "fg.keras")
    np.testing.assert_allclose(np.asarray(theirs(x)), np.asarray(ours(x)), rtol=1e-5, atol=1e-6)
    made = build(keras)
    made.save(tmp_path / "k.keras")
    loaded = fg.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(made(x)), rtol=1e-5, atol=1e-6)


CONFIGS = {
    "Dense": lambda: dict(units=3, activation="gelu", use_bias=False,
                          kernel_initializer="he_normal",
                          kernel_regularizer=keras.regularizers.L1L2(0.1, 0.2),
                          kernel_constraint=keras.constraints.MaxNorm(2.0)),
    "Conv2D": lambda: dict(filters=2, kernel_size=(3, 2), strides=2, padding="same",
                           activation="relu"),
    "LSTM": lambda: dict(units=3, return_sequences=True, go_backwards=True,
                         recurrent_activation="hard_sigmoid", unit_forget_bias=False),
    "GRU": lambda: dict(units=3, reset_after=False, return_state=True),
    "Embedding": lambda: dict(input_dim=10, output_dim=4, mask_zero=True,
                              embeddings_initializer="uniform"),
    "BatchNormalization": lambda: dict(momentum=0.9, epsilon=1e-5, center=False),
    "MultiHeadAttention": lambda: dict(num_heads=3, key_dim=2, value_dim=5, dropout=0.1,
                                       output_shape=7),
    "Dropout": lambda: dict(rate=0.3, noise_shape=(None, 1), seed=3),
    "UpSampling2D": lambda: dict(size=(2, 3), interpolation="bilinear"),
    "PReLU": lambda: dict(shared_axes=[1]),
    "GroupNormalization": lambda: dict(groups=2),
    "SeparableConv2D": lambda: dict(filters=3, kernel_size=2, depth_multiplier=2),
    "Dot": lambda: dict(axes=(1, 1), normalize=True),
    "TimeDistributed": lambda: dict(layer=keras.layers.Dense(2)),
    "Bidirectional": lambda: dict(layer=keras.layers.LSTM(2, return_sequences=True),
                                  merge_mode="sum"),
    "Normalization": lambda: dict(mean=[1.0, 2.0], variance=[4.0, 9.0]),
}


def _plain(value):
    import json
    return json.dumps(keras.saving.serialize_keras_object(value), sort_keys=True, default=str)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_layer_configs_with_non_default_arguments_cross_both_ways(name):
    """A Keras layer's config made into ours and back into Keras's keeps every argument."""
    import json
    theirs = getattr(keras.layers, name)(**CONFIGS[name]())
    ours = fg.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(theirs))))
    assert type(ours).__name__ == name
    back = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(fg.saving.serialize_keras_object(ours))))
    want, got = theirs.get_config(), back.get_config()
    assert {k for k in want if k != "name" and _plain(want[k]) != _plain(got.get(k))} == set()
