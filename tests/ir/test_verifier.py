"""``verify`` accepts well-formed graphs and names the broken invariant otherwise."""
import pytest

from fusegraph.ir.ops.region import is_column_reduction, is_staged, row_axes, row_shape, stages
from fusegraph.ir import (BATCH, DType, Graph, Op, SourceLoc, TensorType, Value,
                          VerificationError, emit_op, verify)

T = TensorType((BATCH, 4))
LOC = SourceLoc("net.py", 5, "dense")


def param(name="x", type=T):
    return Value(type, name=name)


def exp_of(value, loc=LOC):
    return Op("exp", [value], {}, [value.type], loc)


def graph_of(*ops, params=(), name="g"):
    """A graph of ``ops`` in the order given, returning the last op's results."""
    return Graph(name, params, ops, ops[-1].results if ops else ())


def assert_fails(graph, *fragments):
    with pytest.raises(VerificationError) as info:
        verify(graph)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_a_well_formed_graph_passes():
    x, w = param(), param("w", TensorType((4, 2)))
    h = emit_op("matmul", [x, w], loc=LOC).result
    s = emit_op("reduce_sum", [h], {"axes": (1,)}, loc=LOC).result
    verify(Graph.from_results("ok", [x, w], [s, h, x]))


def test_a_param_with_a_producer():
    x = param()
    op = exp_of(x)
    assert_fails(Graph("g", [x, op.result], [op], [op.result]),
                 "graph @g, param 1", "has a producer (exp)")


@pytest.mark.parametrize("name", [None, "", "12", "a b", "x:y"])
def test_a_param_name_that_cannot_be_printed(name):
    x = param(name)
    assert_fails(graph_of(exp_of(x), params=[x]), "param 0", "must be non-empty")


def test_duplicate_param_names_and_values():
    a, b = param("x"), param("x")
    assert_fails(Graph("g", [a, b], [], [a]), "param 1 (%x)", "name is not unique")
    assert_fails(Graph("g", [a, a], [], [a]), "param 1 (%x)", "is defined twice")


def test_a_bad_graph_name():
    assert_fails(Graph("my graph", [], [], []), "graph @'my graph'", "graph name")


def test_an_unregistered_kind():
    x = param()
    assert_fails(graph_of(Op("relu", [x], {}, [T], LOC), params=[x]),
                 "graph @g, op 0 (relu at net.py:5 dense)", "'relu' is not a registered op")


def test_a_use_before_its_definition():
    x = param()
    first = exp_of(x)
    second = exp_of(first.result)
    assert_fails(graph_of(second, first, params=[x]),
                 "op 0 (exp at net.py:5 dense)", "operand 0 (%1) is used before its definition (by op 1)")


def test_an_operand_from_outside_the_graph():
    x, stranger = param(), param("stranger")
    assert_fails(graph_of(exp_of(stranger), params=[x]), "operand 0", "is not a parameter of this graph")
    outside = exp_of(x)
    assert_fails(graph_of(exp_of(outside.result), params=[x]),
                 "result of a exp op outside this graph")


def test_an_op_listed_twice():
    x = param()
    op = exp_of(x)
    assert_fails(graph_of(op, op, params=[x]), "op 1", "is the same op as op 0")


def test_a_value_defined_twice_or_with_the_wrong_producer():
    x = param()
    op = Op("fused", [x], {}, [T, T], LOC, Graph.from_results("k", [param("a")], []))
    op.results = (op.results[0], op.results[0])
    assert_fails(graph_of(op, params=[x]), "result 1 (%1) is defined twice")
    borrower = exp_of(x)
    borrower.results = exp_of(x).results
    assert_fails(graph_of(borrower, params=[x]), "result 0", "not this op's result 0")


