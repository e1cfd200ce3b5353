"""The numba_cpu backend against the reference: every elementwise primitive inside a fused
kernel, broadcasting, every reduction over every axis, symbolic sizes, multi-output
kernels, NaN/inf, ints and bools, a whole training step, and the on-disk kernel cache.

Compile time is what this file spends: each test compiles one or two small kernels
(about 0.1 s each once Numba is warm), and the shared graphs are compiled once per module.
"""
import os
import re
import warnings

os.environ.setdefault("NUMBA_NUM_THREADS", "2")   # before numba starts its workers
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # idle workers sleep instead of spinning

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fusegraph as fg  # noqa: E402
from fusegraph.backends import (default_pipeline, get_backend, numba_cpu,  # noqa: E402
                                optimizing_compiler, threads)
from fusegraph.backends.numba import steps as numba_steps  # noqa: E402
from fusegraph.backends.numba_cpu import (CodegenError, ExecutionError, InputError,  # noqa: E402
                                          clear_memo, generate_kernel)
from fusegraph.backends.numba.generator import structural_hash  # noqa: E402
from fusegraph.backends.numba.templates import (BOOL_TEMPLATES, FLOAT_TEMPLATES,  # noqa: E402
                                                INT_TEMPLATES)
from fusegraph.backends.numba_cpu.codegen import CODEGEN_VERSION  # noqa: E402
from fusegraph.backends.reference import compile as reference  # noqa: E402
from fusegraph.backends.reference.interpreter import run_op  # noqa: E402
from fusegraph.frontend.function import Function  # noqa: E402
from fusegraph.ir import BATCH as B, DType, Graph, Sym, emit  # noqa: E402
from fusegraph.ir.builder import emit_op  # noqa: E402
from fusegraph.ir.errors import ContractError, VerificationError  # noqa: E402
from fusegraph.ir.opdef import ELEMENTWISE, REDUCTION, all_opdefs  # noqa: E402
from fusegraph.passes import FUSION_PIPELINE, fuse  # noqa: E402

from helpers import backend_checks as checks  # noqa: E402
from helpers.backend_checks import assert_same, graph, param  # noqa: E402
from helpers.plan_source import plain_run  # noqa: E402

F32, F64, I32, I64, BOOL = DType.f32, DType.f64, DType.i32, DType.i64, DType.bool
rng = np.random.default_rng(0)


@pytest.fixture(autouse=True, scope="module")
def _two_threads():
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    yield


def differential(params, results, arrays, *, kernels=1, rtol=1e-6, atol=1e-7):
    """Fuse the graph, run it on numba_cpu and the unfused graph on the reference."""
    return checks.differential(numba_cpu.compile, params, results, arrays, kernels=kernels,
                               rtol=rtol, atol=atol)


