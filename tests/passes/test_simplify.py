"""Golden tests of the simplify pass: IR text in, IR text out, numerics unchanged."""
import textwrap

import numpy as np
import pytest

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import opdef as opdefs, parse_graph, verify
from fusegraph.ir.opdef import REDUCTION
from fusegraph.passes import RuleTable, collecting, run_pipeline, simplify
from fusegraph.passes.simplify import RULES


def text(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


def assert_identical(a, b):
    """Equal arrays, NaN where NaN and signed zeros of the same sign."""
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


def check(before: str, after: str, *arrays):
    g = parse_graph(text(before))
    out = simplify(g)
    verify(out)
    assert str(out) == text(after)
    for a, b in zip(reference(g)(*arrays), reference(out)(*arrays)):
        assert_identical(a, b)


def test_constants_fold_and_identities_disappear():
    check("""
        graph @g(%x: f32[B,3]) -> (f32[B,3], f32[1,B,3]) {
          %0: f32[] = constant {value=2.0, dtype=f32}
          %1: f32[] = constant {value=1.5, dtype=f32}
          %2: f32[] = mul %0, %1
          %3: f32[B,3] = mul %x, %2
          %4: f32[] = constant {value=-0.0, dtype=f32}
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
          %2: f32[B,2] = add %1, %x
          return %2, %1
        }
    """, np.array([[1, -0.0], [0.0, np.nan], [np.inf, -2]], np.float32))


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


def test_a_reshape_of_a_reshape_back_to_the_operands_type_is_no_reshape():
    check("""
        graph @g(%x: f32[B,6]) -> (f32[B,6], f32[B,3,2]) {
          %0: f32[B,2,3] = reshape %x {shape=[B, 2, 3]}
          %1: f32[B,6] = reshape %0 {shape=[B, 6]}
          %2: f32[] = constant {value=2.0, dtype=f32}
          %3: f32[B,6] = mul %1, %2
          %4: f32[B,3,2] = reshape %0 {shape=[B, 3, 2]}
          return %3, %4
        }
    """, """
        graph @g(%x: f32[B,6]) -> (f32[B,6], f32[B,3,2]) {
          %0: f32[] = constant {value=2.0, dtype=f32}
          %1: f32[B,6] = mul %x, %0
          %2: f32[B,3,2] = reshape %x {shape=[B, 3, 2]}
          return %1, %2
        }
    """, np.arange(24, dtype=np.float32).reshape(4, 6))


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
        assert_identical(a, b)


def test_only_exact_identities_drop_an_add_or_sub_of_zero_signed_zeros_included():
    # -0.0 + 0.0 is +0.0, so x + 0.0 (0.0 + x, x - -0.0) is not x; x + -0.0 and x - 0.0 are.
    check("""
        graph @g(%x: f32[4], %n: i32[4]) -> (f32[4], f32[4], f32[4], f32[4], f32[4], f32[4], f32[4], f32[4], i32[4]) {
          %0: f32[] = constant {value=0.0, dtype=f32}
          %1: f32[] = constant {value=-0.0, dtype=f32}
          %2: f32[] = constant {value=1.0, dtype=f32}
          %3: i32[] = constant {value=0, dtype=i32}
          %4: f32[4] = add %x, %0
          %5: f32[4] = add %0, %x
          %6: f32[4] = sub %x, %1
          %7: f32[4] = add %x, %1
          %8: f32[4] = add %1, %x
          %9: f32[4] = sub %x, %0
          %10: f32[4] = mul %x, %2
          %11: f32[4] = div %x, %2
          %12: i32[4] = add %n, %3
          return %4, %5, %6, %7, %8, %9, %10, %11, %12
        }
    """, """
        graph @g(%x: f32[4], %n: i32[4]) -> (f32[4], f32[4], f32[4], f32[4], f32[4], f32[4], f32[4], f32[4], i32[4]) {
          %0: f32[] = constant {value=0.0, dtype=f32}
          %1: f32[] = constant {value=-0.0, dtype=f32}
          %2: f32[4] = add %x, %0
          %3: f32[4] = add %0, %x
          %4: f32[4] = sub %x, %1
          return %2, %3, %4, %x, %x, %x, %x, %x, %n
        }
    """, np.array([-0.0, 0.0, np.nan, -np.inf], np.float32), np.array([0, -1, 2, 3], np.int32))
    # What was kept computes exactly what the original graph does on -0.0 (check() above
    # compares with signbit too): the first two results are +0.0 there, not x's -0.0.
    g = simplify(parse_graph(text("""
        graph @g(%x: f32[2]) -> (f32[2]) {
          %0: f32[] = constant {value=0.0, dtype=f32}
          %1: f32[2] = add %x, %0
          return %1
        }
    """)))
    assert not np.signbit(reference(g)(np.array([-0.0, -0.0], np.float32))[0]).any()


def _constant_graph(kind, *constants, **attrs):
    """A graph of one ``kind`` op on scalar/array constants, built in a layer scope so
    that the op has a location (this file and line, layer 'folded')."""
    from fusegraph.ir import Graph, emit, layer_scope

    with layer_scope("folded"):
        operands = [emit("constant", value=v, dtype=d) for v, d in constants]
        y = emit(kind, *operands, **attrs)
    return Graph.from_results("g", [], [y]), y.producer


def test_an_op_whose_reference_raises_is_not_folded_and_fails_at_run_time_with_its_location():
    from fusegraph.backends import optimizing_compiler
    from fusegraph.backends.reference import ExecutionError
    from fusegraph.ir import DType

    g, take = _constant_graph("take", ((1.0, 2.0, 3.0), DType.f32), ((0, 5), DType.i32), axis=0)
    optimized, _ = run_pipeline(g, ["simplify"])   # no bare IndexError while compiling
    assert [op.kind for op in optimized.ops] == ["constant", "constant", "take"]
    assert optimized.ops[-1].loc == take.loc
    exe = optimizing_compiler("reference")(g)
    with pytest.raises(ExecutionError, match=r"op take at .*test_simplify\.py:\d+ .*folded.*"
                                             r"index 5 is out of range \[0, 3\)"):
        exe()


def test_a_floating_point_exception_is_left_to_the_run_and_a_quiet_result_folds():
    from fusegraph.backends.reference import ExecutionError
    from fusegraph.ir import DType

    # 1 / 0 warns (or raises, under np.errstate) when the graph runs: not folded.
    g, _ = _constant_graph("div", (1.0, DType.f32), (0.0, DType.f32))
    out = simplify(g)
    assert [op.kind for op in out.ops] == ["constant", "constant", "div"]
    with np.errstate(divide="ignore"):
        assert reference(out)()[0] == np.inf
    with np.errstate(divide="raise"), pytest.raises(ExecutionError, match="op div at .*folded"):
        reference(out)()
    # inf + 1 and -0.0 * 1 signal nothing: they fold, to exactly what the run gives.
    for kind, a, b, want in (("add", np.inf, 1.0, np.inf), ("mul", -0.0, 1.0, -0.0)):
        g, _ = _constant_graph(kind, (a, DType.f32), (b, DType.f32))
        out = simplify(g)
        assert [op.kind for op in out.ops] == ["constant"]
        assert_identical(reference(out)()[0], np.float32(want))


def test_a_reshape_that_sizes_a_symbol_keeps_its_check_when_reshaped_back():
    # (B, 3) -> (4, 3) checks B == 4 when it runs; merging it with the reshape back to
    # (B, 3) would make x itself, and a batch of 5 would pass unchecked.
    same = """
        graph @g(%x: f32[B,3]) -> (f32[B,3]) {
          %0: f32[4,3] = reshape %x {shape=[4, 3]}
          %1: f32[B,3] = reshape %0 {shape=[B, 3]}
          return %1
        }
    """
    check(same, same, np.arange(12, dtype=np.float32).reshape(4, 3))
    out = simplify(parse_graph(text(same)))
    with pytest.raises(Exception, match=r"size 15 into shape \(4,\s*3\)"):
        reference(out)(np.zeros((5, 3), np.float32))


def test_an_empty_result_is_not_folded_into_a_constant_that_would_lose_its_trailing_dims():
    # A constant holds a nested tuple: (3, 0, 2) zeros would print as ((), (), ()), (3, 0).
    check("""
        graph @g() -> (f32[3,0,2]) {
          %0: f32[] = constant {value=1.0, dtype=f32}
          %1: f32[3,0,2] = broadcast_to %0 {shape=[3, 0, 2]}
          return %1
        }
    """, """
        graph @g() -> (f32[3,0,2]) {
          %0: f32[] = constant {value=1.0, dtype=f32}
          %1: f32[3,0,2] = broadcast_to %0 {shape=[3, 0, 2]}
          return %1
        }
    """)


def test_the_gradient_of_a_sum_over_an_empty_axis_keeps_its_shape():
    import fusegraph as fg
    from fusegraph.backends import optimizing_compiler
    from fusegraph.frontend.function import Function

    def grad_of_sum(a):
        with fg.GradientTape() as tape:
            loss = fg.ops.sum(a)
        return tape.gradient(loss, a)

    for backend in ("reference", "numba_cpu"):
        out = Function(grad_of_sum, "g", optimizing_compiler(backend), symbolic_batch=False)(
            np.zeros((3, 0, 2), "float32"))
        assert np.asarray(out).shape == (3, 0, 2)


# One case per rule of the table: (rule, a graph where it fires once, the graph after).
RULE_CASES = {
    "fold_constants": ("""
        graph @g() -> (f32[2]) {
          %0: f32[2] = constant {value=[1.0, 2.0], dtype=f32}
          %1: f32[2] = neg %0
          return %1
        }
    """, """
        graph @g() -> (f32[2]) {
          %0: f32[2] = constant {value=[-1.0, -2.0], dtype=f32}
          return %0
        }
    """),
    "sub_positive_zero": ("""
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0: f32[] = constant {value=0.0, dtype=f32}
          %1: f32[3] = sub %x, %0
          return %1
        }
    """, "graph @g(%x: f32[3]) -> (f32[3]) {\n  return %x\n}\n"),
    "add_negative_zero": ("""
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0: f32[] = constant {value=-0.0, dtype=f32}
          %1: f32[3] = add %0, %x
          return %1
        }
    """, "graph @g(%x: f32[3]) -> (f32[3]) {\n  return %x\n}\n"),
    "times_one": ("""
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0: f32[] = constant {value=1.0, dtype=f32}
          %1: f32[3] = div %x, %0
          return %1
        }
    """, "graph @g(%x: f32[3]) -> (f32[3]) {\n  return %x\n}\n"),
    "to_own_type": ("""
        graph @g(%x: f32[B,3]) -> (f32[B,3]) {
          %0: f32[B,3] = cast %x {dtype=f32}
          return %0
        }
    """, "graph @g(%x: f32[B,3]) -> (f32[B,3]) {\n  return %x\n}\n"),
    "identity_transpose": ("""
        graph @g(%x: f32[B,3]) -> (f32[B,3]) {
          %0: f32[B,3] = transpose %x {perm=[0, 1]}
          return %0
        }
    """, "graph @g(%x: f32[B,3]) -> (f32[B,3]) {\n  return %x\n}\n"),
    "reduce_over_no_axes": ("""
        graph @g(%x: f32[B,3]) -> (f32[B,3]) {
          %0: f32[B,3] = reduce_max %x {axes=[], keepdims=true}
          return %0
        }
    """, "graph @g(%x: f32[B,3]) -> (f32[B,3]) {\n  return %x\n}\n"),
    "where_constant_condition": ("""
        graph @g(%x: f32[3], %y: f32[3]) -> (f32[3]) {
          %0: bool[] = constant {value=false, dtype=bool}
          %1: f32[3] = where %0, %x, %y
          return %1
        }
    """, "graph @g(%x: f32[3], %y: f32[3]) -> (f32[3]) {\n  return %y\n}\n"),
    "merge_reshapes": ("""
        graph @g(%x: f32[B,6]) -> (f32[B,3,2]) {
          %0: f32[B,2,3] = reshape %x {shape=[B, 2, 3]}
          %1: f32[B,3,2] = reshape %0 {shape=[B, 3, 2]}
          return %1
        }
    """, """
        graph @g(%x: f32[B,6]) -> (f32[B,3,2]) {
          %0: f32[B,3,2] = reshape %x {shape=[B, 3, 2]}
          return %0
        }
    """),
    "merge_transposes": ("""
        graph @g(%x: f32[2,3,4]) -> (f32[4,2,3]) {
          %0: f32[3,4,2] = transpose %x {perm=[1, 2, 0]}
          %1: f32[4,2,3] = transpose %0 {perm=[1, 2, 0]}
          return %1
        }
    """, """
        graph @g(%x: f32[2,3,4]) -> (f32[4,2,3]) {
          %0: f32[4,2,3] = transpose %x {perm=[2, 0, 1]}
          return %0
        }
    """),
}


def test_every_rule_has_a_case_and_a_contract():
    assert [r.name for r in RULES.rules] == list(RULE_CASES)
    assert all(r.fn.__doc__.strip() for r in RULES.rules)


@pytest.mark.parametrize("name", list(RULE_CASES))
def test_each_rule_fires_on_its_case_and_is_counted_under_its_name(name):
    before, after = RULE_CASES[name]
    g = parse_graph(text(before))
    with collecting() as counters:
        out = simplify(g)
    verify(out)
    assert str(out) == text(after)
    assert counters == {name: 1}
    _, report = run_pipeline(g, ["simplify"])
    assert report.runs[0].counters == {name: 1}
    assert report.counters("simplify") == {name: 1}


def test_a_rule_for_one_kind_never_fires_for_another():
    kinds = {}   # rule name -> the op kinds it may fire on, among every registered kind
    for kind in sorted(opdefs._REGISTRY):
        for r in RULES.rules_for(kind):
            kinds.setdefault(r.name, set()).add(kind)
    assert kinds["fold_constants"] == set(opdefs._REGISTRY)
    assert kinds["add_negative_zero"] == {"add"} and kinds["sub_positive_zero"] == {"sub"}
    assert kinds["times_one"] == {"mul", "div"}
    assert kinds["merge_reshapes"] == {"reshape"} and kinds["merge_transposes"] == {"transpose"}
    assert kinds["reduce_over_no_axes"] == {
        k for k, d in opdefs._REGISTRY.items() if d.has(REDUCTION)} >= {"reduce_sum", "reduce_max"}
    # sub of -0.0 and maximum with 1 look like the cases of add_negative_zero and
    # times_one, but those rules are not asked: nothing fires, nothing is counted.
    same = """
        graph @g(%x: f32[3], %n: i32[2,3]) -> (f32[3], f32[3], i32[2]) {
          %0: f32[] = constant {value=-0.0, dtype=f32}
          %1: f32[] = constant {value=1.0, dtype=f32}
          %2: f32[3] = sub %x, %0
          %3: f32[3] = maximum %x, %1
          %4: i32[2] = argmax %n {axis=1, keepdims=false}
          return %2, %3, %4
        }
    """
    with collecting() as counters:
        check(same, same, np.array([-0.0, 2.0, np.nan], np.float32),
              np.array([[1, 2, 0], [5, 4, 3]], np.int32))
    assert counters == {}


def test_a_new_reduction_is_simplified_by_its_trait_without_editing_simplify(monkeypatch):
    import dataclasses

    monkeypatch.setitem(opdefs._REGISTRY, "test_reduce", dataclasses.replace(
        opdefs.get_opdef("reduce_sum"), name="test_reduce", doc="test only: no rule names it"))
    g = parse_graph(text("""
        graph @g(%x: f32[B,3]) -> (f32[B,3], f32[B]) {
          %0: f32[B,3] = test_reduce %x {axes=[], keepdims=false}
          %1: f32[B] = test_reduce %0 {axes=[1], keepdims=false}
          return %0, %1
        }
    """))
    _, report = run_pipeline(g, ["simplify"])
    assert report.runs[0].counters == {"reduce_over_no_axes": 1}
    assert [op.kind for op in simplify(g).ops] == ["test_reduce"]


def test_the_first_rule_that_fires_wins_and_a_table_refuses_unnamed_or_undocumented_rules():
    table = RuleTable("test")
    fired = []

    @table.rule("neg")
    def first(op, operands):
        """neg -> its operand (test only)."""
        fired.append("first")
        return (operands[0],)

    @table.rule("neg", "exp")
    def second(op, operands):
        """never reached for neg (test only)."""
        fired.append("second")
        return None

    assert [r.name for r in table.rules_for("neg")] == ["first", "second"]
    assert [r.name for r in table.rules_for("exp")] == ["second"] and table.rules_for("tanh") == ()
    g = parse_graph(text("""
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0: f32[3] = exp %x
          %1: f32[3] = neg %0
          return %1
        }
    """))
    from fusegraph.passes.rewrite import rebuild
    with collecting() as counters:
        out = rebuild(g, table.apply)
    assert [op.kind for op in out.ops] == ["exp"] and fired == ["second", "first"]
    assert counters == {"first": 1}
    with pytest.raises(ValueError, match="test: a rule named 'first' is already registered"):
        table.rule("exp")(first)

    def undocumented(op, operands):
        return None
    with pytest.raises(ValueError, match="test: rule 'undocumented' has no docstring"):
        table.rule("exp")(undocumented)
