"""Per-kernel profiles (fusegraph.backends.profiling): the profiled plan variant, the
report, fit(profile=True) and FUSEGRAPH_PROFILE."""
import re

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.backends import numba_cpu, profiling
from fusegraph.ir import parse_graph
from fusegraph.passes import fuse

GRAPH = parse_graph("""
    graph @g(%x: f32[B,4], %w: f32[4,4]) -> (f32[B,4]) {
      %0: f32[B,4] = matmul %x, %w
      %1: f32[B,4] = tanh %0
      %2: f32[B,4] = mul %1, %x
      return %2
    }
""")


def _model(backend="numba_cpu"):
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2, activation="relu")(inputs))
    model.compile(optimizer="adam", loss="mse", backend=backend)
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.random((12, 3), dtype=np.float32), rng.random((12, 2), dtype=np.float32)


def test_a_profiled_plan_times_each_line_and_computes_the_same():
    exe = numba_cpu.compile(GRAPH)          # unfused: matmul, tanh, mul run by numpy
    x = np.ones((3, 4), np.float32)
    w = np.full((4, 4), 0.5, np.float32)
    want = exe(x, w)[0]                      # the checked call, which makes the plan
    with profiling.profiling() as profile:
        got = [exe(x, w)[0] for _ in range(4)]
    for g in got:
        np.testing.assert_array_equal(g, want)
    (record,) = profile.records.values()
    assert record.calls == 4 and record.title == "@g for B=3"
    assert [e.label for e in record.entries][0] == "matmul"
    assert all(s > 0 for s in record.seconds)
    assert sum(record.seconds) <= record.total
    exe(x, w)                                # outside the block: not recorded
    assert record.calls == 4


def test_the_report_lists_kernels_with_their_ops_and_lines():
    exe = numba_cpu.compile(fuse(GRAPH))
    x = np.ones((3, 4), np.float32)
    w = np.eye(4, dtype=np.float32)
    exe(x, w)
    with profiling.profiling() as profile:
        for _ in range(3):
            exe(x, w)
    text = profiling.report(profile)
    assert text.startswith("fusegraph profile: @g for B=3: 3 calls")
    kernel = exe.kernels[0].spec.name
    row = next(line for line in text.splitlines() if line.strip().startswith(kernel))
    assert re.search(r"\b3\b", row) and "tanh, mul" in row
    assert re.search(r"(cached|\d+\.\d\ds)", row)          # its compile time
    assert "(plan overhead)" in text


def test_profiles_nest_and_an_empty_one_says_why():
    with profiling.profiling() as outer:
        with profiling.profiling() as inner:
            assert profiling.ACTIVE[0] is inner
        assert profiling.ACTIVE[0] is outer
    assert profiling.ACTIVE[0] is None
    assert "no numba_cpu plan ran" in profiling.report(outer)


def test_fit_with_profile_prints_the_table_after_training(capsys):
    model = _model()
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, profile=True)
    out = capsys.readouterr().out
    # 6 steps: the first runs the checked path, then the new plan once to compare; the
    # other 5 run the plan
    assert "fusegraph profile: @train_step for B=4: 6 calls" in out
    assert "matmul" in out


def test_fusegraph_profile_environment_variable_turns_it_on(capsys, monkeypatch):
    model = _model()
    x, y = _data()
    monkeypatch.setenv("FUSEGRAPH_PROFILE", "0")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert "fusegraph profile" not in capsys.readouterr().out
    monkeypatch.setenv("FUSEGRAPH_PROFILE", "1")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert "fusegraph profile: @train_step" in capsys.readouterr().out


def test_a_reference_model_profile_says_it_has_no_plans(capsys):
    model = _model("reference")
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, profile=True)
    assert "no numba_cpu plan ran" in capsys.readouterr().out


def test_profile_must_be_a_flag():
    model = _model()
    x, y = _data()
    with pytest.raises(TypeError, match=r"fit\(profile=\.\.\.\): expected True or False"):
        model.fit(x, y, profile="yes")