def floats(*shape, dtype=np.float32, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# --- registration and pipelines ---------------------------------------------------------

def test_backend_is_registered_with_the_fusion_pipeline():
    assert get_backend("numba_cpu") is numba_cpu.compile
    before = FUSION_PIPELINE.index("reduce_views")
    assert default_pipeline("numba_cpu") == (
        FUSION_PIPELINE[:before] + ["permuted_matmuls", "late_scaling"] + FUSION_PIPELINE[before:]
        + ["sparse_rows", "scan_fusion", "early_scans", "updates_last"])
    assert "fusion" not in default_pipeline("reference")
    with pytest.raises(ValueError, match="expected one of reference, numba_cpu"):
        get_backend("tpu")
    x = param("x", B, 4)
    g = graph([x], [emit("exp", emit("neg", x))])
    assert len(optimizing_compiler("numba_cpu")(g).kernels) == 1
    assert not any(op.kind == "fused" for op in optimizing_compiler("reference")(g).graph.ops)


def test_every_elementwise_primitive_and_reduction_has_a_template():
    elementwise = {n for n, d in all_opdefs().items() if d.has(ELEMENTWISE)} | {"constant"}
    combiners = {d.reduction.combine for d in all_opdefs().values() if d.has(REDUCTION)}
    for table in (FLOAT_TEMPLATES, INT_TEMPLATES, BOOL_TEMPLATES):
        assert elementwise <= set(table), sorted(elementwise - set(table))
        assert combiners <= set(table)
    for dtype in DType:
        assert all(numba_cpu.CAPABILITY.has_code(kind, dtype) for kind in elementwise)
    assert not numba_cpu.CAPABILITY.has_code("matmul", F32)


def test_the_pipeline_forms_the_kernels_of_the_backends_capability(monkeypatch):
    """optimizing_compiler runs fusion with the backend's CAPABILITY: without code for
    ``exp``, exp stays a plain op and the neg-tanh chain around it is no kernel either."""
    x = param("x", B, 4)
    g = graph([x], [emit("tanh", emit("exp", emit("neg", x)))])
    assert len(optimizing_compiler("numba_cpu")(g).kernels) == 1
    no_exp = numba_cpu.CAPABILITY.has_code
    monkeypatch.setattr(numba_cpu, "CAPABILITY", fg.ir.ops.region.KernelCapability(
        "numba_cpu without exp", lambda kind, dtype: kind != "exp" and no_exp(kind, dtype)))
    exe = optimizing_compiler("numba_cpu")(g)
    assert exe.kernels == [] and [op.kind for op in exe.graph.ops] == ["neg", "exp", "tanh"]


# --- code generation (no compiling) ------------------------------------------------------

def test_source_has_one_statement_per_op_with_its_ir_line_and_static_broadcast_indexing():
    x, row, col, s = param("x", B, 3, 4), param("row", B, 1, 1), param("col", 4), param("s")
    y = emit("add", emit("mul", emit("sub", x, row), col), s)
    total = emit("reduce_sum", y, axes=(1, 2), keepdims=False)
    (k,) = [op for op in fuse(graph([x, row, col, s], [y, total])).ops if op.kind == "fused"]
    spec = generate_kernel(k.region)
    src = spec.source
    assert spec.symbols == (Sym("B"),) and not spec.parallel
    assert f"def {spec.name}(in0, in1, in2, in3, out0, out1, n_B):" in src
    assert spec.name == f"kernel_{structural_hash(k.region, CODEGEN_VERSION)}"
    assert '@njit(cache=True, error_model="numpy", fastmath=False, parallel=False)' in src
    lines = [line.strip() for line in src.splitlines()]
    for expected in ["a3 = in3[()]", "a1 = in1[i0, 0, 0]", "a2 = in2[i2]",
                     "a0 = in0[i0, i1, i2]", "out0[i0, i1, i2] = v2", "acc3 = np.float32(0.0)",
                     "out1[i0] = np.float32(acc3)"]:
        assert any(line.startswith(expected) for line in lines), (expected, src)
    assert any(line.startswith("v0 = (a0 - a1)")
               and line.endswith("# %0: f32[B,3,4] = sub %in0, %in1") for line in lines), src
    assert "for i0 in range(n_B):" in src and "in prange(" not in src
    compile(src, "<kernel>", "exec")
    # The row operand and the scalar are read outside the innermost loop.
    body = src.splitlines()
    assert body.index(next(b for b in body if "a1 = in1" in b)) < \
        body.index(next(b for b in body if "for i1 in" in b))


@pytest.mark.parametrize("shape, axes, wide", [
    ((B, 128), (1,), False), ((B, 129), (1,), True),      # SHORT_SUM = 128 elements
    ((4, B), (1,), True), ((B, 8, 16), (1, 2), False)])   # a symbol's size is unknown: wide
def test_a_float32_sum_accumulates_in_float64_unless_short(shape, axes, wide):
    x = param("x", *shape)
    g = graph([x], [emit("reduce_sum", emit("exp", x), axes=axes)])
    (k,) = [op for op in fuse(g).ops if op.kind == "fused"]
    src = generate_kernel(k.region).source
    assert ("= np.float64(0.0)" in src) == wide and ("= np.float32(0.0)" in src) != wide, src


def test_equal_regions_share_a_name_whatever_their_locations_and_names():
    def region(n, layer):
        x = param(f"x{layer}", B, n)
        with fg.ir.layer_scope(layer):
            out = fuse(graph([x], [emit("tanh", emit("exp", x))]))
        return out.ops[0].region
    assert structural_hash(region(5, "a"), "1") == structural_hash(region(5, "b"), "1")
    assert generate_kernel(region(5, "a")).source == generate_kernel(region(5, "b")).source
    assert structural_hash(region(5, "a"), "1") != structural_hash(region(6, "a"), "1")
    assert structural_hash(region(5, "a"), "1") != structural_hash(region(5, "a"), "2")


def _exp_kernel(shape, axes=None):
    x = param("x", *shape)
    y = emit("exp", emit("neg", x))
    results = [y] if axes is None else [emit("reduce_sum", y, axes=axes)]
    return generate_kernel(fuse(graph([x], results)).ops[0].region)


def test_kernels_are_parallel_by_default_only_on_more_than_one_thread(monkeypatch):
    from fusegraph.backends import threads
    monkeypatch.delenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", raising=False)
    monkeypatch.setattr(threads, "get_num_threads", lambda: 1)
    serial = _exp_kernel((1024, 512))
    assert not serial.parallel and "prange(" not in serial.source
    assert "parallel=False" in serial.source
    monkeypatch.setattr(threads, "get_num_threads", lambda: 2)
    assert _exp_kernel((1024, 512)).parallel                 # 2^19 elements
    assert not _exp_kernel((512, 511)).parallel              # under PARALLEL_MIN_ELEMENTS
    monkeypatch.setenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", "off")
    assert not _exp_kernel((1024, 512)).parallel
    monkeypatch.setenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", "lots")
    with pytest.raises(ValueError, match="FUSEGRAPH_NUMBA_PARALLEL_MIN.*'off'.*'lots'"):
        _exp_kernel((1024, 512))


def test_parallel_only_for_big_iteration_spaces_whose_first_axis_is_not_reduced(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", str(1 << 18))
    big = _exp_kernel((1024, 512))
    assert big.parallel and "for i0 in prange(1024):" in big.source
    assert "parallel=True" in big.source
    assert not _exp_kernel((1024, 255)).parallel
    assert _exp_kernel((1024, 512), axes=(1,)).parallel
    assert not _exp_kernel((1024, 512), axes=(0,)).parallel
    assert not _exp_kernel((1024, 512), axes=(0, 1)).parallel
    assert not _exp_kernel((B, 64)).parallel           # B counts as codegen.SYMBOL_SIZE_GUESS


def test_a_region_that_breaks_the_kernel_contract_is_an_error_not_a_fallback():
    x = param("x", 3, 3)
    inner = param("in0", 3, 3)
    region = graph([inner], [emit("exp", emit("matmul", inner, inner))], name="kernel")
    fused = emit_op("fused", [x], {}, region)
    g = graph([x], [fused.results[0]])
    rule = r"kernel contract \(op classes\): region op 0 \(matmul.*\) is neither elementwise"
    with pytest.raises(VerificationError, match=rule):
        fg.ir.verify(g)
    with pytest.raises(ContractError, match=rule):
        generate_kernel(region)
    with pytest.raises(ContractError, match=r"^op fused .*" + rule):    # names the op
        numba_cpu.compile(g)


def test_an_op_without_a_template_is_a_codegen_error_naming_the_op(monkeypatch):
    x = param("x", B, 4)
    (k,) = fuse(graph([x], [emit("tanh", emit("exp", x))])).ops
    monkeypatch.delitem(FLOAT_TEMPLATES, "tanh")
    with pytest.raises(CodegenError, match="op tanh needs the numba_cpu template of tanh "
                                           "for f32"):
        generate_kernel(k.region)


# --- kernels beyond the registry's cases (every primitive in every dtype against the
# reference: tests/backends/test_registry_ops.py) ------------------------------------------

INT_EXTREMES = {np.int32: [np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0, -1, 7],
                np.int64: [np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, -1, 7]}


def ints(shape, dtype, low=-50, high=50):
    a = rng.integers(low, high, size=shape).astype(dtype)
    a.flat[:5] = INT_EXTREMES[dtype]
    return a


def test_where_broadcasts_all_three_operands():
    c, a, b = param("c", B, 1, dtype=BOOL), param("a", B, 4), param("b")
    r = emit("where", c, a, b)
    differential([c, a, b], [r, emit("mul", r, a)],
                 [np.array([[True], [False], [True]]), floats(3, 4), np.array(2.5, np.float32)])


@pytest.mark.parametrize("value,dtype", [(2.5, F32), (0.1, F64), (float("inf"), F32),
                                         (float("-inf"), F32), (float("nan"), F32), (7, I32),
                                         (3.9, I64), (True, BOOL)])
def test_scalar_constants_are_copied_into_the_kernel(value, dtype):
    x = param("x", B, 4, dtype=dtype)
    c = emit("constant", value=value, dtype=dtype)
    if dtype == BOOL:
        r = emit("logical_and", x, c)
        after, data = emit("logical_not", r), rng.random((3, 4)) < 0.5
    else:
        r = emit("add", x, c)
        after = emit("mul", r, r)
        if dtype.is_int:
            data = ints((3, 4), dtype.numpy.type, -9, 9)
            data.flat[:5] = [1, 2, 3, 4, 5]
        else:
            data = floats(3, 4, dtype=dtype.numpy.type)
    exe = differential([x], [r, after], [data])
    assert "constant" in exe.kernels[0].spec.source


# --- broadcasting, symbols, multi-output, special values -----------------------------------

def test_broadcasting_dims_of_one_missing_leading_dims_and_scalars():
    x = param("x", B, 3, 4)
    others = [param("p4", 4), param("p31", 3, 1), param("p14", 1, 4), param("pb", B, 1, 1),
              param("p111", 1, 1, 1), param("s"), param("full", B, 3, 4)]
    acc = x
    for p in others:
        acc = emit("add", emit("mul", acc, p), p)
    arrays = [floats(2, 3, 4, scale=0.5)] + [floats(*((2 if d == B else d) for d in p.type.shape),
                                                     scale=0.5) for p in others]
    exe = differential([x] + others, [acc], arrays)
    src = exe.kernels[0].spec.source
    for load in ["in1[i2]", "in2[i1, 0]", "in3[0, i2]", "in4[i0, 0, 0]", "in5[0, 0, 0]", "in6[()]",
                 "in7[i0, i1, i2]"]:
        assert load in src, (load, src)


@pytest.fixture(scope="module")
def softmax():
    g = checks.softmax_graph()
    return g, numba_cpu.compile(fuse(g))


def test_multi_output_kernels(softmax):
    g, exe = softmax
    assert [len(k.op.results) for k in exe.kernels] == [2, 2]
    assert [op.kind for op in exe.graph.ops] == ["fused", "fused", "div"]
    xa, ba = floats(6, 5), floats(5)
    assert_same(exe(xa, ba), reference(g)(xa, ba))


def test_a_symbolic_batch_runs_with_two_sizes_on_one_compilation(softmax):
    g, exe = softmax
    ba = floats(5)
    for batch in (3, 17, 1):
        xa = floats(batch, 5)
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert [len(k.kernel.signatures) for k in exe.kernels] == [1, 1]


def test_an_empty_batch_runs_on_the_reference(softmax):
    g, exe = softmax
    xa, ba = np.zeros((0, 5), np.float32), floats(5)
    assert_same(exe(xa, ba), reference(g)(xa, ba))
    x = param("x", B, 3)
    g = graph([x], [emit("reduce_max", emit("exp", x), axes=(0,))])
    with pytest.raises(ExecutionError, match="reduce_max"):
        numba_cpu.compile(fuse(g))(np.zeros((0, 3), np.float32))


def test_a_kernel_that_falls_back_allocates_no_outputs(monkeypatch, softmax):
    g, _ = softmax
    exe = numba_cpu.compile(fuse(g))

    def no_outputs(self, env):
        raise AssertionError("outputs allocated for a kernel that does not run")
    monkeypatch.setattr(numba_cpu.executable.KernelStep, "output_shapes", no_outputs)
    xa, ba = np.zeros((0, 5), np.float32), floats(5)
    for _ in range(2):                              # the checked call, then the plan
        assert_same(exe(xa, ba), reference(g)(xa, ba))


# --- reductions ---------------------------------------------------------------------------

AXES = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", AXES, ids=lambda a: "axes" + "".join(map(str, a)))
def test_every_reduction_over_every_axis(axes, keepdims):
    x = param("x", B, 3, 4)
    y = emit("neg", x)
    results = [emit(k, y, axes=axes, keepdims=keepdims)
               for k in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")]
    exe = differential([x], results, [floats(5, 3, 4)], rtol=2e-6)
    src = exe.kernels[0].spec.source
    trailing = axes == tuple(range(axes[0], 3))
    assert (".fill(" not in src) == trailing, src
    # axes ending with the last one (0 and 2) sum the last loop in a local partial first
    assert ("acc" in src) == (axes[-1] == 2), src


def test_a_reduction_over_no_axes_keeps_every_element():
    # simplify removes these; a region made by hand still reaches the generator
    x, n = param("x", B, 3), param("n", B, 3, dtype=I32)
    y, m = emit("neg", x), emit("mul", n, n)
    kinds = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")
    results = [emit(k, y, axes=()) for k in kinds] + [emit("reduce_sum", m, axes=())]
    differential([x, n], results, [floats(4, 3), ints((4, 3), np.int32, -9, 9)], kernels=2)


def test_parallel_kernel_with_local_and_array_reductions(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", "1")
    x = param("x", B, 3, 4)
    y = emit("exp", x)
    results = [y, emit("reduce_sum", y, axes=(2,)), emit("reduce_max", y, axes=(1,), keepdims=True),
               emit("reduce_mean", y, axes=(1,))]
    exe = differential([x], results, [floats(9, 3, 4, scale=1.0)])
    spec = exe.kernels[0].spec
    assert spec.parallel and "for i0 in prange(n_B):" in spec.source


@pytest.mark.parametrize("batch", [5, 1])
def test_threads_split_the_rows_of_a_kernel_that_reduces_axis_0(monkeypatch, batch):
    """A bias gradient's sum over the batch: each thread folds its rows into its own
    partial (sums, means, NaN-propagating maxima), combined after the threads."""
    monkeypatch.setenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", "1")
    monkeypatch.setattr(threads, "get_num_threads", lambda: 2)   # two chunks, whatever runs
    m, x = param("m", B, 3, 4, dtype=BOOL), param("x", B, 3, 4)
    y = emit("where", m, x, emit("constant", value=0.0, dtype=F32))
    results = [y, emit("reduce_sum", y, axes=(0, 1), keepdims=True),
               emit("reduce_mean", y, axes=(0,)), emit("reduce_max", y, axes=(0, 2)),
               emit("reduce_min", y, axes=(2,))]
    xs = floats(batch, 3, 4)
    if batch:
        xs[0, 1, 2] = np.nan                      # one row's NaN reaches the max
    with np.errstate(all="ignore"):
        exe = differential([m, x], results, [rng.random((batch, 3, 4)) < 0.5, xs])
    spec = exe.kernels[0].spec
    assert spec.parallel and "for c in prange(2):" in spec.source
    assert "for i0 in range(lo, hi):" in spec.source and "part1[c, " in spec.source
    assert "np.add" not in spec.source and "np.full" not in spec.source   # loops: fast compile


# --- the Executable -----------------------------------------------------------------------

def test_input_errors_are_the_references(softmax):
    g, exe = softmax
    for arrays in [(floats(2, 5),), (floats(2, 5).astype(np.float64), floats(5)),
                   (floats(2, 4), floats(5))]:
        with pytest.raises(InputError) as want:
            reference(g)(*arrays)
        with pytest.raises(InputError) as got:
            exe(*arrays)
        assert str(got.value) == str(want.value)


def test_source_dumps_every_kernel_once(softmax):
    g, exe = softmax
    src = exe.source()
    assert src.count("def kernel_") == 2 and src.count("@njit(cache=True") == 2
    assert "reduce_max %2 {axes=[1], keepdims=true}" in src
    for k in exe.kernels:
        assert k.kernel.__source__ == k.spec.source and k.spec.source in src
        assert os.path.exists(k.kernel.__kernel_path__)


def test_a_second_compile_with_a_fresh_memo_reuses_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(tmp_path))
    x, y = param("x", B, 3), param("y", 3)
    g = graph([x, y], [emit("tanh", emit("mul", x, y))])
    arrays = [floats(4, 3), floats(3)]

    def listing():
        return {str(p.relative_to(tmp_path)): p.stat().st_mtime_ns
                for p in tmp_path.rglob("*") if p.is_file()}

    clear_memo()
    try:
        first = numba_cpu.compile(fuse(g))
        want = first(*arrays)
        files = listing()
        assert any(f.endswith(".py") and f.startswith("k_") for f in files)
        assert any(f.endswith(".nbi") for f in files) and any(f.endswith(".nbc") for f in files)

        clear_memo()
        second = numba_cpu.compile(fuse(g))
        assert second.kernels[0].kernel is not first.kernels[0].kernel
        assert_same(second(*arrays), want, 0, 0)
        assert listing() == files                       # nothing written, nothing rewritten
        assert sum(second.kernels[0].kernel._cache_hits.values()) == 1   # loaded, not compiled
    finally:
        clear_memo()


# --- plans: the generated step function of a binding ------------------------------------------

def _plan_globals(exe):
    return exe._last_plan.run.__globals__


def test_later_calls_run_the_plan_whose_source_can_be_dumped(softmax):
    g, exe = softmax
    xa, ba = floats(6, 5), floats(5)
    for _ in range(3):
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert exe.plan_errors == []
    src = plain_run(exe.plan_source(6))
    assert src.startswith("# plan of @softmax for B=6")
    assert src.count("# fused") == 2 and f"{exe.kernels[0].spec.name}" in src
    assert ", 6)" in src                      # the batch size is a literal
    with pytest.raises(ValueError, match="no plan"):
        exe.plan_source(99)


def test_no_plan_is_made_before_every_kernel_arrived(monkeypatch):
    # a tiered start (FUSEGRAPH_TIERED_START=1) answers False while kernels compile
    g = checks.softmax_graph()
    exe = numba_cpu.compile(fuse(g))
    xa, ba = floats(6, 5), floats(5)
    monkeypatch.setattr(exe.warmup, "arrived", lambda: False)
    for _ in range(2):
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert exe._plans == {} and exe._last_plan is None
    monkeypatch.setattr(exe.warmup, "arrived", lambda: True)
    assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert list(exe._plans) == [(6,)] and exe._plans[(6,)] is exe._last_plan


def test_a_plan_per_batch_size_and_at_most_max_plans(monkeypatch, softmax):
    g, exe = softmax
    monkeypatch.setattr(numba_cpu.executable, "MAX_PLANS", 3)
    ba = floats(5)
    for batch in (1, 2, 3, 4, 2, 5):
        xa = floats(batch, 5)
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert len(exe._plans) <= 3 and (5,) in exe._plans and exe.plan_errors == []


def test_matmul_writes_into_a_kept_buffer_and_reads_transposes_as_views():
    x, w, b = param("x", B, 4), param("w", 4, 3), param("b", 3)
    h = emit("maximum", emit("add", emit("matmul", x, w), b), emit("constant", value=0.0))
    gw = emit("matmul", emit("transpose", x, perm=(1, 0)), h)        # [4,3]
    g = graph([x, w, b], [emit("tanh", emit("mul", gw, gw)), h])
    exe = numba_cpu.compile(fuse(g))
    arrays = [floats(5, 4), floats(4, 3), floats(3)]
    for _ in range(2):
        assert_same(exe(*arrays), reference(g)(*arrays))
    src = plain_run(exe.plan_source())
    assert len(re.findall(r"matmul\d*\(", src)) == 2 and src.count(", out=") == 2, src
    assert "ascontiguousarray" not in src and exe.plan_errors == []


def test_results_are_reused_only_once_the_caller_let_them_go():
    x = param("x", B, 3)
    y = emit("exp", emit("neg", x))
    g = graph([x], [y, emit("reshape", emit("mul", y, y), shape=(B, 3, 1))])
    exe = numba_cpu.compile(fuse(g))
    a, b = floats(2, 3), floats(2, 3)
    exe(a)                                         # the checked call, which makes the plan
    first = exe(a)
    kept = [r.copy() for r in first]
    second = exe(b)                                # ``first`` is held: the spare buffers
    assert all(r2 is not r1 and not np.shares_memory(r1, r2) for r1, r2 in zip(first, second))
    assert any(second[0] is p for p in _plan_globals(exe)["POOL"])
    extra = exe(a)                                 # both held: new arrays
    assert not any(np.shares_memory(e, r) for e in extra for r in first + second)
    for r, k in zip(first, kept):
        np.testing.assert_array_equal(r, k)
    del extra
    # The second result is a view of a kernel's buffer: holding it holds the buffer.
    view = second[1]
    del first, second
    third = exe(a)
    assert not np.shares_memory(view, third[1])
    pool = _plan_globals(exe)["POOL"]
    del third, view
    fourth = exe(b)                                # nobody holds anything: buffers reused
    assert any(fourth[0] is p for p in pool)
    assert any(np.shares_memory(fourth[1], p) for p in pool)
    assert_same(fourth, reference(g)(b))


def test_values_of_the_sizes_alone_are_computed_once_and_returned_as_copies():
    x = param("x", B, 3)
    n = emit("dim_size", x, axis=0)
    ones = emit("broadcast_to", emit("constant", value=(1.0,)), shape=(B,))
    scale = emit("div", ones, n)                    # a kernel of size-only values
    g = graph([x], [scale, emit("mul", emit("reduce_sum", x, axes=(1,)), scale)])
    exe = numba_cpu.compile(fuse(g))
    a = floats(4, 3)
    exe(a)
    got = exe(a)
    assert "dim_size" not in exe.plan_source() and "broadcast_to" not in exe.plan_source()
    got[0][:] = 7.0                                 # the caller's copy, not the plan's
    assert_same(exe(a), reference(g)(a))


def test_the_first_calls_results_are_the_callers_even_when_the_plan_keeps_them():
    x = param("x", B, 3)
    n = emit("cast", emit("dim_size", x, axis=0), dtype=F32)
    zeros = emit("mul", emit("broadcast_to", emit("constant", value=(0.0,)), shape=(B, 3)), n)
    c = emit("constant", value=[1.0, 2.0, 3.0])
    g = graph([x], [zeros, c, emit("add", x, c)])   # size-only values as results
    exe = numba_cpu.compile(fuse(g))
    a = floats(2, 3)
    first = exe(a)                                  # the checked call keeps zeros and c
    for r in first[:2]:
        r[:] = 7.0                                  # the caller edits its arrays in place
    for _ in range(2):
        assert_same(exe(a), reference(g)(a))
    assert exe.plan_errors == []


def test_a_variable_reset_to_zeros_stays_reset_after_the_user_edits_it():
    v = fg.Variable(np.ones(4, np.float32), "v", "v")

    def reset(x):
        v.assign(fg.ops.zeros_like(v.read_value()))
        return x + 1.0
    f = Function(reset, compile_fn=optimizing_compiler("numba_cpu"))
    f(np.ones((2, 4), np.float32))
    v.value[:] = 7.0                                # the user edits the variable's array
    f(np.ones((2, 4), np.float32))
    np.testing.assert_array_equal(v.value, np.zeros(4, np.float32))


def test_a_busy_plan_and_a_failing_plan_run_on_the_checked_path(softmax):
    g, exe = softmax
    xa, ba = floats(7, 5), floats(5)
    exe(xa, ba)
    with exe._lock:                                 # as if another thread were in the plan
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    plan = exe._plans[(7,)]
    run = plan.run

    def broken(arrays):
        raise RuntimeError("plan bug")
    plan.run = broken
    try:
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    finally:
        plan.run = run
    assert len(exe.plan_errors) == 1 and "plan bug" in exe.plan_errors[0]
    exe.plan_errors.clear()


def test_a_plan_that_disagrees_with_the_checked_path_is_dropped(monkeypatch, softmax):
    g, exe = softmax
    monkeypatch.setattr(numba_steps, "disagreement", lambda got, want: "forced")
    xa, ba = floats(11, 5), floats(5)
    for _ in range(2):
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert exe._plans[(11,)] is None
    assert exe.plan_errors == ["plan for B=11 dropped: forced"]
    exe.plan_errors.clear()


def test_plan_results_must_match_in_type_and_value_up_to_summation_order():
    check = numba_steps.disagreement
    w = np.array([1.0, np.nan, np.inf, -2.0, 0.0], np.float32)
    assert check([w.copy()], [w]) is None
    assert check([w * np.float32(1 + 1e-7)], [w]) is None          # last-bit differences
    assert "differs" in check([w + np.float32(0.01)], [w])
    assert "differs" in check([np.where(np.isnan(w), 0, w)], [w])
    assert "differs" in check([-w], [w])
    assert "result 0 is" in check([w.astype(np.float64)], [w])
    assert "result 0 is" in check([w[:4]], [w])
    assert "result 0 is" in check([(1.0,)], [w])
    assert "2 results" in check([w, w], [w])
    assert "differs" in check([np.array([1, 2], np.int32)], [np.array([1, 3], np.int32)])


def test_an_op_failing_in_the_plan_raises_the_references_error():
    x, i = param("x", 4, 3), param("i", B, dtype=I32)
    g = graph([x, i], [emit("tanh", emit("exp", emit("take", x, i, axis=0)))])
    exe = numba_cpu.compile(fuse(g))
    xa = floats(4, 3)
    good, bad = np.array([0, 3], np.int32), np.array([0, 4], np.int32)
    exe(xa, good)
    assert_same(exe(xa, good), reference(g)(xa, good))
    with pytest.raises(Exception) as want:
        reference(g)(xa, bad)
    with pytest.raises(type(want.value)) as got:
        exe(xa, bad)
    assert str(got.value) == str(want.value) and exe.plan_errors == []


def test_arrays_the_fast_binder_leaves_to_the_reference_still_run(softmax):
    g, exe = softmax
    xa, ba = floats(5, 3), floats(5)
    class Sub(np.ndarray):
        pass
    for x_in, b_in in [(xa.T, ba), (floats(3, 10)[:, ::2], ba), (np.asfortranarray(xa.T), ba),
                       (floats(2, 5).view(Sub), ba), (floats(2, 5), ba.view(Sub))]:
        assert_same(exe(x_in, b_in), reference(g)(x_in, b_in))
    assert exe.plan_errors == []


# --- a whole training step ----------------------------------------------------------------

def _train(backend):
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    inputs = fg.Input(shape=(6,))
    h = fg.layers.Dense(8, activation="relu")(inputs)
    model = fg.Model(inputs, fg.layers.Dense(3, activation="softmax")(h))
    model.compile(optimizer=fg.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], backend=backend)
    data = np.random.default_rng(1)
    x = data.normal(size=(40, 6)).astype(np.float32)
    y = data.integers(0, 3, 40).astype(np.int32)
    losses = [model.train_on_batch(x[:16], y[:16]) for _ in range(3)]
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)   # 16, 16, 8
    return model, losses, history.history


def test_a_training_step_matches_the_reference():
    ref_model, ref_losses, ref_history = _train("reference")
    model, losses, history = _train("numba_cpu")
    exe = model._train_function.last_trace.traced_graph._executable
    assert isinstance(exe, numba_cpu.Executable) and len(exe.kernels) >= 5
    assert len(exe.kernels) == sum(op.kind == "fused" for op in exe.graph.ops)
    assert exe.plan_errors == [] and exe._plans
    # Each weight's Adam update is one kernel: gradient, moment, velocity, step size and
    # weight in; new moment, velocity and weight out.
    updates = [k for k in exe.kernels if len(k.op.operands) == 5 and len(k.op.results) == 3]
    assert len(updates) == 4, exe.graph
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert history.keys() == ref_history.keys()
    for key in history:
        np.testing.assert_allclose(history[key], ref_history[key], rtol=1e-5)
    for w, ref_w in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)


