"""Fusion: kernel counts (as tinygrad's check_schedule), region contracts, convexity, and
numerics unchanged on the reference backend."""
import textwrap

import networkx as nx
import numpy as np

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, to_networkx, verify
from fusegraph.ir.opdef import ELEMENTWISE, get_opdef
from fusegraph.passes import fuse
from fusegraph.passes.fusion import REDUCTIONS


def fused(text: str):
    g = parse_graph(textwrap.dedent(text).lstrip("\n"))
    out = fuse(g)
    verify(out)
    assert nx.is_directed_acyclic_graph(to_networkx(out))
    return g, out


def kernels(g):
    return [op for op in g.ops if op.kind == "fused"]


def same_numbers(g, out, *arrays):
    for a, b in zip(reference(g)(*arrays), reference(out)(*arrays)):
        np.testing.assert_array_equal(a, b)


def assert_region_contract(op):
    region = op.region
    reductions = {id(r.results[0]) for r in region.ops if r.kind in REDUCTIONS}
    shapes = {(r.operands[0] if r.kind in REDUCTIONS else r.results[0]).type.shape
              for r in region.ops if not (r.kind == "constant" and r.results[0].type.rank == 0)}
    assert len(shapes) == 1, shapes
    for r in region.ops:
        scalar_constant = r.kind == "constant" and r.results[0].type.rank == 0
        assert scalar_constant or get_opdef(r.kind).has(ELEMENTWISE) or r.kind in REDUCTIONS
        assert not any(id(v) in reductions for v in r.operands)


def test_bias_relu_max_and_shifted_exp_sum_are_two_kernels_and_the_last_div_stays_plain():
    g, out = fused("""
        graph @g(%x: f32[B,5], %b: f32[5]) -> (f32[B,5]) {
          %0: f32[B,5] = add %x, %b
          %1: f32[] = constant {value=0.0, dtype=f32}
          %2: f32[B,5] = maximum %0, %1
          %3: f32[B,1] = reduce_max %2 {axes=[1], keepdims=true}
          %4: f32[B,5] = sub %2, %3
          %5: f32[B,5] = exp %4
          %6: f32[B,1] = reduce_sum %5 {axes=[1], keepdims=true}
          %7: f32[B,5] = div %5, %6
          return %7
        }
    """)
    assert [[r.kind for r in k.region.ops] for k in kernels(out)] == [
        ["add", "constant", "maximum", "reduce_max"], ["sub", "exp", "reduce_sum"]]
    assert out.ops[-1].kind == "div"   # a group of one op stays a plain op
    for k in kernels(out):
        assert_region_contract(k)
    same_numbers(g, out, np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32),
                 np.ones(5, np.float32))


def test_a_path_through_an_outside_op_keeps_groups_apart():
    # %2 depends on the group of %0 through the matmul %1: fusing %2 into it would loop.
    g, out = fused("""
        graph @g(%x: f32[4,4]) -> (f32[4,4]) {
          %0: f32[4,4] = exp %x
          %1: f32[4,4] = matmul %0, %x
          %2: f32[4,4] = add %0, %1
          %3: f32[4,4] = tanh %2
          return %3
        }
    """)
    assert [op.kind for op in out.ops] == ["exp", "matmul", "fused"]
    same_numbers(g, out, np.eye(4, dtype=np.float32))