@pytest.mark.parametrize("attrs, message", [
    ({"keepdims": False, "axes": (1,)}, "not in normalized form"),        # order
    ({"axes": (1,)}, "not in normalized form"),                           # a missing default
    ({"axes": (1,), "keepdims": 0}, "must be a bool"),                    # wrong kind
    ({"axes": (1,), "keepdims": False, "bogus": 1}, "unknown attributes ['bogus']"),
])
def test_attributes_must_be_normalized(attrs, message):
    x = param()
    op = Op("reduce_sum", [x], attrs, [TensorType((BATCH,))], LOC)
    assert_fails(graph_of(op, params=[x]), "op 0 (reduce_sum at net.py:5 dense)", message)


def test_an_attribute_of_the_wrong_python_type():
    x = param()
    op = Op("cast", [x], {"dtype": "float64"}, [T.with_dtype(DType.f64)], LOC)
    assert_fails(graph_of(op, params=[x]), "expected {'dtype': f64}, got {'dtype': 'float64'}")


def test_arity():
    x = param()
    assert_fails(graph_of(Op("exp", [x, x], {}, [T], LOC), params=[x]), "takes 1 operands, got 2")


def test_result_types_must_match_the_shape_rule():
    x = param()
    wrong = Op("exp", [x], {}, [TensorType((BATCH, 5))], LOC)
    assert_fails(graph_of(wrong, params=[x]),
                 "result types disagree with the shape rule: expected (f32[B,4]), got (f32[B,5])")
    too_many = Op("exp", [x], {}, [T, T], LOC)
    assert_fails(graph_of(too_many, params=[x]), "expected (f32[B,4]), got (f32[B,4], f32[B,4])")


def test_operands_that_break_the_shape_rule():
    x, y = param(), param("y", TensorType((3,)))
    assert_fails(graph_of(Op("add", [x, y], {}, [T], LOC), params=[x, y]), "shapes do not broadcast")


def test_region_presence_follows_the_kind():
    x = param()
    region = Graph.from_results("k", [param("a")], [])
    assert_fails(graph_of(Op("fused", [x], {}, [], LOC), params=[x]), "fused ops carry a region")
    assert_fails(graph_of(Op("exp", [x], {}, [T], LOC, region), params=[x]), "exp ops carry no region")


def test_regions_are_verified_and_isolated_from_above():
    x, a = param(), param("a")
    leak = exp_of(x, SourceLoc(layer="inner"))
    region = Graph("kernel", [a], [leak], leak.results)
    op = Op("fused", [x], {}, [T], SourceLoc("net.py", 9), region)
    assert_fails(graph_of(op, params=[x]),
                 "graph @g, op 0 (fused at net.py:9): in its region: graph @kernel, op 0 (exp at inner)",
                 "operand 0", "is not a parameter of this graph")


def test_a_region_that_disagrees_with_the_operands():
    x, a = param(), param("a", TensorType((3,)))
    region = Graph("kernel", [a], [], [a])
    op = Op("fused", [x], {}, [a.type], LOC, region)
    assert_fails(graph_of(op, params=[x]), "region @kernel takes (f32[3]), got (f32[B,4])")


def test_results_must_be_defined():
    x, stranger = param(), param("stranger")
    assert_fails(Graph("g", [x], [], [x, stranger]), "graph @g, result 1", "is not defined in the graph")


# --- the kernel contract of ``fused`` (ir/ops/region.py), one rule each -------------------

def fused_of(params, region_ops, region_results, operands=None):
    """A graph of one ``fused`` op whose region is ``region_ops`` over ``params``."""
    region = Graph("kernel", params, region_ops, region_results)
    outer = [param(f"o{k}", p.type) for k, p in enumerate(params)]
    op = Op("fused", outer, {}, [r.type for r in region_results], SourceLoc("net.py", 9), region)
    return graph_of(op, params=outer)


def contract_fails(graph, rule, *fragments):
    assert_fails(graph, "graph @g, op 0 (fused at net.py:9): breaks the kernel contract "
                        f"({rule}): ", *fragments)


