"""The differential fuzzer: hypothesis draws random valid programs of ``fg.ops``
(:mod:`helpers.random_graphs`: elementwise ops with broadcasting, reductions, matmul,
reshape, transpose, slicing, concatenate, where over comparisons, softmax; a fixed or a
symbolic batch; float32, float64 or both mixed), each traced with ``fg.GradientTape`` into one graph
of its outputs and of the gradients w.r.t. every input, run through the whole pipeline
(trace, passes with autodiff and fusion, backend), and compared with the ``reference``
backend: outputs and gradients within :data:`helpers.backend_checks.TOLERANCES`.

``numba_cpu`` runs ``FUSEGRAPH_FUZZ_EXAMPLES`` programs (default 200; derandomized, so CI
draws the same ones each run: set the variable to fuzz more, e.g. 5000); ``numba_cuda``
runs a tenth as many (at least 20) in Numba's CUDA simulator. A symbolic-batch program runs with two
batch sizes on one trace. A case the fuzzer found is kept below as an ``@example``.

The batch axis broadcasts only against itself or 1: a program that adds a value with a
symbolic batch axis to one with another size there must fail when traced, with a
ShapeError naming the line (issue 6 item 4: it was typed as if the batch were that size).
"""
import os

from helpers import cuda_mode

cuda_mode.use_simulator()                      # before numba.cuda is first imported
os.environ.setdefault("NUMBA_NUM_THREADS", "2")

import dataclasses  # noqa: E402
import itertools  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, assume, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fusegraph.backends import optimizing_compiler  # noqa: E402
from fusegraph.frontend.function import Function  # noqa: E402
from fusegraph.ir import DType, TensorType  # noqa: E402
from fusegraph.ir import opdef as registry  # noqa: E402
from fusegraph.ir.errors import ShapeError  # noqa: E402

from helpers.backend_checks import (assert_agree,  # noqa: E402
                                    assert_every_fused_op_is_a_kernel)
from helpers.random_graphs import BATCH, BINARY, COMPARISONS, REDUCTIONS, UNARY  # noqa: E402
from helpers.random_graphs import Program, programs  # noqa: E402