# --- scans: a compiled loop, or the body compiled once and run by its plan per step -----

def _recurrent(layer, backend, go_backwards=False):
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    inputs = fg.Input(shape=(None, 3))
    h = getattr(fg.layers, layer)(5, go_backwards=go_backwards, return_sequences=True)(inputs)
    h = fg.layers.LSTM(4)(h) if layer != "LSTM" else fg.layers.SimpleRNN(4)(h)
    model = fg.Model(inputs, fg.layers.Dense(1)(h))
    model.compile(optimizer=fg.optimizers.Adam(1e-2), loss="mse", backend=backend)
    return model


def _scan_steps(model):
    exe = model._train_function.last_trace.traced_graph._executable
    return exe, exe.scans


@pytest.mark.parametrize("layer", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_recurrent_training_and_prediction_match_the_reference(layer, go_backwards):
    data = np.random.default_rng(2)
    batches = [(data.normal(size=(b, t, 3)).astype(np.float32),
                data.normal(size=(b, 1)).astype(np.float32)) for b, t in ((4, 6), (4, 6), (3, 7))]
    runs = {}
    for backend in ("reference", "numba_cpu"):
        model = _recurrent(layer, backend, go_backwards)
        losses = [model.train_on_batch(x, y) for x, y in batches]   # two batch sizes, two T
        runs[backend] = (model, losses, model.predict(batches[2][0], verbose=0))
    model, losses, pred = runs["numba_cpu"]
    ref_model, ref_losses, ref_pred = runs["reference"]
    exe, scans = _scan_steps(model)
    assert len(scans) == 4 and exe.plan_errors == []          # forward+saving and backward, x2
    assert all(s.failures == [] and s.mode == "loop" for s in scans)   # compiled loops
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(pred, ref_pred, rtol=1e-5, atol=1e-6)
    for w, ref_w in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)


