"""Errors raised through fusegraph's entry points keep their type, message and the user's
frames, and leave fusegraph's own frames out while filtering is on (one frame of the
filter itself stays); with filtering off every frame is there."""
import traceback

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend import traceback_filter
from fusegraph.ir.errors import ShapeError

FILTER_FILE = traceback_filter.__file__


@pytest.fixture
def filtering():
    """Filtering on for the test, and as it was afterwards."""
    was = fg.config.is_traceback_filtering_enabled()
    fg.config.enable_traceback_filtering()
    yield
    (fg.config.enable_traceback_filtering if was else fg.config.disable_traceback_filtering)()


def _files(error) -> list[str]:
    return [frame.filename for frame in traceback.extract_tb(error.__traceback__)]


def _fusegraph_frames(error) -> list[str]:
    return [f for f in _files(error) if traceback_filter.is_internal_file(f)]


def _bad_model_call():
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"expected an array of shape \(None, 3\)") as info:
        model(np.ones((2, 4), "float32"))
    return info.value


def test_switch_has_keras_names(filtering):
    assert fg.config.is_traceback_filtering_enabled()
    fg.config.disable_traceback_filtering()
    assert not fg.config.is_traceback_filtering_enabled()
    fg.config.enable_traceback_filtering()
    assert fg.config.is_traceback_filtering_enabled()


def test_a_bad_model_call_shows_no_fusegraph_frame_but_the_entry(filtering):
    error = _bad_model_call()
    files = _files(error)
    assert files[0] == __file__                    # the user's line first
    assert _fusegraph_frames(error) == [FILTER_FILE]   # then only the filter's own frame
    assert len(files) == 2


def test_with_filtering_off_every_frame_is_there(filtering):
    fg.config.disable_traceback_filtering()
    internal = _fusegraph_frames(_bad_model_call())
    assert len(internal) >= 5
    assert any(f.endswith("model.py") for f in internal)
    assert any(f.endswith("model_calls.py") for f in internal)


def test_a_shape_error_while_tracing_a_layer_keeps_type_and_message(filtering):
    inputs = fg.Input(shape=(3,))
    x = fg.layers.Dense(2)(inputs)
    with pytest.raises(ShapeError, match="layer 'add' .* shapes do not broadcast") as info:
        fg.layers.Add()([x, inputs])
    assert _fusegraph_frames(info.value) == [FILTER_FILE]


def test_the_users_own_frames_inside_a_call_stay(filtering):
    """A subclassed layer's call() runs inside Layer.__call__: its frame is the user's."""
    class Broken(fg.layers.Layer):
        def call(self, x):
            raise KeyError("broken inside call")

    with pytest.raises(KeyError, match="broken inside call") as info:
        Broken()(fg.Input(shape=(3,)))
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "call" in names
    assert _fusegraph_frames(info.value) == [FILTER_FILE]


def test_a_chained_cause_is_kept(filtering):
    class Chained(fg.layers.Layer):
        def call(self, x):
            try:
                {}["missing"]
            except KeyError as e:
                raise ValueError("from a KeyError") from e

    with pytest.raises(ValueError) as info:
        Chained()(fg.Input(shape=(3,)))
    assert isinstance(info.value.__cause__, KeyError)


def test_fit_errors_are_filtered(filtering):
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ShapeError, match=r"fit\(\): .*y_true has shape \(None, 5\)") as info:
        model.fit(np.ones((4, 3)), np.ones((4, 5)), epochs=1, verbose=0)
    assert _fusegraph_frames(info.value) == [FILTER_FILE]
    with pytest.raises(TypeError) as info:
        model.compile(optimizer="sgd", loss=3)
    assert _fusegraph_frames(info.value) == [FILTER_FILE]


def test_function_and_tape_errors_are_filtered(filtering):
    @fg.function
    def f(x):
        return fg.ops.matmul(x, x)

    with pytest.raises(ShapeError) as info:
        f(np.ones((2, 3), "float32"))
    assert _fusegraph_frames(info.value) == [FILTER_FILE]
    with fg.GradientTape() as tape:
        y = fg.ops.sum(fg.ops.convert_to_tensor(np.ones(3, "float32")))
    with pytest.raises(Exception) as info:
        tape.gradient(y, "not a tensor")
    assert _fusegraph_frames(info.value) == [FILTER_FILE]


def test_errors_caught_inside_fusegraph_are_untouched(filtering):
    """Only what leaves an entry point is trimmed; an entry point that succeeds returns."""
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2)(inputs))
    assert model(np.ones((2, 3), "float32")).shape == (2, 2)
