"""one_hot_compares: a one_hot becomes ids[..., None] == iota (cast to its dtype), equal
to the one_hot bit for bit (out-of-range ids give zero rows), and fusion joins it to the
kernel that reads it."""
import numpy as np
import pytest

from fusegraph.backends import run_backend_pipeline
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import collecting, one_hot_compares

LOSS = """
    graph @g(%ids: i32[B], %p: f32[B,5]) -> (f32[B]) {{
      %0: {t}[B,5] = one_hot %ids {{depth=5, dtype={t}}}
      %1: f32[B,5] = cast %0 {{dtype=f32}}
      %2: f32[B,5] = log %p
      %3: f32[B,5] = mul %1, %2
      %4: f32[B] = reduce_sum %3 {{axes=[1]}}
      return %4
    }}
"""


@pytest.mark.parametrize("dtype", ["f32", "bool", "i64"])
def test_a_one_hot_is_a_comparison_with_the_same_values(dtype):
    graph = parse_graph(LOSS.format(t=dtype))
    with collecting() as counters:
        out = one_hot_compares(graph)
    verify(out)
    assert counters == {"one_hots_compared": 1} and "one_hot" not in str(out)
    ids = np.array([0, 4, 5, -1, 2], np.int32)              # 5 and -1: zero rows
    p = np.random.default_rng(0).uniform(0.1, 1, (5, 5)).astype(np.float32)
    np.testing.assert_array_equal(reference(out)(ids, p)[0], reference(graph)(ids, p)[0])


def test_fusion_takes_the_comparison_into_the_loss_kernel():
    optimized = run_backend_pipeline(parse_graph(LOSS.format(t="f32")), "numba_cpu")
    (kernel,) = [op for op in optimized.ops if op.kind == "fused"]
    assert "eq" in [op.kind for op in kernel.region.ops]
