"""A Keras user's everyday script, written against Keras 3's public API only.

tests/test_keras_script.py runs it with ``import fusegraph as keras`` in place of
``import keras`` (the only line a user changes). It trains three small models the way
the Keras guides and the course write them: text (TextVectorization adapted on strings,
Embedding with a mask, Bidirectional LSTM), images (Rescaling, Conv2D,
SeparableConv2D, BatchNormalization, data from a PyDataset with workers), a time series
(timeseries_dataset_from_array, LSTM), with the usual callbacks (ModelCheckpoint to a
.keras file, EarlyStopping, ReduceLROnPlateau, CSVLogger, BackupAndRestore), then
reloads the best model and evaluates it.
"""
import os

import numpy as np
from sklearn.datasets import load_digits

import keras  # replaced by the test
from keras import layers

OUT = os.environ.get("EVERYDAY_OUT", ".")
RESULTS = {}
keras.utils.set_random_seed(7)

# --- text: strings in, vocabulary adapted, a bidirectional LSTM ------------------------
rng = np.random.default_rng(0)
good, bad, filler = ["great", "fine", "lovely"], ["awful", "poor", "dull"], ["the", "a", "film"]
texts, labels = [], []
for i in range(256):
    label = i % 2
    words = list(rng.choice(filler, 3)) + list(rng.choice(good if label else bad, 2))
    rng.shuffle(words)
    texts.append(" ".join(words).title() + "!")
    labels.append(label)
vectorize = layers.TextVectorization(max_tokens=20, output_mode="int",
                                     output_sequence_length=6)
vectorize.adapt(texts)
x_text = vectorize(np.array(texts))
y_text = np.array(labels, "float32")

inputs = keras.Input(shape=(None,), dtype="int64")
x = layers.Embedding(input_dim=20, output_dim=8, mask_zero=True)(inputs)
x = layers.Bidirectional(layers.LSTM(8))(x)
x = layers.Dropout(0.2)(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="rmsprop", loss="binary_crossentropy",
              metrics=["accuracy", keras.metrics.AUC(name="auc")])
best = os.path.join(OUT, "bidirectional.keras")
callbacks = [keras.callbacks.ModelCheckpoint(best, save_best_only=True),
             keras.callbacks.EarlyStopping(monitor="val_loss", patience=3),
             keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=2),
             keras.callbacks.CSVLogger(os.path.join(OUT, "text.csv"))]
model.fit(x_text, y_text, validation_split=0.25, epochs=12, batch_size=32,
          callbacks=callbacks, verbose=0)
reloaded = keras.models.load_model(best)
RESULTS["text"] = reloaded.evaluate(x_text, y_text, verbose=0, return_dict=True)


# --- images: a small convnet fed by a PyDataset ------------------------------------------
class Digits(keras.utils.PyDataset):
    def __init__(self, images, targets, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.images, self.targets, self.batch_size = images, targets, batch_size

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.images[part], self.targets[part]


digits = load_digits()
images = digits.images[..., None].astype("float32")
targets = keras.utils.to_categorical(digits.target, 10)
train = Digits(images[:1400], targets[:1400], batch_size=64, workers=2)

inputs = keras.Input(shape=(8, 8, 1))
x = layers.Rescaling(1.0 / 16)(inputs)
x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
x = layers.BatchNormalization(momentum=0.9)(x)
x = layers.SeparableConv2D(32, 3, padding="same", activation="relu")(x)
x = layers.MaxPooling2D(2)(x)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(10, activation="softmax")(x)
convnet = keras.Model(inputs, outputs)
convnet.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                loss="categorical_crossentropy", metrics=["accuracy"])
convnet.fit(train, epochs=8, verbose=0, callbacks=[
    keras.callbacks.BackupAndRestore(os.path.join(OUT, "backup"))])
RESULTS["digits"] = convnet.evaluate(images[1400:], targets[1400:], verbose=0,
                                     return_dict=True)

# --- a time series: windows of a sine, an LSTM -------------------------------------------
series = np.sin(np.arange(600) * 0.1).astype("float32")[:, None]
windows = keras.utils.timeseries_dataset_from_array(
    series[:-10], targets=series[10:, 0], sequence_length=10, batch_size=32)
inputs = keras.Input(shape=(10, 1))
outputs = layers.Dense(1)(layers.LSTM(16)(inputs))
forecaster = keras.Model(inputs, outputs)
forecaster.compile(optimizer="adam", loss="mse", metrics=["mae"])
forecaster.fit(windows, epochs=5, verbose=0)
RESULTS["series"] = forecaster.evaluate(windows, verbose=0, return_dict=True)
