"""Shape inference: a re-check on an unchanged graph; re-typing from new parameter types
(batch specialization, dtype change) into shape attributes and regions; errors that name
the op, its layer, the user's line and the given parameter types."""
import numpy as np
import pytest

from fusegraph.backends.reference import compile
from fusegraph.ir import (BATCH as B, DType, Graph, ShapeError, Sym, TensorType, Value, emit,
                          layer_scope)
from fusegraph.ir.verifier import verify
from fusegraph.passes import infer_shapes


def param(name, *shape, dtype=DType.f32):
    return Value(TensorType(shape, dtype), name=name)


def mlp():
    x, w = param("x", B, 4), param("w", 4, 4)
    with layer_scope("dense"):
        h = emit("tanh", emit("matmul", x, w))
    with layer_scope("head"):
        y = emit("reshape", h, shape=(B, 2, 2))
        scale = emit("reduce_mean", h, axes=(0,))
    return Graph.from_results("mlp", [x, w], [y, scale])


def types(graph):
    return [r.type for op in graph.ops for r in op.results]


def test_unchanged_graph_is_rechecked_into_an_equal_copy():
    g = mlp()
    out = infer_shapes(g)
    assert out == g
    assert all(a is not b for a, b in zip(out.ops, g.ops))
    assert [op.loc for op in out.ops] == [op.loc for op in g.ops]


def test_specializing_the_batch_reaches_types_and_shape_attributes():
    g = mlp()
    out = infer_shapes(g, {"x": TensorType((32, 4))})
    verify(out)
    assert out.params[0].type == TensorType((32, 4)) and out.params[0].name == "x"
    assert [r.type for r in out.results] == [TensorType((32, 2, 2)), TensorType((4,))]
    assert out.ops[2].attrs["shape"] == (32, 2, 2)
    assert not any(t.symbols for t in types(out))
    assert types(g)[0] == TensorType((B, 4)), "the input graph is unchanged"
    xa = np.ones((32, 4), np.float32)
    wa = np.eye(4, dtype=np.float32)
    np.testing.assert_array_equal(compile(out)(xa, wa)[0], compile(g)(xa, wa)[0])


def test_a_bound_symbol_retypes_the_other_params():
    x, mask = param("x", B, 3), param("mask", B, 3, dtype=DType.bool)
    g = Graph.from_results("g", [x, mask], [emit("where", mask, x, emit("neg", x))])
    out = infer_shapes(g, {"x": TensorType((8, 3))})
    assert out.params[1].type == TensorType((8, 3), DType.bool)
    renamed = infer_shapes(g, {"x": TensorType((Sym("N"), 3))})
    assert renamed.results[0].type == TensorType((Sym("N"), 3))


def test_changing_a_dtype_retypes_the_graph():
    g = mlp()
    out = infer_shapes(g, {"x": TensorType((B, 4), "f64"), "w": TensorType((4, 4), "f64")})
    verify(out)
    assert all(t.dtype == DType.f64 for t in types(out))


def test_regions_are_reinferred_recursively():
    """A shape attribute inside a region (a scan body's reshape) takes the new sizes."""
    h, xt = param("h", B, 6), param("x", B, 6)
    body = Graph.from_results("cell", [h, xt], [h, emit("reshape", emit("exp", xt),
                                                        shape=(B, 3, 2))])
    h0, xs = param("h0", B, 6), param("xs", B, Sym("T"), 6)
    g = Graph.from_results("g", [h0, xs], list(emit(
        "scan", h0, xs, region=body, num_carries=1, num_sequences=1, num_invariants=0, axis=1)))
    out = infer_shapes(g, {"h0": TensorType((5, 6)), "xs": TensorType((5, 4, 6))})
    verify(out)
    inner = out.ops[0].region
    assert inner.params[1].type == TensorType((5, 6)) and inner.params[1].name == "x"
    assert inner.ops[1].attrs["shape"] == (5, 3, 2)
    assert out.results[1].type == TensorType((5, 4, 3, 2))


def test_a_scan_body_is_retyped_per_step():
    """A scan's body takes one step of each sequence: its time axis is not a parameter's."""
    h, xt = param("h", B, 3), param("x", B, 3)
    body = Graph.from_results("cell", [h, xt], [emit("tanh", emit("add", h, xt)), xt])
    h0, xs = param("h0", B, 3), param("xs", B, Sym("T"), 3)
    g = Graph.from_results("g", [h0, xs], list(emit(
        "scan", h0, xs, region=body, num_carries=1, num_sequences=1, num_invariants=0, axis=1)))
    out = infer_shapes(g, {"xs": TensorType((4, 7, 3))})
    verify(out)
    inner = out.ops[0].region
    assert [p.type for p in inner.params] == [TensorType((4, 3))] * 2
    assert [r.type for r in out.results] == [TensorType((4, 3)), TensorType((4, 7, 3))]


def test_error_names_op_layer_line_and_given_types():
    g = mlp()
    with pytest.raises(ShapeError) as info:
        infer_shapes(g, {"w": TensorType((3, 4))})
    message = str(info.value)
    assert message.startswith("shape inference of @mlp with parameter types %w: f32[3,4]: ")
    assert "layer 'dense' at test_shape_inference.py:" in message
    assert "matmul: contracted dims differ" in message


def test_conflicting_bindings_of_one_symbol_name_both_params():
    x, y = param("x", B, 2), param("y", B, 2)
    g = Graph.from_results("g", [x, y], [emit("add", x, y)])
    with pytest.raises(ShapeError, match=r"symbol B is given as 4 by %x and as 6 by %y"):
        infer_shapes(g, {"x": TensorType((4, 2)), "y": TensorType((6, 2))})


def test_retyping_a_size_as_a_symbol_that_meets_the_old_size_is_refused():
    # The weights stay (4, 4); a batch axis retyped from 4 to B cannot be proved to still
    # broadcast against them (issue 6: symbols unify only with themselves or 1).
    x, w = param("x", 4, 4), param("w", 4, 4)
    g = Graph.from_results("g", [x, w], [emit("add", x, w)])
    with pytest.raises(ShapeError, match=r"^shape inference of @g with parameter types "
                       r"%x: f32\[B,4\]: at test_shape_inference\.py:\d+: add: .*B of \[B,4\] "
                       r"against 4 of \[4,4\].*cannot be proved equal to 4"):
        infer_shapes(g, {"x": TensorType((B, 4))})
    assert infer_shapes(g, {"x": TensorType((1, 4))}).results[0].type == TensorType((4, 4))


def test_bad_param_types_argument():
    message = r"@mlp has no parameters \['z'\]; its parameters are \['x', 'w'\]"
    with pytest.raises(ValueError, match=message):
        infer_shapes(mlp(), {"z": TensorType((1,))})
    with pytest.raises(TypeError, match="type of parameter 'x' must be a TensorType"):
        infer_shapes(mlp(), {"x": (32, 4)})
