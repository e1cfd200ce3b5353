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