def test_a_kernel_that_keeps_the_contract_passes():
    a, row = param("a"), param("row", TensorType((BATCH, 1)))
    add = emit_op("add", [a, row], loc=LOC)
    zero = emit_op("constant", [], {"value": 0.0}, loc=LOC)
    relu = emit_op("maximum", [add.result, zero.result], loc=LOC)
    total = emit_op("reduce_sum", [relu.result], {"axes": (1,)}, loc=LOC)
    verify(fused_of([a, row], [add, zero, relu, total], [relu.result, total.result]))


def test_a_kernel_op_that_is_neither_elementwise_nor_a_reduction():
    a, w = param("a"), param("w", TensorType((4, 4)))
    mm = emit_op("matmul", [a, w], loc=LOC)
    contract_fails(fused_of([a, w], [mm], mm.results), "op classes",
                   "region op 0 (matmul at net.py:5 dense) is neither elementwise, a reduction, "
                   "an expansion nor a row gather")


def _row_gather(sums_type=TensorType((BATCH, 3, 4))):
    sums, slots = param("sums", sums_type), param("slots", TensorType((6, 1), DType.i32))
    return sums, slots, emit_op("gather_rows", [sums, slots], loc=LOC)


def test_a_kernel_may_gather_rows_of_a_parameter_read_nowhere_else():
    sums, slots, gather = _row_gather()
    e = emit_op("exp", [gather.result], loc=LOC)
    verify(fused_of([sums, slots], [gather, e], e.results))   # sums: not read by index


def test_a_row_gather_of_a_parameter_read_elsewhere_or_of_a_computed_value():
    sums, slots, gather = _row_gather(TensorType((6, 4)))
    e = emit_op("exp", [sums], loc=LOC)
    add = emit_op("add", [gather.result, e.result], loc=LOC)
    contract_fails(fused_of([sums, slots], [gather, e, add], add.results), "row gathers",
                   "region op 0 (gather_rows at net.py:5 dense) picks rows of a parameter "
                   "the region also reads elsewhere")
    a = param("a", TensorType((6, 4)))
    neg = emit_op("neg", [a], loc=LOC)
    inner = emit_op("gather_rows", [neg.result, slots], loc=LOC)
    contract_fails(fused_of([a, slots], [neg, inner], inner.results), "row gathers",
                   "region op 1 (gather_rows at net.py:5 dense) picks rows of a value the "
                   "region computes")


def test_a_kernel_with_an_array_constant():
    a = param("a")
    c = emit_op("constant", [], {"value": (1.0, 2.0, 3.0, 4.0)}, loc=LOC)
    add = emit_op("add", [a, c.result], loc=LOC)
    contract_fails(fused_of([a], [c, add], add.results), "op classes",
                   "region op 0 (constant at net.py:5 dense) makes f32[4]; only scalar")


def test_a_kernel_with_two_iteration_shapes():
    a, b = param("a"), param("b", TensorType((BATCH, 4, 2)))
    e, f = emit_op("exp", [a], loc=LOC), emit_op("exp", [b], loc=LOC)
    contract_fails(fused_of([a, b], [e, f], [e.result, f.result]), "iteration shape",
                   "expected one iteration shape, got [B,4] (region op 0", "[B,4,2] (region op 1")


def test_a_kernel_parameter_that_is_not_read_by_index():
    a, col = param("a", TensorType((BATCH, 4))), param("col", TensorType((4, 1, 4)))
    e = emit_op("exp", [a], loc=LOC)
    contract_fails(fused_of([a, col], [e], e.results), "operands",
                   "parameter 1 (f32[4,1,4]) is not read by index from the iteration shape [B,4]")


def test_a_staged_kernel_uses_its_row_reductions_results():
    """Softmax in one kernel: the row's max, the sum of exponentials, the quotients."""
    a = param("a")
    m = emit_op("reduce_max", [a], {"axes": (1,), "keepdims": True}, loc=LOC)
    d = emit_op("sub", [a, m.result], loc=LOC)
    e = emit_op("exp", [d.result], loc=LOC)
    s = emit_op("reduce_sum", [e.result], {"axes": (1,), "keepdims": True}, loc=LOC)
    y = emit_op("div", [e.result, s.result], loc=LOC)
    graph = fused_of([a], [m, d, e, s, y], y.results)
    verify(graph)
    region = graph.ops[0].region
    assert is_staged(region) and row_axes(region) == (1,)
    assert [stages(region)[id(op.results[0])] for op in region.ops] == [1, 1, 1, 2, 2]


