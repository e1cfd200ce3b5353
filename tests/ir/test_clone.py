"""``inline``: copies a graph's ops onto new operands, sharing the params it is not told
to replace, lets the caller rewrite each copied op's attributes, and gives the replaced
params' dimension symbols the new operands' dims (shape attributes, regions, retyping)."""
import pytest

from fusegraph.ir import (BATCH, DType, Graph, ShapeError, SourceLoc, Sym, TensorType, Value,
                          emit_op, verify)
from fusegraph.ir.clone import inline

LOC = SourceLoc("net.py", 3, "noise")


def noisy_graph():
    """g(x, w, key) = (x @ w) * uniform(key, salt=7)."""
    x = Value(TensorType((BATCH, 3)), name="x")
    w = Value(TensorType((3, 2)), name="w")
    key = Value(TensorType((), DType.i64), name="key")
    h = emit_op("matmul", [x, w], loc=LOC).result
    u = emit_op("random_uniform", [key], {"shape": (BATCH, 2), "salt": 7}, loc=LOC).result
    y = emit_op("mul", [h, u], loc=LOC).result
    return Graph.from_results("g", [x, w, key], [y]), x, w, key


def copy_into_graph(graph, x, replacements, **kwargs):
    """The copy of ``graph`` made by ``inline``, as a graph of its own over ``x``."""
    results = inline(graph, replacements, **kwargs)
    params = [x] + [p for p in graph.params[1:]]
    copied = Graph.from_results("copy", params, results)
    verify(copied)
    return copied


def test_inline_replaces_the_given_params_and_shares_the_others():
    graph, x, w, key = noisy_graph()
    new_x = Value(TensorType((BATCH, 3)), name="new_x")
    copied = copy_into_graph(graph, new_x, {x: new_x})
    assert [op.kind for op in copied.ops] == ["matmul", "random_uniform", "mul"]
    matmul, draw, _ = copied.ops
    assert matmul.operands[0] is new_x and matmul.operands[1] is w   # the weight is shared
    assert draw.operands[0] is key and draw.attrs == graph.ops[1].attrs
    assert all(op.loc == LOC for op in copied.ops)
    assert all(new is not old for new, old in zip(copied.ops, graph.ops))


def test_rewrite_attrs_changes_only_the_ops_it_answers_for():
    graph, x, _, _ = noisy_graph()
    asked = []

    def rewrite(op):
        asked.append(op.kind)
        return {**op.attrs, "salt": 99} if op.kind == "random_uniform" else None

    copied = copy_into_graph(graph, x, {}, rewrite_attrs=rewrite)
    assert asked == ["matmul", "random_uniform", "mul"]
    draw = copied.ops[1]
    assert draw.attrs["salt"] == 99
    assert draw.attrs["shape"] == graph.ops[1].attrs["shape"]
    assert graph.ops[1].attrs["salt"] == 7                       # the original is untouched
    assert copied.ops[0].attrs == graph.ops[0].attrs


def test_rewritten_attrs_are_checked_and_types_inferred_again():
    graph, x, _, _ = noisy_graph()
    copied = copy_into_graph(graph, x, {}, rewrite_attrs=lambda op: (
        {**op.attrs, "shape": (1, 2)} if op.kind == "random_uniform" else None))
    assert copied.ops[1].results[0].type == TensorType((1, 2))
    assert copied.results[0].type == TensorType((BATCH, 2))      # mul broadcasts again
    with pytest.raises(ShapeError, match=r"layer 'noise' at net.py:3: mul: operands must "
                                         r"have one dtype"):
        inline(graph, {}, rewrite_attrs=lambda op: (
            {**op.attrs, "dtype": "float64"} if op.kind == "random_uniform" else None))


# --- dimension symbols: the replaced params' symbols take the new operands' dims ---------
T = Sym("T")


def test_shape_attrs_take_the_new_operands_dims():
    x = Value(TensorType((BATCH, T, 3)), name="x")
    key = Value(TensorType((), DType.i64), name="key")
    flat = emit_op("reshape", [x], {"shape": (BATCH, T, 3)}, loc=LOC).result
    noise = emit_op("random_uniform", [key], {"shape": (BATCH, T, 3), "salt": 1}, loc=LOC).result
    wide = emit_op("broadcast_to", [noise], {"shape": (2, BATCH, T, 3)}, loc=LOC).result
    graph = Graph.from_results("g", [x, key], [flat, noise, wide])

    fixed = Value(TensorType((5, 7, 3)), name="fixed")             # B -> 5, T -> 7
    results = inline(graph, {x: fixed})
    assert [r.type.shape for r in results] == [(5, 7, 3), (5, 7, 3), (2, 5, 7, 3)]
    assert results[0].producer.attrs["shape"] == (5, 7, 3)
    assert results[1].producer.attrs["shape"] == (5, 7, 3)

    other = Value(TensorType((BATCH, Sym("L"), 3)), name="other")  # T -> L; B stays B
    results = inline(graph, {x: other})
    assert results[1].producer.attrs["shape"] == (BATCH, Sym("L"), 3)
    assert graph.ops[1].attrs["shape"] == (BATCH, T, 3)           # the original is untouched


