"""The pipeline a backend runs before compiling (backends/__init__.py): the verifier checks
its input and its output, and a broken output is traced to the pass that broke it."""
import numpy as np
import pytest

from fusegraph.backends import optimizing_compiler
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, Graph, TensorType, Value, VerificationError, emit
from fusegraph.passes import PASSES, Pass

from helpers.backend_checks import graph, param


def _graph():
    x = param("x", B, 3)
    return graph([x], [emit("tanh", emit("exp", x))])


def test_a_pass_that_breaks_the_graph_is_named(monkeypatch):
    def drop_ops(g):
        return Graph(g.name, g.params, [], g.results)
    monkeypatch.setitem(PASSES, "drop_ops", Pass("drop_ops", drop_ops, "breaks the graph"))
    compile_fn = optimizing_compiler("numba_cpu", pipeline=["cse", "drop_ops"])
    with pytest.raises(VerificationError, match="after pass 'drop_ops'"):
        compile_fn(_graph())


def test_an_invalid_input_is_reported_before_the_first_pass():
    x = Value(TensorType((3,)), name="x")
    y = emit("exp", x)
    with pytest.raises(VerificationError, match="before the first pass"):
        optimizing_compiler("reference")(Graph("g", [x], [], [y]))


def test_a_valid_graph_compiles_to_the_same_numbers():
    g = _graph()
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(4, 3)
    got = optimizing_compiler("numba_cpu")(g)(x)[0]
    np.testing.assert_allclose(got, reference(g)(x)[0], rtol=1e-6)
