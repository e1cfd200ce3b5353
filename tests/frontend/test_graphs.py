"""``trace_graph``'s errors for a graph that reads a symbolic value it was not given: the
user's line, where the value is first read, and advice that fits a model (``inputs=``)
or a function (pass it as an argument); a traced graph compiled once per ``training``
value (the flag a constant, so inference draws no Dropout masks); and a run's results
owned by the caller."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops
from fusegraph.frontend import execution
from fusegraph.frontend.context import TRAINING
from fusegraph.passes import DEFAULT_PIPELINE, run_pipeline


def test_a_model_missing_an_input_names_it_and_says_pass_it_in_inputs():
    a, b = fg.Input(shape=(3,), name="a"), fg.Input(shape=(3,), name="b")
    out = fg.layers.Dense(2)(ops.add(a, b))
    with pytest.raises(ValueError, match=r"test_graphs\.py:\d+: model 'pair': the outputs depend "
                                         r"on the symbolic input 'b' \(f32\[B,3\]\), first read "
                                         r"at test_graphs\.py:\d+, which is not among the "
                                         r"model's inputs \('a'\); pass it in `inputs=`"):
        fg.Model(a, out, name="pair")


def test_a_function_reading_a_tensor_of_another_trace_says_pass_it_as_an_argument():
    kept = []

    @fg.function
    def first(x):
        kept.append(x * 2.0)
        return kept[-1]

    first(np.ones((2, 3), "float32"))

    @fg.function
    def second(x):
        return x + kept[0]

    with pytest.raises(ValueError) as info:
        second(np.ones((2, 3), "float32"))
    message = str(info.value)
    assert message.startswith(f"{__file__}:")
    assert "function 'second': the result depends on the symbolic tensor 'arg0' (f32[B,3])" \
        in message
    assert "it comes from another trace" in message
    assert "Pass its value to the function as an argument, or compute it inside" in message
    assert "model" not in message.split("(a tensor kept")[0] and "inputs=" not in message


def test_a_train_step_reading_a_models_symbolic_input_is_a_function_error():
    inputs = fg.Input(shape=(3,), name="x")
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    stray = fg.Input(shape=(1,), name="stray")

    class Custom(fg.Model):
        def train_step(self, data):
            x, y = data
            loss = ops.mean(ops.square(model(x) - y + stray))
            return {"loss": loss}

    custom = Custom(inputs, model.outputs)
    custom.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"function 'train_step': the result depends on the "
                                         r"symbolic tensor 'stray'.*first read at "
                                         r"test_graphs\.py:\d+.*Pass its value to the function"):
        custom.train_on_batch(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"))


@pytest.fixture
def compiled_graphs(monkeypatch):
    """The graphs eager calls compile, after the compile pipeline, in order."""
    graphs, compile_fn = [], execution._compiler

    def recording(graph):
        graphs.append(run_pipeline(graph, DEFAULT_PIPELINE)[0])
        return compile_fn(graph)

    monkeypatch.setattr(execution, "_compiler", recording)
    return graphs


def test_predict_compiles_an_inference_graph_without_dropouts_random_draws(compiled_graphs):
    inputs = fg.Input(shape=(8,))
    hidden = fg.layers.Dropout(0.5)(fg.layers.Dense(8)(inputs))
    model = fg.Model(inputs, fg.layers.Dense(2)(fg.layers.Dropout(0.3)(hidden)))
    assert any(p is TRAINING for p in model.graph.params)           # the flag stays open
    x = np.ones((16, 8), "float32")
    kernel, bias, head, head_bias = model.get_weights()
    want = (x @ kernel + bias) @ head + head_bias
    np.testing.assert_allclose(model.predict(x, batch_size=4, verbose=0), want, rtol=1e-5)
    np.testing.assert_allclose(model(x, training=False), want, rtol=1e-5)
    (inference,) = compiled_graphs                                   # compiled once
    assert "training" not in [p.name for p in inference.params]
    assert not any(op.kind in ("random_uniform", "where") for op in inference.ops)
    dropped = model(x, training=True)                                # its own graph
    assert not np.allclose(dropped, want)
    assert len(compiled_graphs) == 2
    assert sum(op.kind == "random_uniform" for op in compiled_graphs[1].ops) == 2
    model.predict(x, verbose=0)
    assert len(compiled_graphs) == 2


def test_arguments_are_those_of_the_specialized_graph_a_run_compiles():
    """A graph reading the ``training`` flag runs without it (specialized): its arguments
    line up with the specialized graph's parameters (no flag among them), and a run that
    reads no random key draws none."""
    from fusegraph.backends.reference import compile as reference
    from fusegraph.frontend import random_state
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2)(fg.layers.Dropout(0.5)(inputs)))
    traced, x = model._functional.traced, np.ones((2, 3), "float32")
    for training in (False, True):
        graph = traced.specialized(training)
        runs = random_state._runs
        args = traced.arguments([x], training)
        assert [np.shape(a) for a in args] == [tuple(d if isinstance(d, int) else 2
                                                     for d in p.type.shape)
                                               for p in graph.params]
        assert [np.asarray(a).dtype for a in args] == [p.type.dtype.numpy for p in graph.params]
        assert random_state._runs == runs + training      # a key only for the dropout run
        reference(graph)(*args)
