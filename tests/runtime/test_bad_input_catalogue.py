"""The bad-input catalogue: each row calls the public API with ONE bad input.

Every row asserts the error's type, that its message names the argument (or input,
output, layer) and what was expected, and that every weight and optimizer variable of
the models is bitwise unchanged afterwards, the optimizer still the same object and the
model still compiled: a failed call changes nothing (DESIGN.md, "Bad input").

The models are tiny and shared (module scope), trained one step first so that the
optimizer's slots exist; everything runs on the reference backend.
"""
import os
import tempfile

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir.errors import ShapeError

N = 8


class Env:
    """The shared models and data of the catalogue."""

    def __init__(self):
        features = fg.Input(shape=(4,), name="features")
        probs = fg.layers.Dense(3, activation="softmax", name="probs")(features)
        self.model = fg.Model(features, probs, name="classifier")
        self.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"])
        a, b = fg.Input(shape=(2,), name="a"), fg.Input(shape=(3,), name="b")
        joined = fg.layers.Concatenate(name="join")([a, b])
        self.multi = fg.Model([a, b], {"cls": fg.layers.Dense(3, name="cls_head")(joined),
                                       "reg": fg.layers.Dense(1, name="reg_head")(joined)},
                              name="two_heads")
        self.multi.compile(optimizer="sgd",
                           loss={"cls": fg.losses.SparseCategoricalCrossentropy(from_logits=True),
                                 "reg": "mse"})
        ids = fg.Input(shape=(2,), dtype="int32", name="ids")
        vectors = fg.layers.Flatten()(fg.layers.Embedding(5, 2, name="tok_emb")(ids))
        self.tokens = fg.Model(ids, fg.layers.Dense(1, name="tok_out")(vectors), name="tagger")
        self.tokens.compile(optimizer="adam", loss="mse")
        self.folder = tempfile.TemporaryDirectory()
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(N, 4)).astype("float32")
        self.y = np.arange(N) % 3
        self.xa = rng.normal(size=(N, 2)).astype("float32")
        self.xb = rng.normal(size=(N, 3)).astype("float32")
        self.yreg = rng.normal(size=(N, 1)).astype("float32")
        self.model.train_on_batch(self.x, self.y)
        self.multi.train_on_batch([self.xa, self.xb], {"cls": self.y, "reg": self.yreg})
        self.tokens.train_on_batch(self.ids(), self.yreg)

    def path(self, name: str) -> str:
        return os.path.join(self.folder.name, name)

    def text_file(self) -> str:
        with open(self.path("notes.npz"), "w") as f:
            f.write("not weights")
        return self.path("notes.npz")

    def other_weights(self) -> str:
        """Weights of another model (kernel (5, 3), not (4, 3))."""
        inputs = fg.Input(shape=(5,))
        fg.Model(inputs, fg.layers.Dense(3)(inputs)).save_weights(self.path("other.npz"))
        return self.path("other.npz")

    def labels(self, at, value):
        y = self.y.copy()
        y[at] = value
        return y

    def ids(self, at=None, value=None):
        """Token ids for ``tokens`` (in [0, 5)), with ``value`` at ``at`` when given."""
        x = (np.arange(2 * N).reshape(N, 2) % 5).astype("int32")
        if at is not None:
            x[at] = value
        return x

    def fit(self, **kwargs):
        args = {"x": self.x, "y": self.y, "verbose": 0, **kwargs}
        return self.model.fit(**args)

    def state(self) -> list:
        """Copies of every weight and optimizer variable of the models."""
        return [np.array(v.numpy(), copy=True)
                for m in (self.model, self.multi, self.tokens)
                for v in list(m.weights) + list(m.optimizer.variables)]


@pytest.fixture(scope="module")
def env():
    shared = Env()
    yield shared
    shared.folder.cleanup()


def _input(shape=(3,)):
    return fg.Input(shape=shape)


def _ids_model():
    """A model whose input 'ids' is int32 (an Embedding's indices)."""
    ids = fg.Input(shape=(1,), dtype="int32", name="ids")
    return fg.Model(ids, fg.layers.Embedding(4, 2)(ids))


def _model_of_inputs(first_name, second_name):
    """Add() of two Inputs of these names."""
    a, b = fg.Input(shape=(2,), name=first_name), fg.Input(shape=(2,), name=second_name)
    return fg.Model([a, b], fg.layers.Add()([a, b]))


