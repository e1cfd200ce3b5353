"""numba_cpu's compiled scan loops (backends/numba_cpu/scan_loop.py, scan_codegen.py)
against the reference: recurrent layers' training steps, hand-built scans (int and float
carries, swapped carries, outputs that are parameters, hoisted invariant work, reverse,
T = 1 and T = 0, a zero batch), bodies the loop cannot run, loops that fail their check,
and the loop's disk cache.

Compile time is what this file spends: each distinct body compiles one loop function
and its kernels (about a second each on a cold cache).
"""
import os

os.environ.setdefault("NUMBA_NUM_THREADS", "2")   # before numba starts its workers
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # idle workers sleep instead of spinning

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numba.core.compiler_lock import global_compiler_lock  # noqa: E402

import fusegraph as fg  # noqa: E402
from fusegraph.backends import numba_cpu, optimizing_compiler  # noqa: E402
from fusegraph.backends.numba import warmup  # noqa: E402
from fusegraph.backends.numba_cpu import (clear_memo, scan, scan_blas,  # noqa: E402
                                          scan_loop)
from fusegraph.backends.reference import compile as reference  # noqa: E402
from fusegraph.ir import BATCH as B, DType, Graph, Sym, emit  # noqa: E402

from helpers.backend_checks import assert_same, graph, param  # noqa: E402

I32 = DType.i32
rng = np.random.default_rng(5)
compile_fused = optimizing_compiler("numba_cpu")   # numba_cpu's pipeline: bodies fused


