"""sparse_rows: a row scatter into zeros that only kernels read becomes segment_rows and,
inside each kernel, a gather_rows; the numbers stay the unsplit graph's bit for bit, on
the reference and on numba_cpu (whose pipeline runs the pass)."""
import numpy as np
import pytest

from fusegraph.backends import optimizing_compiler, run_backend_pipeline
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import collecting, fuse, sparse_rows

from helpers.plan_source import plain_run

# An RMSprop-like update of a [7, 3] table from its gradient (a scatter of the rows %u
# at the indices %i), with what varies between the tests in {}.
UPDATE = """
    graph @update(%i: i32[B,5], %u: f32[B,5,3], %p: f32[7,3], %v: f32[7,3], %x: f32[7,3])
            -> ({results}) {{
      %0: f32[] = constant {{value={zero}, dtype=f32}}
      %1: f32[7,3] = broadcast_to %0 {{shape=[7, 3]}}
      %2: f32[7,3] = scatter_add {start}, %i, %u {{axis=0}}
      %3: f32[] = constant {{value=0.9, dtype=f32}}
      %4: f32[7,3] = mul %v, %3
      %5: f32[7,3] = mul %2, %2
      %6: f32[7,3] = add %4, %5
      %7: f32[] = constant {{value=1e-07, dtype=f32}}
      %8: f32[7,3] = add %6, %7
      %9: f32[7,3] = sqrt %8
      %10: f32[7,3] = div %2, %9
      %11: f32[7,3] = sub %p, %10
      return {returned}
    }}
"""


def update(zero="0.0", start="%1", results="f32[7,3], f32[7,3]", returned="%6, %11"):
    return parse_graph(UPDATE.format(zero=zero, start=start, results=results,
                                     returned=returned))


def arguments(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    i = rng.integers(0, 7, (batch, 5)).astype(np.int32)
    i[:1, :3] = 2                                          # a row used three times
    i[i == 5] = 6                                          # and a row never used
    u, p, v, x = (rng.standard_normal(s).astype(np.float32)
                  for s in ((batch, 5, 3), (7, 3), (7, 3), (7, 3)))
    return [i, u, p, np.abs(v), x]                         # v: a mean square


def kinds(graph):
    return [op.kind for op in graph.ops]


def test_a_scatter_only_kernels_read_becomes_row_sums_gathered_in_the_kernel():
    g = fuse(update())
    with collecting() as stats:
        split = sparse_rows(g)
    verify(split)
    assert stats["row_scatters_split"] == 1
    assert "scatter_add" not in kinds(split) and "segment_rows" in kinds(split)
    (kernel,) = [op for op in split.ops if op.kind == "fused"]
    assert kinds(kernel.region)[0] == "gather_rows"
    slots, sums = next(op for op in split.ops if op.kind == "segment_rows").results
    assert kernel.operands[1:3] == (sums, slots)      # in the scatter's place, in order
    args = arguments()
    want = reference(update())(*args)
    for got, expected in zip(reference(split)(*args), want):
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("why, graph", [
    ("a result", update(results="f32[7,3], f32[7,3], f32[7,3]", returned="%6, %11, %2")),
    ("not zeros", update(start="%x")),
    ("-0.0 start", update(zero="-0.0")),
])
def test_a_scatter_that_is_a_result_or_does_not_start_from_plus_zero_stays(why, graph):
    g = fuse(graph)
    assert sparse_rows(g) is g, why


def test_a_scatter_that_a_non_kernel_op_reads_stays():
    g = parse_graph("""
        graph @g(%i: i32[5], %u: f32[5,3], %w: f32[3,3]) -> (f32[7,3]) {
          %0: f32[] = constant {value=0.0, dtype=f32}
          %1: f32[7,3] = broadcast_to %0 {shape=[7, 3]}
          %2: f32[7,3] = scatter_add %1, %i, %u {axis=0}
          %3: f32[7,3] = matmul %2, %w
          return %3
        }""")
    fused = fuse(g)
    assert "matmul" in kinds(fused) and sparse_rows(fused) is fused


def test_numba_cpu_runs_the_split_update_as_the_reference_runs_the_unsplit_one():
    g = update()
    optimized = run_backend_pipeline(g, "numba_cpu")
    assert "segment_rows" in kinds(optimized) and "scatter_add" not in kinds(optimized)
    exe = optimizing_compiler("numba_cpu")(g)
    want = reference(g)
    for batch in (4, 4, 3, 0):                # the checked call, the plan, another batch, none
        args = arguments(batch, seed=batch)
        for got, expected in zip(exe(*args), want(*args)):
            assert got.tobytes() == expected.tobytes()
    assert exe.plan_errors == []
    run = plain_run(exe.plan_source(4))
    assert "# segment_rows" in run and "# scatter_add" not in run


def test_an_index_out_of_range_is_the_reference_error():
    exe = optimizing_compiler("numba_cpu")(update())
    args = arguments()
    exe(*args)                                            # the plan exists now
    args[0][1, 2] = 7
    with pytest.raises(Exception, match=r"segment_rows.*index 7 is out of range \[0, 7\)"):
        exe(*args)
    args[0][1, 2] = 3
    for got, expected in zip(exe(*args), reference(update())(*args)):
        assert got.tobytes() == expected.tobytes()