EXAMPLES = int(os.environ.get("FUSEGRAPH_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
BATCH_SIZES = (3, 1)          # a symbolic batch runs with both, on one trace
LARGEST = 1e4                 # programs whose reference values exceed this are not compared


def run(program: Program, backend: str) -> list:
    """Per batch size, the flat list of the program's outputs and gradients on ``backend``."""
    fn = Function(program.function(), "fuzzed", optimizing_compiler(backend),
                  symbolic_batch=False,
                  holder_shapes=(lambda args, kwargs: program.holder_shapes())
                  if program.symbolic else None)
    runs = []
    for batch in BATCH_SIZES if program.symbolic else BATCH_SIZES[:1]:
        with np.errstate(all="ignore"):
            outputs, grads = fn(*program.arrays(batch))
        runs.append(list(outputs) + list(grads))
    executable = fn.last_trace.traced_graph._executable
    # A fused op without its kernel (or a plan that disagreed with the checked path)
    # would hide what the backend computes.
    if hasattr(executable, "kernels"):
        assert_every_fused_op_is_a_kernel(executable)
    assert getattr(executable, "plan_errors", []) == [], executable.plan_errors
    return runs


def well_conditioned(results) -> bool:
    """Whether every float result is finite and moderate (else float32 rounding between
    two summation orders may legitimately differ by more than the tolerance)."""
    return all(np.all(np.isfinite(r)) and np.all(np.abs(r) <= LARGEST)
               for run_ in results for r in run_ if r is not None)


def check(program: Program, backend: str) -> None:
    want = run(program, "reference")
    assume(well_conditioned(want))
    got = run(program, backend)
    precision = "float64" if program.dtype == "float64" else "float32"
    for batch, g, w in zip(BATCH_SIZES, got, want):
        assert_agree(g, w, f"{backend}, batch {batch}, program\n{program.source()}", precision)


@FUZZ
@given(programs())
# Fusion built a cyclic graph (NetworkXUnfeasible, passes/fusion.py; issue 6 item 3) from
# the gradient graphs of these two: the (a sum over every axis kept as (1, 1),
# broadcast into an add, sin) and one the fuzzer found (a softmax beside a chain of abs).
@example(Program("float32", False, ((2, 3), (2, 1)), (
    "t0 = ops.sum(x0, axis=None, keepdims=True)  # (1, 1)", "t1 = ops.sin(x1 * x0)  # (2, 3)",
    "t2 = ops.sin(t0 + x1)  # (2, 1)"), ("t1", "t2")))
@example(Program("float32", False, ((1,),), ("t0 = ops.abs(x0)  # (1,)", "t1 = ops.abs(x0)  # (1,)",
                                            "t2 = ops.softmax(t1, axis=0)  # (1,)",
                                            "t3 = ops.abs(t0)  # (1,)"), ("t2", "t3")))
def test_numba_cpu_agrees_with_the_reference(program):
    check(program, "numba_cpu")


@settings(FUZZ, max_examples=max(20, EXAMPLES // 10))
@given(programs())
def test_numba_cuda_agrees_with_the_reference(program):
    cuda_mode.skip_unless_cuda_runs()
    check(program, "numba_cuda")


@settings(FUZZ, max_examples=max(20, EXAMPLES // 10))
@given(programs(symbolic=st.just(True)), st.data())
def test_a_batch_axis_against_another_size_is_a_trace_error(program, data):
    name, shape = data.draw(st.sampled_from([(n, s) for n, s in program.shapes
                                             if n.startswith("t") and BATCH in s]))
    size = data.draw(st.integers(2, 3))
    other = tuple(size if d == BATCH else d for d in shape)[shape.index(BATCH):]
    bad = dataclasses.replace(program, inputs=program.inputs + (other,), lines=program.lines + (
        f"t{len(program.lines)} = ops.add({name}, x{len(program.inputs)})  # {shape}",))
    line = bad.source().splitlines().index(f"        {bad.lines[-1]}") + 1
    with pytest.raises(ShapeError, match=f"<fuzzed program>:{line}: add: .*{size}"):
        run(bad, "reference")


# Float elementwise primitives and reductions the fuzzer's programs never draw, and why
# (everything else in the registry must be reachable: a new primitive is fuzzed, or named
# here, or the test below fails naming it).
NOT_FUZZED = {
    "floor": "its gradient is zero and a step: a kernel's rounding of the operand flips it",
    "argmax": "an index: integer results are compared by the registry cases",
    "argmin": "an index, as argmax",
}


def _kinds(graph) -> set:
    return {k for op in graph.ops for k in [op.kind, *(_kinds(op.region) if op.region else ())]}


SAMPLE_ATTRS = {"dtype": DType.f32, "ints": (1,), "int": 1}


def _takes_floats(opdef) -> bool:
    """Whether ``opdef``'s shape rule accepts [2,3] float32 operands (bool ones beside)."""
    try:
        attrs = opdef.normalize_attrs({n: SAMPLE_ATTRS[a.kind] for n, a in opdef.attrs.items()
                                       if a.default is registry.REQUIRED})
    except (KeyError, TypeError):
        return False
    for dtypes in itertools.product((DType.f32, DType.bool), repeat=opdef.arity or 2):
        if DType.f32 in dtypes:
            try:
                opdef.infer(tuple(TensorType((2, 3), d) for d in dtypes), attrs)
                return True
            except ShapeError:
                pass
    return False


def test_the_fuzzer_draws_every_float_elementwise_primitive_and_reduction():
    """The fuzzer's templates, traced with their gradients, reach every registered
    elementwise primitive and reduction that takes floats, except those of NOT_FUZZED."""
    lines = [UNARY[k].format(a="x0") for k in UNARY]
    lines += [BINARY[k].format(a="x0", b="x1", cmp=c) for k in BINARY for c in COMPARISONS]
    shapes = [(2, 3)] * len(lines) + [(2,)] * len(REDUCTIONS)
    lines += [f"ops.{r}(x0, axis=1)" for r in REDUCTIONS]
    program = Program("float32", False, ((2, 3), (2, 3)),
                      tuple(f"t{i} = {e}  # {s}" for i, (e, s) in enumerate(zip(lines, shapes))),
                      tuple(f"t{i}" for i in range(len(lines))))
    fn = Function(program.function(), "templates", optimizing_compiler("reference"),
                  symbolic_batch=False)
    fn(*program.arrays(2))
    reached = _kinds(fn.last_trace.traced_graph.graph)
    classes = [registry.ELEMENTWISE, registry.REDUCTION, getattr(registry, "ARG_REDUCTION", None)]
    wanted = {n for n, d in registry.all_opdefs().items()
              if any(c and d.has(c) for c in classes) and _takes_floats(d)}
    missing = wanted - reached - set(NOT_FUZZED)
    assert not missing, (f"the fuzzer never draws {sorted(missing)}: add a template to "
                         f"helpers/random_graphs.py, or a reason to NOT_FUZZED")
    assert not set(NOT_FUZZED) & reached, f"fuzzed after all: {sorted(set(NOT_FUZZED) & reached)}"