def floats(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def scan_graph(body, carries, seqs, invariants=(), reverse=False, axis=1):
    attrs = dict(num_carries=len(carries), num_sequences=len(seqs),
                 num_invariants=len(invariants), axis=axis, reverse=reverse)
    out = emit("scan", *carries, *seqs, *invariants, region=body, **attrs)
    return graph([*carries, *seqs, *invariants], list(out) if isinstance(out, tuple) else [out])


def switch_loops_off(monkeypatch):
    """Scans compiled from now on run step by step."""
    def off(ref, kernels):
        raise scan.Unsupported("switched off")
    monkeypatch.setattr(scan, "CompiledLoop", off)


def check(g, arrays, modes=("loop",), compile=compile_fused):
    """Run ``g`` compiled (twice: the plan runs from the second call) and on the
    reference; the results agree, and the scans ran in ``modes``."""
    exe = compile(g)
    want = reference(g)(*arrays)
    for _ in range(2):
        assert_same(exe(*arrays), want, rtol=1e-5, atol=1e-6)
    assert [s.mode for s in exe.scans] == list(modes), [s.reason for s in exe.scans]
    assert exe.plan_errors == []
    return exe


# --- recurrent layers ------------------------------------------------------------------

def _model(layer, backend, go_backwards, return_sequences):
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    inputs = fg.Input(shape=(None, 3))
    h = getattr(fg.layers, layer)(5, go_backwards=go_backwards,
                                  return_sequences=return_sequences)(inputs)
    if return_sequences:
        h = fg.layers.GlobalAveragePooling1D()(h)
    model = fg.Model(inputs, fg.layers.Dense(1)(h))
    model.compile(optimizer=fg.optimizers.RMSprop(1e-2), loss="mse", backend=backend)
    return model


@pytest.mark.parametrize("layer", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards,return_sequences", [(False, False), (True, True)])
def test_recurrent_training_steps_run_compiled_loops_equal_to_the_reference(
        layer, go_backwards, return_sequences):
    data = np.random.default_rng(3)
    batches = [(data.normal(size=(b, t, 3)).astype(np.float32),
                data.normal(size=(b, 1)).astype(np.float32)) for b, t in ((4, 6), (3, 1), (4, 6))]
    runs = {}
    for backend in ("reference", "numba_cpu"):
        model = _model(layer, backend, go_backwards, return_sequences)
        losses = [model.train_on_batch(x, y) for x, y in batches]
        runs[backend] = (model, losses, model.predict(batches[0][0], verbose=0))
    (model, losses, pred), (ref_model, ref_losses, ref_pred) = runs["numba_cpu"], runs["reference"]
    exe = model._train_function.last_trace.traced_graph._executable
    assert [s.mode for s in exe.scans] == ["loop", "loop"], [s.reason for s in exe.scans]
    assert exe.plan_errors == []
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(pred, ref_pred, rtol=1e-5, atol=1e-6)
    for w, ref_w in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)
    source = exe.scans[1].loop.spec.source           # the backward loop: one function
    assert source.count("for i in range(n__steps)") == 1 and "@njit(cache=True" in source


# --- hand-built scans ------------------------------------------------------------------

def _float_and_int_body():
    """Carries: h (f32) and a step counter (i32); per step: y = h' and the counter."""
    h, n = param("h", B, 2), param("n", dtype=I32)
    x, w = param("x", B, 2), param("w", 2, 2)
    new_h = emit("tanh", emit("add", emit("matmul", h, w), x))
    new_n = emit("add", n, emit("constant", value=1, dtype=I32))
    return Graph.from_results("body", [h, n, x, w],
                              [new_h, new_n, new_h, emit("reshape", new_n, shape=(1,))])


@pytest.mark.parametrize("reverse", [False, True])
def test_int_and_float_carries_with_symbolic_batch_and_length(reverse):
    T = Sym("T")
    h0, n0 = param("h0", B, 2), param("n0", dtype=I32)
    xs, w = param("xs", B, T, 2), param("w", 2, 2)
    g = scan_graph(_float_and_int_body(), [h0, n0], [xs], [w], reverse)
    exe = compile_fused(g)
    for b, t in ((3, 5), (2, 4), (3, 1), (3, 0), (0, 3)):   # T = 0 and B = 0: the reference
        arrays = [floats(b, 2), np.array(7, np.int32), floats(b, t, 2), floats(2, 2)]
        got, want = exe(*arrays), reference(g)(*arrays)
        assert_same(got, want, rtol=1e-5, atol=1e-6)
        assert got[1] == 7 + t and not any(np.shares_memory(r, a) for r in got for a in arrays)
    assert exe.scans[0].mode == "loop" and exe.plan_errors == []


def test_swapped_carries_and_outputs_that_are_parameters_and_invariants():
    a, b, c = param("a", B, 3), param("b", B, 3), param("c", B, 3)
    x, w = param("x", B, 3), param("w", 3, 3)
    new_b = emit("add", a, emit("matmul", x, w))
    body = Graph.from_results("body", [a, b, c, x, w], [b, new_b, new_b, a, w, x])
    g = scan_graph(body, [param(n, B, 3) for n in ("a0", "b0", "c0")],
                   [param("xs", B, 4, 3)], [param("w0", 3, 3)])
    exe = check(g, [floats(2, 3), floats(2, 3), floats(2, 3), floats(2, 4, 3), floats(3, 3)])
    source = exe.scans[0].loop.spec.source       # a's new value is b's old, c's is b's new:
    assert "n0[i0, i1] = h1[i0, i1]" in source and "n2[i0, i1] = n1[i0, i1]" in source


def test_work_on_invariants_is_hoisted_out_of_the_loop_and_views_compile():
    h, x, w, bias = param("h", B, 4), param("x", B, 3, 4), param("w", 4, 4), param("bias", 4)
    w_t = emit("transpose", w, perm=(1, 0))                       # invariant: hoisted
    scaled = emit("mul", bias, emit("constant", value=[0.5, 1.0, 2.0, 4.0]))   # hoisted
    first = emit("reshape", emit("slice", x, axes=(1,), begin=(0,), end=(1,), stride=(1,)),
                 shape=(B, 4))                                    # a view, then a copy
    pre = emit("add", emit("matmul", h, w_t), emit("add", first, scaled))
    new_h = emit("tanh", pre)
    y = emit("transpose", emit("broadcast_to", emit("reshape", new_h, shape=(B, 4, 1)),
                               shape=(B, 4, 2)), perm=(0, 2, 1))
    body = Graph.from_results("body", [h, x, w, bias], [new_h, y])
    g = scan_graph(body, [param("h0", B, 4)], [param("xs", B, 5, 3, 4)],
                   [param("w0", 4, 4), param("b0", 4)], reverse=True)
    only_fusion = optimizing_compiler("numba_cpu", ["fusion", "scan_fusion"])  # no hoisting pass
    exe = check(g, [floats(3, 4), floats(3, 5, 3, 4), floats(4, 4), floats(4)],
                compile=only_fusion)
    spec = exe.scans[0].loop.spec
    assert {op.kind for op in spec.hoisted} >= {"transpose", "constant"}
    assert len(spec.hoisted_args) >= 1 and "np.transpose" in spec.source


@pytest.mark.parametrize("mode", ["loop", "steps"])
def test_a_time_major_scan_with_scalar_carries_and_sequences(monkeypatch, mode):
    if mode == "steps":
        switch_loops_off(monkeypatch)
    s, x, v, m = param("s"), param("x"), param("v", 1, 3), param("m", 3, 3)
    new_v = emit("add", emit("matmul", v, m), x)
    new_s = emit("add", s, emit("reduce_sum", new_v, axes=(0, 1), keepdims=False))
    body = Graph.from_results("body", [s, v, x, m], [new_s, new_v, new_s])
    g = scan_graph(body, [param("s0"), param("v0", 1, 3)], [param("xs", 6)],
                   [param("m0", 3, 3)], axis=0)
    check(g, [np.array(0.5, np.float32), floats(1, 3), floats(6), floats(3, 3, scale=0.3)],
          (mode,))


def test_equal_bodies_share_one_loop_function():
    def body():
        h, x = param("h", B, 2), param("x", B, 2)
        return Graph.from_results("body", [h, x], [emit("mul", emit("tanh", h), x)])
    h0, xs = param("h0", B, 2), param("xs", B, 3, 2)
    first = emit("scan", h0, xs, region=body(), num_carries=1, num_sequences=1,
                 num_invariants=0, axis=1, reverse=False)
    second = emit("scan", first, xs, region=body(), num_carries=1, num_sequences=1,
                  num_invariants=0, axis=1, reverse=False)
    exe = check(graph([h0, xs], [second]), [floats(2, 2), floats(2, 3, 2)], ("loop", "loop"))
    assert exe.scans[0].loop.function is exe.scans[1].loop.function


# --- what runs step by step ------------------------------------------------------------

def test_a_body_with_an_op_the_loop_cannot_run_runs_step_by_step():
    h, ids, table = param("h", B, 2), param("ids", B, dtype=I32), param("table", 7, 2)
    body = Graph.from_results("body", [h, ids, table],
                              [emit("add", h, emit("take", table, ids, axis=0))])
    g = scan_graph(body, [param("h0", B, 2)], [param("idss", B, 4, dtype=I32)],
                   [param("table0", 7, 2)])
    ids = np.random.default_rng(0).integers(0, 7, (3, 4)).astype(np.int32)
    exe = check(g, [floats(3, 2), ids, floats(7, 2)], ("steps",))
    assert "op take" in exe.scans[0].reason and exe.scans[0].loop is None


def _unique_body(k: float):
    """A body no other test compiles (a loop function of its own: its first call is the
    one checked)."""
    h, x = param("h", B, 2), param("x", B, 2)
    new_h = emit("add", emit("mul", h, emit("constant", value=k)), x)
    return scan_graph(Graph.from_results("body", [h, x], [new_h]),
                      [param("h0", B, 2)], [param("xs", B, 4, 2)])


@pytest.mark.parametrize("broken", ["wrong", "raises"])
def test_a_loop_that_fails_its_check_or_raises_is_dropped_and_recorded(monkeypatch, broken):
    g = _unique_body(0.375 if broken == "wrong" else 0.625)
    exe = compile_fused(g)
    real = scan_loop.CompiledLoop.__call__

    def wrong(self, args, env):
        if broken == "raises":
            raise RuntimeError("loop bug")
        return [a + 1 for a in real(self, args, env)]
    monkeypatch.setattr(scan_loop.CompiledLoop, "__call__", wrong)
    arrays = [floats(2, 2), floats(2, 4, 2)]
    for _ in range(2):
        assert_same(exe(*arrays), reference(g)(*arrays), rtol=1e-6, atol=1e-6)
    step = exe.scans[0]
    assert step.mode == "steps" and step.loop is None
    reason = "differs" if broken == "wrong" else "RuntimeError: loop bug"
    assert reason in step.reason
    assert len(exe.plan_errors) == 1 and "compiled loop dropped" in exe.plan_errors[0]


def test_arrays_of_other_types_never_reach_the_compiled_code():
    g = _unique_body(0.875)
    step = compile_fused(g).scans[0]
    wrong_batch = [floats(2, 2), floats(3, 4, 2)]        # h0 says B=2, xs says B=3
    assert step.loop([floats(2, 2), floats(2, 4, 2).astype(np.float64)], {B: 2}) is None
    assert step.loop(wrong_batch, {B: 2}) is None and step.mode == "loop"


# --- the disk cache ----------------------------------------------------------------------

def test_a_second_compile_loads_the_loop_from_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(tmp_path))
    g = _unique_body(1.125)
    arrays = [floats(2, 2), floats(2, 4, 2)]
    clear_memo()
    first = compile_fused(g)
    first(*arrays)
    clear_memo()                      # as a new process: the loop's module is imported again
    second = compile_fused(g)
    assert_same(second(*arrays), reference(g)(*arrays), rtol=1e-6, atol=1e-6)
    function = second.scans[0].loop.function
    assert function is not first.scans[0].loop.function
    assert sum(function.stats.cache_hits.values()) == 1
    assert sum(function.stats.cache_misses.values()) == 0
    assert os.path.exists(function.__kernel_path__)
    clear_memo()


