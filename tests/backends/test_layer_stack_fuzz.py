"""Random layer stacks trained on every backend: hypothesis draws a small functional model
(Dense, LSTM, GRU, Conv1D/Conv2D, Conv2DTranspose, UpSampling2D, Masking,
BatchNormalization, LayerNormalization, MultiHeadAttention, Dropout over a sequence, an
image or a flat input), it is compiled
and trained three steps (batches of 4, 3 and 4 examples) on ``reference`` and on
``numba_cpu`` (and half as many in the CUDA simulator), and the losses and the weights
after the three steps (moving statistics included) must agree with the reference's.
``FUSEGRAPH_FUZZ_STACKS`` sets how many stacks hypothesis draws (default 6,
derandomized), besides fixed ones that hold every layer kind.

Dropout draws its mask in the graph from the seeded stream, so the same seed gives the
same masks on every backend: stacks keep their Dropout rates, and
:func:`test_dropout_masks_are_the_same_on_every_backend` checks the masks themselves.
"""
import dataclasses
import os

from helpers import cuda_mode

cuda_mode.use_simulator()                      # before numba.cuda is first imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

import fusegraph as fg  # noqa: E402

STACK_EXAMPLES = int(os.environ.get("FUSEGRAPH_FUZZ_STACKS", "6"))
BATCH_SIZES = (4, 3, 4)     # three training steps, one of a smaller (last) batch
INPUTS = {"sequence": (5, 3), "image": (5, 5, 2), "flat": (4,)}


@dataclasses.dataclass(frozen=True)
class Stack:
    """A drawn model: the input ``kind`` (:data:`INPUTS`), ``layers`` as (class name,
    keyword arguments as sorted pairs), the ``loss`` and the ``optimizer``'s name."""
    kind: str
    layers: tuple
    loss: str = "mse"
    optimizer: str = "adam"

    def build(self, backend: str):
        """A fresh model of this stack, seeded, compiled for ``backend``."""
        fg.utils.clear_session()
        fg.utils.set_random_seed(0)
        inputs = fg.Input(shape=INPUTS[self.kind])
        x = inputs
        for name, kwargs in self.layers:
            layer = getattr(fg.layers, name)(**dict(kwargs))
            x = layer(x, x) if name == "MultiHeadAttention" else layer(x)
        model = fg.Model(inputs, x)
        # Adam and RMSprop divide by sqrt(v) + epsilon: a gradient that is zero in exact
        # arithmetic (MultiHeadAttention's key bias: softmax ignores a shift) is rounding
        # noise that Keras's epsilon of 1e-7 would blow up into learning-rate sized steps.
        optimizer = {"adam": fg.optimizers.Adam(1e-2, epsilon=1e-3),
                     "sgd": fg.optimizers.SGD(0.1),
                     "rmsprop": fg.optimizers.RMSprop(1e-2, epsilon=1e-3)}[self.optimizer]
        model.compile(optimizer=optimizer, loss=self.loss, backend=backend)
        return model

    def batches(self, classes: int) -> list:
        """One (x, y) per training step, of :data:`BATCH_SIZES` examples."""
        rng = np.random.default_rng(1)
        out = []
        for n in BATCH_SIZES:
            x = rng.standard_normal((n,) + INPUTS[self.kind]).astype(np.float32)
            y = rng.integers(0, classes, n).astype(np.int32) \
                if self.loss == "sparse_categorical_crossentropy" \
                else rng.standard_normal((n, classes)).astype(np.float32)
            out.append((x, y))
        return out


def _layer(name, **kwargs):
    return (name, tuple(sorted(kwargs.items())))


@st.composite
def stacks(draw, kinds=tuple(INPUTS)) -> Stack:
    """A random valid :class:`Stack` of 2..5 hidden layers and a Dense head."""
    kind = draw(st.sampled_from(kinds))
    units = st.integers(2, 4)
    activation = st.sampled_from([None, "relu", "tanh", "sigmoid"])
    rate = st.sampled_from([0.0, 0.25, 0.5])
    layers, shape = [], kind
    for _ in range(draw(st.integers(2, 5))):
        common = [_layer("Dense", units=draw(units), activation=draw(activation)),
                  _layer("LayerNormalization"), _layer("BatchNormalization"),
                  _layer("Dropout", rate=draw(rate), seed=draw(st.integers(0, 9)))]
        if shape == "sequence":
            recurrent = draw(st.sampled_from(["LSTM", "GRU"]))
            keep = draw(st.booleans())
            options = [   # the input's own layers first: hypothesis favours early choices
                _layer(recurrent, units=draw(units), return_sequences=keep),
                _layer("MultiHeadAttention", num_heads=draw(st.integers(1, 2)),
                       key_dim=draw(st.integers(1, 3))),
                _layer("Conv1D", filters=draw(units), kernel_size=draw(st.integers(1, 3)),
                       padding=draw(st.sampled_from(["same", "causal"]))),
                _layer("Masking", mask_value=0.0)] + common
        elif shape == "image":
            options = [_layer("Conv2D", filters=draw(units), kernel_size=2,
                              padding=draw(st.sampled_from(["same", "valid"]))),
                       _layer("Conv2DTranspose", filters=draw(units), kernel_size=2,
                              strides=draw(st.integers(1, 2)),
                              padding=draw(st.sampled_from(["same", "valid"]))),
                       _layer("UpSampling2D",
                              interpolation=draw(st.sampled_from(["nearest", "bilinear"])))
                       ] + common
        else:
            options = common
        layer = draw(st.sampled_from(options))
        layers.append(layer)
        if layer[0] in ("LSTM", "GRU") and not dict(layer[1])["return_sequences"]:
            shape = "flat"
    if shape != "flat":
        layers.append(_layer("Flatten"))
    classes = draw(st.integers(2, 3))
    loss = draw(st.sampled_from(["mse", "sparse_categorical_crossentropy"]))
    head = "softmax" if loss == "sparse_categorical_crossentropy" else None
    layers.append(_layer("Dense", units=classes, activation=head))
    return Stack(kind, tuple(layers), loss, draw(st.sampled_from(["adam", "sgd", "rmsprop"])))


