"""The numba_cuda backend against the reference, in Numba's CUDA simulator (no GPU needed):
elementwise kernels with broadcasting, every reduction kind over trailing and leading
axes, reductions over different axes in one kernel, a symbolic batch, ints and bools,
fallbacks, a whole training step; and every kernel compiled to PTX where the CUDA
toolkit (NVVM) is found, in a process without the simulator.

**The simulator switch must be set before numba.cuda is first imported** (numba.cuda
picks the simulator or the driver once, at its import): this module sets
``NUMBA_ENABLE_CUDASIM=1`` at its own import, before it imports anything that could
import numba.cuda. The backend imports numba.cuda lazily, on its first compile, after
refreshing Numba's configuration, so numba itself may already be loaded (numba_cpu's
tests import it first in a whole-suite run; CPU kernels do not read the switch).
With ``FUSEGRAPH_CUDA_REAL=1`` the module leaves the switch alone and runs the same tests
on a real GPU (``benchmarks/gpu_check.sh``).

The simulator runs every CUDA thread as a Python thread, so shapes are tiny. It also
runs the kernel source as Python: ``math.exp`` and friends compute in float64 there
(float32 on a GPU), so comparisons use float32 tolerances rather than exact equality,
and special values (inf/NaN through ``math.*``, which raise in Python) are tested only
on a real GPU.
"""
import os

REAL_GPU = os.environ.get("FUSEGRAPH_CUDA_REAL") == "1"
if not REAL_GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"   # before numba.cuda is first imported

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fusegraph as fg  # noqa: E402
from fusegraph.backends import default_pipeline, get_backend, optimizing_compiler  # noqa: E402
from fusegraph.backends import numba_cuda  # noqa: E402
from fusegraph.backends.numba import templates as cpu_templates  # noqa: E402
from fusegraph.backends.numba_cuda import (CudaUnavailableError,  # noqa: E402
                                           InputError, generate_kernel)
from fusegraph.backends.numba_cuda import device, templates  # noqa: E402
from fusegraph.backends.reference import compile as reference  # noqa: E402
from fusegraph.ir import (BATCH as B, DType, Sym, emit, parse_graph, print_graph)  # noqa: E402
from fusegraph.ir.builder import emit_op  # noqa: E402
from fusegraph.ir.errors import ContractError  # noqa: E402
from fusegraph.ir.opdef import ELEMENTWISE, all_opdefs  # noqa: E402
from fusegraph.passes import FUSION_PIPELINE, fuse  # noqa: E402

from helpers import backend_checks as checks  # noqa: E402
from helpers.backend_checks import graph, param  # noqa: E402

F32, I32, BOOL = DType.f32, DType.i32, DType.bool
rng = np.random.default_rng(0)
# The simulator runs int32 arithmetic on numpy scalars in its own threads, where the
# tests' np.errstate does not reach: wrapping around warns there (and wraps as on a GPU).
# On a GPU, Numba warns that the tests' tiny grids under-use it.
pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Grid size:Warning")]


@pytest.fixture(scope="module", autouse=True)
def _cuda_mode():
    """Skip, with the reason, where this module cannot run its kernels."""
    if REAL_GPU:
        if not device.gpu_available():
            pytest.skip("FUSEGRAPH_CUDA_REAL=1 but numba.cuda finds no GPU")
    elif not device.is_simulator():
        pytest.skip("numba.cuda was imported without the simulator before this module set "
                    "NUMBA_ENABLE_CUDASIM=1 (it must be set before numba.cuda loads)")
    yield


