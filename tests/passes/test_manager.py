"""The pass manager: registry, default pipeline, ordering, timing, dumps, verification
between passes, names checked before anything runs, and per-pass counters."""
import re
import textwrap

import numpy as np
import pytest

import fusegraph.passes as passes
from fusegraph.ir import BATCH as B, Graph, TensorType, Value, VerificationError, emit
from fusegraph.passes import (DEFAULT_PIPELINE, PASSES, Pass, collecting, count, register_pass,
                              run_pipeline)


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
    assert all(r.seconds >= 0 and r.ops_before == r.ops_after == 2 and r.counters == {}
               for r in report.runs)
    lines = str(report).splitlines()
    assert [line.split()[0] for line in lines] == ["second", "shape_inference", "first"]
    assert all(re.fullmatch(r"\S+ +\d+\.\d\d ms  ops 2 -> 2", line) for line in lines)
    assert report.dumps == {}


def test_default_pipeline_folds_merges_and_drops_and_keeps_the_numbers():
    from fusegraph.backends.reference import compile as reference
    from fusegraph.ir import parse_graph, verify

    g = parse_graph(textwrap.dedent("""\
        graph @g(%x: f32[B,3]) -> (f32[B,3]) {
          %0: f32[] = constant {value=2.0, dtype=f32}
          %1: f32[] = constant {value=3.0, dtype=f32}
          %2: f32[] = mul %0, %1
          %3: f32[B,3] = exp %x
          %4: f32[B,3] = exp %x
          %5: f32[B,3] = sin %x
          %6: f32[B,3] = add %3, %4
          %7: f32[B,3] = mul %6, %2
          return %7
        }
    """))
    out, report = run_pipeline(g, DEFAULT_PIPELINE)
    verify(out)
    assert str(out) == textwrap.dedent("""\
        graph @g(%x: f32[B,3]) -> (f32[B,3]) {
          %0: f32[] = constant {value=6.0, dtype=f32}
          %1: f32[B,3] = exp %x
          %2: f32[B,3] = add %1, %1
          %3: f32[B,3] = mul %2, %0
          return %3
        }
    """)
    assert [r.name for r in report.runs] == DEFAULT_PIPELINE
    first = {}
    for run in report.runs:                   # each pass's first run (simplify runs twice)
        first.setdefault(run.name, run)
    expand, simplify, cse = first["expand"], first["simplify"], first["cse"]
    assert expand.counters == {} and (expand.ops_before, expand.ops_after) == (8, 8)  # nothing
    assert simplify.counters == {"fold_constants": 1}   # the dead sin goes with it
    assert (simplify.ops_before, simplify.ops_after) == (8, 5)
    assert cse.counters == {"ops_merged": 1} and cse.ops_after == 4
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_array_equal(reference(g)(x)[0], reference(out)(x)[0])


def test_a_pass_that_breaks_the_graph_is_named(monkeypatch):
    def drops_an_operand(g):
        op = g.ops[0]
        broken = Graph(g.name, g.params, [op], list(op.results))
        op.operands = (Value(TensorType((B, 3)), name="stranger"),)
        return broken
    monkeypatch.setitem(PASSES, "breaks", Pass("breaks", drops_an_operand, "test"))
    with pytest.raises(VerificationError, match="after pass 'breaks'"):
        run_pipeline(graph(), ["breaks"])


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


def counting_pass(name, counts, inner=None):
    """A test pass that counts ``counts`` (name -> n), then runs the pipeline ``inner``."""
    def run(g):
        for k, n in counts.items():
            count(k, n)
        return run_pipeline(g, inner, verify=False)[0] if inner else g
    return Pass(name, run, "test: counts")


def test_a_pass_counts_into_its_run_and_the_report_prints_and_sums_the_counters(monkeypatch):
    monkeypatch.setitem(PASSES, "counts", counting_pass("counts", {"b_thing": 2, "a_thing": 1,
                                                                    "nothing": 0}))
    _, report = run_pipeline(graph(), ["counts", "shape_inference", "counts"])
    assert [r.counters for r in report.runs] == [{"a_thing": 1, "b_thing": 2}, {},
                                                 {"a_thing": 1, "b_thing": 2}]
    assert report.counters("counts") == {"a_thing": 2, "b_thing": 4}
    assert report.counters("shape_inference") == {}
    lines = str(report).splitlines()
    assert [line.split() for line in lines if line.startswith("    ")] == [
        ["a_thing", "1"], ["b_thing", "2"], ["a_thing", "1"], ["b_thing", "2"]]
    assert re.fullmatch(r"counts +\d+\.\d\d ms  ops 2 -> 2", lines[0])
    assert re.fullmatch(r"    a_thing +1", lines[1]) and re.fullmatch(r"    b_thing +2", lines[2])
    # called directly, a pass's counts go nowhere, or to whoever collects them
    g = graph()
    assert PASSES["counts"].run(g) is g
    with collecting() as counters:
        PASSES["counts"].run(g)
    assert counters == {"a_thing": 1, "b_thing": 2}


def test_a_pipeline_run_inside_a_pass_counts_under_that_pass(monkeypatch):
    monkeypatch.setitem(PASSES, "leaf", counting_pass("leaf", {"hits": 3}))
    monkeypatch.setitem(PASSES, "outer", counting_pass("outer", {"own": 1}, ["leaf", "leaf"]))
    monkeypatch.setitem(PASSES, "outermost", counting_pass("outermost", {}, ["outer"]))
    _, report = run_pipeline(graph(), ["outermost", "leaf"])
    assert [r.counters for r in report.runs] == [
        {"outer/own": 1, "outer/leaf/hits": 6}, {"hits": 3}]


def test_the_manager_counts_the_kernels_a_pass_formed_and_the_ops_inside_them():
    x = Value(TensorType((B, 3)), name="x")
    y = emit("reduce_sum", emit("exp", emit("neg", x)), axes=(1,), keepdims=False)
    g = Graph.from_results("g", [x], [emit("matmul", x, emit("transpose", x, perm=(1, 0))), y])
    out, report = run_pipeline(g, ["fusion", "fusion"])
    kernels = [op for op in out.ops if op.kind == "fused"]
    assert kernels and report.runs[0].counters == {
        "kernels_formed": len(kernels), "ops_fused": sum(len(k.region.ops) for k in kernels)}
    assert report.runs[1].counters == {}   # nothing left to fuse
    assert report.runs[0].ops_before == 5 and report.runs[0].ops_after == len(out.ops)


def test_simplify_cse_and_dce_report_what_they_did():
    x = Value(TensorType((B, 3)), name="x")
    one = emit("constant", value=1.0, dtype=x.type.dtype)
    two = emit("add", one, one)                                # folds
    a, b = emit("mul", x, two), emit("mul", two, x)          # one op after cse
    g = Graph.from_results("g", [x], [emit("sub", emit("mul", x, one), emit("add", a, b))])
    out, report = run_pipeline(g, ["simplify", "cse", "dce"])
    assert [r.counters for r in report.runs] == [
        {"fold_constants": 1, "times_one": 1}, {"ops_merged": 1}, {}]
    assert [(r.ops_before, r.ops_after) for r in report.runs] == [(7, 5), (5, 4), (4, 4)]
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    from fusegraph.backends.reference import compile as reference
    np.testing.assert_array_equal(reference(out)(arr)[0], arr - 4 * arr)