def _scan_graph_of(body, carry, xs, reverse=False, invariants=()):
    attrs = dict(num_carries=len(carry), num_sequences=len(xs),
                 num_invariants=len(invariants), axis=1, reverse=reverse)
    out = emit("scan", *carry, *xs, *invariants, region=body, **attrs)
    return graph([*carry, *xs, *invariants], list(out) if isinstance(out, tuple) else [out])


def _float_and_int_body():
    """Carries: h (f32) and a step counter (i32); per step: y = h' and the counter."""
    h, n = param("h", B, 2), param("n", dtype=I32)
    x, w = param("x", B, 2), param("w", 2, 2)
    one = emit("constant", value=1, dtype=I32)
    new_h = emit("tanh", emit("add", emit("matmul", h, w), x))
    new_n = emit("add", n, one)
    return Graph.from_results("body", [h, n, x, w], [new_h, new_n, new_h, emit("reshape", new_n, shape=(1,))])


@pytest.fixture
def steps_only(monkeypatch):
    """Scans compiled in the test run step by step (their body's plan per step), not as a
    compiled loop (tests/backends/test_numba_cpu_scan.py tests those)."""
    def off(ref, kernels):
        raise numba_cpu.scan.Unsupported("switched off")
    monkeypatch.setattr(numba_cpu.scan, "CompiledLoop", off)


