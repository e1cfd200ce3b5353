"""The default backend of ``compile()``: numba_cpu, unless ``FUSEGRAPH_BACKEND`` or
``fg.config.set_default_backend`` names another (backends/__init__.py)."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.backends import numba_cpu
from fusegraph.backends.reference.interpreter import Executable as ReferenceExecutable


@pytest.fixture(autouse=True)
def _no_setting(monkeypatch):
    monkeypatch.delenv("FUSEGRAPH_BACKEND", raising=False)
    yield
    fg.config.set_default_backend(None)


def _trained(**compile_args):
    fg.utils.set_random_seed(3)
    model = fg.Sequential([fg.Input(shape=(4,)), fg.layers.Dense(8, activation="tanh"),
                           fg.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse", **compile_args)
    x = np.linspace(-1, 1, 48, dtype="float32").reshape(12, 4)
    y = np.stack([x.sum(1), x[:, 0] * x[:, 1]], axis=1)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    return model, history.history["loss"]


def _executable(model):
    return model._train_function.last_trace.traced_graph.executable(training=True)


def test_compile_without_a_backend_trains_on_numba_cpu_with_the_reference_numbers():
    assert fg.config.get_default_backend() == "numba_cpu"
    model, losses = _trained()
    assert isinstance(_executable(model), numba_cpu.Executable)
    oracle, want = _trained(backend="reference")
    assert isinstance(_executable(oracle), ReferenceExecutable)
    np.testing.assert_allclose(losses, want, rtol=1e-5)
    for got, ref in zip(model.get_weights(), oracle.get_weights()):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_the_environment_and_the_setting_choose_another(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_BACKEND", "reference")
    assert fg.config.get_default_backend() == "reference"
    model, _ = _trained()
    assert isinstance(_executable(model), ReferenceExecutable)
    fg.config.set_default_backend("numba_cpu")          # the setting wins over the variable
    assert fg.config.get_default_backend() == "numba_cpu"
    fg.config.set_default_backend(None)
    assert fg.config.get_default_backend() == "reference"


def test_an_unknown_name_is_refused_and_changes_nothing(monkeypatch):
    with pytest.raises(ValueError, match="unknown backend 'numba_gpu'"):
        fg.config.set_default_backend("numba_gpu")
    assert fg.config.get_default_backend() == "numba_cpu"
    monkeypatch.setenv("FUSEGRAPH_BACKEND", "numpy")
    model = fg.Sequential([fg.Input(shape=(4,)), fg.layers.Dense(2)])
    with pytest.raises(ValueError, match="compile.*unknown backend 'numpy'") as error:
        model.compile(optimizer="sgd", loss="mse")
    assert "environment variable FUSEGRAPH_BACKEND='numpy'" in str(error.value)
