"""``structure``: the graph's text identity (names and locations count: Graph equality,
CSE's region key) and the computation alone (neither counts: kernel names)."""
from fusegraph.ir import BATCH, Graph, SourceLoc, TensorType, Value, emit_op, parse_graph
from fusegraph.ir.structure import structure


def tanh_of_exp(graph_name="g", param_name="x", loc=SourceLoc("a.py", 1, "dense"), n=3):
    x = Value(TensorType((BATCH, n)), name=param_name)
    y = emit_op("tanh", [emit_op("exp", [x], loc=loc).result], loc=loc).result
    return Graph.from_results(graph_name, [x], [y])


def test_names_and_locations_count_in_the_text_identity_only():
    a = tanh_of_exp()
    for other in (tanh_of_exp(graph_name="h"), tanh_of_exp(param_name="z"),
                  tanh_of_exp(loc=SourceLoc("b.py", 9, "other"))):
        assert structure(a) != structure(other) and a != other
        assert structure(a, names=False, locations=False) == \
            structure(other, names=False, locations=False)
    assert structure(a, names=False) != structure(tanh_of_exp(loc=SourceLoc("b.py", 2)),
                                                  names=False)
    assert structure(a, locations=False) != structure(tanh_of_exp(param_name="z"),
                                                      locations=False)
    # What is computed always counts: the types, the ops, their order and operands.
    assert structure(a, names=False, locations=False) != \
        structure(tanh_of_exp(n=4), names=False, locations=False)


def test_graph_equality_is_the_text_identity_and_survives_a_round_trip():
    a = tanh_of_exp()
    assert a == tanh_of_exp() and hash(a) == hash(tanh_of_exp())
    assert a.structure() == structure(a)
    assert parse_graph(str(a)) == a


def test_a_value_the_graph_does_not_define_is_never_equal_to_another():
    x, stray = Value(TensorType((3,)), name="x"), Value(TensorType((3,)), name="x")

    def using(v):
        op = emit_op("add", [x, v])
        return Graph("g", [x], [op], op.results)
    assert structure(using(stray)) != structure(using(Value(TensorType((3,)), name="x")))