def _model_of_two(first_name, second_name):
    """Dense(first_name) then Dense(second_name) on one Input."""
    x = _input((2,))
    return fg.Model(x, fg.layers.Dense(2, name=second_name)(
        fg.layers.Dense(2, name=first_name)(x)))


class _NoSuperInit(fg.layers.Layer):
    def __init__(self):        # forgets super().__init__()
        self.units = 3


# (id, call(env), error type, words the message must contain)
ROWS = [
    # --- fit: numbers, flags, callbacks ----------------------------------------------------
    ("fit-epochs-str", lambda e: e.fit(epochs="3"), TypeError, ["epochs", "an int"]),
    ("fit-epochs-float", lambda e: e.fit(epochs=2.5), TypeError, ["epochs", "an int"]),
    ("fit-epochs-negative", lambda e: e.fit(epochs=-1), ValueError, ["epochs", ">= 0"]),
    ("fit-batch-size-zero", lambda e: e.fit(batch_size=0), ValueError, ["batch_size", ">= 1"]),
    ("fit-batch-size-str", lambda e: e.fit(batch_size="8"), TypeError, ["batch_size", "an int"]),
    ("fit-verbose-str", lambda e: e.fit(verbose="loud"), TypeError, ["verbose", "'auto'"]),
    ("fit-verbose-3", lambda e: e.fit(verbose=3), ValueError, ["verbose", "'auto'"]),
    ("fit-shuffle-str", lambda e: e.fit(shuffle="yes"), TypeError, ["shuffle", "True or False"]),
    ("fit-initial-epoch", lambda e: e.fit(initial_epoch=-1), ValueError,
     ["initial_epoch", ">= 0"]),
    ("fit-initial-epoch-str", lambda e: e.fit(initial_epoch="1"), TypeError,
     ["initial_epoch", "an int"]),
    ("fit-steps-per-epoch", lambda e: e.fit(steps_per_epoch=0), ValueError,
     ["steps_per_epoch", ">= 1"]),
    ("fit-seed-str", lambda e: e.fit(seed="a"), TypeError, ["seed", "an int"]),
    ("fit-validation-batch-size", lambda e: e.fit(validation_data=(e.x, e.y),
                                                  validation_batch_size=0),
     ValueError, ["validation_batch_size", ">= 1"]),
    ("fit-callbacks-int", lambda e: e.fit(callbacks=[1]), TypeError, ["callbacks", "Callback"]),
    ("fit-callbacks-class", lambda e: e.fit(callbacks=[fg.callbacks.EarlyStopping]), TypeError,
     ["callbacks", "instantiate"]),
    ("fit-callbacks-not-list", lambda e: e.fit(callbacks=3), TypeError, ["callbacks", "a list"]),
    ("fit-validation-split-big", lambda e: e.fit(validation_split=1.5), ValueError,
     ["validation_split", "[0, 1)"]),
    ("fit-validation-split-str", lambda e: e.fit(validation_split="0.2"), TypeError,
     ["validation_split", "a float"]),
    ("fit-class-weight", lambda e: e.fit(class_weight=[1.0, 2.0]), TypeError,
     ["fit(class_weight=...)", "a dict of class index"]),
    # --- fit: training data -------------------------------------------------------------
    ("fit-label-too-big", lambda e: e.fit(y=e.labels(5, 3)), ValueError,
     ["fit()", "y[5]", "'probs'", "[0, 3)"]),
    ("fit-label-negative", lambda e: e.fit(y=e.labels(7, -1)), ValueError,
     ["y[7]", "is -1", "[0, 3)"]),
    ("fit-label-float", lambda e: e.fit(y=e.labels(2, 3).astype("float32")), ValueError,
     ["y[2]", "[0, 3)"]),
    ("fit-label-in-later-batch", lambda e: e.fit(y=e.labels(7, 9), batch_size=2), ValueError,
     ["y[7]", "is 9", "3 classes"]),
    ("fit-y-strings", lambda e: e.fit(y=np.array(list("abcabcab"))), TypeError,
     ["y", "numbers"]),
    ("fit-y-length", lambda e: e.fit(y=e.y[:5]), ValueError, ["y: 5", "x: 8", "samples"]),
    ("fit-y-one-hot-for-sparse", lambda e: e.fit(y=np.eye(3)[e.y]), ShapeError,
     ["y_true", "expected integer class indices"]),
    ("fit-y-missing", lambda e: e.fit(y=None), ValueError, ["no y", "targets", "'probs'"]),
    ("fit-x-width", lambda e: e.fit(x=e.x[:, :3]), ValueError, ["input 'features'", "shape"]),
    ("fit-x-strings", lambda e: e.fit(x=np.full((N, 4), "a")), TypeError, ["x", "numbers"]),
    ("fit-x-unknown-name", lambda e: e.fit(x={"feature": e.x}), KeyError, ["'features'"]),
    ("fit-x-two-arrays", lambda e: e.fit(x=[e.x, e.x]), ValueError, ["1 input", "got 2"]),
    ("fit-sample-weight-length", lambda e: e.fit(sample_weight=np.ones(3)), ValueError,
     ["sample_weight: 3", "samples"]),
    ("fit-dict-target-unknown", lambda e: e.multi.fit([e.xa, e.xb], {"cls": e.y, "rg": e.yreg},
                                                      verbose=0),
     KeyError, ["'reg'", "'rg'"]),
    ("fit-multi-label", lambda e: e.multi.fit([e.xa, e.xb], {"cls": e.labels(1, 4),
                                                             "reg": e.yreg}, verbose=0),
     ValueError, ["y['cls'][1]", "output 'cls'", "[0, 3)"]),
    # --- fit: validation data (checked before the first step) ------------------------------
    ("fit-validation-one-tuple", lambda e: e.fit(validation_data=(e.x,)), ValueError,
     ["validation_data", "(x_val, y_val)"]),
    ("fit-validation-str", lambda e: e.fit(validation_data="abc"), TypeError,
     ["validation_data", "(x_val, y_val)"]),
    ("fit-validation-width", lambda e: e.fit(validation_data=(e.x[:, :3], e.y)), ValueError,
     ["validation_data", "input 'features'", "shape"]),
    ("fit-validation-label", lambda e: e.fit(validation_data=(e.x, e.labels(4, 3))), ValueError,
     ["validation_data[1][4]", "[0, 3)"]),
    ("fit-validation-length", lambda e: e.fit(validation_data=(e.x, e.y[:5])), ValueError,
     ["validation_data[1]: 5", "samples"]),
    ("fit-validation-strings", lambda e: e.fit(validation_data=(e.x, np.array(list("abcdefgh")))),
     TypeError, ["validation_data[1]", "numbers"]),
    ("fit-validation-no-y", lambda e: e.fit(validation_data=(e.x, None)), ValueError,
     ["validation_data", "no y"]),
    # --- evaluate --------------------------------------------------------------------------
    ("evaluate-batch-size", lambda e: e.model.evaluate(e.x, e.y, batch_size=-1, verbose=0),
     ValueError, ["evaluate(batch_size=", ">= 1"]),
    ("evaluate-steps", lambda e: e.model.evaluate(e.x, e.y, steps=0, verbose=0), ValueError,
     ["evaluate(steps=", ">= 1"]),
    ("evaluate-return-dict", lambda e: e.model.evaluate(e.x, e.y, return_dict="yes", verbose=0),
     TypeError, ["return_dict", "True or False"]),
    ("evaluate-verbose", lambda e: e.model.evaluate(e.x, e.y, verbose=5), ValueError,
     ["evaluate(verbose=", "'auto'"]),
    ("evaluate-callbacks", lambda e: e.model.evaluate(e.x, e.y, callbacks=[object()], verbose=0),
     TypeError, ["evaluate(callbacks=", "Callback"]),
    ("fit-token-id-in-last-batch",
     lambda e: e.tokens.fit(e.ids((7, 1), 5), e.yreg, batch_size=2, verbose=0), ValueError,
     ["fit()", "x[7, 1] is 5", "not a token id of Embedding 'tok_emb'", "input_dim=5",
      "[0, 5)"]),
    ("predict-token-id-negative", lambda e: e.tokens.predict(e.ids((2, 0), -1), verbose=0),
     ValueError, ["predict()", "x[2, 0] is -1", "token id of Embedding 'tok_emb'", "[0, 5)"]),
    ("evaluate-label", lambda e: e.model.evaluate(e.x, e.labels(6, 10), verbose=0), ValueError,
     ["evaluate()", "y[6]", "is 10", "[0, 3)"]),
    ("evaluate-x-width", lambda e: e.model.evaluate(e.x[:, :2], e.y, verbose=0), ValueError,
     ["input 'features'", "shape"]),
    # --- predict and calls ---------------------------------------------------------------
    ("predict-batch-size", lambda e: e.model.predict(e.x, batch_size=0, verbose=0), ValueError,
     ["predict(batch_size=", ">= 1"]),
    ("predict-verbose", lambda e: e.model.predict(e.x, verbose="no"), TypeError,
     ["predict(verbose=", "'auto'"]),
    ("predict-steps", lambda e: e.model.predict(e.x, steps="1", verbose=0), TypeError,
     ["predict(steps=", "an int"]),
    ("predict-x-width", lambda e: e.model.predict(e.x[:, :1], verbose=0), ValueError,
     ["input 'features'", "shape"]),
    ("predict-x-strings", lambda e: e.model.predict(np.full((N, 4), "a"), verbose=0), TypeError,
     ["x", "numbers"]),
    ("call-rank", lambda e: e.model(e.x[0]), ValueError, ["input 'features'", "shape"]),
    ("call-unknown-name", lambda e: e.model({"feat": e.x}), KeyError, ["'features'", "'feat'"]),
    ("call-two-arrays", lambda e: e.model([e.x, e.x]), ValueError, ["1 input", "got 2"]),
    ("call-training-str", lambda e: e.model(e.x, training="yes"), TypeError,
     ["training", "True, False or None", "'yes'"]),
    ("function-not-callable", lambda e: fg.function(3), TypeError, ["fg.function", "function",
                                                                    "int"]),
    ("function-name-int", lambda e: fg.function(lambda a: a, name=3), TypeError,
     ["fg.function", "`name`", "a str or None", "3"]),
    ("call-multi-one-array", lambda e: e.multi(e.xa), ValueError, ["2 input", "got 1"]),
    # --- train_on_batch / test_on_batch -------------------------------------------------------
    ("train-on-batch-label", lambda e: e.model.train_on_batch(e.x, e.labels(3, 5)), ValueError,
     ["train_on_batch()", "y[3]", "is 5", "[0, 3)"]),
    ("train-on-batch-width", lambda e: e.model.train_on_batch(e.x[:, :3], e.y), ValueError,
     ["input 'features'", "shape"]),
    ("train-on-batch-return-dict", lambda e: e.model.train_on_batch(e.x, e.y, return_dict=1),
     TypeError, ["return_dict", "True or False"]),
    ("train-on-batch-y-strings", lambda e: e.model.train_on_batch(e.x, np.array(list("abcabcab"))),
     TypeError, ["y", "numbers"]),
    ("test-on-batch-label", lambda e: e.model.test_on_batch(e.x, e.labels(0, -2)), ValueError,
     ["test_on_batch()", "y[0]", "is -2"]),
    # --- compile (fails before it changes the model) ------------------------------------------
    ("compile-loss-typo", lambda e: e.model.compile(optimizer="sgd", loss="sparse_categorical_crossentropyy"),
     ValueError, ["unknown loss", "expected"]),
    ("compile-optimizer-typo", lambda e: e.model.compile(optimizer="adamm", loss="mse"),
     ValueError, ["optimizer", "expected"]),
    ("compile-metric-typo", lambda e: e.model.compile(loss="mse", metrics=["acuracy"]),
     ValueError, ["metric", "expected"]),
    ("compile-metric-int", lambda e: e.model.compile(loss="mse", metrics=[3]), TypeError,
     ["metric", "a name"]),
    ("compile-loss-weights-str", lambda e: e.model.compile(loss="mse", loss_weights="a"),
     TypeError, ["loss_weights", "numbers"]),
    ("compile-loss-unknown-output", lambda e: e.multi.compile(loss={"cls": "mse", "rgr": "mse"}),
     ValueError, ["loss", "'rgr'", "'reg'"]),
    ("compile-loss-list-length", lambda e: e.multi.compile(loss=["mse"]), ValueError,
     ["loss", "one entry per output"]),
    ("compile-backend", lambda e: e.model.compile(loss="mse", backend="tpu"), ValueError,
     ["tpu", "backend"]),
    # --- set_weights -----------------------------------------------------------------------
    ("set-weights-count", lambda e: e.model.set_weights([np.zeros((4, 3))]), ValueError,
     ["expects 2 weight arrays", "got 1"]),
    ("set-weights-shape", lambda e: e.model.set_weights([np.zeros((3, 3)), np.zeros(3)]),
     ValueError, ["kernel", "shape (4, 3)", "(3, 3)"]),
    ("set-weights-strings-last", lambda e: e.model.set_weights([np.zeros((4, 3)),
                                                                np.array(["a", "b", "c"])]),
     TypeError, ["bias", "takes numbers", "<U1"]),
    ("layer-set-weights-shape", lambda e: e.model.get_layer("probs").set_weights(
        [np.zeros((4, 3)), np.zeros(4)]), ValueError, ["bias", "shape (3,)", "(4,)"]),
    # --- layers and Input ------------------------------------------------------------------
    ("concatenate-one-tensor", lambda e: fg.layers.Concatenate()(_input()), ValueError,
     ["Concatenate", "a list of at least 1 tensor", "one tensor"]),
    ("add-one-input", lambda e: fg.layers.Add()([_input()]), ValueError,
     ["Add", "at least 2 tensors", "got 1"]),
    ("add-no-list", lambda e: fg.layers.Add()(_input()), ValueError, ["Add", "a list"]),
    ("concatenate-shapes", lambda e: fg.layers.Concatenate()([_input((3,)), _input((2, 2))]),
     ShapeError, ["concatenate", "rank"]),
    ("dense-activation", lambda e: fg.layers.Dense(3, activation="relux"), ValueError,
     ["activation", "relux"]),
    ("input-no-shape", lambda e: fg.Input(), ValueError, ["shape"]),
    ("input-negative-dim", lambda e: fg.Input(shape=(-1,)), ValueError, ["dimension", "-1"]),
    ("input-dtype", lambda e: fg.Input(shape=(3,), dtype="float17"), (TypeError, ValueError),
     ["float17"]),
    ("input-shape-str", lambda e: fg.Input(shape="3"), TypeError, ["Input(shape=", "a tuple"]),
    ("input-name-int", lambda e: fg.Input(shape=(3,), name=5), TypeError,
     ["Input(name=", "a string"]),
    ("dense-units-zero", lambda e: fg.layers.Dense(0), ValueError, ["Dense", "`units`",
                                                                    "positive int"]),
    ("embedding-input-dim", lambda e: fg.layers.Embedding(0, 4), ValueError,
     ["Embedding", "`input_dim`", "positive int"]),
    ("attention-heads", lambda e: fg.layers.MultiHeadAttention(num_heads=0, key_dim=2), ValueError,
     ["MultiHeadAttention", "`num_heads`", "positive int"]),
    ("batch-norm-momentum", lambda e: fg.layers.BatchNormalization(momentum=2), ValueError,
     ["BatchNormalization", "`momentum`", "<= 1.0"]),
    ("layer-norm-epsilon", lambda e: fg.layers.LayerNormalization(epsilon=-1), ValueError,
     ["LayerNormalization", "`epsilon`", "> 0.0"]),
    ("dropout-rate", lambda e: fg.layers.Dropout(1.5), ValueError, ["Dropout rate", "[0, 1)"]),
    ("model-input-not-input", lambda e: fg.Model(e.x, e.model.outputs[0]), TypeError,
     ["input 0", "fg.Input"]),
    ("sequential-not-layer", lambda e: fg.Sequential([3]), TypeError, ["takes layers", "3"]),
    ("optimizer-learning-rate", lambda e: fg.optimizers.Adam(learning_rate="a"), ValueError,
     ["`learning_rate`", "a number"]),
    # --- layers, models and variables: the frontend probe's items --------------------------
    ("call-int-out-of-range", lambda e: _ids_model()(np.array([[2**32 + 1]])), ValueError,
     ["input 'ids'", "4294967297", "int32"]),
    ("model-inputs-same-name", lambda e: _model_of_inputs("a", "a"), ValueError,
     ["unique", "'a'"]),
    ("model-layers-same-name", lambda e: _model_of_two("twin", "twin"), ValueError,
     ["unique", "'twin'"]),
    ("call-multi-batch-sizes", lambda e: e.multi([e.xa[:3], e.xb]), ValueError,
     ["two_heads", "batch sizes", "'a' has 3", "'b' has 8"]),
    ("call-symbolic-width", lambda e: e.model(_input((5,))), ShapeError,
     ["classifier", "input 'features'", "(None, 4)", "(None, 5)"]),
    ("call-symbolic-int-for-float", lambda e: _ids_model()(_input((1,))), TypeError,
     ["input 'ids'", "int32", "float32 tensor"]),
    ("set-weights-none", lambda e: e.model.set_weights(None), TypeError,
     ["set_weights", "a list of 2 arrays", "None"]),
    ("variable-assign-strings", lambda e: e.model.weights[1].assign(np.array(list("abc"))),
     TypeError, ["probs/bias", "takes numbers", "<U1"]),
    ("add-weight-negative", lambda e: e.model.get_layer("probs").add_weight(shape=(-1, 2)),
     ValueError, ["'probs'", "`shape`", "(-1, 2)"]),
    ("layer-no-super-init", lambda e: _NoSuperInit()(e.x), RuntimeError,
     ["_NoSuperInit", "super().__init__()"]),
    ("layer-name-slash", lambda e: fg.layers.Dense(1, name="a/b"), ValueError,
     ["Dense", "`name`", "'a/b'"]),
    ("dense-use-bias-str", lambda e: fg.layers.Dense(1, use_bias="no"), TypeError,
     ["Dense", "`use_bias`", "'no'"]),
    ("dense-initializer-typo", lambda e: fg.layers.Dense(1, kernel_initializer="glorot_unifrom"),
     ValueError, ["Dense", "`kernel_initializer`", "'glorot_unifrom'"]),
    ("lstm-return-state-str", lambda e: fg.layers.LSTM(2, return_state="yes"), TypeError,
     ["LSTM", "`return_state`", "'yes'"]),
    ("input-shape-and-batch-shape", lambda e: fg.Input(shape=(3,), batch_shape=(None, 4)),
     ValueError, ["`shape`", "`batch_shape`", "not both"]),
    ("layer-training-str", lambda e: fg.layers.Dropout(0.5)(_input(), training="yes"), TypeError,
     ["Dropout", "training", "'yes'"]),
    ("dense-on-a-list", lambda e: fg.layers.Dense(1)(
        fg.layers.LSTM(2, return_state=True)(_input((3, 4)))), TypeError,
     ["Dense", "takes one tensor", "list of 3"]),
    ("dense-on-python-floats", lambda e: fg.layers.Dense(3)([[1.0, 2.0]]), TypeError,
     ["Dense", "a tensor or a numpy array", "np.asarray"]),
    ("dense-on-none", lambda e: fg.layers.Dense(3)(None), TypeError, ["Dense", "got None"]),
    ("attention-no-value", lambda e: fg.layers.MultiHeadAttention(2, 2)(_input((3, 4))),
     TypeError, ["MultiHeadAttention", "`value`"]),
    ("variable-initializer-no-shape", lambda e: fg.Variable("zeros"), ValueError,
     ["initializer", "needs `shape`"]),
    ("metric-from-logits-str", lambda e: fg.metrics.BinaryCrossentropy(from_logits="yes"),
     TypeError, ["BinaryCrossentropy", "`from_logits`", "'yes'"]),
    ("metric-label-smoothing", lambda e: fg.metrics.CategoricalCrossentropy(label_smoothing=2),
     ValueError, ["CategoricalCrossentropy", "`label_smoothing`", "<= 1.0"]),
    ("metric-name-int", lambda e: fg.metrics.Mean(name=3), TypeError, ["Mean", "`name`", "3"]),
    ("metric-wrapper-not-callable", lambda e: fg.metrics.MeanMetricWrapper("mse"), TypeError,
     ["MeanMetricWrapper", "`fn`", "'mse'"]),
    ("reshape-target-str", lambda e: fg.layers.Reshape((2, "a")), ValueError,
     ["Reshape", "`target_shape`", "'a'"]),
    ("layer-dtype", lambda e: fg.layers.Dense(2, dtype="float17"), TypeError,
     ["Dense", "`dtype`", "float17"]),
    # --- callbacks and checkpoints ---------------------------------------------------------
    ("lambda-callback-not-function", lambda e: fg.callbacks.LambdaCallback(on_epoch_end=3),
     TypeError, ["on_epoch_end", "a function"]),
    ("checkpoint-save-freq", lambda e: fg.callbacks.ModelCheckpoint(e.path("w.npz"),
                                                                    save_freq="batchy"),
     ValueError, ["save_freq", "'epoch'"]),
    ("early-stopping-patience-str",
     lambda e: e.fit(callbacks=[fg.callbacks.EarlyStopping(monitor="loss", patience="a")]),
     ValueError, ["EarlyStopping", "`patience`", "an int >= 0", "'a'"]),
    ("early-stopping-min-delta-str", lambda e: fg.callbacks.EarlyStopping(min_delta="x"),
     ValueError, ["EarlyStopping", "`min_delta`", "a number"]),
    ("early-stopping-monitor-not-str", lambda e: fg.callbacks.EarlyStopping(monitor=3),
     TypeError, ["EarlyStopping", "`monitor`", "a str", "3"]),
    ("early-stopping-start-negative",
     lambda e: fg.callbacks.EarlyStopping(start_from_epoch=-1),
     ValueError, ["`start_from_epoch`", "an int >= 0", "-1"]),
    ("checkpoint-filepath-int", lambda e: fg.callbacks.ModelCheckpoint(3), TypeError,
     ["ModelCheckpoint", "`filepath`", "os.PathLike", "3"]),
    ("dropout-seed-str", lambda e: fg.layers.Dropout(0.5, seed="a"), TypeError,
     ["`seed`", "an int or None", "'a'"]),
    # --- probe after issue 6: empty batches, wrapped ints, loss arguments ---------------------
    ("train-on-batch-empty", lambda e: e.model.train_on_batch(e.x[:0], e.y[:0]), ValueError,
     ["train_on_batch()", "x has no samples", "(0, 4)"]),
    ("test-on-batch-empty", lambda e: e.model.test_on_batch(e.x[:0], e.y[:0]), ValueError,
     ["test_on_batch()", "x has no samples"]),
    ("fit-generator-empty-batch", lambda e: e.model.fit(iter([(e.x[:0], e.y[:0])]), verbose=0),
     ValueError, ["fit(), epoch 1, batch 0", "x has no samples"]),
    ("fit-y-uint64-past-int64", lambda e: e.fit(y=e.y.astype("uint64") + 2 ** 63), ValueError,
     ["fit()", "y", "does not fit int64"]),
    ("call-int-past-int32", lambda e: fg.function(lambda a: a + 2 ** 40)(e.y.astype("int32")),
     ValueError, ["test_bad_input_catalogue.py", "1099511627776", "does not fit int32"]),
    ("bce-from-logits-str", lambda e: fg.losses.BinaryCrossentropy(from_logits="yes"),
     TypeError, ["BinaryCrossentropy", "`from_logits`", "True or False", "'yes'"]),
    ("cce-label-smoothing", lambda e: fg.losses.CategoricalCrossentropy(label_smoothing=2),
     ValueError, ["CategoricalCrossentropy", "`label_smoothing`", "<= 1", "2"]),
    ("scce-axis-str", lambda e: fg.losses.SparseCategoricalCrossentropy(axis="last"),
     TypeError, ["SparseCategoricalCrossentropy", "`axis`", "an int"]),
    ("fit-generator-x-y-lengths", lambda e: e.model.fit(iter([(e.x[:4], e.y[:3])]), verbose=0),
     ValueError, ["fit(), epoch 1, batch 0", "x has shape (4, 4)", "y has shape (3,)",
                  "batch (samples) axis"]),
    ("metric-sample-weight-length",
     lambda e: fg.metrics.Mean(name="avg").update_state(np.ones(4), sample_weight=np.ones(3)),
     ValueError, ["avg.update_state(values) has shape (4,)",
                  "avg.update_state(sample_weight) has shape (3,)"]),
    ("fit-validation-dataset-infinite",
     lambda e: e.fit(validation_data=fg.data.Dataset.from_tensor_slices((e.x, e.y)).batch(4)
                     .repeat()),
     ValueError, ["fit(): validation_data: the Dataset is infinite", "pass validation_steps"]),
    ("evaluate-dataset-infinite",
     lambda e: e.model.evaluate(fg.data.Dataset.from_tensor_slices((e.x, e.y)).batch(4)
                                .repeat(), verbose=0),
     ValueError, ["evaluate(): x: the Dataset is infinite", "pass steps "]),
    ("fit-dataset-all-dropped",
     lambda e: e.model.fit(fg.data.Dataset.from_tensor_slices((e.x, e.y))
                           .batch(16, drop_remainder=True), verbose=0),
     ValueError, ["fit(): x: the Dataset has no batches", "drop_remainder"]),
    ("fit-generator-empty", lambda e: e.model.fit(iter([]), verbose=0), ValueError,
     ["fit(), epoch 1: x yielded no batches"]),
    ("fit-validation-steps-zero", lambda e: e.fit(validation_data=(e.x, e.y), validation_steps=0),
     ValueError, ["validation_steps", ">= 1"]),
    ("fit-checkpoint-field-not-logged",
     lambda e: e.fit(callbacks=[fg.callbacks.ModelCheckpoint(e.path("w-{val_loss}.npz"))]),
     KeyError, ["fit(): callbacks", "names ['val_loss']", "will not have",
                "validation_data", "['accuracy', 'loss']"]),
    ("adam-beta-1-one", lambda e: fg.optimizers.Adam(beta_1=1.0), ValueError,
     ["Adam", "`beta_1`", ">= 0 and < 1", "1.0"]),
    ("adamw-beta-2-one", lambda e: fg.optimizers.AdamW(beta_2=1), ValueError,
     ["AdamW", "`beta_2`", "< 1"]),
    ("adam-amsgrad-str", lambda e: fg.optimizers.Adam(amsgrad="no"), TypeError,
     ["Adam", "`amsgrad`", "True or False"]),
    ("sgd-nesterov-str", lambda e: fg.optimizers.SGD(momentum=0.9, nesterov="no"), TypeError,
     ["SGD", "`nesterov`", "True or False"]),
    ("optimizer-name-int", lambda e: fg.optimizers.RMSprop(name=3), TypeError,
     ["RMSprop", "`name`", "a str"]),
    ("schedule-decay-rate-negative",
     lambda e: fg.optimizers.schedules.ExponentialDecay(0.1, 10, -1.0), ValueError,
     ["ExponentialDecay", "`decay_rate`", "> 0"]),
    ("compile-metric-class",
     lambda e: e.model.compile(loss="sparse_categorical_crossentropy", metrics=[fg.metrics.Mean]),
     TypeError, ["test_bad_input_catalogue.py", "compile(metrics=...)", "Mean is a class",
                 "an instance"]),
    ("compile-metric-not-of-targets",
     lambda e: e.model.compile(loss="sparse_categorical_crossentropy",
                               metrics=[fg.metrics.Mean(name="avg")]),
     TypeError, ["compile(metrics=...)", "metric 'avg' (Mean)", "update_state(values",
                 "update_state(y_true, y_pred, sample_weight)"]),
    ("load-weights-missing", lambda e: e.model.load_weights("/nonexistent/weights.npz"),
     FileNotFoundError, ["/nonexistent/weights.npz"]),
    ("load-weights-text-file", lambda e: e.model.load_weights(e.text_file()), ValueError,
     ["not a weights file", "save_weights"]),
    ("load-weights-other-model", lambda e: e.model.load_weights(e.other_weights()), ValueError,
     ["kernel", "shape"]),
]


