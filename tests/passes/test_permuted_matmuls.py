"""permuted_matmuls: a matmul product that only a transpose reads (the attention's heads
put side by side) becomes one permuted_matmul writing the transposed layout; the numbers
are the product's; a product read elsewhere, or a transpose that moves a batch axis last,
stays; numba_cpu's pipeline runs it, and the reshape after it costs no copy."""
import numpy as np
import pytest

from fusegraph.backends import optimizing_compiler, run_backend_pipeline
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import collecting, permuted_matmuls

HEADS = """
    graph @g(%p: f32[B,3,6,6], %v: f32[B,3,6,4]) -> ({types}) {{
      %0: f32[B,3,6,4] = matmul %p, %v
      %1: f32[{shape}] = transpose %0 {{perm={perm}}}
      %2: f32[B,6,12] = reshape %1 {{shape=[B, 6, 12]}}
      return {returned}
    }}
"""


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, 3, 6, 6)).astype(np.float32),
            rng.standard_normal((2, 3, 6, 4)).astype(np.float32)]


def heads(perm="[0, 2, 1, 3]", shape="B,6,3,4", returned="%2", types="f32[B,6,12]"):
    return parse_graph(HEADS.format(perm=perm, shape=shape, returned=returned, types=types))


def rewritten(graph):
    with collecting() as counters:
        out = permuted_matmuls(graph)
    verify(out)
    return out, counters


def test_a_product_only_a_transpose_reads_is_written_transposed():
    graph = heads()
    out, counters = rewritten(graph)
    assert counters == {"matmuls_permuted": 1}
    assert [op.kind for op in out.ops] == ["permuted_matmul", "reshape"]
    assert out.ops[0].attrs["perm"] == (0, 2, 1, 3)
    np.testing.assert_array_equal(reference(out)(*arrays())[0], reference(graph)(*arrays())[0])


@pytest.mark.parametrize("why, graph", [
    ("the product is a result too", heads(returned="%2, %0", types="f32[B,6,12], f32[B,3,6,4]")),
    ("a batch axis goes last", heads(perm="[0, 2, 3, 1]", shape="B,6,4,3")),
])
def test_the_product_stays_when(why, graph):
    out, counters = rewritten(graph)
    assert counters == {} and "permuted_matmul" not in str(out), why


def test_numba_cpu_writes_the_heads_side_by_side_and_equals_the_reference():
    graph = heads()
    assert "permuted_matmul" in str(run_backend_pipeline(graph, "numba_cpu"))
    exe = optimizing_compiler("numba_cpu")(graph)
    want = reference(graph)(*arrays())[0]
    for _ in range(3):                       # the checked call, then the plan
        np.testing.assert_allclose(exe(*arrays())[0], want, rtol=1e-5, atol=1e-6)
    assert exe.plan_errors == []


def test_a_reduction_of_the_view_then_reads_the_product_where_it_was_written():
    """numba_cpu runs this pass before reduce_views: the bias gradient's sum over the
    batch and rows reads the permuted product in memory order (not a strided view)."""
    graph = parse_graph("""
        graph @g(%p: f32[B,3,6,6], %v: f32[B,3,6,4]) -> (f32[B,6,12], f32[1,1,12]) {
          %0: f32[B,3,6,4] = matmul %p, %v
          %1: f32[B,6,3,4] = transpose %0 {perm=[0, 2, 1, 3]}
          %2: f32[B,6,12] = reshape %1 {shape=[B, 6, 12]}
          %3: f32[1,1,12] = reduce_sum %2 {axes=[0, 1], keepdims=true}
          return %2, %3
        }
    """)
    optimized = run_backend_pipeline(graph, "numba_cpu")
    (product,) = [op for op in optimized.ops if op.kind == "permuted_matmul"]
    (total,) = [op for op in optimized.ops if op.kind in ("fused", "reduce_sum")]
    assert total.operands[0] is product.results[0]
    exe = optimizing_compiler("numba_cpu")(graph)
    for _ in range(2):
        for got, want in zip(exe(*arrays()), reference(graph)(*arrays())):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
