"""Kernels made ready ahead of their first call (backends/numba/warmup.py): compiled for the
signature their calls use (no second compile), loaded from a warm cache, the waiting and
the tiered modes (results the reference's while a kernel is pending, the kernel's after),
failures left to the caller, a fork during a background compile. No timing assertions:
a pending kernel is held pending by holding Numba's compile lock, or by a fake dispatcher
that waits for the test."""
import os
import threading

import numpy as np
import pytest
from numba.core.compiler_lock import global_compiler_lock

import fusegraph as fg
from fusegraph.backends import numba_cpu
from fusegraph.backends.numba import warmup
from fusegraph.backends.numba_cpu import clear_memo
from fusegraph.backends.reference import compile as reference
from fusegraph.backends.reference.interpreter import run_op
from fusegraph.ir import BATCH as B
from fusegraph.passes import fuse

from helpers.backend_checks import assert_same, softmax_graph

rng = np.random.default_rng(0)
ARRAYS = [rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty kernel cache and no kernel loaded: every kernel is compiled afresh."""
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(tmp_path))
    clear_memo()
    yield tmp_path
    clear_memo()
    warmup.set_tiered_start(None)


def compiled(tiered: bool):
    warmup.set_tiered_start(tiered)
    return numba_cpu.compile(fuse(softmax_graph()))


def wait_all(exe):
    for ticket in exe.warmup.tickets:
        ticket._done.wait()


def test_kernels_are_compiled_ahead_once_for_the_signature_their_calls_use(fresh_cache):
    exe = compiled(tiered=False)
    want = reference(softmax_graph())(*ARRAYS)
    assert [k.pending for k in exe.kernels] == exe.warmup.tickets and len(exe.kernels) == 2
    assert all(not k.kernel.signatures for k in exe.kernels)     # nothing before the call
    for _ in range(3):                       # the checked call, the plan's first run, the plan
        assert_same(exe(*ARRAYS), want, rtol=1e-5, atol=1e-6)
    assert exe._plans and exe.plan_errors == []
    for k, ticket in zip(exe.kernels, exe.warmup.tickets):
        assert k.pending is None and ticket.done() and ticket.error is None
        assert k.kernel.signatures == [ticket.signature]          # no second signature
        assert sum(k.kernel.stats.cache_misses.values()) == 1
    assert (exe.warmup.report.compiled, exe.warmup.report.loaded) == (2, 0)


def test_a_warm_cache_loads_the_kernels_instead_of_compiling_them(fresh_cache):
    compiled(tiered=False)(*ARRAYS)
    clear_memo()                             # a new process, as far as kernels go
    exe = compiled(tiered=False)
    exe(*ARRAYS)
    assert all(t.loaded for t in exe.warmup.tickets)
    assert (exe.warmup.report.compiled, exe.warmup.report.loaded) == (0, 2)
    assert all(sum(k.kernel.stats.cache_misses.values()) == 0 for k in exe.kernels)


def test_a_tiered_start_waits_for_a_kernel_the_disk_cache_holds(fresh_cache):
    compiled(tiered=False)(*ARRAYS)
    clear_memo()
    exe = compiled(tiered=True)
    assert all(t.cached for t in exe.warmup.tickets)
    exe(*ARRAYS)                             # loaded, not run on the reference meanwhile
    assert all(k.pending is None for k in exe.kernels) and exe.warmup.report.loaded == 2


def test_a_kernel_compiled_in_this_process_gets_no_ticket(fresh_cache):
    compiled(tiered=False)(*ARRAYS)
    again = compiled(tiered=False)           # same sources: the same dispatchers
    assert again.warmup.tickets == [] and all(k.pending is None for k in again.kernels)


def test_a_tiered_kernel_runs_its_region_on_the_reference_until_it_arrives(fresh_cache):
    exe = compiled(tiered=True)
    step = exe.kernels[0]
    args, env = ARRAYS, {B: 6}              # its operands are the graph's parameters
    with global_compiler_lock:               # the background thread cannot compile
        got = step.run(args, env)
        assert step.pending is not None and not step.kernel.signatures
        for g, w in zip(got, run_op(step.ref, args, env)):
            np.testing.assert_array_equal(g, w)                   # the reference's, exactly
    wait_all(exe)
    after = step.run(args, env)
    assert step.pending is None and step.kernel.signatures == [exe.warmup.tickets[0].signature]
    assert_same(after, got, rtol=1e-5, atol=1e-6)


def test_a_tiered_executable_equals_the_reference_during_and_after_the_switch(fresh_cache):
    exe = compiled(tiered=True)
    want = reference(softmax_graph())(*ARRAYS)
    assert not any(t.cached for t in exe.warmup.tickets)      # to compile: not waited for
    with global_compiler_lock:               # every kernel pending for the first call
        assert_same(exe(*ARRAYS), want, rtol=1e-5, atol=1e-6)
    wait_all(exe)
    for _ in range(2):
        assert_same(exe(*ARRAYS), want, rtol=1e-5, atol=1e-6)
    assert all(k.ready() for k in exe.kernels) and exe.plan_errors == []
    assert all(len(k.kernel.signatures) == 1 for k in exe.kernels)


# --- the machinery, with fake dispatchers -----------------------------------------------

class FakeStats:
    def __init__(self):
        self.cache_hits, self.cache_misses = {}, {}


class FakeDispatcher:
    """Compiles by waiting for ``go`` (set unless told otherwise), or raises ``error``."""

    def __init__(self, go=True, error=None):
        self.overloads, self.stats = {}, FakeStats()
        self.go, self.entered = threading.Event(), threading.Event()
        if go:
            self.go.set()
        self.error = error
        self.compiled_in = None

    def compile(self, signature):
        self.entered.set()
        self.go.wait()
        self.compiled_in = threading.get_ident()
        if self.error is not None:
            raise self.error
        self.overloads[signature] = object()


SIZE_ONLY = (("int64",),)


def test_a_waiting_caller_makes_ready_itself_a_kernel_no_thread_has_begun():
    group = warmup.Warmup(tiered=False)
    slow, asked = FakeDispatcher(go=False), FakeDispatcher()
    first, second = group.add(slow, SIZE_ONLY), group.add(asked, SIZE_ONLY)
    group.start()
    slow.entered.wait()                      # the background thread compiles ``slow``
    threading.Timer(0.05, slow.go.set).start()
    assert second.arrived()                  # taken here; compiled once Numba's lock is free
    assert asked.compiled_in == threading.get_ident()
    assert first.arrived() and slow.compiled_in not in (None, threading.get_ident())
    assert group.arrived() and group.report.elapsed is not None


def test_a_tiered_caller_does_not_wait():
    group = warmup.Warmup(tiered=True)
    slow = FakeDispatcher(go=False)
    ticket = group.add(slow, SIZE_ONLY)
    assert not ticket.arrived() and not group.arrived()
    slow.go.set()
    ticket._done.wait()
    assert ticket.arrived() and group.arrived()


def test_equal_kernels_share_a_ticket_and_a_failed_compile_is_left_to_the_caller():
    group = warmup.Warmup(tiered=False)
    broken = FakeDispatcher(error=TypeError("no such type"))
    assert group.add(broken, SIZE_ONLY) is group.add(broken, SIZE_ONLY)
    assert group.arrived()                   # done, with the error kept for the record
    assert group.tickets[0].error == "TypeError: no such type"
    assert group.report.compiled == 1 and not broken.overloads


def test_an_interrupted_compile_leaves_its_ticket_done_for_the_next_caller():
    group = warmup.Warmup(tiered=False)
    slow = FakeDispatcher(go=False)
    group.add(slow, SIZE_ONLY)
    ticket = group.add(FakeDispatcher(error=KeyboardInterrupt()), SIZE_ONLY)
    group.start()
    slow.entered.wait()                      # the background thread is busy with ``slow``
    threading.Timer(0.05, slow.go.set).start()
    with pytest.raises(KeyboardInterrupt):
        ticket.arrived()                     # compiled by this thread, interrupted
    assert ticket.done() and ticket.error == "interrupted (KeyboardInterrupt)"
    assert ticket.arrived() and group.arrived() and group.report.elapsed is not None


def test_the_mode_comes_from_the_environment_unless_set(monkeypatch):
    monkeypatch.delenv("FUSEGRAPH_TIERED_START")      # conftest turns it off for the tests
    assert warmup.tiered_start() and warmup.Warmup().tiered         # the default
    monkeypatch.setenv("FUSEGRAPH_TIERED_START", "0")
    assert not warmup.tiered_start()
    monkeypatch.setenv("FUSEGRAPH_TIERED_START", "1")
    assert warmup.tiered_start() and warmup.Warmup().tiered
    warmup.set_tiered_start(False)
    try:
        assert not warmup.tiered_start()
    finally:
        warmup.set_tiered_start(None)
    monkeypatch.setenv("FUSEGRAPH_TIERED_START", "yes")
    with pytest.raises(ValueError, match="FUSEGRAPH_TIERED_START='yes'"):
        warmup.tiered_start()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_ready_what_its_parent_had_queued():
    group = warmup.Warmup(tiered=False)
    held = FakeDispatcher(go=False)
    tickets = [group.add(held, SIZE_ONLY)] + [group.add(FakeDispatcher(), ((f"int64",),) * k)
                                               for k in (2, 3)]
    group.start()
    held.entered.wait()                      # the background thread compiles ``held``
    threading.Timer(0.05, held.go.set).start()
    pid = os.fork()                          # waits for that compile (Numba's lock)
    if pid == 0:                             # the child: no background thread of its own
        code = 1
        try:
            code = 0 if group.arrived() and all(t.done() for t in tickets) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert group.arrived()


def test_wait_for_kernels_returns_once_every_queued_kernel_is_ready(fresh_cache):
    exe = compiled(tiered=True)
    with global_compiler_lock:               # the background thread cannot compile
        exe(*ARRAYS)                         # queues the group
        assert not fg.config.wait_for_kernels(timeout=0.2)
        assert not all(t.done() for t in exe.warmup.tickets)
    assert fg.config.wait_for_kernels() and warmup.wait_for_kernels(timeout=0)
    assert all(t.done() and t.error is None for t in exe.warmup.tickets)
    assert_same(exe(*ARRAYS), reference(softmax_graph())(*ARRAYS), rtol=1e-5, atol=1e-6)
    assert exe._plans and all(k.ready() for k in exe.kernels)
