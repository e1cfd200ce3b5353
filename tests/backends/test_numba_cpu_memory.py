"""numba_cpu's plans follow the memory analysis (backends/numba_cpu/plan.py): scratch
slots shared by values whose lives do not overlap, a view keeping its base's slot."""
import re
import textwrap

import numpy as np

from fusegraph.backends import numba_cpu
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph, verify
from fusegraph.passes import fuse

from helpers.plan_source import plain_run

# Three kernels (two ops each) and three matmuls. The first kernel's output is read
# through a transpose (a numpy view) by the last matmul, so its slot must outlive
# everything in between; the others alternate between two slots.
CHAIN = """
    graph @chain(%x: f32[B,4], %w: f32[4,4]) -> (f32[4,4]) {
      %0: f32[B,4] = exp %x
      %1: f32[B,4] = neg %0
      %2: f32[4,B] = transpose %1 {perm=[1, 0]}
      %3: f32[B,4] = matmul %x, %w
      %4: f32[B,4] = tanh %3
      %5: f32[B,4] = neg %4
      %6: f32[B,4] = matmul %5, %w
      %7: f32[B,4] = sin %6
      %8: f32[B,4] = neg %7
      %9: f32[4,4] = matmul %2, %8
      return %9
    }
"""


def test_a_plan_shares_scratch_slots_and_keeps_a_viewed_buffer_alive():
    graph = parse_graph(textwrap.dedent(CHAIN).lstrip("\n"))
    fused = fuse(graph)
    verify(fused)
    exe = numba_cpu.compile(fused)
    assert len(exe.kernels) == 3
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 4)).astype(np.float32)
    for _ in range(3):     # the first call makes the plan, the next ones run it
        x = rng.standard_normal((5, 4)).astype(np.float32)
        np.testing.assert_allclose(exe(x, w)[0], reference(graph)(x, w)[0], rtol=1e-5)
    assert exe.plan_errors == []
    plan = exe._last_plan
    # Five values in slots (3 kernel outputs, 2 matmuls; the last matmul is the result):
    # the viewed kernel output alone in one, the other four alternating in two.
    assert len(plan.memory.slots) == 5
    assert sorted(plan.memory.slot_bytes) == [80, 80, 80] and len(plan.buffers) == 3
    assert re.search(r"matmul\d*\(p0, p1, out=b", plain_run(plan.source))
