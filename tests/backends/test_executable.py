"""The Executable protocol (backends/executable.py): every backend's compile returns one,
with the compiled graph's parameters and results in order, results as numpy arrays, its
kernels and source; numba_cpu's ``repeated`` binds once for many calls (a scan's steps)."""
from helpers import cuda_mode

cuda_mode.use_simulator()                      # before numba.cuda is first imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fusegraph.backends import numba_cpu, optimizing_compiler  # noqa: E402
from fusegraph.backends.executable import Executable  # noqa: E402
from fusegraph.passes import fuse  # noqa: E402

from helpers.backend_checks import assert_same, softmax_graph  # noqa: E402


@pytest.mark.parametrize("backend", ["reference", "numba_cpu", "numba_cuda"])
def test_every_backend_compiles_to_the_protocol(backend):
    if backend == "numba_cuda":
        cuda_mode.skip_unless_cuda_runs()
    graph = softmax_graph()
    exe = optimizing_compiler(backend)(graph)
    assert isinstance(exe, Executable)
    assert [p.type for p in exe.graph.params] == [p.type for p in graph.params]
    assert [r.type for r in exe.graph.results] == [r.type for r in graph.results]
    x, b = np.linspace(-2, 2, 15, dtype=np.float32).reshape(3, 5), np.ones(5, np.float32)
    got = exe(x, b)
    assert all(isinstance(a, np.ndarray) for a in got) and len(got) == 2
    assert_same(got, optimizing_compiler("reference")(graph)(x, b), rtol=1e-5, atol=1e-6)
    fused = [op for op in exe.graph.ops if op.kind == "fused"]
    assert [k.op for k in exe.kernels] == fused
    assert (exe.source() == "") == (not fused)
    if fused:
        assert all(k.spec.name in exe.source() for k in exe.kernels)


def test_repeated_binds_once_and_runs_the_plan_for_the_binding():
    exe = numba_cpu.compile(fuse(softmax_graph()))
    x, b = np.linspace(-2, 2, 15, dtype=np.float32).reshape(3, 5), np.ones(5, np.float32)
    want = exe(x, b)                                    # the first call makes the plan
    with exe.repeated([x, b]) as (run, first):
        assert first is None                            # the plan exists: nothing ran yet
        assert_same(run([x, b]), want)
        assert_same(exe(x, b), want)                    # plan held: the checked path runs
    y = x[:2]
    with exe.repeated([y, b]) as (run, first):          # a new binding: its first call ran
        assert_same(first, exe(y, b))
        assert_same(run([y, b]), first)
    assert exe.plan_errors == []
    with pytest.raises(numba_cpu.InputError, match="param"):
        with exe.repeated([x.astype(np.float64), b]):
            pass
