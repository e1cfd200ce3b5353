"""Golden tests of the simplify pass: IR text in, IR text out, numerics unchanged."""
import textwrap

import numpy as np

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import run_pipeline, simplify


def text(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


def check(before: str, after: str, *arrays):
    g = parse_graph(text(before))
    out = simplify(g)
    verify(out)
    assert str(out) == text(after)
    for a, b in zip(reference(g)(*arrays), reference(out)(*arrays)):
        np.testing.assert_array_equal(a, b)


def test_constants_fold_and_identities_disappear():
    check("""
        graph @g(%x: f32[B,3]) -> (f32[B,3], f32[1,B,3]) {
          %0: f32[] = constant {value=2.0, dtype=f32}
          %1: f32[] = constant {value=1.5, dtype=f32}
          %2: f32[] = mul %0, %1
          %3: f32[B,3] = mul %x, %2
          %4: f32[] = constant {value=0.0, dtype=f32}
          %5: f32[B,3] = add %3, %4
          %6: f32[3,B] = transpose %5 {perm=[1, 0]}
          %7: f32[B,3] = transpose %6 {perm=[1, 0]}
          %8: f32[B,3] = reshape %7 {shape=[B, 3]}
          %9: f32[B,3] = reduce_sum %8 {axes=[], keepdims=false}
          %10: f32[3,1,B] = reshape %6 {shape=[3, 1, B]}
          %11: f32[B,1,3] = transpose %10 {perm=[2, 1, 0]}
          %12: f32[1,B,3] = transpose %11 {perm=[1, 0, 2]}
          return %9, %12
        }
    """, """
        graph @g(%x: f32[B,3]) -> (f32[B,3], f32[1,B,3]) {
          %0: f32[] = constant {value=3.0, dtype=f32}
          %1: f32[B,3] = mul %x, %0
          %2: f32[3,B] = transpose %1 {perm=[1, 0]}
          %3: f32[3,1,B] = reshape %2 {shape=[3, 1, B]}
          %4: f32[1,B,3] = transpose %3 {perm=[1, 2, 0]}
          return %1, %4
        }
    """, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_a_constant_condition_keeps_one_branch_broadcast_to_the_result():
    check("""
        graph @g(%x: f32[B,2]) -> (f32[B,2], f32[B,2]) {
          %0: bool[] = constant {value=true, dtype=bool}
          %1: f32[] = constant {value=0.0, dtype=f32}
          %2: f32[B,2] = where %0, %1, %x
          %3: f32[B,2] = where %0, %x, %1
          %4: f32[B,2] = add %2, %3
          %5: f32[B,2] = where %0, %2, %x
          return %4, %5
        }
    """, """
        graph @g(%x: f32[B,2]) -> (f32[B,2], f32[B,2]) {
          %0: f32[] = constant {value=0.0, dtype=f32}
          %1: f32[B,2] = broadcast_to %0 {shape=[B, 2]}
          return %x, %1
        }
    """, np.ones((3, 2), np.float32))


def test_reshape_of_reshape_is_one_reshape_and_random_ops_are_not_folded():
    check("""
        graph @g(%x: f32[B,4]) -> (f32[B,2,2], f32[2]) {
          %0: f32[B,4,1] = reshape %x {shape=[B, 4, 1]}
          %1: f32[B,2,2] = reshape %0 {shape=[B, 2, 2]}
          %2: i64[] = constant {value=7, dtype=i64}
          %3: f32[2] = random_uniform %2 {shape=[2], salt=1, dtype=f32}
          return %1, %3
        }
    """, """
        graph @g(%x: f32[B,4]) -> (f32[B,2,2], f32[2]) {
          %0: f32[B,2,2] = reshape %x {shape=[B, 2, 2]}
          %1: i64[] = constant {value=7, dtype=i64}
          %2: f32[2] = random_uniform %1 {shape=[2], salt=1, dtype=f32}
          return %0, %2
        }
    """, np.ones((2, 4), np.float32))


def test_the_default_pipeline_keeps_a_training_step_numerically_identical():
    import fusegraph as fg
    from fusegraph.passes import DEFAULT_PIPELINE

    inputs = fg.Input(shape=(4,))
    hidden = fg.layers.Dropout(0.5)(fg.layers.Dense(8, activation="relu")(inputs))
    model = fg.Model(inputs, fg.layers.Dense(3, activation="softmax")(hidden))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).random((5, 4), np.float32), np.array([0, 1, 2, 1, 0], np.int32)
    model.train_on_batch(x, y)
    traced = model._train_function.last_trace.traced_graph
    optimized, report = run_pipeline(traced.graph, DEFAULT_PIPELINE)
    assert len(optimized.ops) < len(traced.graph.ops)
    assert [p.name for p in optimized.params] == [p.name for p in traced.graph.params]
    assert "where %training" not in str(optimized)
    args = traced.arguments([x, y])
    for a, b in zip(reference(traced.graph)(*args), reference(optimized)(*args)):
        np.testing.assert_array_equal(a, b)
