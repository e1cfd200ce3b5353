"""Models' configs (frontend/model_config.py): functional graphs as Keras 3's layer and
node lists, Sequential, subclassed models, clone_model, model_from_json, and Keras ops
as nodes."""
import json

import numpy as np
import pytest

import fusegraph as fg


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def two_headed():
    """Two inputs, a layer shared by both, a nested model, two outputs in a dict."""
    a, b = fg.Input((4,), name="a"), fg.Input((4,), name="b")
    shared = fg.layers.Dense(3, activation="tanh", name="shared")
    inner_in = fg.Input((3,), name="inner_in")
    inner = fg.Model(inner_in, fg.layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    ha, hb = shared(a), shared(b)
    merged = fg.layers.Concatenate(name="cat")([ha, hb])
    outputs = {"score": fg.layers.Dense(1, name="score")(merged), "code": inner(hb)}
    return fg.Model({"a": a, "b": b}, outputs, name="two_headed")


def test_a_functional_config_lists_layers_with_their_calls_as_keras_writes_them():
    config = two_headed().get_config()
    entries = {e["name"]: e for e in config["layers"]}
    assert entries["a"]["class_name"] == "InputLayer" and entries["a"]["inbound_nodes"] == []
    assert entries["a"]["config"]["batch_shape"] == [None, 4]
    shared_calls = entries["shared"]["inbound_nodes"]
    assert [n["args"][0]["config"]["keras_history"] for n in shared_calls] == [["a", 0, 0],
                                                                              ["b", 0, 0]]
    cat_args = entries["cat"]["inbound_nodes"][0]["args"][0]
    assert [t["config"]["keras_history"] for t in cat_args] == [["shared", 0, 0],
                                                                ["shared", 1, 0]]
    assert entries["inner"]["class_name"] == "Functional"
    assert entries["inner"]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == \
        ["shared", 1, 0]
    assert config["input_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}
    assert config["output_layers"] == {"score": ["score", 0, 0], "code": ["inner", 0, 0]}
    assert entries["shared"]["build_config"] == {"input_shape": [None, 4]}


def test_a_functional_model_from_its_json_computes_the_same():
    model = two_headed()
    again = fg.models.model_from_json(model.to_json())
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    again.set_weights(model.get_weights())
    x = {"a": rand(3, 4), "b": rand(3, 4, seed=1)}
    for key in ("score", "code"):
        np.testing.assert_allclose(np.asarray(again(x)[key]), np.asarray(model(x)[key]),
                                   rtol=1e-6)


def test_sequential_configs_keep_the_input_and_layers():
    model = fg.Sequential([fg.Input((5,)), fg.layers.Dense(3, activation="relu"),
                           fg.layers.Dropout(0.3), fg.layers.Dense(2)], name="stack")
    config = model.get_config()
    assert [e["class_name"] for e in config["layers"]] == ["InputLayer", "Dense", "Dropout",
                                                           "Dense"]
    assert config["build_input_shape"] == [None, 5] and config["name"] == "stack"
    record = json.loads(model.to_json())
    assert record["module"] == "keras" and record["class_name"] == "Sequential"
    again = fg.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(again(rand(2, 5))), np.asarray(model(rand(2, 5))),
                               rtol=1e-6)


@fg.saving.register_keras_serializable("ModelConfigTest")
class Residual(fg.Model):
    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.inner = fg.layers.Dense(width)

    def call(self, x):
        return x + self.inner(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def test_a_registered_subclassed_model_round_trips_through_its_get_config():
    model = Residual(4, name="res")
    model(rand(2, 4))
    record = json.loads(model.to_json())
    assert record["registered_name"] == "ModelConfigTest>Residual"
    assert record["config"] == {"name": "res", "trainable": True,
                                "dtype": record["config"]["dtype"], "width": 4}
    again = fg.models.model_from_json(model.to_json())
    assert type(again) is Residual and again.width == 4


def test_plain_ops_between_layers_are_written_as_keras_op_nodes():
    inputs = fg.Input((5, 4), name="x")
    h = fg.layers.Dense(3, name="proj")(inputs)
    pooled = fg.ops.mean(h * 2.0 + 1.0, axis=1, keepdims=True) - h[:, :1, :]
    flat = fg.ops.reshape(fg.ops.transpose(pooled, (0, 2, 1)), (-1, 3))
    model = fg.Model(inputs, fg.layers.Dense(2, name="head")(fg.ops.sigmoid(flat)))
    config = model.get_config()
    ops = [e for e in config["layers"] if e["module"].startswith("keras.src.ops")]
    assert [(e["class_name"], e["config"]) for e in ops] == [
        ("Multiply", {"name": "multiply"}), ("Add", {"name": "add"}),
        ("Mean", {"name": "mean", "axis": [1], "keepdims": True}),
        ("GetItem", {"name": "get_item"}), ("Subtract", {"name": "subtract"}),
        ("Transpose", {"name": "transpose", "axes": [0, 2, 1]}),
        ("Reshape", {"name": "reshape", "newshape": [-1, 3]}),
        ("Sigmoid", {"name": "sigmoid"})]
    multiply = ops[0]["inbound_nodes"][0]["args"]
    assert multiply[0]["config"]["keras_history"] == ["proj", 0, 0] and multiply[1] == 2.0
    key = ops[3]["inbound_nodes"][0]["args"][1]
    assert key == [slice(None), slice(0, 1, 1)]
    head = next(e for e in config["layers"] if e["name"] == "head")
    assert head["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["sigmoid", 0, 0]
    again = fg.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    x = rand(2, 5, 4)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))


def test_an_op_no_keras_node_writes_cannot_be_saved_as_a_config():
    inputs = fg.Input((3,))
    model = fg.Model(inputs, fg.ops.zeros_like(fg.layers.Dense(2)(inputs)))
    with pytest.raises(ValueError, match=r"cannot be saved as a config: the op "
                                         r"'broadcast_to' was called on its tensors outside "
                                         r"any layer, and no Keras op node writes it"):
        model.get_config()


def test_clone_model_makes_new_layers_with_fresh_weights_of_the_same_architecture():
    model = two_headed()
    clone = fg.models.clone_model(model)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert all(a is not b for a, b in zip(clone.layers[2:], model.layers[2:]))
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])
    seen = []

    def recorded(layer):
        seen.append(layer.name)
        return type(layer).from_config(layer.get_config())
    fg.models.clone_model(model, clone_function=recorded)
    assert sorted(seen) == sorted(l.name for l in model.layers if l.name not in ("a", "b"))
    stack = fg.Sequential([fg.Input((2,)), fg.layers.Dense(3)])
    assert fg.models.clone_model(stack).layers[0] is not stack.layers[0]
    with pytest.raises(ValueError, match=r"input_tensors=\.\.\.\) is not supported"):
        fg.models.clone_model(stack, input_tensors=[fg.Input((2,))])


