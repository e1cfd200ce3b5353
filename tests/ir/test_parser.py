"""``parse_graph`` reads back what ``print_graph`` writes, and says where text is wrong."""
import math
import textwrap

import pytest

from fusegraph.ir import (BATCH, DType, Graph, IRParseError, SourceLoc, Sym, TensorType, Value,
                          all_opdefs, emit_op, parse_graph, print_graph, verify)
from fusegraph.ir.opdef import REQUIRED

LOC = SourceLoc("model.py", 7, "block/dense")
F32 = TensorType((BATCH, 4))


def _kernel() -> Graph:
    a, b = Value(F32, name="a"), Value(TensorType((BATCH, 1)), name="b")
    e = emit_op("exp", [a], loc=LOC).result
    return Graph.from_results("kernel", [a, b], [e, emit_op("mul", [e, b], loc=LOC).result])


def _cell() -> Graph:
    """A recurrent cell: h' = tanh(h @ w + x_t); y_t = h' (a scan body)."""
    h, x = Value(F32, name="h"), Value(F32, name="x")
    w = Value(TensorType((4, 4)), name="w")
    z = emit_op("add", [emit_op("matmul", [h, w], loc=LOC).result, x], loc=LOC).result
    new = emit_op("tanh", [z], loc=SourceLoc(layer="rnn")).result
    return Graph.from_results("cell", [h, x, w], [new, new])


# Operand types and attributes for ops the generic search below cannot guess.
SAMPLES = {
    "where": ([TensorType((BATCH, 4), DType.bool), F32, F32], {}),
    "cast": ([F32], {"dtype": DType.i32}),
    "constant": ([], {"value": ((1.0, -2.5), (math.inf, 3e-08))}),
    "matmul": ([F32, TensorType((4, 3))], {}),
    "permuted_matmul": ([F32, TensorType((4, 3))], {"perm": (1, 0)}),
    "tensordot": ([TensorType((BATCH, 5, 4)), TensorType((BATCH, 5, 3))],
                  {"axes_a": (0, 1), "axes_b": (0, 1)}),
    "reshape": ([F32], {"shape": (BATCH, 2, -1)}),
    "transpose": ([F32], {"perm": (1, 0)}),
    "broadcast_to": ([TensorType((4,))], {"shape": (BATCH, 4)}),
    "concatenate": ([F32, TensorType((BATCH, 2))], {"axis": 1}),
    "slice": ([F32], {"axes": (1,), "begin": (1,), "end": (4,), "stride": (2,)}),
    "take": ([TensorType((10, 4)), TensorType((BATCH,), DType.i32)], {"axis": 0}),
    "one_hot": ([TensorType((BATCH,), DType.i32)], {"depth": 5}),
    "iota": ([], {"shape": (BATCH, 3), "axis": 1}),
    "reduce_sum": ([F32], {"axes": (0, 1), "keepdims": True}),
    "reduce_mean": ([F32], {"axes": (1,)}),
    "reduce_max": ([F32], {"axes": (1,)}),
    "reduce_min": ([F32], {"axes": (0,)}),
    "softmax": ([F32], {"axes": (1,)}),
    "argmax": ([F32], {"axis": 1}),
    "argmin": ([F32], {"axis": 0, "keepdims": True}),
    "dim_size": ([F32], {"axis": 0, "dtype": DType.i64}),
    "pad": ([F32], {"low": (0, 1), "high": (0, 2), "interior": (0, 1)}),
    "scatter_add": ([TensorType((10, 4)), TensorType((BATCH, 2), DType.i64),
                     TensorType((BATCH, 2, 4))], {"axis": 0}),
    "segment_rows": ([TensorType((BATCH, 2), DType.i64), TensorType((BATCH, 2, 4))],
                     {"rows": 10}),
    "gather_rows": ([TensorType((BATCH, 2, 4)), TensorType((10, 1), DType.i32)], {}),
    "all_reduce": ([TensorType((3, 4)), TensorType((2,), DType.f64)], {"mean": True, "tag": 7}),
    "random_uniform": ([TensorType((), DType.i64)],
                       {"shape": (BATCH, 3), "salt": 7, "dtype": DType.f64}),
    "stop_gradient": ([F32], {}),
    "fused": ([F32, TensorType((BATCH, 1))], {"region": _kernel}),
    "scan": ([F32, TensorType((BATCH, Sym("T"), 4)), TensorType((4, 4))],
             {"num_carries": 1, "num_sequences": 1, "num_invariants": 1, "axis": 1,
              "reverse": True, "region": _cell}),
}