@pytest.mark.parametrize("call, error, words", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_raises_and_changes_nothing(env, call, error, words):
    before = env.state()
    optimizers = (env.model.optimizer, env.multi.optimizer)
    with pytest.raises(error) as caught:
        call(env)
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    after = env.state()
    assert len(after) == len(before)
    for old, new in zip(before, after):
        assert old.dtype == new.dtype and old.shape == new.shape
        assert old.tobytes() == new.tobytes()
    assert (env.model.optimizer, env.multi.optimizer) == optimizers
    assert env.model.compiled and env.multi.compiled


def test_the_catalogue_is_large_enough():
    assert len(ROWS) >= 60
    assert len({r[0] for r in ROWS}) == len(ROWS)


def test_compile_errors_name_the_argument_and_the_users_line():
    """The optimizer and the backend are named as compile's arguments, at this file's
    line (the other compile rows name theirs through the loss/metric lookups)."""
    inputs = fg.Input(shape=(2,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    for kwargs, argument in [({"optimizer": "adamm"}, "optimizer"), ({"backend": "tpu"}, "backend")]:
        with pytest.raises(ValueError, match=rf"test_bad_input_catalogue\.py:\d+: "
                                             rf"compile\({argument}=\.\.\.\): unknown {argument}"):
            model.compile(loss="mse", **kwargs)
    assert not model.compiled
