"""The four workloads in fusegraph, written as a Keras user writes them (functional API,
string losses and activations, ``compile``/``train_on_batch``).

The Transformer uses the Keras course's ``TransformerEncoder`` as ``examples/transformer.py``
writes it (MultiHeadAttention with ``key_dim = embed_dim``, residuals, two
LayerNormalizations, a Dense(relu)-Dense projection), then GlobalMaxPooling1D and
Dense(1, sigmoid); the course's Dropout(0.5) before the last Dense is left out so that
every framework computes the same thing.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

import fusegraph as fg

from . import specs

_EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "examples")


def _transformer_encoder_class():
    """``TransformerEncoder`` of ``examples/transformer.py``."""
    path = os.path.abspath(os.path.join(_EXAMPLES, "transformer.py"))
    spec = importlib.util.spec_from_file_location("fusegraph_example_transformer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TransformerEncoder


def _mlp(s):
    inputs = fg.Input(shape=(s.widths[0],), name="x")
    x = inputs
    last = len(s.widths) - 2
    for i, width in enumerate(s.widths[1:]):
        x = fg.layers.Dense(width, activation="softmax" if i == last else "relu",
                            name=f"dense_{i}")(x)
    return fg.Model(inputs, x, name="mlp"), "sparse_categorical_crossentropy"


def _ticket(s, recurrent: bool):
    title = fg.Input(shape=(s.title_len,), dtype="int32", name="title")
    body = fg.Input(shape=(s.body_len,), dtype="int32", name="body")
    tags = fg.Input(shape=(s.tags,), name="tags")
    title_x = fg.layers.Embedding(s.vocab, s.embed, name="title_embedding")(title)
    body_x = fg.layers.Embedding(s.vocab, s.embed, name="body_embedding")(body)
    if recurrent:
        title_x = fg.layers.LSTM(s.title_units, name="title_lstm")(title_x)
        body_x = fg.layers.LSTM(s.body_units, name="body_lstm")(body_x)
    else:
        title_x = fg.layers.GlobalAveragePooling1D()(title_x)
        body_x = fg.layers.GlobalAveragePooling1D()(body_x)
    x = fg.layers.concatenate([title_x, body_x, tags])
    x = fg.layers.Dense(s.hidden, activation="relu", name="hidden")(x)
    priority = fg.layers.Dense(1, activation="sigmoid", name="priority")(x)
    department = fg.layers.Dense(s.departments, activation="softmax", name="department")(x)
    model = fg.Model([title, body, tags], {"priority": priority, "department": department},
                     name="ticket_lstm" if recurrent else "ticket")
    return model, {"priority": "mse", "department": "categorical_crossentropy"}


def _transformer(s):
    tokens = fg.Input(shape=(s.seq_len,), dtype="int32", name="tokens")
    x = fg.layers.Embedding(s.vocab, s.embed, name="embedding")(tokens)
    x = _transformer_encoder_class()(s.embed, s.dense, s.heads, name="encoder")(x)
    x = fg.layers.GlobalMaxPooling1D()(x)
    outputs = fg.layers.Dense(1, activation="sigmoid", name="output")(x)
    return fg.Model(tokens, outputs, name="transformer"), "binary_crossentropy"


def _layer_for(model, name: str):
    """The fusegraph layer holding the weights that ``specs.initial_weights`` names."""
    if model.name != "transformer" or name in ("embedding", "output"):
        return model.get_layer(name)
    encoder = model.get_layer("encoder")
    return {"attention": encoder.attention, "layernorm_1": encoder.layernorm_1,
            "layernorm_2": encoder.layernorm_2, "ffn_1": encoder.dense_proj.layers[0],
            "ffn_2": encoder.dense_proj.layers[1]}[name]


def _optimizer(kind: str):
    if kind == "adam":
        return fg.optimizers.Adam(specs.LEARNING_RATE, **specs.ADAM)
    return fg.optimizers.RMSprop(specs.LEARNING_RATE, **specs.RMSPROP)


def build(name: str, sizes, backend: str = "numba_cpu", distribute=None):
    """``(model, step)``: workload ``name`` at ``sizes`` compiled on ``backend`` (with the
    data-parallel strategy ``distribute``, if any: then each rank trains on its share of
    the batch) with the initial weights of :func:`specs.initial_weights`; ``step()`` runs one
    ``train_on_batch`` on the batch of :func:`specs.batch` and returns the step's total
    loss (computed before its update) as a float."""
    sizes = sizes or specs.WORKLOADS[name].sizes
    if name == "mlp":
        model, loss = _mlp(sizes)
    elif name in ("ticket", "lstm"):
        model, loss = _ticket(sizes, recurrent=name == "lstm")
    elif name == "transformer":
        model, loss = _transformer(sizes)
    else:
        raise KeyError(f"unknown workload {name!r}; expected one of {sorted(specs.WORKLOADS)}")
    for layer_name, arrays in specs.initial_weights(name, sizes).items():
        _layer_for(model, layer_name).set_weights(arrays)
    model.compile(optimizer=_optimizer(specs.WORKLOADS[name].optimizer), loss=loss,
                  backend=backend, distribute=distribute)
    inputs, targets = specs.batch(name, sizes)
    x = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    y = targets if len(targets) > 1 else next(iter(targets.values()))

    def step() -> float:
        return float(np.atleast_1d(model.train_on_batch(x, y))[0])
    return model, step