def sample_graph(name: str) -> Graph:
    """A small valid graph whose one op is ``name``: from SAMPLES, or else found by trying
    operands of shape (B, 4) and each dtype with default attributes."""
    opdef = all_opdefs()[name]
    if name in SAMPLES:
        candidates = [SAMPLES[name]]
    elif all(a.default is not REQUIRED for a in opdef.attrs.values()):
        arity = 2 if opdef.arity is None else opdef.arity
        candidates = [([TensorType((BATCH, 4), d)] * arity, {}) for d in DType]
    else:
        candidates = []
    for types, attrs in candidates:
        params = [Value(t, name=f"p{i}") for i, t in enumerate(types)]
        attrs = dict(attrs)
        region = attrs.pop("region")() if "region" in attrs else None
        try:
            op = emit_op(name, params, attrs, region, LOC)
        except (TypeError, ValueError):
            continue
        return Graph(f"one_{name}", params, [op], op.results)
    raise AssertionError(f"no sample graph for op {name!r}: add one to SAMPLES")


@pytest.mark.parametrize("name", sorted(all_opdefs()))
def test_every_registered_op_round_trips(name):
    graph = sample_graph(name)
    verify(graph)
    text = print_graph(graph)
    parsed = parse_graph(text)
    assert parsed == graph
    assert print_graph(parsed) == text


def _mlp() -> Graph:
    x, w = Value(TensorType((BATCH, 3)), name="x"), Value(TensorType((3, 4)), name="dense/kernel")
    h = emit_op("matmul", [x, w], loc=SourceLoc("mlp.py", 8, "dense")).result
    zero = emit_op("constant", [], {"value": 0.0}, loc=SourceLoc("mlp.py", 8, "dense")).result
    relu = emit_op("maximum", [h, zero], loc=SourceLoc("mlp.py", 8, "dense")).result
    s = emit_op("reduce_sum", [relu], {"axes": (1,), "keepdims": True}, loc=SourceLoc()).result
    region = _kernel()
    fused = emit_op("fused", [relu, s], region=region, loc=SourceLoc("mlp.py", 9, "head"))
    return Graph.from_results("mlp", [x, w], [fused.results[1], relu, relu])


def _locs_and_names() -> Graph:
    x = Value(TensorType((Sym("T"), Sym("seq_len"), 2), DType.f64), name="in.put-0/a_b")
    locs = [SourceLoc(), SourceLoc("m.py", 1), SourceLoc(layer="only a layer"),
            SourceLoc("my model.py", 12, "x"), SourceLoc("a:1", 2, "b:3 c")]
    values = [emit_op("neg", [x], loc=loc).result for loc in locs]
    return Graph.from_results("names.and/locs-1", [x], values)


def _nested_regions() -> Graph:
    """A scan whose body holds a fused kernel: regions two deep."""
    x = Value(TensorType(()), name="x")
    inner = Graph.from_results("inner", [x], [emit_op("sqrt", [x], loc=LOC).result])
    c, x_t = Value(TensorType(()), name="c"), Value(TensorType(()), name="x_t")
    root = emit_op("fused", [x_t], region=inner, loc=SourceLoc(layer="mid"))
    step = emit_op("add", [c, root.result], loc=LOC)
    body = Graph("body", [c, x_t], [root, step], [step.result, x_t])
    z, xs = Value(TensorType(()), name="z"), Value(TensorType((Sym("T"),)), name="xs")
    top = emit_op("scan", [z, xs], {"num_carries": 1, "num_sequences": 1, "num_invariants": 0},
                  region=body, loc=LOC)
    return Graph("top", [z, xs], [top], top.results)


@pytest.mark.parametrize("build", [_mlp, _locs_and_names, _nested_regions,
                                   lambda: Graph("empty", [], [], [])])
def test_graphs_round_trip(build):
    graph = build()
    verify(graph)
    parsed = parse_graph(print_graph(graph))
    assert parsed == graph
    verify(parsed)
    assert [op.loc for op in parsed.ops] == [op.loc for op in graph.ops]


def test_special_floats_read_back_as_floats():
    graph = parse_graph(textwrap.dedent("""
        graph @c() -> (f32[5]) {
          %0: f32[5] = constant {value=[inf, -inf, nan, 1e-07, 2.0]}
          return %0
        }"""))
    value = graph.ops[0].attrs["value"]
    assert value[:2] == (math.inf, -math.inf) and math.isnan(value[2])
    assert value[3:] == (1e-07, 2.0) and all(type(v) is float for v in value)


