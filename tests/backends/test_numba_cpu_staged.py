"""numba_cpu's staged kernels (backends/numba_cpu/codegen.py, _StagedGenerator): a row's
reductions and their users in one kernel (softmax: max, sum of exponentials,
quotients; LayerNorm with its row op rsqrt(variance + eps); log-softmax), equal to the
reference, NaN and infinities included; fusion forms them only for a backend whose
kernels may be staged."""
import re

import numpy as np
import pytest

from fusegraph.backends import optimizing_compiler, run_backend_pipeline
from fusegraph.backends.numba_cpu import CAPABILITY
from fusegraph.backends.numba_cpu.codegen import generate_kernel
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, parse_graph
from fusegraph.ir.ops.region import ANY_KERNEL, is_staged
from fusegraph.passes import fuse

SOFTMAX = """
    graph @softmax(%x: f32[B,3,16]) -> (f32[B,3,16]) {
      %0: f32[B,3,1] = reduce_max %x {axes=[2], keepdims=true}
      %1: f32[B,3,1] = stop_gradient %0
      %2: f32[B,3,16] = sub %x, %1
      %3: f32[B,3,16] = exp %2
      %4: f32[B,3,1] = reduce_sum %3 {axes=[2], keepdims=true}
      %5: f32[B,3,16] = div %3, %4
      return %5
    }
"""

# LayerNorm's normalization: the mean, then the variance about it, then the rows scaled.
NORMALIZE = """
    graph @normalize(%x: f32[B,8], %g: f32[8]) -> (f32[B,8], f32[B,1]) {
      %0: f32[B,1] = reduce_mean %x {axes=[1], keepdims=true}
      %1: f32[B,8] = sub %x, %0
      %2: f32[B,8] = mul %1, %1
      %3: f32[B,1] = reduce_mean %2 {axes=[1], keepdims=true}
      %4: f32[B,8] = div %1, %3
      %5: f32[B,8] = mul %4, %g
      return %5, %3
    }
"""


def rows(batch, width, seed=0):
    x = np.random.default_rng(seed).standard_normal((batch, 3, width)).astype(np.float32) * 4
    x[0, 0, 3] = np.nan                           # a NaN row
    x[0, 1, :] = -np.inf                          # a row of -inf (max -inf: 0/0)
    x[1, 2, 5] = np.inf                           # an inf
    return x


def test_softmax_is_one_staged_kernel_equal_to_the_reference():
    g = parse_graph(SOFTMAX)
    optimized = run_backend_pipeline(g, "numba_cpu")
    (kernel,) = [op for op in optimized.ops if op.kind == "fused"]
    assert [op.kind for op in optimized.ops] == ["fused"] and is_staged(kernel.region)
    exe = optimizing_compiler("numba_cpu")(g)
    assert "# stage 2" in exe.source()
    # the exponentials, summed by stage 1, wait in the result's array for stage 2
    assert exe.source().count("fast_math.exp(") == 1
    assert "%2, read by a later stage" in exe.source()
    want = reference(g)
    with np.errstate(all="ignore"):
        for batch in (4, 4, 2):                   # the checked call, the plan, another batch
            x = rows(batch, 16, seed=batch)
            got, expected = exe(x)[0], want(x)[0]
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert exe.plan_errors == []


def test_a_later_stage_reads_a_result_an_earlier_one_stored():
    g = parse_graph(NORMALIZE)
    exe = optimizing_compiler("numba_cpu")(g)
    (kernel,) = [op for op in exe.graph.ops if op.kind == "fused"]
    assert is_staged(kernel.region)
    source = generate_kernel(kernel.region).source
    assert source.count("# stage") == 3
    rng = np.random.default_rng(1)
    x, gamma = rng.standard_normal((5, 8)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    for _ in range(2):
        for got, expected in zip(exe(x, gamma), reference(g)(x, gamma)):
            np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)


LAYER_NORM = """
    graph @ln(%x: f32[B,8], %g: f32[8], %b: f32[8]) -> (f32[B,8], f32[B,1]) {
      %0: f32[B,1] = reduce_mean %x {axes=[1], keepdims=true}
      %1: f32[B,8] = sub %x, %0
      %2: f32[B,8] = mul %1, %1
      %3: f32[B,1] = reduce_mean %2 {axes=[1], keepdims=true}
      %4: f32[] = constant {value=0.001, dtype=f32}
      %5: f32[B,1] = add %3, %4
      %6: f32[B,1] = rsqrt %5
      %7: f32[B,8] = mul %1, %6
      %8: f32[B,8] = mul %7, %g
      %9: f32[B,8] = add %8, %b
      return %9, %6
    }
"""

