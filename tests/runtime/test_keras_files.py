"""Files written by Keras 3.15 itself (tests/data/keras, made by make_files.py there) load
into fusegraph and predict what Keras predicted; checked without Keras installed."""
import os

import numpy as np
import pytest

import fusegraph as fg

HERE = os.path.join(os.path.dirname(__file__), "..", "data", "keras")
MODELS = ["mlp", "convnet", "text", "attention", "ops_graph"]


def io(name):
    return np.load(os.path.join(HERE, f"{name}.io.npz"))


@pytest.mark.parametrize("name", MODELS)
def test_a_keras_file_loads_compiled_with_its_optimizer_state_and_predicts_the_same(name):
    model = fg.models.load_model(os.path.join(HERE, f"{name}.keras"))
    expected = io(name)
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["y"],
                               rtol=1e-5, atol=1e-6)
    assert int(model.optimizer.iterations.numpy()) == int(expected["iterations"]) == 1
    assert type(model.optimizer).__name__ == "Adam"


@pytest.mark.parametrize("name", MODELS)
def test_keras_weights_files_load_into_the_model_its_config_makes(name):
    made = fg.models.load_model(os.path.join(HERE, f"{name}.keras"), compile=False)
    fresh = fg.models.clone_model(made)
    fresh.load_weights(os.path.join(HERE, f"{name}.weights.h5"))
    expected = io(name)
    np.testing.assert_allclose(fresh.predict(expected["x"], verbose=0), expected["y"],
                               rtol=1e-5, atol=1e-6)


def test_a_keras_lambda_is_refused_unless_safe_mode_is_off():
    path = os.path.join(HERE, "with_lambda.keras")
    with pytest.raises(ValueError, match=r"refusing to load a Lambda layer's Python bytecode"):
        fg.models.load_model(path)
    model = fg.models.load_model(path, safe_mode=False)
    expected = io("with_lambda")
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["y"],
                               rtol=1e-6, atol=1e-6)
