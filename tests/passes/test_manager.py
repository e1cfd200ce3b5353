"""The pass manager: registry, default pipeline, ordering, timing, dumps, verification
between passes, and names checked before anything runs."""
import pytest

import fusegraph.passes as passes
from fusegraph.ir import BATCH as B, Graph, TensorType, Value, VerificationError, emit
from fusegraph.passes import DEFAULT_PIPELINE, PASSES, Pass, register_pass, run_pipeline


def graph():
    x = Value(TensorType((B, 3)), name="x")
    return Graph.from_results("g", [x], [emit("exp", emit("neg", x))])


@pytest.fixture
def recording(monkeypatch):
    """Two registered test passes that record the order they ran in."""
    ran = []
    for name in ("first", "second"):
        monkeypatch.setitem(PASSES, name, Pass(name, lambda g, n=name: ran.append(n) or g, "test"))
    return ran


def test_registry_and_default_pipeline():
    assert PASSES["shape_inference"].run is passes.infer_shapes
    assert all(p.name == name and p.doc for name, p in PASSES.items())
    assert isinstance(DEFAULT_PIPELINE, list) and set(DEFAULT_PIPELINE) <= set(PASSES)
    with pytest.raises(ValueError, match="pass 'shape_inference' is already registered"):
        register_pass(Pass("shape_inference", lambda g: g))


def test_runs_in_order_and_reports_each_pass(recording):
    g = graph()
    out, report = run_pipeline(g, ["second", "shape_inference", "first"], verify=False)
    assert recording == ["second", "first"]
    assert out == g
    assert [r.name for r in report.runs] == ["second", "shape_inference", "first"]
    assert all(r.seconds >= 0 and r.ops_before == r.ops_after == 2 for r in report.runs)
    assert "shape_inference" in str(report) and report.dumps == {}


def test_default_pipeline_keeps_a_valid_graph_valid():
    g = graph()
    out, _ = run_pipeline(g, DEFAULT_PIPELINE)
    assert out == g


def test_dump_after_keeps_the_graph_text():
    out, report = run_pipeline(graph(), ["shape_inference"], dump_after="shape_inference")
    assert report.dumps == {"shape_inference": str(out)}
    assert "exp" in report.dumps["shape_inference"]


def test_names_are_checked_before_anything_runs(recording):
    with pytest.raises(ValueError, match=r"unknown passes \['no_such_pass'\]: registered are \["):
        run_pipeline(graph(), ["first", "no_such_pass"])
    with pytest.raises(ValueError, match=r"cannot dump after \['second'\]: not in the pipeline"):
        run_pipeline(graph(), ["first"], dump_after=["second"])
    assert recording == []


def test_verification_blames_the_pass_that_broke_the_graph(monkeypatch):
    def drop_ops(g):
        return Graph(g.name, g.params, [], g.results)
    monkeypatch.setitem(PASSES, "drop_ops", Pass("drop_ops", drop_ops, "breaks the graph"))
    with pytest.raises(VerificationError, match=r"after pass 'drop_ops': graph @g, result 0"):
        run_pipeline(graph(), ["shape_inference", "drop_ops"])
    out, _ = run_pipeline(graph(), ["drop_ops"], verify=False)
    assert out.ops == ()


def test_an_invalid_input_is_reported_before_the_first_pass(recording):
    x = Value(TensorType((3,)), name="x")
    y = emit("exp", x)
    broken = Graph("g", [x], [], [y])
    with pytest.raises(VerificationError, match="before the first pass"):
        run_pipeline(broken, ["first"])
    assert recording == []


def test_a_pass_that_changes_the_graphs_signature_is_named_even_without_verifying(monkeypatch):
    def narrows_the_result(g):
        return Graph.from_results(g.name, g.params, [emit("reduce_sum", g.results[0],
                                                          axes=(1,), keepdims=False)])
    monkeypatch.setitem(PASSES, "narrows", Pass("narrows", narrows_the_result, "test"))
    with pytest.raises(VerificationError, match=r"pass 'narrows' changed the graph's result "
                                                r"types at position 0: \['f32\[B,3\]'\] before, "
                                                r"\['f32\[B\]'\] after"):
        run_pipeline(graph(), ["shape_inference", "narrows"], verify=False)