def test_scans_are_told_apart_by_mode_and_reason(monkeypatch):
    switch_loops_off(monkeypatch)
    step = compile_fused(_unique_body(1.375)).scans[0]
    assert step.mode == "steps" and step.reason == "runs step by step: switched off"
    assert numba_cpu.PIPELINE.index("scan_fusion") > numba_cpu.PIPELINE.index("fusion")


# --- BLAS threads -------------------------------------------------------------------------

def _blas_threads():
    from threadpoolctl import threadpool_info
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_threads_limits_every_blas_library_inside_the_block_only():
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with scan_blas.blas_threads(1):
            assert set(_blas_threads()) == {1}
        assert _blas_threads() == before


@pytest.mark.parametrize("large", [False, True])
def test_a_loop_of_small_products_runs_its_blas_on_one_thread(monkeypatch, large):
    entered = []
    real = scan_blas.blas_threads

    def spy(n):
        entered.append(n)
        return real(n)
    monkeypatch.setattr(scan_loop, "blas_threads", spy)
    if large:
        monkeypatch.setattr(scan_loop, "THREADED_MIN_MACS", 2 * 3 * 3)   # [2,3] x [3,3]
    a, x, w = param("a", B, 3), param("x", B, 3), param("w", 3, 3)
    body = Graph.from_results("body", [a, x, w], [emit("add", emit("matmul", a, w), x)])
    g = scan_graph(body, [param("a0", B, 3)], [param("xs", B, 4, 3)], [param("w0", 3, 3)])
    check(g, [floats(2, 3), floats(2, 4, 3), floats(3, 3, scale=0.3)])
    assert entered == ([] if large else [1] * len(entered)) and (large or entered)


