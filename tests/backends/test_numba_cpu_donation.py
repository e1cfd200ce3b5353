"""numba_cpu's donated parameters (backends/numba_cpu/donation.py): the tail's kernels
write the results they replace into the parameters' arrays, with the numbers of a step
that does not; never before an op that can fail; never a parameter something else still
reads; Ctrl-C waits for the writes."""
import os
import signal

import numpy as np
import pytest

from fusegraph.backends import optimizing_compiler
from fusegraph.backends.interrupts import hold_interrupts, release_interrupts
from fusegraph.backends.numba_cpu.donation import in_place_writes
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph

from helpers.plan_source import plain_run

# A momentum-like step: the loss reads the weight %w through a gather (an op that can
# fail: an index out of range) and a product, then one kernel makes the new %w and %m.
STEP = """
    graph @step(%i: i32[B], %w: f32[5,3], %m: f32[5,3], %lr: f32[], %v: f32[3,2])
            -> (f32[], f32[5,3], f32[5,3]) {
      %0: f32[B,3] = take %w, %i {axis=0}
      %1: f32[B,2] = matmul %0, %v
      %2: f32[] = reduce_sum %1 {axes=[0, 1], keepdims=false}
      %3: f32[] = constant {value=0.9, dtype=f32}
      %4: f32[5,3] = mul %m, %3
      %5: f32[5,3] = add %4, %w
      %6: f32[5,3] = mul %5, %lr
      %7: f32[5,3] = sub %w, %6
      return %2, %7, %5
    }
"""
DONATE = ((1, 1), (2, 2))    # new %w into %w, new %m into %m


def arguments(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 5, batch).astype(np.int32),
            rng.standard_normal((5, 3)).astype(np.float32),
            rng.standard_normal((5, 3)).astype(np.float32), np.array(0.1, np.float32),
            rng.standard_normal((3, 2)).astype(np.float32)]


def test_the_tails_kernel_writes_the_donated_parameters_with_the_same_numbers():
    exe = optimizing_compiler("numba_cpu")(parse_graph(STEP), donate=DONATE)
    (index, pairs), = exe.in_place.items()           # one kernel makes both
    kernel = exe.graph.ops[index]
    written = {kernel.results[k]: kernel.operands[m] for k, m in pairs}
    params, results = exe.graph.params, exe.graph.results
    assert written == {results[1]: params[1], results[2]: params[2]}
    want = reference(parse_graph(STEP))
    for call in range(3):            # the checked first call (the plan on copies), then the plan
        args = arguments(seed=call)
        kept = [a.copy() for a in args]
        expected = want(*kept)
        got = exe(*args)
        for a, b in zip(got, expected):
            assert a.tobytes() == b.tobytes()
        assert got[1] is args[1] and got[2] is args[2]      # written in place, once
        assert all(args[k].tobytes() == kept[k].tobytes() for k in (0, 3, 4))
    run = plain_run(exe.plan_source(4))
    assert "(in place)" in run and "H = HOLD()" in run and "RELEASE(H)" in run


def test_a_step_that_fails_before_its_writes_leaves_the_donated_arrays_as_they_were():
    exe = optimizing_compiler("numba_cpu")(parse_graph(STEP), donate=DONATE)
    exe(*arguments())
    exe(*arguments())                                       # the plan runs now
    args = arguments(seed=5)
    args[0][2] = 7                                          # out of range for %w's 5 rows
    kept = [a.copy() for a in args]
    with pytest.raises(Exception, match=r"take.*index 7 is out of range \[0, 5\)"):
        exe(*args)
    assert all(a.tobytes() == k.tobytes() for a, k in zip(args, kept))


def test_without_donation_nothing_is_written():
    exe = optimizing_compiler("numba_cpu")(parse_graph(STEP))
    assert exe.in_place == {}
    for call in range(3):
        args = arguments(seed=call)
        kept = [a.copy() for a in args]
        got = exe(*args)
        assert all(a.tobytes() == k.tobytes() for a, k in zip(args, kept))
        assert got[1] is not args[1]


@pytest.mark.parametrize("why, graph, donate", [
    ("another tail kernel reads it", """
        graph @g(%w: f32[5,3], %x: f32[5,3], %y: f32[2,5,3]) -> (f32[5,3], f32[2,3]) {
          %0: f32[5,3] = add %w, %x
          %1: f32[2,5,3] = mul %w, %y
          %2: f32[2,3] = reduce_sum %1 {axes=[1], keepdims=false}
          return %0, %2
        }""", ((0, 0),)),
    ("it is a result too", """
        graph @g(%w: f32[5,3], %x: f32[5,3]) -> (f32[5,3], f32[5,3]) {
          %0: f32[5,3] = add %w, %x
          return %0, %w
        }""", ((0, 0),)),
    ("a later op reads the result", """
        graph @g(%w: f32[5,3], %x: f32[3,3]) -> (f32[5,3], f32[5,3]) {
          %0: f32[5,3] = exp %w
          %1: f32[5,3] = matmul %0, %x
          return %0, %1
        }""", ((0, 0),)),
    ("the kernel reads it broadcast", """
        graph @g(%w: f32[3], %x: f32[5,3]) -> (f32[5,3]) {
          %0: f32[5,3] = add %w, %x
          return %0
        }""", ((0, 0),)),
])
def test_a_parameter_something_else_still_reads_is_not_written(why, graph, donate):
    exe = optimizing_compiler("numba_cpu")(parse_graph(graph), donate=donate)
    assert exe.in_place == {}, why
    assert in_place_writes(exe.graph, donate) == {}


def test_a_ctrl_c_during_the_writes_is_raised_after_them():
    previous = hold_interrupts()
    assert previous is signal.default_int_handler
    os.kill(os.getpid(), signal.SIGINT)                    # held back: nothing raised here
    with pytest.raises(KeyboardInterrupt):
        release_interrupts(previous)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    release_interrupts(hold_interrupts())                  # none arrived: nothing raised


def test_the_reference_ignores_donation():
    args = arguments()
    kept = [a.copy() for a in args]
    got = reference(parse_graph(STEP), donate=DONATE)(*args)
    assert all(a.tobytes() == k.tobytes() for a, k in zip(args, kept))
    assert got[1] is not args[1]


def test_a_plan_that_fails_after_its_writes_is_not_run_again():
    """The checked path would apply the update a second time: the error is raised."""
    exe = optimizing_compiler("numba_cpu")(parse_graph(STEP), donate=DONATE)
    exe(*arguments())
    plan = exe._last_plan
    names = plan.run.__globals__
    (name,) = [n for n, f in names.items() if getattr(f, "__name__", "").startswith("kernel_")]
    kernel = names[name]

    def fails_after(*args):
        kernel(*args)
        raise RuntimeError("after the write")

    names[name] = fails_after
    args = arguments(seed=7)
    want = reference(parse_graph(STEP))(*[a.copy() for a in args])
    with pytest.raises(Exception, match="raised after writing donated parameters in place: "
                                        "RuntimeError: after the write"):
        exe(*args)
    assert args[1].tobytes() == want[1].tobytes()        # written once, not twice
