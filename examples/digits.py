"""Handwritten digits (scikit-learn's 8x8 images, shipped with the package): an MLP
classifier trained with fusegraph. The README's main job:

    fusegraph train examples/digits.py

reaches about 99% accuracy on the 297 held-out images in 20 epochs (a few seconds).
"""
import numpy as np

import fusegraph as fg

EPOCHS = 20
BATCH_SIZE = 32


def build_model():
    inputs = fg.Input(shape=(64,), name="pixels")
    x = fg.layers.Dense(64, activation="relu")(inputs)
    x = fg.layers.Dropout(0.1)(x)
    outputs = fg.layers.Dense(10, activation="softmax", name="digit")(x)
    model = fg.Model(inputs, outputs, name="digits_mlp")
    model.compile(optimizer=fg.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def load_data():
    """((x_train, y_train), (x_test, y_test)): pixels scaled to [0, 1], int labels; 297
    images (one sixth), drawn by a fixed permutation, are held out."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.data[order] / 16.0).astype("float32")
    y = digits.target[order].astype("int32")
    split = len(x) - 297
    return (x[:split], y[:split]), (x[split:], y[split:])


def images_28(images_8x8):
    """8x8 images in [0, 1] (n, 8, 8) scaled 3.5 times to 28x28 (bilinear, SciPy), as
    MNIST-sized stand-ins: (n, 28, 28, 1) float32 in [0, 1]."""
    from scipy.ndimage import zoom

    return np.clip(zoom(images_8x8, (1, 3.5, 3.5), order=1), 0.0, 1.0)[..., None].astype("float32")


if __name__ == "__main__":
    (x_train, y_train), (x_test, y_test) = load_data()
    model = build_model()
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
              validation_data=(x_test, y_test))
    print(dict(zip(["loss", "accuracy"], np.round(model.evaluate(x_test, y_test, verbose=0), 4))))