def floats(*shape, scale=2.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def assert_same(got, want, rtol=2e-6, atol=1e-6):
    checks.assert_same(got, want, rtol, atol)


def differential(params, results, arrays, *, kernels=1, rtol=2e-6, atol=1e-6):
    """Fuse the graph, run it on numba_cuda and the unfused graph on the reference."""
    exe = checks.differential(numba_cuda.compile, params, results, arrays, kernels=kernels,
                              rtol=rtol, atol=atol)
    assert exe.counts["kernel"] == kernels and exe.counts["kernel_fallback"] == 0
    return exe


# --- registration, lazy import, templates -----------------------------------------------

def test_backend_is_registered_with_the_fusion_pipeline():
    assert get_backend("numba_cuda") is numba_cuda.compile
    assert default_pipeline("numba_cuda") == FUSION_PIPELINE
    x = param("x", B, 4)
    exe = optimizing_compiler("numba_cuda")(graph([x], [emit("exp", emit("neg", x))]))
    assert len(exe.kernels) == 1 and exe.simulator == (not REAL_GPU)
    assert exe.matmul_path == ("cublas" if REAL_GPU and device.cupy_module()[0] else "host")


def test_importing_the_backend_imports_neither_numba_cuda_nor_cupy():
    code = ("import sys, fusegraph, fusegraph.backends.numba_cuda as b; "
            "from fusegraph.backends import get_backend; get_backend('numba_cuda'); "
            "print(sorted(m for m in ('numba.cuda', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_cuda_tables_are_the_cpu_tables_with_a_few_overrides():
    elementwise = {n for n, d in all_opdefs().items() if d.has(ELEMENTWISE)} | {"constant"}
    overridden = {"sign", "floor", "maximum", "minimum"}
    pairs = [(templates.CUDA_FLOAT_TEMPLATES, cpu_templates.FLOAT_TEMPLATES),
             (templates.CUDA_INT_TEMPLATES, cpu_templates.INT_TEMPLATES),
             (templates.CUDA_BOOL_TEMPLATES, cpu_templates.BOOL_TEMPLATES)]
    for cuda_table, cpu_table in pairs:
        assert elementwise <= set(cuda_table) and set(cuda_table) == set(cpu_table)
        assert {k for k in cpu_table if cuda_table[k] != cpu_table[k]} <= overridden
    # Float max/min stay the CPU's NaN-propagating conditionals.
    assert templates.CUDA_FLOAT_TEMPLATES["maximum"] == cpu_templates.FLOAT_TEMPLATES["maximum"]
    # Int max/min (and so the int max/min reductions) are conditionals, not ``max(``.
    assert "max(" not in templates.CUDA_INT_TEMPLATES["maximum"]
    assert "min(" not in templates.CUDA_INT_TEMPLATES["minimum"]
    assert all(numba_cuda.CAPABILITY.has_code(kind, dtype)
               for kind in elementwise for dtype in DType)


def _evaluate(template, *args, T="np.float32"):
    import math
    names = [f"x{i}" for i in range(len(args))]
    with np.errstate(all="ignore"):
        return eval(template.format(*names, T=T), {"math": math, "np": np},
                    dict(zip(names, args)))


@pytest.mark.parametrize("kind", ["sign", "floor"])
def test_overridden_float_templates_agree_with_numpy_on_special_values(kind):
    values = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -2.5, -0.5, 0.5, 3.0,
                       -1e30, 1e30, 8388609.0, -4503599627370497.0], np.float32)
    want = getattr(np, kind)(values)
    got = np.array([_evaluate(templates.CUDA_FLOAT_TEMPLATES[kind], v) for v in values],
                   np.float32)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_overridden_int_templates_agree_with_numpy():
    values = np.array([np.iinfo(np.int32).min, -7, 0, 7, np.iinfo(np.int32).max], np.int32)
    t = templates.CUDA_INT_TEMPLATES
    for a in values:
        assert _evaluate(t["sign"], a, T="np.int32") == np.sign(a)
        for b in values:
            assert _evaluate(t["maximum"], a, b, T="np.int32") == np.maximum(a, b)
            assert _evaluate(t["minimum"], a, b, T="np.int32") == np.minimum(a, b)


# --- code generation (no running) --------------------------------------------------------

def _spec(params, results):
    (k,) = [op for op in fuse(graph(params, results)).ops if op.kind == "fused"]
    return generate_kernel(k.region)


def test_one_thread_per_element_unflattened_from_cuda_grid():
    x, col = param("x", B, 3, 4), param("col", 4)
    spec = _spec([x, col], [emit("exp", emit("add", x, col))])
    src = spec.source
    assert spec.thread_axes == (0, 1, 2) and spec.symbols == (Sym("B"),)
    assert spec.thread_count({Sym("B"): 5}) == 60
    assert "@cuda.jit(cache=True, fastmath=False)" in src and "for " not in src
    assert f"def {spec.name}(in0, in1, out0, n_B):" in src
    lines = [line.strip() for line in src.splitlines()]
    for expected in ["t = cuda.grid(1)", "if t >= n_B * 3 * 4:", "return", "i2 = t % 4",
                     "t = t // 4", "i1 = t % 3", "t = t // 3", "i0 = t", "a1 = in1[i2]",
                     "out0[i0, i1, i2] = v1"]:
        assert expected in [line.split("  #")[0].strip() for line in lines], (expected, src)
    compile(src, "<kernel>", "exec")