def test_a_staged_kernel_folds_column_reductions_as_it_walks_the_rows():
    """A LayerNorm's backward: its rows' sums, used in the same kernel, and gamma's and
    beta's gradients, sums over every other axis that nothing in the kernel reads."""
    g = param("g", TensorType((BATCH, 3, 4)))
    row_sum = emit_op("reduce_sum", [g], {"axes": (2,), "keepdims": True}, loc=LOC)
    dx = emit_op("sub", [g, row_sum.result], loc=LOC)
    column = emit_op("reduce_sum", [dx.result], {"axes": (0, 1), "keepdims": True}, loc=LOC)
    graph = fused_of([g], [row_sum, dx, column], [dx.result, column.result])
    verify(graph)
    region = graph.ops[0].region
    assert row_axes(region) == (2,) and row_shape(region) == (BATCH, 3, 1)
    assert is_column_reduction(column, (2,)) and not is_column_reduction(row_sum, (2,))


@pytest.mark.parametrize("axes, keepdims, used", [((0,), True, False), ((0, 1), False, False),
                                                   ((0, 1), True, True)])
def test_a_staged_kernel_refuses_other_reductions(axes, keepdims, used):
    """Beside a row's reductions, a reduction over some of the other axes, one that drops
    them, or a column reduction whose result the kernel uses: no row axes."""
    g = param("g", TensorType((BATCH, 3, 4)))
    row_sum = emit_op("reduce_sum", [g], {"axes": (2,), "keepdims": True}, loc=LOC)
    dx = emit_op("sub", [g, row_sum.result], loc=LOC)
    other = emit_op("reduce_sum", [dx.result], {"axes": axes, "keepdims": keepdims}, loc=LOC)
    ops, results = [row_sum, dx, other], [dx.result, other.result]
    if used:
        ops.append(emit_op("mul", [dx.result, other.result], loc=LOC))
        results = [ops[-1].result]
    contract_fails(fused_of([g], ops, results), "reduction results",
                   "its reductions have no row axes: those whose results it uses must reduce")


def test_a_staged_kernel_reduces_values_of_its_iteration_shape_only():
    """A reduction of a row value (twice the row's max, summed over the row) would be
    folded once per element of the row by a staged kernel: refused."""
    a = param("a")
    m = emit_op("reduce_max", [a], {"axes": (1,), "keepdims": True}, loc=LOC)
    two = emit_op("constant", [], {"value": 2.0}, loc=LOC)
    d = emit_op("mul", [m.result, two.result], loc=LOC)
    s = emit_op("reduce_sum", [d.result], {"axes": (1,), "keepdims": True}, loc=LOC)
    y = emit_op("add", [a, s.result], loc=LOC)
    contract_fails(fused_of([a], [m, two, d, s, y], y.results), "iteration shape",
                   "region op 3 (reduce_sum) reduces a row value f32[B,1]")


def test_a_kernel_that_uses_a_reduction_result_it_may_not():
    a = param("a")
    s = emit_op("reduce_max", [a], {"axes": (0,), "keepdims": True}, loc=LOC)   # not a row
    d = emit_op("sub", [a, s.result], loc=LOC)
    contract_fails(fused_of([a], [s, d], d.results), "reduction results",
                   "its reductions have no row axes: those whose results it uses must reduce")


def test_a_kernel_result_that_no_kernel_op_computes():
    a = param("a")
    e = emit_op("exp", [a], loc=LOC)
    contract_fails(fused_of([a], [e], [e.result, a]), "results",
                   "result 1 is not computed by an elementwise op or a reduction")
