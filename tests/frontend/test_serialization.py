"""Keras 3's object serialization (frontend/serialization.py): records written as Keras
writes them, read back, the registry and scopes, and nothing run from a file unless
safe mode is off."""
import json

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend import serialization as s


def roundtrip(obj, **kwargs):
    return s.deserialize_keras_object(json.loads(json.dumps(s.serialize_keras_object(obj))),
                                      **kwargs)


def test_plain_values_pass_through_tuples_become_lists_and_arrays_numpy_records():
    assert s.serialize_keras_object({"a": (1, 2.5), "b": [None, True, "x"]}) == \
        {"a": [1, 2.5], "b": [None, True, "x"]}
    assert s.serialize_keras_object(np.int64(3)) == 3
    array = np.arange(6, dtype="float32").reshape(2, 3)
    record = s.serialize_keras_object(array)
    assert record == {"class_name": "__numpy__",
                      "config": {"value": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], "dtype": "float32"}}
    back = roundtrip(array)
    assert back.dtype == np.float32 and np.array_equal(back, array)


def test_builtins_are_written_under_keras_public_modules():
    assert s.serialize_keras_object(fg.initializers.GlorotUniform()) == {
        "module": "keras.initializers", "class_name": "GlorotUniform",
        "config": {"seed": None, "input_axes": None, "output_axes": None},
        "registered_name": None}
    assert s.serialize_keras_object(fg.regularizers.L1L2(0.1, 0.2))["module"] == \
        "keras.regularizers"
    assert s.serialize_keras_object(fg.constraints.MaxNorm(2.0))["module"] == "keras.constraints"
    assert s.serialize_keras_object(fg.ops.relu) == "relu"
    again = roundtrip(fg.initializers.RandomNormal(mean=1.0, stddev=0.5, seed=3))
    assert (again.mean, again.stddev, again.seed) == (1.0, 0.5, 3)


def test_internal_keras_modules_and_our_own_resolve_too():
    record = {"module": "keras.src.layers.core.dense", "class_name": "Dense",
              "config": {"units": 2}, "registered_name": None}
    assert isinstance(s.deserialize_keras_object(record), fg.layers.Dense)


def test_registered_functions_and_classes_load_by_registered_name():
    @fg.saving.register_keras_serializable("SerTest")
    def triple(x):
        return x * 3.0

    @fg.saving.register_keras_serializable("SerTest", name="Halve")
    class Halver(fg.layers.Layer):
        def call(self, x):
            return x * 0.5

    assert s.serialize_keras_object(triple) == {
        "module": "builtins", "class_name": "function", "config": "SerTest>triple",
        "registered_name": "function"}
    assert roundtrip(triple) is triple
    record = s.serialize_keras_object(Halver(name="h"))
    assert record["registered_name"] == "SerTest>Halve" and record["class_name"] == "Halver"
    assert type(roundtrip(Halver(name="h2"))) is Halver
    assert fg.saving.get_registered_name(Halver) == "SerTest>Halve"
    assert fg.saving.get_registered_object("SerTest>triple") is triple
    assert fg.saving.get_custom_objects()["SerTest>Halve"] is Halver


def test_unknown_classes_name_how_to_provide_them_and_custom_objects_do():
    class Mystery(fg.layers.Layer):
        def call(self, x):
            return x

    record = json.loads(json.dumps(s.serialize_keras_object(Mystery(name="m"))))
    with pytest.raises(ValueError, match=r"could not find the class 'Mystery' .*pass it as "
                                         r"custom_objects=\{'Mystery': \.\.\.\}, use "
                                         r"fg\.saving\.custom_object_scope, or register it"):
        s.deserialize_keras_object(record)
    assert type(s.deserialize_keras_object(record, custom_objects={"Mystery": Mystery})) \
        is Mystery
    with fg.saving.custom_object_scope({"Mystery": Mystery}):
        assert type(s.deserialize_keras_object(record)) is Mystery


def test_what_cannot_be_loaded_by_name_is_refused_when_written():
    with pytest.raises(ValueError, match=r"a lambda or a callable object has no name"):
        s.serialize_keras_object(lambda x: x)
    with pytest.raises(ValueError, match=r"cannot serialize <object"):
        s.serialize_keras_object(object())
    with pytest.raises(ValueError, match=r"has no get_config\(\)"):
        fg.saving.register_keras_serializable()(type("NoConfig", (), {}))
    with pytest.raises(ValueError, match=r"without '>'"):
        fg.saving.register_keras_serializable("a>b")


def test_lambda_bytecode_loads_only_outside_safe_mode():
    offset = 4.0
    record = json.loads(json.dumps(s.dump_function(lambda x, k=2.0: x * k + offset)))
    assert record["class_name"] == "__lambda__" and record["config"]["closure"] == [4.0]
    with pytest.raises(ValueError, match=r"refusing to load a Lambda layer's Python bytecode"):
        s.deserialize_keras_object(record)
    with fg.saving.safe_mode_scope(False):
        fn = s.deserialize_keras_object(record)
    assert fn(1.0) == 6.0 and fn(1.0, k=3.0) == 7.0
    assert s.in_safe_mode()


REQUIRED = {"num_classes": 3, "initial_learning_rate": 0.1, "decay_steps": 10,
            "decay_rate": 0.5, "boundaries": [1], "values": [0.1, 0.01],
            "first_decay_steps": 5, "num_thresholds": 5, "target_class_ids": [0]}
ABSTRACT = {"Loss", "Metric", "Optimizer", "LearningRateSchedule", "MeanMetricWrapper",
            "LossFunctionWrapper", "Reduction"}


def config_classes():
    import inspect
    for module in (fg.losses, fg.metrics, fg.optimizers, fg.optimizers.schedules):
        for name in getattr(module, "__all__", dir(module)):
            cls = getattr(module, name, None)
            if inspect.isclass(cls) and name not in ABSTRACT and hasattr(cls, "get_config"):
                yield pytest.param(cls, id=f"{module.__name__.split('.')[-1]}.{name}")


@pytest.mark.parametrize("cls", list(config_classes()))
def test_every_loss_metric_optimizer_and_schedule_round_trips_through_json(cls):
    import inspect
    required = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.default is p.empty and p.name != "self"
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    obj = cls(**{name: REQUIRED[name] for name in required})
    record = json.loads(json.dumps(s.serialize_keras_object(obj)))
    assert record["module"].startswith("keras.") and record["class_name"] == cls.__name__
    again = s.deserialize_keras_object(record)
    assert type(again) is cls and s.serialize_keras_object(again) == record


def test_an_optimizer_with_a_schedule_writes_the_schedule_as_a_keras_record():
    optimizer = fg.optimizers.Adam(fg.optimizers.schedules.CosineDecay(0.1, 10))
    record = s.serialize_keras_object(optimizer)["config"]["learning_rate"]
    assert record["module"] == "keras.optimizers.schedules"
    assert record["class_name"] == "CosineDecay" and record["config"]["decay_steps"] == 10
    assert type(roundtrip(optimizer)._learning_rate).__name__ == "CosineDecay"