def test_reduced_axes_loop_inside_the_thread_with_a_local_accumulator():
    x, row = param("x", B, 3, 4), param("row", B, 1, 1)
    y = emit("mul", emit("sub", x, row), x)
    spec = _spec([x, row], [y, emit("reduce_sum", y, axes=(1, 2))])
    src = spec.source
    assert spec.thread_axes == (0,)
    body = [line.split("  #")[0].rstrip() for line in src.splitlines()]
    for expected in ["    if t >= n_B:", "    i0 = t", "    a1 = in1[i0, 0, 0]",
                     "    acc2 = np.float64(0.0)", "    for i1 in range(3):",
                     "        for i2 in range(4):", "            a0 = in0[i0, i1, i2]",
                     "            acc2 = (v1 + acc2)", "    out1[i0] = np.float32(acc2)"]:
        assert expected in body, (expected, src)
    # The row operand is read once per thread, before the loops.
    assert body.index("    a1 = in1[i0, 0, 0]") < body.index("    for i1 in range(3):")


def test_a_reduction_over_other_axes_than_the_last_loops_accumulates_in_its_output():
    x = param("x", B, 3)
    y = emit("exp", x)
    spec = _spec([x], [emit("reduce_max", y, axes=(1,)), emit("reduce_mean", y, axes=(0,))])
    src = spec.source
    assert spec.thread_axes == () and "if t >= 1:" in src
    assert "acc1 = np.float32(-np.inf)" in src                    # axis 1: the last loop
    assert "r2 = np.float32(0.0) if i0 == 0 else out1[i1]" in src   # axis 0: in the output
    assert "if i0 == n_B - 1:" in src


def test_a_cuda_kernel_compiles_and_runs_without_the_cpu_target():
    """The targets share only fusegraph.backends.numba: compiling and running a
    numba_cuda kernel (in the simulator) loads no module of numba_cpu."""
    code = ("import sys, numpy as np\n"
            "from fusegraph.backends import numba_cuda\n"
            "from fusegraph.ir import BATCH, TensorType, Value, Graph, emit\n"
            "from fusegraph.passes import fuse\n"
            "x = Value(TensorType((BATCH, 3)), name='x')\n"
            "g = fuse(Graph.from_results('g', [x], [emit('exp', emit('neg', x))]))\n"
            "exe = numba_cuda.compile(g)\n"
            "(y,) = exe(np.ones((2, 3), np.float32))\n"
            "assert len(exe.kernels) == 1 and exe.counts['kernel'] == 1, exe.counts\n"
            "assert np.allclose(y, np.exp(-1.0)), y\n"
            "print(sorted(m for m in sys.modules if m.startswith('fusegraph.backends.numba_cpu')))")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_a_region_the_generator_refuses_is_named():
    inner = param("in0", 3, 3)
    region = graph([inner], [emit("exp", emit("matmul", inner, inner))], name="kernel")
    with pytest.raises(ContractError, match=r"\(op classes\): region op 0 \(matmul.*\) is "
                                            r"neither elementwise, a reduction, an expansion nor a row gather"):
        generate_kernel(region)


# --- kernels against the reference, in the simulator --------------------------------------

def test_elementwise_broadcasting_multi_output():
    x, row, col, s = param("x", B, 3, 4), param("row", B, 1, 1), param("col", 4), param("s")
    p14, p31 = param("p14", 1, 4), param("p31", 3, 1)
    y = emit("add", emit("mul", emit("sub", x, row), col), s)
    z = emit("tanh", emit("div", emit("mul", y, p14), p31))
    exe = differential([x, row, col, s, p14, p31], [y, z],
                       [floats(2, 3, 4), floats(2, 1, 1), floats(4),
                        np.array(0.5, np.float32), floats(1, 4), floats(3, 1)])
    assert exe.counts["to_device"] == 6 and exe.counts["to_host"] == 2


