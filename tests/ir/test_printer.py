"""Golden tests of the IR text format written by ``print_graph``."""
import math
import textwrap

import pytest

from fusegraph.ir import (BATCH, DType, Graph, Op, SourceLoc, Sym, TensorType, Value, emit,
                          emit_op, layer_scope, parse_graph, print_graph)
from fusegraph.ir.printer import format_attr_value

NOWHERE = SourceLoc()


def golden(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def param(name, shape, dtype=DType.f32):
    return Value(TensorType(shape, dtype), name=name)


def op(kind, *operands, loc=NOWHERE, region=None, **attrs):
    """The results of a new op (one Value, or a tuple for several)."""
    results = emit_op(kind, operands, attrs, region, loc).results
    return results[0] if len(results) == 1 else results


def test_mlp_with_symbolic_batch_locs_and_a_fused_region():
    dense, head = SourceLoc("mlp.py", 8, "dense"), SourceLoc("mlp.py", 9, "head")
    x, w, b = param("x", (BATCH, 3)), param("dense/kernel", (3, 4)), param("dense/bias", (4,))
    h = op("matmul", x, w, loc=dense)
    h = op("add", h, b, loc=dense)
    zero = op("constant", value=0.0, loc=dense)
    relu = op("maximum", h, zero, loc=dense)
    total = op("reduce_sum", relu, axes=[1])
    a, s = param("a", (BATCH, 4)), param("b", (BATCH,))
    kernel = Graph.from_results("kernel", [a, s], [op("exp", a), s])
    _, summed = op("fused", relu, total, region=kernel, loc=head)
    graph = Graph.from_results("mlp", [x, w, b], [relu, summed])
    assert print_graph(graph) == golden("""
        graph @mlp(%x: f32[B,3], %dense/kernel: f32[3,4], %dense/bias: f32[4]) -> (f32[B,4], f32[B]) {
          %0: f32[B,4] = matmul %x, %dense/kernel                        # mlp.py:8 dense
          %1: f32[B,4] = add %0, %dense/bias                             # mlp.py:8 dense
          %2: f32[] = constant {value=0.0, dtype=f32}                    # mlp.py:8 dense
          %3: f32[B,4] = maximum %1, %2                                  # mlp.py:8 dense
          %4: f32[B] = reduce_sum %3 {axes=[1], keepdims=false}
          %5: f32[B,4], %6: f32[B] = fused %3, %4 {                      # mlp.py:9 head
            graph @kernel(%a: f32[B,4], %b: f32[B]) -> (f32[B,4], f32[B]) {
              %0: f32[B,4] = exp %a
              return %0, %b
            }
          }
          return %3, %6
        }
        """)
    assert str(graph) == print_graph(graph)


def test_attributes_of_every_kind():
    x = param("x", (BATCH, 2, 3))
    i = param("ids", (BATCH,), DType.i32)
    values = [
        op("reshape", x, shape=(BATCH, -1)),                        # shape with a symbol
        op("transpose", x, perm=[0, 2, 1]),                         # ints
        op("argmax", x, axis=2, keepdims=True),                     # int, bool
        op("one_hot", i, depth=3, dtype="float64"),                 # dtype
        op("constant", value=((1e-07, math.inf), (-math.inf, math.nan)), dtype=DType.f64),
        op("constant", value=((), ()), dtype=DType.i64),            # empty tuples
        op("constant", value=2, dtype=DType.i32),                   # an int scalar
        op("constant", value=True, dtype=DType.bool),
        op("concatenate", x, x, axis=1),
    ]
    graph = Graph.from_results("attrs", [x, i], values)
    assert print_graph(graph) == golden("""
        graph @attrs(%x: f32[B,2,3], %ids: i32[B]) -> (f32[B,6], f32[B,3,2], i32[B,2,1], f64[B,3], f64[2,2], i64[2,0], i32[], bool[], f32[B,4,3]) {
          %0: f32[B,6] = reshape %x {shape=[B, -1]}
          %1: f32[B,3,2] = transpose %x {perm=[0, 2, 1]}
          %2: i32[B,2,1] = argmax %x {axis=2, keepdims=true}
          %3: f64[B,3] = one_hot %ids {depth=3, dtype=f64}
          %4: f64[2,2] = constant {value=[[1e-07, inf], [-inf, nan]], dtype=f64}
          %5: i64[2,0] = constant {value=[[], []], dtype=i64}
          %6: i32[] = constant {value=2, dtype=i32}
          %7: bool[] = constant {value=true, dtype=bool}
          %8: f32[B,4,3] = concatenate %x, %x {axis=1}
          return %0, %1, %2, %3, %4, %5, %6, %7, %8
        }
        """)


@pytest.mark.parametrize("value, text", [
    (3, "3"), (-1, "-1"), (1.0, "1.0"), (1e-07, "1e-07"), (-0.5, "-0.5"), (math.inf, "inf"),
    (-math.inf, "-inf"), (math.nan, "nan"), (True, "true"), (False, "false"), (None, "none"),
    (DType.i64, "i64"), (Sym("seq"), "seq"), ((), "[]"), ((1, 2), "[1, 2]"),
    (((1.5,), (2.0,)), "[[1.5], [2.0]]"),
])
def test_attribute_values(value, text):
    assert format_attr_value(value) == text


def test_an_unprintable_attribute_value_is_a_type_error():
    with pytest.raises(TypeError, match="no text form"):
        format_attr_value("float32")


def test_location_forms_and_long_lines():
    x = param("a_rather_long_parameter_name_for_a_long_line", (BATCH, 8))
    values = [
        op("exp", x, loc=SourceLoc("model.py", 12, None)),
        op("neg", x, loc=SourceLoc(None, None, "encoder/block_1/dense")),
        op("reduce_max", x, axes=[0, 1], keepdims=True, loc=SourceLoc("model.py", 3, "pool")),
    ]
    graph = Graph.from_results("locs", [x], values)
    assert print_graph(graph) == golden("""
        graph @locs(%a_rather_long_parameter_name_for_a_long_line: f32[B,8]) -> (f32[B,8], f32[B,8], f32[1,1]) {
          %0: f32[B,8] = exp %a_rather_long_parameter_name_for_a_long_line  # model.py:12
          %1: f32[B,8] = neg %a_rather_long_parameter_name_for_a_long_line  # encoder/block_1/dense
          %2: f32[1,1] = reduce_max %a_rather_long_parameter_name_for_a_long_line {axes=[0, 1], keepdims=true}  # model.py:3 pool
          return %0, %1, %2
        }
        """)


def test_emit_records_the_callers_line_and_layer():
    x = param("x", (BATCH, 2))
    with layer_scope("outer"), layer_scope("dense"):
        y = emit("tanh", x)
    line = y.producer.loc.line
    text = print_graph(Graph.from_results("traced", [x], [y]))
    assert text.splitlines()[1].endswith(f"# test_printer.py:{line} outer/dense")


def test_no_params_no_results_and_nested_regions():
    inner_x = param("x", ())
    inner = Graph.from_results("inner", [inner_x], [op("sqrt", inner_x)])
    mid_x = param("x", ())
    mid = Graph.from_results("mid", [mid_x], [op("fused", mid_x, region=inner)])
    outer = Graph("empty", [], [], [])
    c = op("constant", value=4.0)
    top = Graph.from_results("top", [], [op("fused", c, region=mid)])
    assert print_graph(outer) == "graph @empty() -> () {\n  return\n}\n"
    assert print_graph(top) == golden("""
        graph @top() -> (f32[]) {
          %0: f32[] = constant {value=4.0, dtype=f32}
          %1: f32[] = fused %0 {
            graph @mid(%x: f32[]) -> (f32[]) {
              %0: f32[] = fused %x {
                graph @inner(%x: f32[]) -> (f32[]) {
                  %0: f32[] = sqrt %x
                  return %0
                }
              }
              return %0
            }
          }
          return %1
        }
        """)


def test_a_broken_graph_still_prints():
    outsider = param("outsider", (2,))
    used = Op("exp", [outsider], {}, [TensorType((2,))])
    graph = Graph("broken", [], [used], [used.results[0]])
    assert print_graph(graph).splitlines()[1] == "  %0: f32[2] = exp %?"


def test_a_long_parameter_list_prints_one_parameter_per_line_and_parses_back():
    params = [param(f"encoder/block_{i}/attention/query/kernel", (32, 2, 16)) for i in range(3)]
    g = Graph.from_results("wide", params, [op("add", params[0], params[1])])
    assert str(g) == golden("""
        graph @wide(
            %encoder/block_0/attention/query/kernel: f32[32,2,16],
            %encoder/block_1/attention/query/kernel: f32[32,2,16],
            %encoder/block_2/attention/query/kernel: f32[32,2,16]
        ) -> (f32[32,2,16]) {
          %0: f32[32,2,16] = add %encoder/block_0/attention/query/kernel, %encoder/block_1/attention/query/kernel
          return %0
        }
    """)
    assert parse_graph(str(g)) == g
