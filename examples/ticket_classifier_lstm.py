"""The Keras functional-API guide's ticket model, with its LSTMs.

Three named inputs: ``title`` and ``body`` (token sequences of any length: each length
is a symbol of the graph) and ``tags`` (12 binary flags). Each text input goes through
an Embedding and an LSTM (128 units for the title, 32 for the body, as in the guide;
each LSTM is one ``scan`` op, never unrolled); the features are concatenated with the
tags and feed two heads: ``priority`` (a score, binary cross-entropy on logits) and
``department`` (4 logits, categorical cross-entropy), the department loss weighted 0.2.

    fusegraph dump examples/ticket_classifier_lstm.py
    fusegraph dump examples/ticket_classifier_lstm.py --stage train_step
    fusegraph train examples/ticket_classifier_lstm.py
"""
import numpy as np

import fusegraph as fg

NUM_WORDS = 1000        # the guide's vocabulary is 10000; smaller keeps the example quick
NUM_TAGS = 12
NUM_DEPARTMENTS = 4
TITLE_UNITS, BODY_UNITS = 128, 32
TITLE_LEN, BODY_LEN = 10, 30
EPOCHS, BATCH_SIZE = 2, 32


def build_model():
    title_input = fg.Input(shape=(None,), dtype="int32", name="title")
    body_input = fg.Input(shape=(None,), dtype="int32", name="body")
    tags_input = fg.Input(shape=(NUM_TAGS,), name="tags")

    title_features = fg.layers.Embedding(NUM_WORDS, 64)(title_input)
    body_features = fg.layers.Embedding(NUM_WORDS, 64)(body_input)
    title_features = fg.layers.LSTM(TITLE_UNITS)(title_features)
    body_features = fg.layers.LSTM(BODY_UNITS)(body_features)

    x = fg.layers.concatenate([title_features, body_features, tags_input])
    priority_pred = fg.layers.Dense(1, name="priority")(x)
    department_pred = fg.layers.Dense(NUM_DEPARTMENTS, name="department")(x)
    model = fg.Model(inputs=[title_input, body_input, tags_input],
                     outputs={"priority": priority_pred, "department": department_pred},
                     name="ticket_classifier_lstm")
    model.compile(optimizer=fg.optimizers.RMSprop(1e-3),
                  loss={"priority": fg.losses.BinaryCrossentropy(from_logits=True),
                        "department": fg.losses.CategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.2})
    return model


def load_data(num_samples=1280, seed=0):
    """Synthetic, learnable tickets: the priority depends on the tags and on how many
    title words come from the first half of the vocabulary; the department on the tags."""
    rng = np.random.default_rng(seed)
    x = {"title": rng.integers(0, NUM_WORDS, (num_samples, TITLE_LEN)).astype("int32"),
         "body": rng.integers(0, NUM_WORDS, (num_samples, BODY_LEN)).astype("int32"),
         "tags": rng.integers(0, 2, (num_samples, NUM_TAGS)).astype("float32")}
    common = (x["title"] < NUM_WORDS // 2).mean(axis=1, keepdims=True)
    priority = 0.5 * x["tags"][:, :3].mean(axis=1, keepdims=True) + 0.5 * common
    department = np.eye(NUM_DEPARTMENTS, dtype="float32")[x["tags"][:, 3:7].argmax(axis=1)]
    return x, {"priority": priority.astype("float32"), "department": department}
