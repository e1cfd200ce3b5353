"""Fusion: kernel counts (as tinygrad's check_schedule), region contracts, convexity, and
numerics unchanged on the reference backend."""
import textwrap

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings, strategies as st

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import emit, parse_graph, to_networkx, verify
from fusegraph.ir.errors import VerificationError
from fusegraph.ir.opdef import ELEMENTWISE, REDUCTION, all_opdefs, get_opdef
from fusegraph.passes import fuse
from fusegraph.passes.fusion import _ContractedGraph, group_ops
from helpers.backend_checks import graph, param


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


REDUCTIONS = {name for name, d in all_opdefs().items() if d.has(REDUCTION)}


def assert_region_contract(op):
    """The kernel contract, restated (the verifier checks it too, see tests/ir)."""
    region = op.region
    reductions = {id(r.results[0]) for r in region.ops if r.kind in REDUCTIONS}
    shapes = {(r.operands[0] if r.kind in REDUCTIONS else r.results[0]).type.shape
              for r in region.ops if not (r.kind == "constant" and r.results[0].type.rank == 0)}
    assert len(shapes) == 1, shapes
    for r in region.ops:
        scalar_constant = r.kind == "constant" and r.results[0].type.rank == 0
        assert (scalar_constant or get_opdef(r.kind).has(ELEMENTWISE) or r.kind in REDUCTIONS
                or r.kind == "broadcast_to")
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
    # %s, so that broadcast joins the kernel, which reads %s by index: no copy either way.
    assert [op.kind for op in out.ops] == ["fused", "fused"]
    first, second = kernels(out)
    assert [str(p.type) for p in second.region.params] == ["f32[B,5]", "f32[B,1]", "f32[B,1]"]
    assert second.operands[1] is first.results[0] and second.operands[2] is g.params[1]
    assert [op.kind for op in second.region.ops] == ["mul", "tanh", "broadcast_to", "neg",
                                                     "add"]
    assert_region_contract(second)
    rng = np.random.default_rng(0)
    same_numbers(g, out, rng.normal(size=(3, 5)).astype(np.float32),
                 rng.normal(size=(3, 1)).astype(np.float32))


def test_a_gradient_graph_whose_groups_meet_both_ways_fuses_acyclically():
    # Issue 6 item 3. %9 joins the group of %2 (reading %8 of the %1 group); then %11 would
    # join the %1 group through %10 = broadcast_to(%4), which reads the %2 group: each group
    # is convex alone, but the two would depend on each other. %11 must stay out.
    g, out = fused("""
        graph @fn(%arg0: f32[2,3], %arg1: f32[2,1]) -> (f32[2,3], f32[2,1]) {
          %0: f32[1,1] = reduce_sum %arg0 {axes=[0, 1], keepdims=true}
          %1: f32[2,3] = mul %arg1, %arg0
          %2: f32[2,1] = add %0, %arg1
          %3: f32[2,1] = cos %2
          %4: f32[1,1] = reduce_sum %3 {axes=[0], keepdims=true}
          %5: f32[2,3] = cos %1
          %6: f32[2,3] = mul %5, %arg0
          %7: f32[2,3] = mul %5, %arg1
          %8: f32[2,1] = reduce_sum %6 {axes=[1], keepdims=true}
          %9: f32[2,1] = add %3, %8
          %10: f32[2,3] = broadcast_to %4 {shape=[2, 3]}
          %11: f32[2,3] = add %7, %10
          return %11, %9
        }
    """)
    # %0 joins the %1 group as its sibling: both read all of %arg0
    assert [[r.kind for r in k.region.ops] for k in kernels(out)] == [
        ["reduce_sum", "mul", "cos", "mul", "mul", "reduce_sum"],
        ["add", "cos", "reduce_sum", "add"],
        ["add"]]                        # %11, reading %4 through its broadcast
    assert [op.kind for op in out.ops] == ["fused", "fused", "fused"]
    rng = np.random.default_rng(0)
    same_numbers(g, out, rng.normal(size=(2, 3)).astype(np.float32),
                 rng.normal(size=(2, 1)).astype(np.float32))


