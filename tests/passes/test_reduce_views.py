"""reduce_views: a reduction of a transpose/reshape chain reduces the chain's base and
lays the small result out as the view was; sums agree with the reference to rounding,
max and min exactly; a reshape that splits an axis ends the chain."""
import numpy as np
import pytest

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import collecting, reduce_views

# The attention-input gradient's layout: heads-major [B,4,6,5] seen as [B,6,4*5].
HEADS = """
    graph @g(%y: f32[B,4,6,5]) -> (f32[{out}]) {{
      %0: f32[B,6,4,5] = transpose %y {{perm=[0, 2, 1, 3]}}
      %1: f32[B,6,20] = reshape %0 {{shape=[B, 6, 20]}}
      %2: f32[{out}] = {kind} %1 {{axes={axes}, keepdims={keepdims}}}
      return %2
    }}
"""


def rewritten(text):
    graph = parse_graph(text)
    with collecting() as counters:
        out = reduce_views(graph)
    verify(out)
    return graph, out, counters


def y_of(batch=3, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 4, 6, 5)).astype(np.float32)


@pytest.mark.parametrize("kind", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
@pytest.mark.parametrize("axes, keepdims, out", [
    ("[0, 1]", "true", "1,1,20"), ("[0, 1]", "false", "20"), ("[2]", "true", "B,6,1"),
    ("[0, 2]", "false", "6")])
def test_a_reduction_of_a_view_reduces_its_base(kind, axes, keepdims, out):
    graph, new, counters = rewritten(HEADS.format(kind=kind, axes=axes, keepdims=keepdims,
                                                  out=out))
    assert counters == {"reduce_base_of_view": 1}
    (reduction,) = [op for op in new.ops if op.kind == kind]
    assert reduction.operands[0] is new.params[0]           # the base, not the view
    assert not any(str(v.type) == "f32[B,6,20]" for op in new.ops for v in op.operands)
    y = y_of()
    got, want = reference(new)(y)[0], reference(graph)(y)[0]
    assert got.shape == want.shape
    if kind in ("reduce_max", "reduce_min"):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_reduced_base_axes_are_those_the_view_axes_come_from():
    _, new, _ = rewritten(HEADS.format(kind="reduce_sum", axes="[0, 1]", keepdims="true",
                                      out="1,1,20"))
    (reduction,) = [op for op in new.ops if op.kind == "reduce_sum"]
    assert reduction.attrs["axes"] == (0, 2) and reduction.attrs["keepdims"]
    kinds = [op.kind for op in new.ops]
    assert kinds == ["reduce_sum", "transpose", "reshape"]


def test_a_split_ends_the_chain_and_the_reduction_reads_what_the_split_made():
    graph, new, counters = rewritten("""
        graph @g(%y: f32[B,20]) -> (f32[B,5]) {
          %0: f32[B,4,5] = reshape %y {shape=[B, 4, 5]}
          %1: f32[B,5,4] = transpose %0 {perm=[0, 2, 1]}
          %2: f32[B,5] = reduce_sum %1 {axes=[2]}
          return %2
        }
    """)
    assert counters == {"reduce_base_of_view": 1}
    (reduction,) = [op for op in new.ops if op.kind == "reduce_sum"]
    assert reduction.operands[0].producer.kind == "reshape"
    assert reduction.attrs["axes"] == (1,)
    y = np.random.default_rng(1).standard_normal((3, 20)).astype(np.float32)
    np.testing.assert_allclose(reference(new)(y)[0], reference(graph)(y)[0], rtol=1e-6)


def test_a_reduction_of_a_value_that_is_no_view_stays():
    text = """
        graph @g(%y: f32[B,4]) -> (f32[B]) {
          %0: f32[B,4] = exp %y
          %1: f32[B] = reduce_sum %0 {axes=[1]}
          return %1
        }
    """
    _, new, counters = rewritten(text)
    assert counters == {} and str(new) == str(parse_graph(text))
