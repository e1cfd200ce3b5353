"""The memory analysis (passes/memory.py): live ranges, slots, in-place candidates, peak
bytes and the report, on small graphs whose answers are worked out by hand."""
import textwrap

import pytest

from fusegraph.ir import Sym, parse_graph, verify
from fusegraph.passes import fuse, memory_report, plan_memory
from fusegraph.passes.memory import LiveRange


def graph(s: str):
    g = parse_graph(textwrap.dedent(s).lstrip("\n"))
    verify(g)
    return g


def values(g):
    """The graph's values by printed name: params by name, op results by number."""
    out = {p.name: p for p in g.params}
    out.update((str(i), r) for i, r in enumerate(r for op in g.ops for r in op.results))
    return out


CHAIN = """
    graph @chain(%x: f32[B,4]) -> (f32[B,4]) {
      %0: f32[B,4] = exp %x        # model.py:3 dense
      %1: f32[B,4] = tanh %0       # model.py:4 dense
      %2: f32[B,4] = neg %1
      %3: f32[B,4] = sin %2
      return %3
    }
"""


def test_a_chain_alternates_two_slots_and_the_result_is_never_slotted():
    g = graph(CHAIN)
    v = values(g)
    plan = plan_memory(g, {"B": 2})
    assert [plan.ranges[v[k]] for k in ("x", "0", "1", "2", "3")] == [
        LiveRange(-1, 0), LiveRange(0, 1), LiveRange(1, 2), LiveRange(2, 3), LiveRange(3, 4)]
    assert plan.escapes == {v["3"]}
    # %2 starts after %0's last reader: it takes %0's slot; %1 overlaps both ends.
    assert plan.slots == {v["0"]: 0, v["1"]: 1, v["2"]: 0}
    assert plan.slot_bytes == [32, 32]
    assert plan.sizes == {Sym("B"): 2}


def test_a_view_keeps_its_base_alive_and_a_freed_slot_goes_to_the_smallest_that_fits():
    g = graph("""
        graph @v(%x: f32[B,4]) -> (f32[4]) {
          %0: f32[B,4] = exp %x
          %1: f32[4,B] = transpose %0 {perm=[1, 0]}
          %2: f32[B,4] = neg %x
          %3: f32[4] = reduce_sum %1 {axes=[1], keepdims=false}
          %4: f32[4] = reduce_sum %2 {axes=[0], keepdims=false}
          %5: f32[4] = add %3, %4
          return %5
        }
    """)
    v = values(g)
    plan = plan_memory(g, {"B": 2})
    assert plan.views == {v["1"]}
    assert plan.ranges[v["0"]] == LiveRange(0, 3)      # read through the transpose at op 3
    assert plan.ranges[v["x"]] == LiveRange(-1, 2)
    # %2 and %3 start while %0 is alive; %4 starts after: it reuses %0's 32-byte slot.
    assert plan.slots == {v["0"]: 0, v["2"]: 1, v["3"]: 2, v["4"]: 0}
    assert plan.slot_bytes == [32, 32, 16]
    # neg's operand dies there with the result's type; add's first operand too. Not exp:
    # %x is read later; not the reductions: they are not elementwise.
    assert plan.in_place == {v["2"]: v["x"], v["5"]: v["3"]}


def test_what_a_result_may_view_escapes_and_takes_no_slot():
    g = graph("""
        graph @e(%x: f32[B,4]) -> (f32[4,B]) {
          %0: f32[B,4] = exp %x
          %1: f32[4,B] = transpose %0 {perm=[1, 0]}
          return %1
        }
    """)
    v = values(g)
    plan = plan_memory(g, {"B": 3})
    assert plan.escapes == {v["0"], v["1"]}
    assert plan.slots == {} and plan.slot_bytes == []
    assert plan.ranges[v["0"]] == LiveRange(0, 2)
    assert plan.in_place == {v["0"]: v["x"]}   # the escaping result may take the operand's


def test_a_backend_says_which_ops_make_new_arrays_and_which_it_slots():
    g = graph(CHAIN)
    v = values(g)
    ops = g.ops
    # tanh may return a view of %0 (say): %0 then lives as long as %1 does.
    plan = plan_memory(g, {"B": 2}, fresh=[ops[0], ops[2], ops[3]], slotted=[ops[0]])
    assert plan.ranges[v["0"]] == LiveRange(0, 2)
    assert plan.views == {v["1"]}
    assert plan.slots == {v["0"]: 0}


UPDATE = """
    graph @step(%w: f32[4,3], %g: f32[4,3], %lr: f32[]) -> (f32[4,3], f32[3,4]) {
      %0: f32[4,3] = mul %g, %lr          # sgd.py:6 sgd
      %1: f32[4,3] = sub %w, %0           # sgd.py:7 sgd
      %2: f32[3,4] = transpose %g {perm=[1, 0]}
      return %1, %2
    }
"""