def test_unary_and_binary_float_primitives():
    x, y = param("x", B, 5), param("y", 5)
    xs = emit("stop_gradient", x)
    pos = emit("add", emit("abs", xs), emit("constant", value=0.25))
    results = [emit(k, xs) for k in ("neg", "abs", "sign", "exp", "tanh", "sigmoid", "erf",
                                     "sin", "cos", "floor")]
    results += [emit(k, pos) for k in ("log", "sqrt", "rsqrt")]
    results += [emit(k, xs, y) for k in ("add", "sub", "mul", "div", "maximum", "minimum")]
    results += [emit("pow", pos, y), emit("where", emit("gt", xs, y), xs, y)]
    xa = floats(3, 5)
    xa[0, :4] = [0.0, -0.0, -2.5, 2.5]
    differential([x, y], results, [xa, floats(5)], rtol=3e-6)


def test_int_and_bool_primitives():
    x, y = param("x", B, 6, dtype=I32), param("y", 6, dtype=I32)
    b = param("b", B, 1, dtype=BOOL)
    xs = emit("stop_gradient", x)
    results = [emit(k, xs) for k in ("neg", "abs", "sign")]
    results += [emit(k, xs, y) for k in ("add", "sub", "mul", "maximum", "minimum")]
    lt = emit("lt", xs, y)
    results += [lt, emit("logical_and", lt, b), emit("logical_or", emit("logical_not", lt), b),
                emit("where", b, xs, y), emit("cast", xs, dtype=F32),
                emit("cast", xs, dtype=BOOL)]
    xa = rng.integers(-50, 50, size=(3, 6)).astype(np.int32)
    xa[0, :3] = [np.iinfo(np.int32).max, np.iinfo(np.int32).min, 0]
    ya = rng.integers(-50, 50, size=6).astype(np.int32)
    differential([x, y, b], results, [xa, ya, rng.random((3, 1)) < 0.5])


@pytest.mark.skipif(not REAL_GPU, reason="the simulator runs math.* as Python, which raises "
                                         "on log(0), log(-1) and exp overflow")
def test_nan_and_inf_propagate_as_in_numpy_on_a_gpu():
    x = param("x", B, 7)
    xs = emit("stop_gradient", x)
    zero, one, three_halves = (emit("constant", value=v) for v in (0.0, 1.0, 1.5))
    results = [emit("exp", xs), emit("maximum", xs, zero), emit("minimum", xs, zero),
               emit("sigmoid", xs), emit("div", one, xs), emit("log", xs), emit("tanh", xs),
               emit("sign", xs), emit("rsqrt", xs), emit("pow", xs, three_halves),
               emit("floor", xs), emit("sub", xs, xs), emit("eq", xs, xs)]
    results += [emit(r, xs, axes=(1,)) for r in ("reduce_max", "reduce_min", "reduce_sum")]
    data = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -3.0],
                     [2.0, 100.0, -100.0, 1e-30, -1e-30, np.inf, 5.0],
                     [1.0, np.inf, -np.inf, 0.0, 3.0, -1.0, 2.0]], np.float32)
    exe = differential([x], results, [data])
    got = exe(data)
    want = reference(graph([x], results))(data)
    for g, w in zip(got, want):
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
            np.testing.assert_array_equal(np.isinf(g), np.isinf(w))


REDUCE_KINDS = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")


@pytest.mark.parametrize("axes,keepdims", [((2,), False), ((1, 2), True), ((0,), False),
                                           ((0, 1), True), ((1,), False), ((0, 1, 2), False)],
                         ids=lambda a: "".join(map(str, a)) if isinstance(a, tuple) else str(a))
def test_every_reduction_kind_over_trailing_and_leading_axes(axes, keepdims):
    x = param("x", B, 3, 4)
    y = emit("neg", x)
    results = [emit(k, y, axes=axes, keepdims=keepdims) for k in REDUCE_KINDS]
    exe = differential([x], results, [floats(3, 3, 4)])
    assert exe.kernels[0].spec.thread_axes == tuple(a for a in range(3) if a not in axes)


def test_a_reduction_over_no_axes_keeps_every_element():
    # simplify removes these; a region made by hand still reaches the generator
    x = param("x", B, 3)
    y = emit("neg", x)
    exe = differential([x], [emit(k, y, axes=()) for k in REDUCE_KINDS], [floats(4, 3)])
    assert exe.kernels[0].spec.thread_axes == (0, 1)