# log-softmax: the row's log of the sum of exponentials is a row op
LOG_SOFTMAX = """
    graph @lsm(%x: f32[B,6]) -> (f32[B,6]) {
      %0: f32[B,1] = reduce_max %x {axes=[1], keepdims=true}
      %1: f32[B,6] = sub %x, %0
      %2: f32[B,6] = exp %1
      %3: f32[B,1] = reduce_sum %2 {axes=[1], keepdims=true}
      %4: f32[B,1] = log %3
      %5: f32[B,6] = sub %1, %4
      return %5
    }
"""


@pytest.mark.parametrize("text, stage_count", [(LAYER_NORM, 3), (LOG_SOFTMAX, 3)])
def test_row_ops_join_the_staged_kernel_between_its_stages(text, stage_count):
    g = parse_graph(text)
    exe = optimizing_compiler("numba_cpu")(g)
    assert [op.kind for op in exe.graph.ops] == ["fused"]
    (kernel,) = exe.graph.ops
    assert generate_kernel(kernel.region).source.count("# stage") == stage_count
    rng = np.random.default_rng(4)
    args = [rng.standard_normal(p.type.shape if p.type.shape[0] != B else (5,) + p.type.shape[1:])
            .astype(np.float32) for p in g.params]
    for _ in range(2):
        for got, expected in zip(exe(*args), reference(g)(*args)):
            np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)
    assert exe.plan_errors == []


def test_fusion_stages_a_kernel_only_for_a_backend_whose_kernels_may_be():
    g = parse_graph(SOFTMAX)
    staged = fuse(g, CAPABILITY)
    assert [op.kind for op in staged.ops] == ["fused"]
    plain = fuse(g, ANY_KERNEL)                   # unstaged: a kernel ends at a reduction
    assert not any(is_staged(op.region) for op in plain.ops if op.kind == "fused")
    assert len(plain.ops) > 1 and "reduce_max" in [op.kind for op in plain.ops]


def test_the_cuda_generator_refuses_a_staged_region():
    from fusegraph.backends.numba.generator import CodegenError
    from fusegraph.backends.numba_cuda.codegen import generate_kernel as cuda_kernel
    (kernel,) = [op for op in fuse(parse_graph(SOFTMAX), CAPABILITY).ops]
    with pytest.raises(CodegenError, match="staged region"):
        cuda_kernel(kernel.region)


def test_a_parallel_staged_kernel_splits_the_outer_loop(monkeypatch):
    monkeypatch.setenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", "1")
    g = parse_graph(SOFTMAX)
    exe = optimizing_compiler("numba_cpu")(g)
    (kernel,) = exe.kernels
    assert kernel.spec.parallel and "for i0 in prange(n_B):" in kernel.spec.source
    x = rows(6, 16, seed=3)
    with np.errstate(all="ignore"):
        for _ in range(2):
            got, expected = exe(x)[0], reference(g)(x)[0]
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


# A LayerNorm's whole backward (its statistics recomputed) after a dropout's: the rows'
# two means of the upstream gradient, used in the same kernel, and gamma's and beta's
# gradients, column sums over the batch and the sequence; a column mean and a
# NaN-propagating column max too.
LAYER_NORM_BACKWARD = """
    graph @ln_grad(%dy: f32[B,3,8], %keep: f32[B,3,8], %x: f32[B,3,8], %gamma: f32[8])
        -> (f32[B,3,8], f32[1,1,8], f32[1,1,8], f32[1,1,8], f32[1,1,8]) {
      %g: f32[B,3,8] = mul %dy, %keep
      %0: f32[B,3,1] = reduce_mean %x {axes=[2], keepdims=true}
      %1: f32[B,3,8] = sub %x, %0
      %2: f32[B,3,8] = mul %1, %1
      %3: f32[B,3,1] = reduce_mean %2 {axes=[2], keepdims=true}
      %4: f32[] = constant {value=0.001, dtype=f32}
      %5: f32[B,3,1] = add %3, %4
      %6: f32[B,3,1] = rsqrt %5
      %7: f32[B,3,8] = mul %1, %6
      %8: f32[B,3,8] = mul %g, %gamma
      %9: f32[B,3,1] = reduce_mean %8 {axes=[2], keepdims=true}
      %10: f32[B,3,8] = mul %8, %7
      %11: f32[B,3,1] = reduce_mean %10 {axes=[2], keepdims=true}
      %12: f32[B,3,8] = sub %8, %9
      %13: f32[B,3,8] = mul %7, %11
      %14: f32[B,3,8] = sub %12, %13
      %15: f32[B,3,8] = mul %14, %6
      %16: f32[B,3,8] = mul %g, %7
      %17: f32[1,1,8] = reduce_sum %16 {axes=[0, 1], keepdims=true}
      %18: f32[1,1,8] = reduce_sum %g {axes=[0, 1], keepdims=true}
      %19: f32[1,1,8] = reduce_mean %15 {axes=[0, 1], keepdims=true}
      %20: f32[1,1,8] = reduce_max %15 {axes=[0, 1], keepdims=true}
      return %15, %17, %18, %19, %20
    }
"""


