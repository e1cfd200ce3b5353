"""updates_last: the kernels whose results only the graph returns move to the end, in
their order; nothing else moves or changes."""
import numpy as np

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import collecting, fuse, updates_last

# An update kernel (its result only returned), then a counter's int add (not a kernel),
# a kernel whose sum a later op reads, and that op.
GRAPH = """
    graph @g(%w: f32[4,3], %v: f32[4,3], %n: i64[]) -> (f32[4,3], i64[], f32[]) {
      %0: f32[4,3] = exp %w
      %1: f32[4,3] = neg %0
      %2: i64[] = constant {value=1, dtype=i64}
      %3: i64[] = add %n, %2
      %4: f32[4,3] = tanh %v
      %5: f32[] = reduce_sum %4 {axes=[0, 1], keepdims=false}
      %6: f32[] = mul %5, %5
      return %1, %3, %6
    }
"""


def test_kernels_nothing_reads_move_to_the_end_in_their_order():
    g = fuse(parse_graph(GRAPH))
    assert [op.kind for op in g.ops] == ["fused", "constant", "add", "fused", "mul"]
    with collecting() as stats:
        moved = updates_last(g)
    verify(moved)
    assert list(moved.ops) == [g.ops[k] for k in (1, 2, 3, 4, 0)]
    assert stats["updates_moved"] == 1
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((4, 3)).astype(np.float32),
            rng.standard_normal((4, 3)).astype(np.float32), np.array(7, np.int64)]
    for a, b in zip(reference(g)(*args), reference(moved)(*args)):
        assert a.tobytes() == b.tobytes()


def test_a_graph_already_in_that_order_is_returned_as_it_is():
    g = fuse(parse_graph("""
        graph @g(%w: f32[4,3]) -> (f32[4,3]) {
          %0: f32[4,3] = exp %w
          return %0
        }"""))
    assert updates_last(g) is g