def test_reductions_over_different_axes_in_one_kernel():
    x = param("x", B, 4)
    y = emit("exp", emit("mul", x, emit("constant", value=0.5)))
    results = [y] + [emit(k, y, axes=(0,), keepdims=True) for k in REDUCE_KINDS] + \
              [emit(k, y, axes=(1,)) for k in REDUCE_KINDS]
    exe = differential([x], results, [floats(3, 4)])
    assert exe.kernels[0].spec.thread_axes == ()


def test_int_reductions():
    x = param("x", B, 5, dtype=I32)
    y = emit("mul", x, x)
    results = [emit(k, y, axes=a) for k in ("reduce_sum", "reduce_max", "reduce_min")
               for a in ((1,), (0,))]
    differential([x], results, [rng.integers(-60000, 60000, size=(3, 5)).astype(np.int32)])


@pytest.fixture(scope="module")
def softmax():
    g = checks.softmax_graph()
    return g, numba_cuda.compile(fuse(g))


def test_a_symbolic_batch_runs_with_several_sizes(softmax):
    g, exe = softmax
    assert len(exe.kernels) == 2
    ba = floats(5)
    for batch in (1, 4, 2):
        xa = floats(batch, 5)
        assert_same(exe(xa, ba), reference(g)(xa, ba))
        assert exe.counts["kernel"] == 2 and exe.counts["host_op"] == 1
        # The max is copied back for the host's div; h and the sums stay on the device
        # until the div needs them.
        assert exe.counts["to_device"] == 2


def test_an_empty_batch_runs_on_the_reference(softmax):
    g, exe = softmax
    xa, ba = np.zeros((0, 5), np.float32), floats(5)
    assert_same(exe(xa, ba), reference(g)(xa, ba))
    assert exe.counts["kernel"] == 0 and exe.counts["kernel_fallback"] == 2


def test_a_region_without_a_kernel_is_an_error_and_input_errors_are_the_references(softmax):
    x = param("x", 3, 3)
    inner = param("in0", 3, 3)
    region = graph([inner], [emit("exp", emit("matmul", inner, inner))], name="kernel")
    g = graph([x], [emit_op("fused", [x], {}, region).results[0]])
    with pytest.raises(ContractError, match=r"^op fused .*\(op classes\)"):
        numba_cuda.compile(g)
    g, exe = softmax
    for arrays in [(floats(2, 5),), (floats(2, 5).astype(np.float64), floats(5))]:
        with pytest.raises(InputError) as want:
            reference(g)(*arrays)
        with pytest.raises(InputError) as got:
            exe(*arrays)
        assert str(got.value) == str(want.value)


def test_source_dumps_every_kernel_once(softmax):
    _, exe = softmax
    src = exe.source()
    assert src.count("@cuda.jit(cache=True, fastmath=False)") == 2
    assert "reduce_max %2 {axes=[1], keepdims=true}" in src
    assert "numba_cuda" in repr(exe)


# --- a whole training step ----------------------------------------------------------------

def _tiny_model(backend):
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    inputs = fg.Input(shape=(3,))
    h = fg.layers.Dense(4, activation="relu")(inputs)
    model = fg.Model(inputs, fg.layers.Dense(3, activation="softmax")(h))
    model.compile(optimizer=fg.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], backend=backend)
    data = np.random.default_rng(1)
    x = data.normal(size=(4, 3)).astype(np.float32)
    y = data.integers(0, 3, 4).astype(np.int32)
    return model, x, y


def _train(backend, steps=2):
    model, x, y = _tiny_model(backend)
    losses = [model.train_on_batch(x, y) for _ in range(steps)]
    return model, losses


def test_a_training_step_matches_the_reference():
    ref_model, ref_losses = _train("reference")
    model, losses = _train("numba_cuda")
    exe = model._train_function.last_trace.traced_graph._executable
    assert isinstance(exe, numba_cuda.Executable) and len(exe.kernels) >= 4
    assert len(exe.kernels) == sum(op.kind == "fused" for op in exe.graph.ops)
    assert exe.counts["kernel"] == len(exe.kernels) and exe.counts["kernel_fallback"] == 0
    if exe.matmul_path == "host":
        assert exe.counts["cublas"] == 0
    else:
        assert exe.counts["cublas"] >= 3
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for w, ref_w in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)


# --- PTX ----------------------------------------------------------------------------------