@pytest.mark.parametrize("split", [False, True])
def test_column_reductions_join_a_staged_kernel(monkeypatch, split):
    """The column reductions fold into accumulators of the row's length as the rows are
    walked; with threads splitting the rows, one per thread, combined afterwards."""
    from fusegraph.backends import threads
    if split:
        monkeypatch.setenv("FUSEGRAPH_NUMBA_PARALLEL_MIN", "1")
        monkeypatch.setattr(threads, "get_num_threads", lambda: 2)
    g = parse_graph(LAYER_NORM_BACKWARD)
    exe = optimizing_compiler("numba_cpu")(g)
    (kernel,) = exe.kernels
    assert [op.kind for op in exe.graph.ops] == ["fused"] and is_staged(exe.graph.ops[0].region)
    source = kernel.spec.source
    assert len(re.findall(r"^ +col\d+ = np\.empty\(", source, re.M)) == 4   # one per column
    assert "np.full" not in source                 # plain loops fill them: a fast compile
    assert kernel.spec.parallel == split and ("for c in prange(2):" in source) == split
    rng = np.random.default_rng(7)
    for batch in (5, 5, 1):                        # the checked call, the plan, another batch
        grad, x = (rng.standard_normal((batch, 3, 8)).astype(np.float32) for _ in range(2))
        keep = (rng.random((batch, 3, 8)) < 0.8).astype(np.float32) / np.float32(0.8)
        gamma = rng.standard_normal(8).astype(np.float32)
        grad[0, 1, 2] = np.nan if batch == 1 else grad[0, 1, 2]   # reaches every column max
        args = (grad, keep, x, gamma)
        with np.errstate(invalid="ignore"):
            got, want = exe(*args), reference(g)(*args)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert exe.plan_errors == []


def test_a_layer_normalizations_backward_is_one_kernel():
    """Keras's LayerNormalization on a sequence, trained: its input's gradient (two row
    sums, used in the kernel) and its gamma's and beta's (column sums over batch and
    steps) come from one kernel, and the weights agree with the reference's."""
    import fusegraph as fg
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 8)).astype(np.float32)
    y = rng.standard_normal((6, 5, 4)).astype(np.float32)
    weights = {}
    for backend in ("numba_cpu", "reference"):
        fg.utils.set_random_seed(0)
        inputs = fg.Input(shape=(5, 8))
        hidden = fg.layers.LayerNormalization()(fg.layers.Dense(8)(inputs))
        model = fg.Model(inputs, fg.layers.Dense(4)(hidden))
        model.compile(optimizer="adam", loss="mse", backend=backend)
        for _ in range(3):
            model.train_on_batch(x, y)
        weights[backend] = model.get_weights()
        if backend == "numba_cpu":
            graph = run_backend_pipeline(model._train_function.last_trace.traced_graph.graph,
                                         "numba_cpu")
    for a, b in zip(weights["numba_cpu"], weights["reference"]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    def backward_sums(op):
        return [inner for inner in op.region.ops if inner.kind == "reduce_sum"
                and "layer_normalization/grad" in str(inner.loc)]
    holding = [op for op in graph.ops if op.kind == "fused" and backward_sums(op)]
    assert len(holding) == 1 and is_staged(holding[0].region)
    axes = [tuple(inner.attrs["axes"]) for inner in backward_sums(holding[0])]
    assert axes.count((0, 1)) == 2 and axes.count((2,)) >= 2     # gamma, beta; the rows'
    assert not any("layer_normalization/grad" in str(op.loc) for op in graph.ops
                   if op.kind.startswith("reduce"))