def test_a_loop_compiles_ahead_and_a_tiered_start_runs_the_reference_until_it_arrived(
        tmp_path, monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(tmp_path))
    clear_memo()
    warmup.set_tiered_start(True)
    try:
        g = _unique_body(1.375)
        arrays = [floats(2, 2), floats(2, 4, 2)]
        want = reference(g)(*arrays)
        exe = compile_fused(g)
        step = exe.scans[0]
        function = step.loop.function
        assert step.pending in exe.warmup.tickets and not function.signatures
        with global_compiler_lock:          # the background thread cannot compile
            assert_same(exe(*arrays), want, rtol=0, atol=0)     # the reference ran it
            assert not function.signatures and not exe._plans
        for ticket in exe.warmup.tickets:
            ticket._done.wait()
        assert function.signatures == [step.pending.signature]   # the one calls use
        for _ in range(2):
            assert_same(exe(*arrays), want, rtol=1e-6, atol=1e-6)
        assert step.mode == "loop" and step.loop.checked == set(function.signatures)
        assert len(function.signatures) == 1 and exe._plans and exe.plan_errors == []
    finally:
        warmup.set_tiered_start(None)
        clear_memo()


def test_the_executable_source_shows_each_compiled_loop():
    g = _unique_body(1.625)
    exe = check(g, [floats(2, 2), floats(2, 4, 2)])
    loop = exe.scans[0].loop
    source = exe.source()
    assert f"# ---- {loop.spec.name}: the compiled loop of op scan" in source
    assert loop.spec.source in source