def _every_template_graphs():
    """One graph per result dtype using every template of its table (PTX coverage)."""
    x, y = param("x", B, 4), param("y", 4)
    xs = emit("stop_gradient", x)
    floats_ = [emit(k, xs) for k in ("neg", "abs", "sign", "exp", "log", "sqrt", "rsqrt", "tanh",
                                     "sigmoid", "erf", "sin", "cos", "floor")]
    floats_ += [emit(k, xs, y) for k in ("add", "sub", "mul", "div", "pow", "maximum", "minimum")]
    floats_ += [emit("where", emit("gt", xs, y), xs, emit("constant", value=float("inf"))),
                emit("cast", emit("cast", xs, dtype=I32), dtype=F32)]
    floats_ += [emit(k, xs, axes=a) for k in REDUCE_KINDS for a in ((0,), (1,))]
    i, j = param("i", B, 4, dtype=I32), param("j", 4, dtype=I32)
    is_ = emit("stop_gradient", i)
    ints_ = [emit(k, is_) for k in ("neg", "abs", "sign")]
    ints_ += [emit(k, is_, j) for k in ("add", "sub", "mul", "maximum", "minimum")]
    ints_ += [emit(k, is_, axes=a) for k in ("reduce_sum", "reduce_max", "reduce_min")
              for a in ((0,), (1,))]
    b, c = param("b", B, 4, dtype=BOOL), param("c", B, 1, dtype=BOOL)
    bs = emit("stop_gradient", b)
    bools = [emit(k, bs, c) for k in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                      "logical_or")]
    bools += [emit("logical_not", bs), emit("cast", bs, dtype=F32),
              emit("logical_and", bs, emit("constant", value=True, dtype=BOOL))]
    return [graph([x, y], floats_, "floats"), graph([i, j], ints_, "ints"),
            graph([b, c], bools, "bools")]


_PTX_CHILD = textwrap.dedent("""
    import json, sys
    from fusegraph.backends import numba_cuda
    from fusegraph.backends.numba_cuda import device
    from fusegraph.ir import parse_graph
    texts = json.load(sys.stdin)
    ok, reason = device.ptx_status()
    report = {"ok": ok, "reason": reason, "kernels": [], "no_gpu_error": None}
    if ok:
        for text in texts:
            ptx = numba_cuda.compile_ptx_all(parse_graph(text))
            report["kernels"].append({name: [".entry" in p, ".target sm_" in p, len(p)]
                                      for name, p in ptx.items()})
    if not device.gpu_available():
        try:
            numba_cuda.compile(parse_graph(texts[0]))
        except numba_cuda.CudaUnavailableError as e:
            report["no_gpu_error"] = str(e)
    print(json.dumps(report))
""")


def test_every_kernel_compiles_to_ptx_where_the_toolkit_is_found():
    """PTX needs the real numba.cuda, so it is compiled in a child process without the
    simulator: the tests' graphs, a graph per dtype using every template, and a whole
    training step, sent as IR text (a round trip through the parser)."""
    graphs = [fuse(g) for g in _every_template_graphs()]
    model, x, y = _tiny_model("reference")
    model.train_on_batch(x, y)
    graphs.append(_fused_step(model))
    texts = [print_graph(g) for g in graphs]
    for g, text in zip(graphs, texts):
        assert print_graph(parse_graph(text)) == text
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", _PTX_CHILD], input=json.dumps(texts),
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    if not device.gpu_available() and not REAL_GPU:
        assert "needs an NVIDIA GPU" in report["no_gpu_error"]
    if not report["ok"]:
        pytest.skip(f"PTX not compiled: {report['reason']}")
    for g, kernels in zip(graphs, report["kernels"]):
        want = {generate_kernel(op.region).name for op in g.ops if op.kind == "fused"}
        assert set(kernels) == want and want, (g.name, kernels)
        assert all(entry and target and size > 500 for entry, target, size in kernels.values())


def _fused_step(model):
    from fusegraph.passes import run_pipeline
    fused, _ = run_pipeline(model.step_graph("train_step"), default_pipeline("numba_cuda"))
    return fused


def test_compile_ptx_all_says_why_it_cannot_run_in_the_simulator():
    if REAL_GPU:
        pytest.skip("the simulator is off")
    ok, reason = device.ptx_status()
    assert not ok and "simulator" in reason
    with pytest.raises(CudaUnavailableError, match="simulator"):
        numba_cuda.compile_ptx_all(fuse(_every_template_graphs()[0]))
