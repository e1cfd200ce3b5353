"""Names users give (any string, no '/' for layers, as in Keras 3) are kept as given,
and mapped to IR names by naming.ir_name (see naming.py's docstring)."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend.naming import ir_name
from fusegraph.ir.printer import is_param_name

X = np.linspace(-1, 1, 8, dtype="float32").reshape(4, 2)
Y = np.ones((4, 1), "float32")


def _model(**dense_kwargs):
    inputs = fg.Input(shape=(2,))
    return fg.Model(inputs, fg.layers.Dense(1, **dense_kwargs)(inputs))


def test_ir_name_keeps_valid_names_and_maps_others_deterministically_and_apart():
    assert ir_name("dense_1/kernel") == "dense_1/kernel"
    assert ir_name("x.y-z") == "x.y-z"
    names = ["my layer/kernel", "my_layer/kernel", "<lambda>/count", "мой", "123", "ф", "", "a b",
             "a_b", "a?b"]
    mapped = [ir_name(n) for n in names]
    assert all(is_param_name(m) for m in mapped), mapped
    assert len(set(mapped)) == len(names)            # distinct names stay distinct
    assert mapped == [ir_name(n) for n in names]     # and map the same every time
    assert mapped[0].startswith("my_layer_") and mapped[0].endswith("/kernel")


def test_a_lambda_metric_trains_and_logs_under_its_name():
    model = _model()
    model.compile(loss="mse", metrics=[lambda yt, yp: fg.ops.mean(yp - yt)])
    history = model.fit(X, Y, epochs=1, verbose=0).history
    assert set(history) == {"loss", "<lambda>"}


def test_spaces_and_non_ascii_in_layer_metric_optimizer_and_model_names():
    inputs = fg.Input(shape=(2,), name="my input")
    layer = fg.layers.Dense(1, name="my layer")
    model = fg.Model(inputs, layer(inputs), name="мой")
    model.compile(optimizer=fg.optimizers.Adam(name="my adam"), loss="mse",
                  metrics=[fg.metrics.MeanSquaredError(name="my mse")])
    history = model.fit(X, Y, epochs=2, verbose=0).history
    assert set(history) == {"loss", "my mse"} and history["loss"][1] < history["loss"][0]
    assert layer.name == "my layer" and model.name == "мой"
    assert model.input_names == ["my input"] and model.get_layer("my layer") is layer
    np.testing.assert_allclose(model({"my input": X}), model.predict(X, verbose=0), rtol=1e-6)
    assert ir_name("my layer") in model.ir() and ir_name("мой") in model.ir()


def test_function_names_that_are_not_ir_names():
    def ф(a):
        return a + 1

    np.testing.assert_allclose(fg.function(ф)(X), X + 1)
    np.testing.assert_allclose(fg.function(lambda a: a * 2, name="my fn")(X), X * 2)


@pytest.mark.parametrize("make", [lambda: fg.layers.Dense(1, name="a/b"),
                                  lambda: fg.Sequential(name="a/b"),
                                  lambda: fg.layers.Dense(1, name=3),
                                  lambda: fg.Input(shape=(2,), name="a/b")])
def test_slash_or_non_string_layer_names_are_refused_as_keras_does(make):
    with pytest.raises(ValueError, match=r"`name` must be a string without '/'"):
        make()


def test_two_layers_or_inputs_of_one_name_are_refused_at_model():
    a1, a2 = fg.Input(shape=(2,), name="a"), fg.Input(shape=(2,), name="a")
    with pytest.raises(ValueError, match=r"all layer names should be unique.*named 'a'"):
        fg.Model([a1, a2], fg.layers.Add()([a1, a2]))
    x = fg.Input(shape=(2,))
    hidden = fg.layers.Dense(2, name="d")(x)
    with pytest.raises(ValueError, match=r"named 'd'"):
        fg.Model(x, fg.layers.Dense(2, name="d")(hidden))
    shared = fg.layers.Dense(2, name="shared")      # one layer called twice is fine
    assert len(fg.Model(x, shared(shared(x))).layers) == 2