def test_an_optimizer_update_may_write_the_weight_it_read_unless_the_weight_is_read_later():
    g = graph(UPDATE)
    v = values(g)
    plan = plan_memory(g, {})
    # %g reaches a result (through the transpose): never overwritten.
    assert plan.in_place == {v["1"]: v["w"]}
    later = graph(UPDATE.replace("%2: f32[3,4] = transpose %g {perm=[1, 0]}",
                                 "%2: f32[3,4] = transpose %w {perm=[1, 0]}"))
    lv = values(later)
    # %w is read after the update: the update may write %0's buffer instead (and %0 %g's).
    assert plan_memory(later, {}).in_place == {lv["0"]: lv["g"], lv["1"]: lv["0"]}


def test_a_fused_optimizer_update_may_write_the_weight_it_read():
    g = fuse(graph(UPDATE))
    verify(g)
    [update] = [op for op in g.ops if op.region is not None]
    w = g.params[0]
    assert w in update.operands
    assert plan_memory(g, {}).in_place == {update.results[0]: w}


def test_a_fused_update_writes_each_state_over_its_nearest_operand_not_the_first():
    g = fuse(graph("""
        graph @update(%w: f32[4,3], %m: f32[4,3], %lr: f32[]) -> (f32[4,3], f32[4,3]) {
          %0: f32[] = constant {value=0.9, dtype=f32}
          %1: f32[4,3] = mul %lr, %m
          %2: f32[4,3] = sub %w, %1
          %3: f32[4,3] = mul %0, %m
          %4: f32[4,3] = add %3, %2
          return %2, %4
        }
    """))
    verify(g)
    new_w, new_m = g.results
    kernel = new_w.producer
    assert new_m.producer is kernel and kernel.region is not None
    w, m, _ = g.params
    assert kernel.operands.index(m) < kernel.operands.index(w)
    # The kernel reads m before w and defines new_w first, but new_w is one op from w
    # (two from m); new_m is two ops from both, and w is taken.
    assert plan_memory(g, {}).in_place == {new_w: w, new_m: m}


def test_peak_bytes_count_each_buffer_once_while_the_ops_run():
    g = graph("""
        graph @net(%x: f32[B,8], %w: f32[8,16]) -> (f32[B]) {
          %0: f32[B,16] = matmul %x, %w                          # net.py:10 hidden
          %1: f32[B,16] = tanh %0                                # net.py:11 hidden
          %2: f32[16,B] = transpose %1 {perm=[1, 0]}
          %3: f32[16] = reduce_sum %2 {axes=[1], keepdims=false}
          %4: f32[B] = reduce_sum %1 {axes=[1], keepdims=false}  # net.py:12 head
          return %4
        }
    """)
    v = values(g)
    plan = plan_memory(g, {"B": 4})
    # bytes: x 128, w 512, %0 256, %1 256, %2 a view (none), %3 64, %4 16.
    # op 0: x + w + %0 = 896; op 1: %0 + %1 = 512; op 2: %1 = 256; op 3: %1 + %3 = 320;
    # op 4: %1 + %4 = 272 (%3 was dead code: freed after its writer).
    assert plan.nbytes[v["w"]] == 512 and plan.nbytes[v["2"]] == 256
    assert plan.peak_bytes == 896 and plan.peak_index == 0
    assert plan.peak_values == [v["w"], v["0"], v["x"]]


def test_the_report_names_the_peak_the_largest_tensors_and_their_source_lines():
    g = graph("""
        graph @net(%x: f32[B,8], %w: f32[8,16]) -> (f32[B]) {
          %0: f32[B,16] = matmul %x, %w                          # net.py:10 hidden
          %1: f32[B,16] = tanh %0                                # net.py:11 hidden
          %2: f32[B] = reduce_sum %1 {axes=[1], keepdims=false}  # net.py:12 head
          return %2
        }
    """)
    text = memory_report(g, {"B": 4}, top=2)
    lines = text.splitlines()
    assert lines[0] == "memory plan of @net for B=4: 3 ops, 5 values"
    assert lines[1] == "peak 896 B (896 bytes) at op 0 (matmul at net.py:10 hidden)"
    assert lines[2] == "slots: 2 buffers of 512 B in all hold 2 values (512 B with a buffer per value)"
    assert lines[4].split() == ["%w", "f32[8,16]", "512", "B", "live", "in..0", "parameter"]
    assert lines[5].split() == ["%0", "f32[B,16]", "256", "B", "live", "0..1", "matmul", "at",
                                "net.py:10", "hidden"]
    assert len(lines) == 8       # top=2: %x is left out, listed in the full report
    assert "%x f32[B,8]" in str(plan_memory(g, {"B": 4})) and "%x f32" not in text
    assert lines[6] == "in place (the graph allows writing the result over the operand): 1"
    assert lines[7].split() == ["%1", "over", "%0", "tanh", "at", "net.py:11", "hidden"]


def test_a_symbol_without_a_size_is_named_with_the_value_and_its_line():
    g = graph(CHAIN)
    with pytest.raises(ValueError, match=r"no size for symbol B of %x \(f32\[B,4\], parameter\) "
                                         r"\(sizes given: \{'N': 3\}\)"):
        plan_memory(g, {"N": 3})
