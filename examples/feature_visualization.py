"""The Keras course's filter visualization: train a small convnet on 28x28 digits
(scikit-learn's, scaled up: ``digits.images_28``), then, for filters of its layer
``conv2``, ascend the gradient of the filter's mean activation with respect to an input
image, and save the images the filters respond to most as one PNG grid.

    fusegraph train examples/feature_visualization.py

Written as the course writes it: a feature extractor made with
``fg.Model(model.input, model.get_layer(LAYER_NAME).output)``, the gradient step a
function traced by ``@fg.function`` holding a ``GradientTape`` that watches the image,
``fg.ops.nn.l2_normalize`` of the gradient, and the course's deprocessing.
"""
import os

import digits  # examples/digits.py, beside this file
import numpy as np

import fusegraph as fg
from fusegraph import layers, ops

EPOCHS = 5
BATCH_SIZE = 64
LAYER_NAME = "conv2"
FILTERS = 16                    # the first filters of LAYER_NAME drawn
ITERATIONS = 30
LEARNING_RATE = 10.0


def build_model():
    inputs = fg.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, 3, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, activation="relu", name=LAYER_NAME)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = fg.Model(inputs, outputs, name="digits_features")
    model.compile(optimizer=fg.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def load_data():
    """((x_train, y_train), (x_test, y_test)): the split of examples/digits.py, as
    (n, 28, 28, 1) images in [0, 1]."""
    (x, y), (x_test, y_test) = digits.load_data()
    return ((digits.images_28(x.reshape(-1, 8, 8)), y),
            (digits.images_28(x_test.reshape(-1, 8, 8)), y_test))


def compute_loss(feature_extractor, image, filter_index):
    activation = feature_extractor(image)
    filter_activation = activation[:, 2:-2, 2:-2, filter_index]   # no border artifacts
    return ops.mean(filter_activation)


def make_gradient_ascent_step(feature_extractor):
    @fg.function
    def gradient_ascent_step(image, filter_index, learning_rate):
        with fg.GradientTape() as tape:
            tape.watch(image)
            loss = compute_loss(feature_extractor, image, filter_index)
        grads = tape.gradient(loss, image)
        grads = ops.nn.l2_normalize(grads)
        return image + learning_rate * grads
    return gradient_ascent_step


def generate_filter_pattern(step, filter_index, seed=0):
    """The image, from uniform noise in [0.4, 0.6], after ITERATIONS ascent steps."""
    image = np.random.default_rng(seed).uniform(0.4, 0.6, (1, 28, 28, 1)).astype("float32")
    for _ in range(ITERATIONS):
        image = step(image, filter_index, LEARNING_RATE)
    return np.asarray(image)[0]


def deprocess_image(image):
    """The course's: standardize, scale to 64 around 128, clip to [0, 255]; here as
    [0, 1] values for the PNG, borders cropped."""
    image = image - image.mean()
    image /= image.std() + 1e-5
    image = np.clip(image * 64 + 128, 0, 255)
    return image[2:-2, 2:-2] / 255.0


def after_training(model, history, path=None):
    """Draw the patterns of the first FILTERS filters of LAYER_NAME as one PNG grid
    (``fusegraph train`` calls this)."""
    feature_extractor = fg.Model(model.input, model.get_layer(LAYER_NAME).output)
    step = make_gradient_ascent_step(feature_extractor)
    patterns = [deprocess_image(generate_filter_pattern(step, i)) for i in range(FILTERS)]
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "feature_visualization.png")
    fg.utils.save_image(path, fg.utils.image_grid(np.stack(patterns), columns=8, gap=2))
    print(f"wrote the patterns of {FILTERS} filters of layer '{LAYER_NAME}': {path}")
    return patterns
