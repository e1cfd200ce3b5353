"""Writes the Keras 3 files tests/runtime/test_keras_files.py loads (run with Keras 3 and
its JAX backend installed: ``python tests/data/keras/make_files.py``). Each model is
saved as ``<name>.keras`` (compiled and trained one step, so the optimizer state is in
the file) and ``<name>.weights.h5``, with ``<name>.io.npz`` holding an input batch and
Keras's prediction on it."""
import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402

L = keras.layers
HERE = os.path.dirname(os.path.abspath(__file__))


def mlp():
    inputs = keras.Input((6,), name="features")
    x = L.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3))(inputs)
    x = L.BatchNormalization()(x)
    x = L.Dropout(0.2)(x)
    outputs = L.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs), (6,), "sparse_categorical_crossentropy", 3


def convnet():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"),
                              L.MaxPooling2D(), L.Flatten(), L.Dense(2)])
    return model, (8, 8, 1), "mse", None


def text():
    inputs = keras.Input((7,), dtype="int32", name="tokens")
    x = L.Embedding(20, 5, mask_zero=True)(inputs)
    x = L.LSTM(4, return_sequences=True)(x)
    x = L.GRU(3)(x)
    outputs = L.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs), (7,), "binary_crossentropy", 2


def attention():
    inputs = keras.Input((5, 4), name="sequence")
    attended = L.MultiHeadAttention(num_heads=2, key_dim=3)(inputs, inputs)
    x = L.LayerNormalization()(L.Add()([inputs, attended]))
    x = L.Conv1D(3, 2, padding="same")(x)
    outputs = L.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, outputs), (5, 4), "mse", None


def ops_graph():
    """keras.ops called on a functional model's tensors: slicing (GetItem with __slice__
    and __ellipsis__ records), concatenate, transpose, reshape, mean, add."""
    inputs = keras.Input((5, 4), name="sequence")
    h = L.Dense(3)(inputs)
    x = keras.ops.concatenate([h[:, :2], h[:, 1:3, ...]], axis=1)
    x = keras.ops.reshape(keras.ops.transpose(x, (0, 2, 1)), (-1, 12))
    outputs = keras.ops.mean(x, axis=1, keepdims=True) + 1.0
    return keras.Model(inputs, outputs), (5, 4), "mse", None


def with_lambda():
    inputs = keras.Input((3,))
    outputs = L.Lambda(lambda t: t * 2.0 + 1.0)(L.Dense(2)(inputs))
    return keras.Model(inputs, outputs), (3,), "mse", None


def data(shape, classes, seed):
    rng = np.random.default_rng(seed)
    if shape == (7,):
        x = rng.integers(0, 20, (4,) + shape).astype("int32")
        x[:, -2:] = 0                                     # masked padding
    else:
        x = rng.normal(size=(4,) + shape).astype("float32")
    return x, rng


def main():
    for seed, make in enumerate((mlp, convnet, text, attention, with_lambda, ops_graph)):
        keras.utils.set_random_seed(seed)
        model, shape, loss, classes = make()
        x, rng = data(shape, classes, seed)
        out = model(x)
        y = (rng.integers(0, classes, (4,)) if classes == 3 else
             rng.integers(0, 2, (4, 1)).astype("float32") if classes == 2 else
             rng.normal(size=out.shape).astype("float32"))
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
        model.train_on_batch(x, y)
        name = make.__name__
        model.save(os.path.join(HERE, f"{name}.keras"))
        model.save_weights(os.path.join(HERE, f"{name}.weights.h5"))
        np.savez(os.path.join(HERE, f"{name}.io.npz"), x=x, y=np.asarray(model.predict(x, verbose=0)),
                 iterations=np.asarray(model.optimizer.iterations))


if __name__ == "__main__":
    main()
