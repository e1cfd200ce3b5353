"""Handwritten digits (scikit-learn's 8x8 images) with a small convnet: the shape of
the Keras "simple MNIST convnet" example, scaled to 8x8 images.

    fusegraph train examples/digits_convnet.py

Conv2D(16, 3, relu) -> MaxPooling2D -> Conv2D(32, 3, relu, same padding) ->
BatchNormalization -> GlobalAveragePooling2D -> Dropout -> Dense(10, softmax). The
convolutions run as a window gather plus one matmul each (see
``fusegraph.frontend.layers.convolutional``). It reaches 98.65% accuracy on the 297
held-out images (those of examples/digits.py) in 20 epochs, about 4 s on the reference
backend (98.99% with ``--backend numba_cpu``, whose float32 rounding takes a slightly
different path over 940 steps).
"""
import digits  # examples/digits.py, beside this file

import fusegraph as fg

EPOCHS = 20
BATCH_SIZE = 32


def build_model():
    inputs = fg.Input(shape=(8, 8, 1), name="image")
    x = fg.layers.Conv2D(16, 3, activation="relu")(inputs)           # (6, 6, 16)
    x = fg.layers.MaxPooling2D()(x)                                  # (3, 3, 16)
    x = fg.layers.Conv2D(32, 3, padding="same", activation="relu")(x)  # (3, 3, 32)
    x = fg.layers.BatchNormalization()(x)
    x = fg.layers.GlobalAveragePooling2D()(x)                        # (32,)
    x = fg.layers.Dropout(0.2)(x)
    outputs = fg.layers.Dense(10, activation="softmax", name="digit")(x)
    model = fg.Model(inputs, outputs, name="digits_convnet")
    model.compile(optimizer=fg.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def load_data():
    """((x_train, y_train), (x_test, y_test)): (n, 8, 8, 1) images scaled to [0, 1], int
    labels; the same split as examples/digits.py, whose flat pixels are the rows of each
    image."""
    (x, y), (x_test, y_test) = digits.load_data()
    return (x.reshape(-1, 8, 8, 1), y), (x_test.reshape(-1, 8, 8, 1), y_test)
