"""The compile report (backends/numba/compile_report.py): phases recorded and taken once,
the progress line only when asked or slow on a terminal, the summary logged always and
shown when due, quiet for warm starts and in tests. A fake clock: no timing assertions."""
import io
import logging

import pytest

from fusegraph.backends import phases
from fusegraph.backends.numba import compile_report
from fusegraph.backends.numba.compile_report import CompileReport


class Terminal(io.StringIO):
    def __init__(self, tty=True):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def _no_leftover_phases(monkeypatch):
    monkeypatch.delenv("FUSEGRAPH_VERBOSE", raising=False)
    phases.take_phases()
    yield
    phases.take_phases()


def report(live=True, tty=True):
    clock, stream = Clock(), Terminal(tty)
    return CompileReport(live=live, stream=stream, clock=clock), clock, stream


def run(rep, clock, kernels=3, seconds_each=0.6, loaded=False):
    """A compile of ``kernels`` kernels, the caller waiting after each."""
    rep.start(kernels)
    for _ in range(kernels):
        clock.now += seconds_each
        rep.kernel_done(seconds_each, loaded)
        rep.waiting()
    rep.finish()


def test_phases_recorded_before_a_report_are_its_own_and_taken_once():
    phases.record("trace", 0.25)
    with phases.phase("passes"):
        pass
    rep, clock, _ = report()
    assert set(rep.phases) == {"trace", "passes"} and rep.phases["trace"] == 0.25
    rep.add("codegen", 0.5)
    assert CompileReport().phases == {}          # taken by the first report
    run(rep, clock)
    assert "trace 0.25 s" in rep.summary() and "codegen 0.50 s" in rep.summary()


def test_a_slow_compile_on_a_terminal_shows_its_progress_then_the_summary(caplog):
    rep, clock, stream = report()
    with caplog.at_level(logging.INFO, logger="fusegraph.compile"):
        run(rep, clock, kernels=3, seconds_each=0.6)
    out = stream.getvalue()
    assert "\rfusegraph: compiling kernels 2/3 1.2s" in out      # after the first second
    assert "compiling kernels 1/3" not in out                    # not before it
    assert out.endswith("fusegraph: 3 kernels ready in 1.80 s: 3 compiled, 0 loaded from "
                        "the cache (numba 1.80 s)\n")
    assert caplog.records[-1].getMessage() == out.split("\r")[-1].strip()


@pytest.mark.parametrize("live, tty, seconds_each, verbose", [
    (True, True, 0.1, None),       # a warm start: fast
    (True, False, 0.6, None),      # slow, but stderr is not a terminal (tests, logs)
    (False, True, 0.6, None),      # a tiered start: its steps run meanwhile
    (True, True, 0.6, "0"),        # asked to be quiet
])
def test_quiet_when_fast_not_a_terminal_tiered_or_asked(monkeypatch, caplog, live, tty,
                                                          seconds_each, verbose):
    if verbose is not None:
        monkeypatch.setenv("FUSEGRAPH_VERBOSE", verbose)
    rep, clock, stream = report(live=live, tty=tty)
    with caplog.at_level(logging.INFO, logger="fusegraph.compile"):
        run(rep, clock, seconds_each=seconds_each)
    assert stream.getvalue() == ""
    assert "kernels ready in" in caplog.records[-1].getMessage()   # logged all the same


def test_verbose_shows_the_summary_of_every_compile_even_a_warm_tiered_one(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_VERBOSE", "1")
    rep, clock, stream = report(live=False, tty=False)
    run(rep, clock, kernels=2, seconds_each=0.01, loaded=True)
    assert stream.getvalue() == ("\rfusegraph: 2 kernels ready in 0.02 s: 0 compiled, 2 "
                                 "loaded from the cache (numba 0.02 s)\n")


def test_the_progress_line_is_redrawn_at_most_every_quarter_second():
    rep, clock, stream = report()
    rep.start(10)
    clock.now += 1.5
    rep.waiting()
    clock.now += 0.1
    rep.kernel_done(0.1, False)
    rep.waiting()                                # too soon: not redrawn
    clock.now += 0.2
    rep.waiting()
    assert stream.getvalue().count("\r") == 2
    assert stream.getvalue().endswith("compiling kernels 1/10 1.8s")


def test_a_bad_verbose_value_is_an_error(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_VERBOSE", "loud")
    with pytest.raises(ValueError, match="FUSEGRAPH_VERBOSE='loud'"):
        compile_report.verbosity()


def test_a_closed_stderr_shows_nothing_and_raises_nothing(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_VERBOSE", "1")
    rep, clock, stream = report()
    stream.close()
    run(rep, clock)
    assert rep.elapsed is not None


def test_a_model_compile_reports_its_trace_passes_and_codegen():
    import numpy as np

    import fusegraph as fg
    model = fg.Sequential([fg.Input(shape=(3,)), fg.layers.Dense(2, activation="tanh")])
    model.compile(optimizer="sgd", loss="mse", backend="numba_cpu")
    model.train_on_batch(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"))
    exe = model._train_function.last_trace.traced_graph.executable(training=True)
    recorded = exe.warmup.report.phases
    assert {"trace", "passes", "codegen"} <= set(recorded), recorded
    assert all(seconds > 0 for seconds in recorded.values())


def test_a_compile_without_a_report_leaves_no_phases_for_the_next_one():
    from fusegraph.backends import optimizing_compiler
    from fusegraph.ir import parse_graph
    g = parse_graph("""
        graph @g(%x: f32[B,3]) -> (f32[B,3]) {
          %0: f32[B,3] = exp %x
          return %0
        }""")
    phases.record("trace", 0.5)
    optimizing_compiler("reference")(g)          # the reference makes no compile report
    assert phases.take_phases() == {}