def test_the_traced_gradient_of_issue_6_compiles_on_numba_cpu():
    import fusegraph as fg
    from fusegraph.backends import optimizing_compiler
    from fusegraph.frontend.function import Function

    def fn(x0, x1):
        with fg.GradientTape() as tape:
            s = fg.ops.sum(x0, axis=None, keepdims=True)
            loss = fg.ops.sum(fg.ops.sin(x1 * x0)) + fg.ops.sum(fg.ops.sin(s + x1))
        return tape.gradient(loss, [x0, x1])

    rng = np.random.default_rng(0)
    x0, x1 = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(2, 1)).astype(np.float32)
    got = Function(fn, "fn", optimizing_compiler("numba_cpu"), symbolic_batch=False)(x0, x1)
    want = Function(fn, "fn", optimizing_compiler("reference"), symbolic_batch=False)(x0, x1)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_failed_contraction_leaves_the_order_and_edges_alone():
    # 0 -> 1 -> 2 and 0 -> 2: contracting 0 and 2 would put 1 on a cycle.
    dag = _ContractedGraph()
    for preds in [set(), {0}, {0, 1}, set()]:
        dag.add(preds)
    before = (list(dag.place), [set(s) for s in dag.succ], [set(p) for p in dag.pred])
    assert not dag.contract(0, 2)
    assert (dag.place, dag.succ, dag.pred) == before
    # 3 is unrelated: 3 and 1 contract, and the order puts the merged node before 2.
    assert dag.contract(3, 1) and dag.find(1) == 3
    assert dag.pred[3] == {0} and dag.succ[3] == {2}
    assert dag.place[0] < dag.place[3] < dag.place[2]


def test_contraction_moves_ancestors_before_and_descendants_after():
    # Placed 0..4: a=0 -> 1 ; 2 -> 3 = b ; 4 unrelated. Contracting 0 and 3 moves 2 before
    # 0 and keeps 1 after it.
    dag = _ContractedGraph()
    for preds in [set(), {0}, set(), {2}, set()]:
        dag.add(preds)
    assert dag.contract(0, 3)
    assert dag.place[2] < dag.place[0] < dag.place[1]
    assert dag.pred[0] == {2} and dag.succ[0] == {1} and dag.succ[2] == {0}
    assert_topological(dag)


def assert_topological(dag):
    live = [n for n in range(len(dag.parent)) if dag.find(n) == n]
    for n in live:
        assert all(dag.place[n] < dag.place[m] for m in dag.succ[n])
        assert all(n in dag.pred[m] for m in dag.succ[n])
    assert len({dag.place[n] for n in live}) == len(live)


# Random DAGs of fusible and non-fusible ops over shapes that broadcast together.
SHAPES = [(4, 3), (4, 1), (1, 1)]
UNARY = ["neg", "tanh", "sin", "exp"]   # exp only of tanh: no overflow
BINARY = ["add", "mul", "sub", "maximum"]


@st.composite
def random_graphs(draw):
    """(graph, arrays): a random DAG of elementwise ops, reductions, matmuls,
    broadcasts and transposes (round trips) over params of shapes SHAPES and (3, 3);
    its results are its sinks and a few more values."""
    params = [param(f"p{i}", *shape) for i, shape in enumerate(SHAPES)] + [param("w", 3, 3)]
    values = list(params[:3])

    def operand():   # a recent value half the time, to grow chains
        recent = draw(st.booleans())
        return values[-1 - draw(st.integers(0, min(3, len(values) - 1)))] if recent else \
            draw(st.sampled_from(values))

    for _ in range(draw(st.integers(8, 32))):
        a = operand()
        kind = draw(st.sampled_from(["unary", "binary", "binary", "binary", "reduce", "reduce",
                                     "matmul", "broadcast", "transpose"]))
        shape = a.type.shape
        if kind == "unary":
            unary = draw(st.sampled_from(UNARY))
            v = emit(unary, emit("tanh", a) if unary == "exp" else a)
        elif kind == "binary":
            v = emit(draw(st.sampled_from(BINARY)), a, draw(st.sampled_from(values)))
            if v.type.shape not in SHAPES:
                continue
        elif kind == "reduce" and shape != (1, 1):
            axes = (1,) if shape == (4, 3) else (0,)
            v = emit(draw(st.sampled_from(["reduce_sum", "reduce_max"])), a, axes=axes,
                     keepdims=True)
        elif kind == "matmul" and shape == (4, 3):
            v = emit("matmul", a, params[3])
        elif kind == "broadcast" and shape != (4, 3):
            v = emit("broadcast_to", a, shape=(4, 3))
        elif kind == "transpose" and shape == (4, 3):
            v = emit("transpose", emit("transpose", a, perm=(1, 0)), perm=(1, 0))
        else:
            continue
        values.append(v)
    used = {id(v) for u in values for v in (u.producer.operands if u.producer else ())}
    sinks = [v for v in values[3:] if id(v) not in used]   # the results keep every op
    outs = sinks + draw(st.lists(st.sampled_from(values), max_size=2, unique_by=id))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arrays = [rng.normal(size=p.type.shape).astype(np.float32) * 0.5 for p in params]
    return graph(params, outs), arrays


