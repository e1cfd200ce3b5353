"""The Keras functional-API guide's multi-input, multi-output ticket model.

Three named inputs (``title`` and ``body`` token sequences, 12 binary ``tags``), one
Embedding per text input, GlobalAveragePooling1D where the guide has LSTMs, then two
heads: ``priority`` (a score) and ``department`` (4 logits).

    fusegraph dump examples/ticket_classifier.py
"""
import numpy as np

import fusegraph as fg

NUM_WORDS = 10000
NUM_TAGS = 12
NUM_DEPARTMENTS = 4
SEQ_LEN = 100


def build_model():
    title_input = fg.Input(shape=(SEQ_LEN,), dtype="int32", name="title")
    body_input = fg.Input(shape=(SEQ_LEN,), dtype="int32", name="body")
    tags_input = fg.Input(shape=(NUM_TAGS,), name="tags")

    title_features = fg.layers.Embedding(NUM_WORDS, 64)(title_input)
    body_features = fg.layers.Embedding(NUM_WORDS, 64)(body_input)
    title_features = fg.layers.GlobalAveragePooling1D()(title_features)
    body_features = fg.layers.GlobalAveragePooling1D()(body_features)

    x = fg.layers.concatenate([title_features, body_features, tags_input])
    priority_pred = fg.layers.Dense(1, name="priority")(x)
    department_pred = fg.layers.Dense(NUM_DEPARTMENTS, name="department")(x)
    return fg.Model(inputs=[title_input, body_input, tags_input],
                    outputs={"priority": priority_pred, "department": department_pred},
                    name="ticket_classifier")


def load_data(num_samples=1280, seed=0):
    """Synthetic, learnable tickets: priority and department depend on the tags."""
    rng = np.random.default_rng(seed)
    x = {"title": rng.integers(0, NUM_WORDS, (num_samples, SEQ_LEN)).astype("int32"),
         "body": rng.integers(0, NUM_WORDS, (num_samples, SEQ_LEN)).astype("int32"),
         "tags": rng.integers(0, 2, (num_samples, NUM_TAGS)).astype("float32")}
    priority = x["tags"][:, :3].mean(axis=1, keepdims=True)
    department = np.eye(NUM_DEPARTMENTS, dtype="float32")[x["tags"][:, 3:7].argmax(axis=1)]
    return x, {"priority": priority.astype("float32"), "department": department}