def test_hand_written_text_with_free_comments_and_loose_layout():
    text = """
    # a golden file may start with a comment
    graph @g(%x: f32[B,2]) -> (f32[B,2], i32[B]) {
        %y: f32[B,2] = tanh %x   #  net.py:3   dense
        %i: i32[B]=argmax %y{axis=1}
        return %y,%i
    }
    """
    graph = parse_graph(text)
    assert graph.ops[0].loc == SourceLoc("net.py", 3, "dense")
    assert graph.ops[1].loc == SourceLoc()
    assert dict(graph.ops[1].attrs) == {"axis": 1, "keepdims": False}
    assert parse_graph(print_graph(graph)) == graph


GOOD = """graph @g(%x: f32[B,4], %w: f32[4,2]) -> (f32[B,2]) {
  %0: f32[B,2] = matmul %x, %w
  %1: f32[B,2] = exp %0
  return %1
}
"""


def _broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize("text, line, column, message", [
    (_broken("exp %0", "frobnicate %0"), 3, 18, "unknown op 'frobnicate'"),
    (_broken("exp %0", "exp %zz"), 3, 22, "undefined value %zz"),
    (_broken("%1: f32[B,2]", "%1: f32[B,3]"), 3, 3, "expected f32[B,2], got f32[B,3]"),
    (_broken("exp %0", "exp $0"), 3, 22, "unexpected character '$'"),
    (GOOD.rstrip().rstrip("}"), 5, 1, "expected ',' or '}', got end of input"),
    (_broken("f32[4,2]", "f16[4,2]"), 1, 28, "unknown dtype 'f16'"),
    (_broken("f32[4,2]", "f32[4,-2]"), 1, 34, "expected a dimension"),
    (_broken("%1: f32", "%0: f32"), 3, 3, "%0 is defined twice"),
    (_broken("%w: f32", "%x: f32"), 1, 24, "%x is defined twice"),
    (_broken("%w", "%12"), 1, 24, "all digits"),
    (_broken("-> (f32[B,2])", "-> (f32[B,2], f32[B,2])"), 4, 3,
     "expected (f32[B,2], f32[B,2]), got (f32[B,2])"),
    (_broken("exp %0", "exp %0, %0"), 3, 18, "takes 1 operands, got 2"),
    (_broken("exp %0", "exp %0 {axis=1}"), 3, 18, "unknown attributes ['axis']"),
    (_broken("exp %0", "add %0, %x"), 3, 18, "shapes do not broadcast"),
    (_broken("graph @g(", "graph g("), 1, 7, "expected an @name, got 'g'"),
    (_broken("return %1", "%2 %2"), 4, 6, "expected ':', got '%2'"),
    (_broken("  return", "  = return"), 4, 3, "expected an op or 'return', got '='"),
    (GOOD + "graph", 6, 1, "expected end of input, got 'graph'"),
])
def test_parse_errors_say_where(text, line, column, message):
    with pytest.raises(IRParseError) as info:
        parse_graph(text)
    error = info.value
    assert (error.line, error.column) == (line, column), str(error)
    assert message in str(error)
    assert error.source_line == text.split("\n")[line - 1]


@pytest.mark.parametrize("body, line, column, message", [
    ("%0: f32[] = reduce_sum %x {axes=[0], axes=[0]}", 2, 40, "attribute axes is given twice"),
    ("%0: f32[] = reduce_sum %x {axes=[0], keepdims=maybe}", 2, 15, "keepdims"),
    ("%0: f32[] = reduce_sum %x {axes=(0)}", 2, 35, "expected an attribute value, got '('"),
    ("%0: f32[3], %1: f32[3] = exp %x", 2, 28, "exp has 1 results, 2 printed"),
    ("%0: f32[3] = fused %x {\n    graph @k(%a: f32[3]) -> (f32[3]) {\n      return %a\n    }",
     6, 3, "expected '}', got 'return'"),
])
def test_parse_errors_in_attributes_results_and_regions(body, line, column, message):
    text = f"graph @g(%x: f32[3]) -> (f32[3]) {{\n  {body}\n  return %x\n}}\n"
    with pytest.raises(IRParseError) as info:
        parse_graph(text)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert message in str(info.value)


def test_a_region_cannot_see_values_from_above():
    text = """graph @g(%x: f32[3]) -> (f32[3]) {
  %0: f32[3] = fused %x {
    graph @k(%a: f32[3]) -> (f32[3]) {
      %0: f32[3] = add %a, %x
      return %0
    }
  }
  return %0
}"""
    with pytest.raises(IRParseError, match="undefined value %x") as info:
        parse_graph(text)
    assert (info.value.line, info.value.column) == (4, 28)


def test_the_error_message_points_at_the_column():
    with pytest.raises(IRParseError) as info:
        parse_graph(_broken("exp %0", "exp %zz"))
    assert str(info.value).splitlines()[1:] == ["      %1: f32[B,2] = exp %zz",
                                                "                         ^"]
