"""The smallest functional model: Input -> Dense(relu) -> Dense(softmax).

    fusegraph dump examples/mlp.py
"""
import fusegraph as fg


def build_model():
    inputs = fg.Input(shape=(3,), name="x")
    x = fg.layers.Dense(4, activation=fg.ops.relu)(inputs)
    outputs = fg.layers.Dense(5, activation=fg.ops.softmax)(x)
    return fg.Model(inputs=inputs, outputs=outputs, name="mlp")