@pytest.mark.parametrize("reverse", [False, True])
def test_a_scan_with_int_carries_symbolic_batch_and_length_matches_exactly(reverse, steps_only):
    T = Sym("T")
    h0, n0 = param("h0", B, 2), param("n0", dtype=I32)
    xs, w = param("xs", B, T, 2), param("w", 2, 2)
    g = _scan_graph_of(_float_and_int_body(), [h0, n0], [xs], reverse, [w])
    exe, ref = numba_cpu.compile(g), reference(g)
    assert len(exe.scans) == 1
    for b, t in ((3, 5), (3, 5), (2, 4), (3, 0)):
        arrays = [floats(b, 2), np.array(7, np.int32), floats(b, t, 2, scale=0.5), floats(2, 2)]
        got, want = exe(*arrays), ref(*arrays)
        for g_, w_ in zip(got, want):
            assert g_.dtype == w_.dtype and g_.shape == w_.shape
            np.testing.assert_array_equal(g_, w_)
        assert not any(np.shares_memory(r, a) for r in got for a in arrays)
    assert exe.scans[0].failures == [] and exe.plan_errors == []
    assert len(exe.scans[0].body._plans) == 2         # one body plan per batch size


def test_scan_carries_are_not_copied_per_step_and_results_stay_the_callers(steps_only):
    T = Sym("T")
    h0, n0 = param("h0", B, 2), param("n0", dtype=I32)
    xs, w = param("xs", B, T, 2), param("w", 2, 2)
    exe = numba_cpu.compile(_scan_graph_of(_float_and_int_body(), [h0, n0], [xs], False, [w]))
    arrays = [floats(3, 2), np.array(0, np.int32), floats(3, 6, 2, scale=0.5), floats(2, 2)]
    first = exe(*arrays)
    kept = [a.copy() for a in first]
    for _ in range(3):
        exe(*arrays)
    for a, b in zip(first, kept):          # later calls never write into earlier results
        np.testing.assert_array_equal(a, b)
    plan = exe.scans[0].body._last_plan
    assert "POOL" in plan.source        # the new carry goes into a pooled buffer, no copy


