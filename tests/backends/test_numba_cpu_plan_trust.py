"""numba_cpu's plans checked once (backends/numba_cpu/plan_trust.py): a first call whose
plan was made as one that agreed before keeps it without running it a second time (no
copies of the donated parameters either); ``FUSEGRAPH_VERIFY_PLANS=always`` checks every
time; the key changes with the sizes and the kernels; bad settings are named."""
import numpy as np
import pytest

from fusegraph.backends import optimizing_compiler
from fusegraph.backends.numba import steps
from fusegraph.backends.numba_cpu import plan_trust
from fusegraph.backends.numba_cpu.executable import Executable
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph

STEP = """
    graph @g(%x: f32[B,5], %w: f32[5]) -> (f32[B,5]) {
      %0: f32[B,5] = mul %x, %w
      %1: f32[B,5] = exp %0
      return %1
    }
"""


@pytest.fixture
def once(monkeypatch, tmp_path):
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FUSEGRAPH_VERIFY_PLANS", "once")
    calls = []
    check = steps.disagreement

    def counted(got, want):
        calls.append(1)
        return check(got, want)
    monkeypatch.setattr(steps, "disagreement", counted)
    return calls


def run_twice(batch=4):
    graph = parse_graph(STEP)
    x = np.random.default_rng(batch).standard_normal((batch, 5)).astype(np.float32)
    w = np.linspace(-1, 1, 5, dtype=np.float32)
    exe = optimizing_compiler("numba_cpu")(graph)
    for _ in range(2):
        np.testing.assert_allclose(exe(x, w)[0], reference(graph)(x, w)[0], rtol=1e-6)
    assert exe.plan_errors == [] and exe._plans[(batch,)] is not None
    return exe


def test_a_plan_checked_once_is_trusted_by_the_next_executable(once, monkeypatch):
    copies = []
    copy_written = Executable._copy_written
    monkeypatch.setattr(Executable, "_copy_written",
                        lambda self, arrays: copies.append(1) or copy_written(self, arrays))
    run_twice()
    assert len(once) == 1 and len(copies) == 1  # checked (on copies), and marked
    run_twice()
    assert len(once) == 1 and len(copies) == 1  # a new executable: the same plan, trusted
    run_twice(batch=6)
    assert len(once) == 2                       # other sizes: another plan, checked


def test_always_checks_every_first_call(once, monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_VERIFY_PLANS", "always")
    run_twice()
    run_twice()
    assert len(once) == 2


def test_the_key_names_the_kernels_and_the_sizes():
    graph = parse_graph(STEP)
    from fusegraph.ir import BATCH
    key = plan_trust.plan_key(graph, {BATCH: 4}, ["kernel a"])
    assert key == plan_trust.plan_key(parse_graph(STEP), {BATCH: 4}, ["kernel a"])
    assert key != plan_trust.plan_key(graph, {BATCH: 5}, ["kernel a"])
    assert key != plan_trust.plan_key(graph, {BATCH: 4}, ["kernel b"])


def test_a_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_VERIFY_PLANS", "sometimes")
    with pytest.raises(ValueError, match="FUSEGRAPH_VERIFY_PLANS='sometimes': expected one "
                                         "of once, always"):
        plan_trust.mode()


def test_a_mark_that_cannot_be_written_keeps_the_plan(once, monkeypatch):
    def full_disk(path, data):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(plan_trust.kernel_cache, "write_private", full_disk)
    run_twice()                                  # asserts the plan was kept, no plan errors
    run_twice()
    assert len(once) == 2                        # nothing marked: checked again