def test_keras_op_nodes_load_as_layers_calling_fg_ops_and_save_again():
    record = {"module": "keras.src.ops.numpy", "class_name": "NotEqual",
              "config": {"name": "not_equal"}, "registered_name": "NotEqual"}
    op = fg.saving.deserialize_keras_object(record)
    tokens = fg.Input((3,), dtype="int32")
    model = fg.Model(tokens, op(tokens, 0))
    assert np.asarray(model(np.array([[1, 0, 2]], "int32"))).tolist() == [[True, False, True]]
    assert fg.saving.serialize_keras_object(op) == record
    with pytest.raises(ValueError, match=r"the Keras op Frobnicate .* has no fusegraph "
                                         r"counterpart fg\.ops\.frobnicate"):
        fg.saving.deserialize_keras_object({**record, "class_name": "Frobnicate"})


def test_clone_model_copies_lambda_layers_no_file_being_involved():
    inputs = fg.Input((2,))
    model = fg.Model(inputs, fg.layers.Lambda(lambda t: t * 3.0)(inputs))
    clone = fg.models.clone_model(model)
    np.testing.assert_array_equal(np.asarray(clone(np.ones((1, 2), "float32"))), [[3.0, 3.0]])


def test_bidirectional_configs_leave_initial_weights_to_the_weights_file():
    layer = fg.layers.Bidirectional(fg.layers.LSTM(2), weights=None)
    config = layer.get_config()
    assert "weights" not in config and config["layer"]["class_name"] == "LSTM"
    assert config["merge_mode"] == "concat"


def test_private_classes_cannot_be_named_by_a_config():
    with pytest.raises(ValueError, match=r"could not find the class '_StepDecay'"):
        fg.saving.deserialize_keras_object({"module": "keras.optimizers.schedules",
                                            "class_name": "_StepDecay", "config": {}})


@fg.saving.register_keras_serializable("ModelConfigTest")
class Halving(fg.optimizers.schedules.LearningRateSchedule):
    def __init__(self, rate):
        self.rate = rate

    def __call__(self, step):
        return self.rate * 0.5

    def get_config(self):
        return {"rate": self.rate}


def test_an_optimizer_with_a_registered_schedule_round_trips():
    optimizer = fg.optimizers.SGD(Halving(0.4))
    again = fg.saving.deserialize_keras_object(
        json.loads(json.dumps(fg.saving.serialize_keras_object(optimizer))))
    assert isinstance(again._learning_rate, Halving) and again._learning_rate.rate == 0.4