# --- independent scans on two threads ------------------------------------------------------
def _two_lstm_model(backend):
    left, right = fg.Input(shape=(5, 3), name="left"), fg.Input(shape=(7, 2), name="right")
    merged = fg.layers.concatenate([fg.layers.LSTM(4)(left), fg.layers.LSTM(6)(right)])
    model = fg.Model([left, right], fg.layers.Dense(1)(merged))
    model.compile(optimizer="adam", loss="mse", backend=backend)
    return model


def test_a_plan_on_two_threads_runs_independent_loops_at_once_with_the_same_numbers():
    """Each LSTM's forward loop, then each one's backward loop, run at once (one on the
    worker thread): the plan forks twice, and trains as the reference does."""
    from fusegraph.backends import threads
    rng = np.random.default_rng(0)
    x = [rng.random((8, 5, 3), np.float32), rng.random((8, 7, 2), np.float32)]
    y = rng.random((8, 1), np.float32)
    before = fg.config.get_num_threads()
    fg.config.set_num_threads(2)
    try:
        losses, weights = {}, None
        for backend in ("reference", "numba_cpu"):
            model = _two_lstm_model(backend)
            weights = weights or model.get_weights()
            model.set_weights(weights)
            losses[backend] = [float(model.train_on_batch(x, y)) for _ in range(3)]
        exe = model._train_function.last_trace.traced_graph._executable
        plan = exe._last_plan
        assert threads.get_num_threads() == 2 and exe.plan_errors == []
        run = plan.source.split("def run_profiled")[0]
        assert len(plan.forks) == 2 and run.count("SUBMIT(") == run.count("JOIN(") == 2
    finally:
        fg.config.set_num_threads(before)
    np.testing.assert_allclose(losses["numba_cpu"], losses["reference"], rtol=1e-5)


def test_a_failed_plan_waits_for_its_worker_and_gives_the_threads_back():
    """DRAIN (a plan raised between a scan's start and its join) waits for the worker,
    whatever it did, and undoes the one-thread narrowing of BLAS."""
    import time

    from fusegraph.backends.numba_cpu import plan
    done = []

    def slow_failure(args, env):
        time.sleep(0.05)
        done.append(True)
        raise RuntimeError("scan failed")
    future = plan._submit(slow_failure, [], {})
    assert scan_blas._lowered["depth"] == 1
    plan._drain()
    assert done == [True] and future.done() and plan._submitted == []
    assert scan_blas._lowered["depth"] == 0
