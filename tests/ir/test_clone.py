"""``inline``: copies a graph's ops onto new operands, sharing the params it is not told
to replace, and lets the caller rewrite each copied op's attributes."""
import pytest

from fusegraph.ir import (BATCH, DType, Graph, ShapeError, SourceLoc, TensorType, Value,
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