def test_a_scan_falling_back_is_recorded_bounded_and_warned_about_once(monkeypatch):
    h, x = param("h", B, 2), param("x", B, 2)
    body = Graph.from_results("body", [h, x], [emit("add", h, x), emit("add", h, x)])
    g = _scan_graph_of(body, [param("h0", B, 2)], [param("xs", B, 3, 2)])
    exe = numba_cpu.compile(g)
    arrays = [floats(2, 2), floats(2, 3, 2)]

    def broken(self, args, env):
        raise RuntimeError("scan bug")
    monkeypatch.setattr(numba_cpu.scan.ScanStep, "_run", broken)
    fell_back = "op scan.* ran on the reference: RuntimeError: scan bug"
    with pytest.warns(RuntimeWarning, match=fell_back):
        assert_same(exe(*arrays), reference(g)(*arrays), rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # once per scan op
        for _ in range(20):
            assert_same(exe(*arrays), reference(g)(*arrays), rtol=0, atol=0)
    limit = numba_steps.MAX_FAILURES
    assert len(exe.plan_errors) == limit and len(exe.scans[0].failures) == limit
    assert all("scan fell back" in e and "scan bug" in e for e in exe.plan_errors)


def test_a_scan_whose_reference_also_fails_is_not_reported_as_a_fallback():
    h, x = param("h", B, 2), param("x", B, 2)
    body = Graph.from_results("body", [h, x], [emit("add", h, x)])
    g = _scan_graph_of(body, [param("h0", B, 2)], [param("xs", B, 3, 2)])
    exe = numba_cpu.compile(g)
    step = exe.scans[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Exception) as got:       # the user's error, not a fallback
            step.run([floats(2, 2), floats(3, 3, 2)], {B: 2})
    with pytest.raises(Exception) as want:
        run_op(step.ref, [floats(2, 2), floats(3, 3, 2)], {B: 2})
    assert str(got.value) == str(want.value) and exe.plan_errors == []


def test_failure_logs_keep_only_the_latest_entries():
    log = []
    for k in range(3 * numba_steps.MAX_FAILURES):
        numba_steps.record_failure(log, str(k))
    limit = numba_steps.MAX_FAILURES
    assert log == [str(k) for k in range(2 * limit, 3 * limit)]


def test_plan_errors_stay_bounded_however_often_a_plan_fails(softmax):
    g, _ = softmax
    exe = numba_cpu.compile(fuse(g))
    xa, ba = floats(3, 5), floats(5)
    exe(xa, ba)
    plan = exe._plans[(3,)]

    def broken(arrays):
        raise RuntimeError("plan bug")
    plan.run = broken
    for _ in range(3 * numba_steps.MAX_FAILURES):
        assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert len(exe.plan_errors) == numba_steps.MAX_FAILURES


def test_a_scan_without_outputs_and_bad_inputs_behave_as_the_reference():
    h, x = param("h", B, 2), param("x", B, 2)
    body = Graph.from_results("body", [h, x], [emit("add", h, x)])
    h0, xs = param("h0", B, 2), param("xs", B, 3, 2)
    g = _scan_graph_of(body, [h0], [xs])
    exe = numba_cpu.compile(g)
    arrays = [floats(2, 2), floats(2, 3, 2)]
    for _ in range(2):
        out = exe(*arrays)
        assert_same(out, reference(g)(*arrays), rtol=0, atol=0)
        assert not np.shares_memory(out[0], arrays[0])
    with pytest.raises(InputError):
        exe(floats(2, 2), floats(3, 3, 2))
