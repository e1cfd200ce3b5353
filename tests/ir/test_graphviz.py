"""The networkx view of a graph and the DOT text written from it."""
import networkx as nx
import pytest

from fusegraph.ir import (BATCH, Graph, Op, SourceLoc, TensorType, Value, VerificationError,
                          emit_op, to_dot, to_networkx)

LOC = SourceLoc("mlp.py", 8, 'dense "1"')


def _mlp():
    x, w = Value(TensorType((BATCH, 3)), name="x"), Value(TensorType((3, 4)), name="w")
    h = emit_op("matmul", [x, w], loc=LOC)
    s = emit_op("reduce_sum", [h.result], {"axes": (1,)}, loc=SourceLoc())
    a, b = Value(TensorType((BATCH, 4)), name="a"), Value(TensorType((BATCH,)), name="b")
    kernel = Graph.from_results("kernel", [a, b], [emit_op("exp", [a], loc=LOC).result, b])
    fused = emit_op("fused", [h.result, s.result], region=kernel, loc=SourceLoc(layer="head"))
    graph = Graph("mlp", [x, w], [h, s, fused], [fused.results[1], h.result])
    return graph, (x, w), (h, s, fused)


def test_nodes_and_their_attributes():
    graph, (x, w), (h, s, fused) = _mlp()
    view = to_networkx(graph)
    assert view.graph["name"] == "mlp"
    assert list(view.nodes) == [x, w, h, s, fused, ("output", 0), ("output", 1)]
    assert view.nodes[x] == {"kind": "param", "label": "%x", "types": (x.type,), "loc": SourceLoc()}
    assert view.nodes[h] == {"kind": "matmul", "label": "%0 = matmul",
                             "types": (TensorType((BATCH, 4)),), "loc": LOC}
    assert view.nodes[s]["label"] == "%1 = reduce_sum {axes=[1], keepdims=false}"
    assert view.nodes[fused]["label"] == "%2, %3 = fused region @kernel"
    assert view.nodes[fused]["types"] == (TensorType((BATCH, 4)), TensorType((BATCH,)))
    assert view.nodes[("output", 0)]["label"] == "return %3"


def test_one_edge_per_operand_use():
    graph, (x, w), (h, s, fused) = _mlp()
    view = to_networkx(graph)
    edges = {(u, v, d["operand"], d["result"], d["type"]) for u, v, d in view.edges(data=True)}
    assert edges == {
        (x, h, 0, 0, x.type), (w, h, 1, 0, w.type),
        (h, s, 0, 0, h.result.type), (h, fused, 0, 0, h.result.type),
        (s, fused, 1, 0, s.result.type),
        (fused, ("output", 0), 0, 1, TensorType((BATCH,))),
        (h, ("output", 1), 1, 0, h.result.type),
    }


def test_repeated_operands_give_parallel_edges_and_the_view_is_a_dag():
    x = Value(TensorType((2,)), name="x")
    sq = emit_op("mul", [x, x], loc=SourceLoc())
    graph = Graph.from_results("square", [x], [sq.result])
    view = to_networkx(graph)
    assert view.number_of_edges(x, sq) == 2
    assert nx.is_directed_acyclic_graph(view)
    assert list(nx.topological_sort(view)) == [x, sq, ("output", 0)]


def test_networkx_algorithms_on_the_view():
    graph, (x, w), (h, s, fused) = _mlp()
    view = to_networkx(graph)
    assert nx.is_directed_acyclic_graph(view)
    assert nx.descendants(view, h) == {s, fused, ("output", 0), ("output", 1)}
    order = [n for n in nx.topological_sort(view) if isinstance(n, Op)]
    assert order == [h, s, fused]


def test_an_undefined_operand_is_reported():
    stranger = Value(TensorType((2,)), name="stranger")
    op = Op("exp", [stranger], {}, [stranger.type])
    with pytest.raises(VerificationError, match="stranger.*not defined before it"):
        to_networkx(Graph("g", [], [op], op.results))


def test_dot_text():
    graph, _, _ = _mlp()
    dot = to_dot(graph)
    lines = dot.splitlines()
    assert lines[0] == 'digraph "mlp" {'
    assert lines[-1] == "}" and dot.endswith("}\n")
    assert '  n0 [label="%x\\n(f32[B,3])", shape=ellipse];' in lines
    assert '  n2 [label="%0 = matmul\\n(f32[B,4])\\nmlp.py:8 dense \\"1\\"", shape=box];' in lines
    assert '  n3 [label="%1 = reduce_sum {axes=[1], keepdims=false}\\n(f32[B])", shape=box];' in lines
    assert '  n2 -> n4 [label="0: f32[B,4]"];' in lines
    assert '  n4 -> n5 [label="0: f32[B]"];' in lines
    assert sum("->" in line for line in lines) == to_networkx(graph).number_of_edges()


def test_dot_quoting_of_backslashes_quotes_and_newlines():
    x = Value(TensorType(()), name="x")
    op = emit_op("neg", [x], loc=SourceLoc(layer='a\\b"c\nd'))
    dot = to_dot(Graph('q"uote', [x], [op], op.results))
    assert dot.startswith('digraph "q\\"uote" {')
    assert 'a\\\\b\\"c\\nd"' in dot
    for line in dot.splitlines()[2:-1]:       # no raw newline splits a statement
        assert line.endswith("];") and line.count('"') - line.count('\\"') == 2, line