def contracted(g, groups):
    """networkx view of ``g`` with each group one node."""
    node = {id(op): ("group", i) for i, grp in enumerate(groups) for op in grp.ops}
    view = nx.DiGraph()
    for op in g.ops:
        n = node.get(id(op), op.seq)
        view.add_node(n)
        for v in op.operands:
            if v.producer is not None and node.get(id(v.producer), v.producer.seq) != n:
                view.add_edge(node.get(id(v.producer), v.producer.seq), n)
    return view


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_fusion_of_any_dag_contracts_acyclically_and_keeps_the_numbers(case):
    # Without the contracted graph's bookkeeping (the old per-value group sets went
    # stale when a group grew), about half the runs of 300 graphs found a cycle.
    g, arrays = case
    note(str(g))
    groups = group_ops(g)
    assert nx.is_directed_acyclic_graph(contracted(g, groups))
    out = fuse(g)
    verify(out)
    assert len(kernels(out)) == len(groups)
    for k in kernels(out):
        assert_region_contract(k)
    with np.errstate(all="ignore"):
        for a, b in zip(reference(g)(*arrays), reference(out)(*arrays)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def minimal_two_way_graph():
    """The smallest form of issue 6 item 3: group {a, b, d} reads r of group {c, r, e},
    which reads b."""
    p0, p1 = param("p0", 4, 3), param("p1", 4, 1)
    a = emit("neg", p1)
    b = emit("tanh", a)
    c = emit("sin", p0)
    r = emit("reduce_sum", c, axes=(1,), keepdims=True)
    d = emit("add", a, r)
    e = emit("mul", c, b)
    return graph([p0, p1], [d, e])


def test_the_minimal_two_way_case_keeps_the_later_reader_out():
    g = minimal_two_way_graph()
    out = fuse(g)
    verify(out)
    assert [[r.kind for r in k.region.ops] for k in kernels(out)] == [
        ["sin", "reduce_sum"], ["neg", "tanh", "add"]]
    assert out.ops[-1].kind == "mul"


def test_fuse_refuses_groups_that_depend_on_each_other(monkeypatch):
    import fusegraph.passes.fusion as fusion

    g = minimal_two_way_graph()
    ops = {op.kind: op for op in g.ops}

    def two_way(graph, capability):
        first, second = fusion._Group(0, (4, 1), 0), fusion._Group(1, (4, 3), 2)
        first.ops = [ops["neg"], ops["tanh"], ops["add"]]
        second.ops = [ops["sin"], ops["reduce_sum"], ops["mul"]]
        return [first, second]

    monkeypatch.setattr(fusion, "group_ops", two_way)
    with pytest.raises(VerificationError, match=r"fusion of graph @g made kernels that depend "
                       r"on each other \(kernel\d \[.*\] at test_fusion.py:\d+ -> kernel\d"):
        fuse(g)


# --- what a backend's kernels hold: the capability fusion asks ----------------------------

def test_fusion_groups_only_what_the_capability_admits():
    from fusegraph.ir.ops.region import ANY_KERNEL, KernelCapability
    from fusegraph.passes import run_pipeline, targeting

    x = param("x", 4, 3)
    e = emit("exp", emit("neg", x))
    g = graph([x], [emit("tanh", e), emit("reduce_max", e, axes=(1,))])
    assert [[r.kind for r in k.region.ops] for k in kernels(fuse(g))] == [
        ["neg", "exp", "tanh", "reduce_max"]]
    # Without code for maximum, reduce_max (which combines with it) stays out.
    no_max = KernelCapability("no maximum", lambda kind, dtype: kind != "maximum")
    out = fuse(g, no_max)
    verify(out)
    assert [[r.kind for r in k.region.ops] for k in kernels(out)] == [["neg", "exp", "tanh"]]
    assert [op.kind for op in out.ops] == ["fused", "reduce_max"]
    # The registered pass fuses for the capability in force, and only inside the block.
    with targeting(no_max):
        inside, _ = run_pipeline(g, ["fusion"])
    outside, _ = run_pipeline(g, ["fusion"])
    assert str(inside) == str(out) and str(outside) == str(fuse(g, ANY_KERNEL))


def test_groups_that_would_depend_on_each_other_are_an_error_naming_the_cycle(monkeypatch):
    # group_ops never makes such groups; fuse checks again when it orders the kernels
    from fusegraph.passes import fusion
    x = param("x", 2, 3)
    a = emit("exp", x)
    b = emit("neg", a)
    c = emit("tanh", b)
    g = graph([x], [emit("add", a, c)])
    outer = fusion._Group(0, (2, 3), 0)
    outer.ops = [a.producer, c.producer]       # a -> b -> c: the group reads b, b reads it
    monkeypatch.setattr(fusion, "group_ops", lambda graph, capability: [outer])
    with pytest.raises(VerificationError, match=r"depend on each other \(.*neg.*\)"):
        fuse(g)


def test_kernels_and_ops_keep_program_order_where_dependencies_allow():
    x, w = param("x", 2, 3), param("w", 3, 3)
    first = emit("neg", emit("exp", x))           # a kernel
    second = emit("matmul", x, w)                 # independent of it, later in the program
    third = emit("tanh", emit("sin", second))     # a kernel after it
    assert [op.kind for op in fuse(graph([x, w], [third, first])).ops] == \
        ["fused", "matmul", "fused"]


def _matmul_then_max(rows: int):
    return parse_graph(f"""
        graph @g(%a: f32[B,{rows},64], %b: f32[B,64,64]) -> (f32[B,{rows},1]) {{
          %0: f32[B,{rows},64] = matmul %a, %b
          %1: f32[B,{rows},1] = reduce_max %0 {{axes=[2], keepdims=true}}
          return %1
        }}
    """)


def test_a_lone_op_becomes_a_kernel_only_where_the_capability_asks():
    """A reduction after a matmul fuses with nothing: it stays a plain op, unless the
    capability's ``lone_kernel`` wants a kernel at its iteration shape (numba_cpu: from
    2^15 elements, the batch counted as 32)."""
    from fusegraph.backends.numba_cpu import CAPABILITY
    from fusegraph.ir.ops.region import ANY_KERNEL, KernelCapability
    kinds = lambda graph: [op.kind for op in graph.ops]   # noqa: E731
    g = _matmul_then_max(200)
    assert kinds(fuse(g, ANY_KERNEL)) == ["matmul", "reduce_max"]
    lone = KernelCapability("any, lone too", ANY_KERNEL.has_code, lone_kernel=lambda shape: True)
    fused = fuse(g, lone)
    verify(fused)
    assert kinds(fused) == ["matmul", "fused"]
    assert kinds(fused.ops[1].region) == ["reduce_max"]
    assert kinds(fuse(g, CAPABILITY)) == ["matmul", "fused"]                  # 32*200*64
    assert kinds(fuse(_matmul_then_max(10), CAPABILITY)) == ["matmul", "reduce_max"]
    x = np.random.default_rng(0).random((2, 200, 64), np.float32)
    w = np.random.default_rng(1).random((2, 64, 64), np.float32)
    np.testing.assert_array_equal(reference(fused)(x, w)[0], reference(g)(x, w)[0])


def test_siblings_reading_one_whole_array_share_a_kernel():
    """A bias gradient (a sum over the batch) and the elementwise ops on the same matmul
    output are siblings: one kernel reads the product once. An op reading that array
    broadcast, at a larger iteration shape, is not a sibling."""
    g, out = fused("""
        graph @fn(%x: f32[4,3], %w: f32[3,5], %y: f32[2,4,5]) -> (f32[1,5], f32[4,5], f32[2,4,5]) {
          %0: f32[4,5] = matmul %x, %w
          %1: f32[1,5] = reduce_sum %0 {axes=[0], keepdims=true}
          %2: f32[4,5] = tanh %0
          %3: f32[2,4,5] = mul %0, %y
          %4: f32[2,4,5] = exp %3
          return %1, %2, %4
        }
    """)
    assert [[r.kind for r in k.region.ops] for k in kernels(out)] == [
        ["reduce_sum", "tanh"], ["mul", "exp"]]
    for k in kernels(out):
        assert_region_contract(k)
    rng = np.random.default_rng(2)
    same_numbers(g, out, *(rng.normal(size=p.type.shape).astype(np.float32) for p in g.params))