def train(stack: Stack, backend: str):
    """The losses of three training steps and the weights after them."""
    model = stack.build(backend)
    losses = [model.train_on_batch(x, y) for x, y in stack.batches(model.outputs[0].shape[-1])]
    return losses, model.get_weights()


def assert_trains_like_the_reference(stack: Stack, backend: str):
    want_losses, want = train(stack, "reference")
    losses, weights = train(stack, backend)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-4, atol=1e-5, err_msg=repr(stack))
    assert len(weights) == len(want)
    for i, (w, ref) in enumerate(zip(weights, want)):
        np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-5,
                                   err_msg=f"weight {i} of {stack!r}")


STACK_SETTINGS = settings(max_examples=STACK_EXAMPLES, derandomize=True, deadline=None,
                          database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.data_too_large])
# Every layer kind at least once, whatever hypothesis draws.
EVERY_SEQUENCE_LAYER = Stack("sequence", (
    _layer("Conv1D", filters=3, kernel_size=2, padding="same"), _layer("Masking"),
    _layer("MultiHeadAttention", num_heads=2, key_dim=2),
    _layer("LSTM", units=3, return_sequences=True), _layer("LayerNormalization"),
    _layer("GRU", units=3, return_sequences=False), _layer("BatchNormalization"),
    _layer("Dropout", rate=0.5, seed=1), _layer("Dense", units=2, activation="softmax")),
    "sparse_categorical_crossentropy", "adam")
EVERY_IMAGE_LAYER = Stack("image", (
    _layer("Conv2D", filters=3, kernel_size=2, padding="valid"), _layer("BatchNormalization"),
    _layer("Dropout", rate=0.25, seed=2), _layer("Conv2D", filters=2, kernel_size=2,
                                                  padding="same"),
    _layer("LayerNormalization"), _layer("Flatten"), _layer("Dense", units=3)), "mse", "sgd")
DECODER_LAYERS = Stack("image", (
    _layer("Conv2DTranspose", filters=2, kernel_size=3, strides=2, padding="same"),
    _layer("UpSampling2D", interpolation="bilinear"),
    _layer("Conv2DTranspose", filters=2, kernel_size=2, padding="valid"),
    _layer("UpSampling2D"), _layer("Flatten"), _layer("Dense", units=2)), "mse", "adam")


@STACK_SETTINGS
@given(stacks())
@example(EVERY_SEQUENCE_LAYER)
@example(EVERY_IMAGE_LAYER)
@example(DECODER_LAYERS)
def test_numba_cpu_trains_random_stacks_like_the_reference(stack):
    assert_trains_like_the_reference(stack, "numba_cpu")


@settings(STACK_SETTINGS, max_examples=max(2, STACK_EXAMPLES // 2))
@given(stacks())
@example(EVERY_SEQUENCE_LAYER)
@example(DECODER_LAYERS)
def test_the_cuda_simulator_trains_random_stacks_like_the_reference(stack):
    cuda_mode.skip_unless_cuda_runs()
    assert_trains_like_the_reference(stack, "numba_cuda")


def _dropout_masks(backend: str) -> list:
    """Two training-mode calls of a seeded Dropout(0.5) on ones, traced on ``backend``."""
    from fusegraph.backends import optimizing_compiler
    from fusegraph.frontend.function import Function

    fg.utils.clear_session()
    fg.utils.set_random_seed(7)
    layer = fg.layers.Dropout(0.5, seed=3)
    dropout = Function(lambda x: layer(x, training=True), "dropout", optimizing_compiler(backend))
    return [dropout(np.ones((4, 6), np.float32)) for _ in range(2)]


@pytest.mark.parametrize("backend", ["numba_cpu", "numba_cuda"])
def test_dropout_masks_are_the_same_on_every_backend(backend):
    if backend == "numba_cuda":
        cuda_mode.skip_unless_cuda_runs()
    want = _dropout_masks("reference")
    got = _dropout_masks(backend)
    assert not np.array_equal(want[0], want[1])          # each step draws a new mask
    assert set(np.unique(want[0])) == {0.0, 2.0}         # kept ones scaled by 1 / (1 - 0.5)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
