"""late_scaling: a product with a scalar constant that only contractions and sums read is
applied to their results instead (the query scaling's gradient in attention); a product
any other op reads, a non-scalar factor or a product the graph returns stays; numbers
agree with the reference to rounding."""
import numpy as np
import pytest

from fusegraph.backends import optimizing_compiler, run_backend_pipeline
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import collecting, late_scaling

QUERY_GRADIENT = """
    graph @g(%dq: f32[B,6,8], %x: f32[B,6,4], %w: f32[4,8]) -> ({types}) {{
      %0: {ctype} = constant {{value={c}, dtype=f32}}
      %1: f32[B,6,8] = mul {order}
      %2: f32[4,8] = tensordot %x, %1 {{axes_a=[0, 1], axes_b=[0, 1]}}
      %3: f32[8,4] = transpose %w {{perm=[1, 0]}}
      %4: f32[B,6,4] = matmul %1, %3
      %5: f32[1,1,8] = reduce_sum %1 {{axes=[0, 1], keepdims=true}}
      return {returned}
    }}
"""


def graph_of(c="0.125", order="%dq, %0", ctype="f32[]", returned="%2, %4, %5",
             types="f32[4,8], f32[B,6,4], f32[1,1,8]"):
    return parse_graph(QUERY_GRADIENT.format(c=c, order=order, ctype=ctype, returned=returned,
                                             types=types))


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in ((3, 6, 8), (3, 6, 4), (4, 8))]


def rewritten(graph):
    with collecting() as counters:
        out = late_scaling(graph)
    verify(out)
    return out, counters


@pytest.mark.parametrize("order", ["%dq, %0", "%0, %dq"])
def test_each_linear_reader_scales_its_result(order):
    graph = graph_of(order=order)
    out, counters = rewritten(graph)
    assert counters == {"products_scaled_late": 3}
    big = [op for op in out.ops if op.kind == "mul" and op.results[0].type.rank == 3
           and str(op.results[0].type) == "f32[B,6,8]"]
    assert big == []                                    # dq * c is never made
    for got, want in zip(reference(out)(*arrays()), reference(graph)(*arrays())):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("why, graph", [
    ("the graph returns the product", graph_of(returned="%2, %4, %1",
                                               types="f32[4,8], f32[B,6,4], f32[B,6,8]")),
    ("the factor is not one number", graph_of(c="[0.5, 1.0, 2.0, 0.5, 1.0, 2.0, 0.5, 1.0]",
                                              ctype="f32[8]")),
])
def test_the_product_stays_when(why, graph):
    out, counters = rewritten(graph)
    assert counters == {}, why


def test_a_product_another_kind_of_op_reads_stays():
    graph = parse_graph("""
        graph @g(%dq: f32[B,8], %w: f32[8,4]) -> (f32[B,4], f32[B,8]) {
          %0: f32[] = constant {value=0.5, dtype=f32}
          %1: f32[B,8] = mul %dq, %0
          %2: f32[B,4] = matmul %1, %w
          %3: f32[B,8] = exp %1
          return %2, %3
        }
    """)
    out, counters = rewritten(graph)
    assert counters == {} and str(out) == str(graph)


def test_numba_cpu_runs_it_and_equals_the_reference():
    graph = graph_of()
    optimized = run_backend_pipeline(graph, "numba_cpu")
    ops = [o for op in optimized.ops for o in (op.region.ops if op.kind == "fused" else [op])]
    assert not any(o.kind == "mul" and str(o.results[0].type) == "f32[B,6,8]" for o in ops)
    exe = optimizing_compiler("numba_cpu")(graph)
    for _ in range(2):
        for got, want in zip(exe(*arrays()), reference(graph)(*arrays())):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert exe.plan_errors == []
