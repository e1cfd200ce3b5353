"""A Transformer encoder (examples/transformer.py's subclassed TransformerEncoder layer)
trained as a sequence classifier on a synthetic, learnable task: does token 1 occur more
often than token 2 in the sequence?

    fusegraph train examples/transformer_classifier.py
"""
import numpy as np

import fusegraph as fg
from transformer import TransformerEncoder  # examples/transformer.py, beside this file

VOCAB = 20
SEQ_LEN = 16
EMBED_DIM = 32
DENSE_DIM = 64
NUM_HEADS = 2
EPOCHS = 5
BATCH_SIZE = 32


def build_model():
    inputs = fg.Input(shape=(SEQ_LEN,), dtype="int32", name="tokens")
    x = fg.layers.Embedding(VOCAB, EMBED_DIM)(inputs)
    x = TransformerEncoder(EMBED_DIM, DENSE_DIM, NUM_HEADS)(x)
    x = fg.layers.GlobalAveragePooling1D()(x)
    x = fg.layers.Dropout(0.1)(x)
    outputs = fg.layers.Dense(2, activation="softmax")(x)
    model = fg.Model(inputs, outputs, name="transformer_classifier")
    model.compile(optimizer=fg.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def load_data(num_samples=2400, seed=0):
    """((x, y), (x_val, y_val)): random token sequences; y = 1 when token 1 occurs more
    often than token 2 (ties drawn away), the last sixth held out."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, (num_samples, SEQ_LEN)).astype("int32")
    ones, twos = (x == 1).sum(axis=1), (x == 2).sum(axis=1)
    ties = ones == twos
    x[ties, 0] = 1                      # break ties toward label 1
    y = ((x == 1).sum(axis=1) > (x == 2).sum(axis=1)).astype("int32")
    split = num_samples - num_samples // 6
    return (x[:split], y[:split]), (x[split:], y[split:])
