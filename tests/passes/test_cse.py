"""Golden tests of common-subexpression elimination."""
import textwrap

from fusegraph.ir import parse_graph, verify
from fusegraph.passes import cse, dce


def text(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


def test_equal_ops_merge_but_random_draws_and_different_attributes_do_not():
    g = parse_graph(text("""
        graph @g(%x: f32[B,3], %k: i64[]) -> (f32[B,3], f32[B], f32[B,3], f32[3]) {
          %0: f32[] = constant {value=2.0, dtype=f32}
          %1: f32[] = constant {value=2.0, dtype=f32}
          %2: f32[B,3] = mul %x, %0
          %3: f32[B,3] = mul %x, %1
          %4: f32[B,3] = add %2, %3
          %5: f32[B] = reduce_sum %x {axes=[1], keepdims=false}
          %6: f32[3] = reduce_sum %x {axes=[0], keepdims=false}
          %7: f32[3] = random_uniform %k {shape=[3], salt=1, dtype=f32}
          %8: f32[3] = random_uniform %k {shape=[3], salt=1, dtype=f32}
          %9: f32[3] = add %7, %8
          %10: f32[3] = add %6, %9
          return %4, %5, %2, %10
        }
    """))
    out = cse(g)
    verify(out)
    assert str(out) == text("""
        graph @g(%x: f32[B,3], %k: i64[]) -> (f32[B,3], f32[B], f32[B,3], f32[3]) {
          %0: f32[] = constant {value=2.0, dtype=f32}
          %1: f32[B,3] = mul %x, %0
          %2: f32[B,3] = add %1, %1
          %3: f32[B] = reduce_sum %x {axes=[1], keepdims=false}
          %4: f32[3] = reduce_sum %x {axes=[0], keepdims=false}
          %5: f32[3] = random_uniform %k {shape=[3], salt=1, dtype=f32}
          %6: f32[3] = random_uniform %k {shape=[3], salt=1, dtype=f32}
          %7: f32[3] = add %5, %6
          %8: f32[3] = add %4, %7
          return %2, %3, %1, %8
        }
    """)


def test_dce_keeps_params_and_drops_unused_ops():
    from fusegraph.ir import Graph, TensorType, Value, emit
    x, unused = Value(TensorType((2,)), name="x"), Value(TensorType((2,)), name="unused")
    dead = emit("exp", x).producer
    y = emit("neg", x)
    g = Graph("g", [x, unused], [dead, y.producer], [y])
    out = dce(g)
    assert [op.kind for op in out.ops] == ["neg"]
    assert [p.name for p in out.params] == ["x", "unused"]


def test_commutative_ops_merge_with_swapped_operands_where_the_order_cannot_show():
    import numpy as np

    from fusegraph.backends.reference import compile as reference
    from fusegraph.passes import collecting

    g = parse_graph(text("""
        graph @g(%x: f32[B,3], %y: f32[3], %i: i32[3], %j: i32[3]) -> (f32[B,3], f32[B,3], f32[B,3], f32[B,3], f32[B,3], f32[B,3], i32[3], i32[3], bool[3], bool[3]) {
          %0: f32[B,3] = add %x, %y
          %1: f32[B,3] = add %y, %x
          %2: f32[B,3] = mul %y, %x
          %3: f32[B,3] = mul %x, %y
          %4: f32[B,3] = sub %x, %y
          %5: f32[B,3] = sub %y, %x
          %6: f32[B,3] = maximum %x, %y
          %7: f32[B,3] = maximum %y, %x
          %8: i32[3] = minimum %i, %j
          %9: i32[3] = minimum %j, %i
          %10: bool[3] = eq %i, %j
          %11: bool[3] = eq %j, %i
          %12: f32[B,3] = add %0, %1
          %13: f32[B,3] = add %2, %3
          return %12, %13, %4, %5, %6, %7, %8, %9, %10, %11
        }
    """))
    with collecting() as counters:
        out = cse(g)
    verify(out)
    assert str(out) == text("""
        graph @g(%x: f32[B,3], %y: f32[3], %i: i32[3], %j: i32[3]) -> (f32[B,3], f32[B,3], f32[B,3], f32[B,3], f32[B,3], f32[B,3], i32[3], i32[3], bool[3], bool[3]) {
          %0: f32[B,3] = add %x, %y
          %1: f32[B,3] = mul %y, %x
          %2: f32[B,3] = sub %x, %y
          %3: f32[B,3] = sub %y, %x
          %4: f32[B,3] = maximum %x, %y
          %5: f32[B,3] = maximum %y, %x
          %6: i32[3] = minimum %i, %j
          %7: bool[3] = eq %i, %j
          %8: f32[B,3] = add %0, %0
          %9: f32[B,3] = add %1, %1
          return %8, %9, %2, %3, %4, %5, %6, %6, %7, %7
        }
    """)
    assert counters == {"ops_merged": 4}
    # float maximum tells (0.0, -0.0) from (-0.0, 0.0): both orders stay, the results too
    args = (np.array([[0.0, -0.0, np.nan], [1.0, -2.0, np.inf]], np.float32),
            np.array([-0.0, 0.0, 1.0], np.float32), np.array([1, 5, -2], np.int32),
            np.array([3, 5, -7], np.int32))
    for a, b in zip(reference(g)(*args), reference(out)(*args)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))

