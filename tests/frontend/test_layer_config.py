"""Layers' configs (frontend/layer_config.py): Keras 3's keys, every fg.layers class made
again from its config computes the same thing, Keras-only arguments accepted only at
their inert values, and build configs."""
import json

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend import layer_config, serialization
from helpers.layer_samples import double, make, names

fg.saving.register_keras_serializable("LayerConfigTest")(double)


def call(layer, x):
    """A functional model of ``layer`` called on Inputs like ``x``."""
    xs = x if isinstance(x, list) else [x]
    inputs = [fg.Input(a.shape[1:], dtype=str(a.dtype)) for a in xs]
    if isinstance(layer, fg.layers.MultiHeadAttention):
        outputs = layer(inputs[0], inputs[1])
    else:
        outputs = layer(inputs if isinstance(x, list) else inputs[0])
    return fg.Model(inputs if len(inputs) > 1 else inputs[0], outputs)


@pytest.mark.parametrize("name", names())
def test_every_layer_made_again_from_its_json_config_computes_the_same(name):
    layer, x = make(name)
    model = call(layer, x)
    config = json.loads(json.dumps(serialization.serialize_keras_object(layer)))
    assert config["module"] == "keras.layers" and config["class_name"] == name
    assert config["config"]["name"] == layer.name
    assert config["config"].get("trainable", True) is True    # SpatialDropout: none
    again = serialization.deserialize_keras_object(config)
    assert type(again) is type(layer) and again is not layer
    assert serialization.serialize_keras_object(again) == config
    twin = call(again, x)
    twin.set_weights(model.get_weights())
    feed = x if isinstance(x, list) else x
    np.testing.assert_allclose(np.asarray(twin(feed)), np.asarray(model(feed)), rtol=1e-6,
                               atol=1e-6)


def test_a_config_holds_keras_records_for_initializers_dtype_and_activations():
    layer = fg.layers.Dense(3, activation=fg.ops.relu, kernel_initializer=fg.initializers.HeNormal(seed=4),
                            bias_regularizer=fg.regularizers.L2(0.5))
    config = layer.get_config()
    assert config["activation"] == "relu"                     # a built-in function by name
    assert config["dtype"] == {"module": "keras", "class_name": "DTypePolicy",
                               "config": {"name": "float32"}, "registered_name": None}
    record = serialization.serialize_keras_object(config)
    assert record["kernel_initializer"] == {"module": "keras.initializers",
                                            "class_name": "HeNormal",
                                            "config": {"seed": 4, "input_axes": None,
                                                       "output_axes": None},
                                            "registered_name": None}
    assert record["bias_regularizer"]["config"] == {"l2": 0.5}
    again = fg.layers.Dense.from_config(record)
    assert isinstance(again.kernel_initializer, fg.initializers.HeNormal)
    assert again.kernel_initializer.seed == 4 and again.bias_regularizer.l2 == 0.5


def test_keras_only_arguments_load_at_their_inert_values_and_fail_otherwise():
    base = {"name": "d", "trainable": False, "dtype": "float32", "units": 2}
    layer = fg.layers.Dense.from_config({**base, "lora_rank": None, "quantization_config": None})
    assert layer.units == 2 and layer.trainable is False and layer.name == "d"
    with pytest.raises(ValueError, match=r"Dense\.from_config: fusegraph's Dense does not take "
                                         r"the argument lora_rank=4"):
        fg.layers.Dense.from_config({**base, "lora_rank": 4})
    with pytest.raises(ValueError, match=r"does not take the argument flavour='x'"):
        fg.layers.Dense.from_config({**base, "flavour": "x"})
    conv = fg.layers.Conv2D.from_config({"filters": 2, "kernel_size": [3, 3], "groups": 1,
                                         "kernel_regularizer": None})
    assert conv.filters == 2


def test_a_subclass_defining_get_config_gets_only_the_base_keys_from_super():
    class Scaled(fg.layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    class Auto(Scaled):
        get_config = fg.layers.Layer.get_config        # the auto-config: the arguments

    assert set(Scaled(2.0).get_config()) == {"name", "trainable", "dtype", "factor"}
    assert Auto(3.0, name="a").get_config()["factor"] == 3.0
    assert Scaled.from_config(Scaled(5.0, name="s").get_config()).factor == 5.0


def test_build_config_is_the_first_calls_input_shape_and_builds_the_weights():
    dense = fg.layers.Dense(3)
    dense(fg.Input((4,)))
    assert dense.get_build_config() == {"input_shape": (None, 4)}
    fresh = fg.layers.Dense.from_config(dense.get_config())
    fresh.build_from_config(json.loads(json.dumps(dense.get_build_config())))
    assert fresh.built and [w.shape for w in fresh.weights] == [(4, 3), (3,)]
    attention = fg.layers.MultiHeadAttention(2, 3)
    attention(fg.Input((5, 4)), fg.Input((6, 2)))
    shapes = attention.get_build_config()["shapes_dict"]
    assert shapes == {"query_shape": (None, 5, 4), "value_shape": (None, 6, 2)}
    again = fg.layers.MultiHeadAttention.from_config(attention.get_config())
    again.build_from_config({"shapes_dict": shapes})
    assert [w.shape for w in again.weights] == [w.shape for w in attention.weights]
    assert fg.layers.Dense(2).get_build_config() is None


def test_masks_are_left_out_of_build_configs_as_keras():
    tokens = fg.Input((5,), dtype="int32")
    lstm = fg.layers.LSTM(2)
    lstm(fg.layers.Embedding(4, 3, mask_zero=True)(tokens))
    assert lstm.get_build_config() == {"input_shape": (None, 5, 3)}


def test_dtype_names_come_from_policy_records_or_names():
    assert layer_config.dtype_name("float64") == "float64"
    assert layer_config.dtype_name(layer_config.dtype_policy("float16")) == "float16"
    with pytest.raises(ValueError, match="without a name"):
        layer_config.dtype_name({"config": {}})


def test_spatial_dropout_configs_have_no_trainable_as_keras():
    config = fg.layers.SpatialDropout1D(0.2).get_config()
    assert "trainable" not in config and config["dtype"] == "float32" and config["rate"] == 0.2