def test_a_value_used_outside_and_a_graph_result_escape_the_kernel():
    g, out = fused("""
        graph @g(%x: f32[B,3]) -> (f32[B,3], f32[B,3]) {
          %0: f32[B,3] = exp %x
          %1: f32[B,3] = neg %0
          %2: f32[3,B] = transpose %0 {perm=[1, 0]}
          %3: f32[B,3] = transpose %2 {perm=[1, 0]}
          %4: f32[B,3] = mul %1, %3
          return %4, %1
        }
    """)
    (k,) = kernels(out)
    assert [r.type for r in k.results] == [r.type for r in k.region.results]
    assert len(k.results) == 2     # exp (used by the transpose) and neg (a graph result)
    same_numbers(g, out, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_a_whole_training_step_fuses_and_keeps_its_numbers():
    import fusegraph as fg
    from fusegraph.passes import FUSION_PIPELINE, run_pipeline

    inputs = fg.Input(shape=(6,))
    hidden = fg.layers.LayerNormalization()(fg.layers.Dense(8, activation="gelu")(inputs))
    model = fg.Model(inputs, fg.layers.Dense(3, activation="softmax")(hidden))
    model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(1).normal(size=(7, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0, 2, 2], np.int32)
    model.train_on_batch(x, y)
    traced = model._train_function.last_trace.traced_graph
    out, _ = run_pipeline(traced.graph, FUSION_PIPELINE)
    assert len(kernels(out)) >= 5 and len(out.ops) < len(traced.graph.ops) / 2
    for k in kernels(out):
        assert_region_contract(k)
    args = traced.arguments([x, y])
    for a, b in zip(reference(traced.graph)(*args), reference(out)(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


ADAM = """
    graph @adam(%g: f32[4,3], %m: f32[4,3], %v: f32[4,3], %lr: f32[], %w: f32[4,3]) -> (f32[4,3], f32[4,3], f32[4,3]) {
      %0: f32[4,3] = sub %g, %m
      %1: f32[] = constant {value=0.1, dtype=f32}
      %2: f32[4,3] = mul %0, %1
      %3: f32[4,3] = add %m, %2
      %4: f32[4,3] = mul %g, %g
      %5: f32[4,3] = sub %4, %v
      %6: f32[] = constant {value=0.001, dtype=f32}
      %7: f32[4,3] = mul %5, %6
      %8: f32[4,3] = add %v, %7
      %9: f32[4,3] = mul %3, %lr
      %10: f32[4,3] = sqrt %8
      %11: f32[] = constant {value=1e-07, dtype=f32}
      %12: f32[4,3] = add %10, %11
      %13: f32[4,3] = div %9, %12
      %14: f32[4,3] = sub %w, %13
      return %3, %8, %14
    }
"""


def test_the_two_chains_of_an_adam_update_merge_into_one_kernel():
    # The moment chain (%0-%3) and the velocity chain (%4-%8) start as two groups (the
    # gradient comes from outside both); the division of one by the other merges them.
    g, out = fused(ADAM)
    (k,) = kernels(out)
    assert [op.kind for op in out.ops] == ["fused"]
    assert len(k.region.params) == 5 and len(k.results) == 3
    assert [r.kind for r in k.region.ops if r.kind != "constant"] == [
        "sub", "mul", "add", "mul", "sub", "mul", "add", "mul", "sqrt", "add", "div", "sub"]
    assert_region_contract(k)
    rng = np.random.default_rng(0)
    g_, m, w = (rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3))
    v = rng.random((4, 3), dtype=np.float32)
    same_numbers(g, out, g_, m, v, np.array(1e-3, np.float32), w)


def test_scalar_bookkeeping_groups_merge_too():
    # A metric's running total and count are two scalar chains read by one division.
    g, out = fused("""
        graph @g(%t: f32[], %c: f32[], %x: f32[], %n: f32[]) -> (f32[], f32[], f32[]) {
          %0: f32[] = add %t, %x
          %1: f32[] = mul %0, %0
          %2: f32[] = add %c, %n
          %3: f32[] = sqrt %2
          %4: f32[] = div %1, %3
          return %0, %2, %4
        }
    """)
    (k,) = kernels(out)
    assert len(k.results) == 3
    arrays = [np.array(v, np.float32) for v in (1.0, 2.0, 3.0, 4.0)]
    same_numbers(g, out, *arrays)


def test_groups_joined_through_an_outside_op_do_not_merge():
    # %4 reads %1 (group of %0) and %3, whose group depends on that group through the
    # matmul %2: merging the two groups would put the matmul on a cycle.
    g, out = fused("""
        graph @g(%x: f32[4,4]) -> (f32[4,4]) {
          %0: f32[4,4] = exp %x
          %1: f32[4,4] = neg %0
          %2: f32[4,4] = matmul %0, %x
          %3: f32[4,4] = tanh %2
          %4: f32[4,4] = add %1, %3
          %5: f32[4,4] = mul %4, %4
          return %5
        }
    """)
    assert [op.kind for op in out.ops] == ["fused", "matmul", "fused"]
    assert [[r.kind for r in k.region.ops] for k in kernels(out)] == [
        ["exp", "neg"], ["tanh", "add", "mul"]]
    same_numbers(g, out, np.eye(4, dtype=np.float32) * 0.5)


def test_a_reduction_result_keeps_its_reader_out_of_the_reducing_group_when_merging():
    # %3 reads the row max %1 of the first group, so the two groups may not merge, and
    # %4 (reading both) joins the second.
    g, out = fused("""
        graph @g(%x: f32[B,5], %y: f32[B,5]) -> (f32[B,5]) {
          %0: f32[B,5] = exp %x
          %1: f32[B,1] = reduce_max %0 {axes=[1], keepdims=true}
          %2: f32[B,5] = neg %y
          %3: f32[B,5] = sub %2, %1
          %4: f32[B,5] = add %0, %3
          return %4
        }
    """)
    assert [[r.kind for r in k.region.ops] for k in kernels(out)] == [
        ["exp", "reduce_max"], ["neg", "sub", "add"]]
    for k in kernels(out):
        assert_region_contract(k)
    rng = np.random.default_rng(0)
    same_numbers(g, out, *(rng.normal(size=(3, 5)).astype(np.float32) for _ in range(2)))


def test_a_kernel_reads_through_broadcast_to_and_the_copy_disappears():
    g, out = fused("""
        graph @g(%x: f32[B,5], %s: f32[B,1]) -> (f32[B,5]) {
          %0: f32[B,1] = neg %s
          %1: f32[B,1] = exp %0
          %2: f32[B,5] = broadcast_to %1 {shape=[B, 5]}
          %3: f32[B,5] = mul %x, %2
          %4: f32[B,5] = tanh %3
          %5: f32[B,5] = broadcast_to %s {shape=[B, 5]}
          %6: f32[B,5] = neg %5
          %7: f32[B,5] = add %4, %6
          return %7
        }
    """)
    # mul reads %1 ([B,1]) through its broadcast; neg %5 would make a [B,1] result from
    # %s, so that broadcast stays.
    assert [op.kind for op in out.ops] == ["fused", "broadcast_to", "fused"]
    first, second = kernels(out)
    assert [str(p.type) for p in second.region.params] == ["f32[B,5]", "f32[B,1]", "f32[B,5]"]
    assert second.operands[1] is first.results[0]
    assert_region_contract(second)
    rng = np.random.default_rng(0)
    same_numbers(g, out, rng.normal(size=(3, 5)).astype(np.float32),
                 rng.normal(size=(3, 1)).astype(np.float32))