def test_an_iota_of_a_replaced_symbol_names_the_new_one():
    x = Value(TensorType((BATCH, T)), name="x")
    steps = emit_op("iota", [], {"shape": (T,), "axis": 0, "dtype": "int32"}, loc=LOC).result
    picked = emit_op("take", [x, steps], {"axis": 1}, loc=LOC).result
    graph = Graph.from_results("g", [x], [picked])
    new = Value(TensorType((BATCH, Sym("L"))), name="new")
    copied = copy_into_graph(graph, new, {x: new})
    (iota,) = [op for op in copied.ops if op.kind == "iota"]
    assert iota.attrs["shape"] == (Sym("L"),)
    assert copied.results[0].type == TensorType((BATCH, Sym("L")))


def cumsum_scan():
    """scan over axis 1 of xs: f32[B,T,3] with carry f32[B,3]; the body names B."""
    c = Value(TensorType((BATCH, 3)), name="c")
    x_t = Value(TensorType((BATCH, 3)), name="x_t")
    new_c = emit_op("add", [c, x_t], loc=LOC).result
    flat = emit_op("reshape", [new_c], {"shape": (BATCH, 3)}, loc=LOC).result
    body = Graph.from_results("body", [c, x_t], [new_c, flat])
    xs = Value(TensorType((BATCH, T, 3)), name="xs")
    init = emit_op("broadcast_to", [emit_op("constant", [], {"value": 0.0}).result],
                   {"shape": (BATCH, 3)}, loc=LOC).result
    op = emit_op("scan", [init, xs], {"num_carries": 1, "num_sequences": 1,
                                      "num_invariants": 0, "axis": 1}, body, loc=LOC)
    return Graph.from_results("g", [xs], list(op.results)), xs, body


def test_a_scan_body_is_rebuilt_with_the_substituted_types():
    graph, xs, body = cumsum_scan()
    new = Value(TensorType((4, 6, 3)), name="new")
    copied = copy_into_graph(graph, new, {xs: new})
    (scan,) = [op for op in copied.ops if op.kind == "scan"]
    assert [p.type for p in scan.region.params] == [TensorType((4, 3))] * 2
    assert [p.name for p in scan.region.params] == ["c", "x_t"]
    assert scan.region.ops[1].attrs["shape"] == (4, 3)
    verify(scan.region)
    assert [r.type for r in copied.results] == [TensorType((4, 3)), TensorType((4, 6, 3))]
    assert body.params[0].type == TensorType((BATCH, 3))           # the original is untouched
    # A binding that the body does not name leaves the body as it is.
    longer = Value(TensorType((BATCH, 9, 3)), name="longer")
    assert inline(graph, {xs: longer})[0].producer.region is body


def test_a_fused_region_is_rebuilt_with_the_substituted_types():
    a = Value(TensorType((BATCH, 2)), name="a")
    inner = emit_op("reshape", [emit_op("neg", [a]).result], {"shape": (BATCH, 2)}).result
    region = Graph.from_results("kernel", [a], [inner])
    x = Value(TensorType((BATCH, 2)), name="x")
    fused = emit_op("fused", [x], {}, region, loc=LOC).result
    graph = Graph.from_results("g", [x], [fused])
    new = Value(TensorType((3, 2)), name="new")
    (out,) = inline(graph, {x: new})
    assert out.type == TensorType((3, 2))
    assert out.producer.region.params[0].type == TensorType((3, 2))
    assert out.producer.region.ops[1].attrs["shape"] == (3, 2)


def test_a_symbolic_operand_for_a_concrete_param_is_retyped_to_it():
    """A graph traced for 4 rows, copied onto rows of size B: the operand is retyped to
    4 rows (a ``reshape``, checked when the graph runs), so a reshape to 4 rows holds."""
    x = Value(TensorType((4, 3, 2)), name="x")
    flat = emit_op("reshape", [x], {"shape": (4, 6)}, loc=LOC).result
    graph = Graph.from_results("g", [x], [flat])
    new = Value(TensorType((BATCH, 3, 2)), name="new")
    copied = copy_into_graph(graph, new, {x: new})
    assert [op.kind for op in copied.ops] == ["reshape", "reshape"]
    assert copied.ops[0].results[0].type == TensorType((4, 3, 2))
    assert copied.ops[0].operands[0] is new
    assert copied.results[0].type == TensorType((4, 6))


def test_one_symbol_given_two_sizes_is_a_shape_error():
    x = Value(TensorType((BATCH, 3)), name="x")
    y = Value(TensorType((BATCH, 3)), name="y")
    graph = Graph.from_results("g", [x, y], [emit_op("add", [x, y]).result])
    with pytest.raises(ShapeError, match=r"inlining @g: symbol B is 4 in the operand for %x "
                                         r"but 5 in the operand for %y"):
        inline(graph, {x: Value(TensorType((4, 3))), y: Value(TensorType((5, 3)))})
    # One symbolic and one concrete size: the concrete one wins, the other is retyped.
    new_x, new_y = Value(TensorType((BATCH, 3))), Value(TensorType((5, 3)))
    (out,) = inline(graph, {x: new_x, y: new_y})
    assert out.type == TensorType((5, 3))
    assert out.producer.operands[0].producer.kind == "reshape"
