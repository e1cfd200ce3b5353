"""A fresh process's first call, cold (empty kernel cache) then warm (the same cache): the
warm one compiles nothing, loads every kernel (a parallel one and the native scatter_add
included) without refreshing Numba's typing and lowering registries (kernel_cache.py's
load), and its results, errors included, are the reference's. Each run is a subprocess,
as a user's next program would be."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    from fusegraph.backends import numba_cpu
    from fusegraph.backends.numba import kernels
    from fusegraph.backends.reference import compile as reference
    from fusegraph.ir import parse_graph
    from fusegraph.passes import fuse

    g = parse_graph("""
        graph @g(%i: i32[B], %x: f32[B,3], %w: f32[3]) -> (f32[B,3], f32[9,3]) {
          %0: f32[B,3] = mul %x, %w
          %1: f32[B,3] = tanh %0
          %2: f32[] = constant {value=0.0, dtype=f32}
          %3: f32[9,3] = broadcast_to %2 {shape=[9, 3]}
          %4: f32[9,3] = scatter_add %3, %i, %1 {axis=0}
          return %1, %4
        }""")
    exe = numba_cpu.compile(fuse(g))
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 9, 5).astype(np.int32), rng.standard_normal((5, 3), np.float32),
              rng.standard_normal(3, np.float32)]
    want = reference(g)(*arrays)
    agree = True
    calls, start = 0, time.monotonic()   # a tiered start plans once its kernels arrived
    while calls < 3 or (not exe._plans and time.monotonic() - start < 120):
        got = exe(*arrays)
        agree &= all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(got, want))
        calls += 1
    arrays[0][2] = 9                                # out of range: the reference's error
    errors = []
    for run in (exe, reference(g)):
        try:
            run(*arrays)
        except Exception as e:
            errors.append(str(e))
    print(json.dumps({
        "agree": bool(agree), "same_error": len(errors) == 2 and errors[0] == errors[1],
        "plans": len(exe._plans), "parallel": [k.spec.parallel for k in exe.kernels],
        "misses": sum(sum(d.stats.cache_misses.values()) for d in kernels._MEMO.values()),
        "hits": sum(sum(d.stats.cache_hits.values()) for d in kernels._MEMO.values()),
        "refreshed": "numba.np.arraymath" in sys.modules}))
''')


def run(cache, env=None):
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "FUSEGRAPH_CACHE_DIR": str(cache),
                                           "FUSEGRAPH_NUMBA_PARALLEL_MIN": "1", **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("tiered", ["0", "1"])
def test_a_warm_process_loads_every_kernel_and_equals_the_reference(tmp_path, tiered):
    cold = run(tmp_path, {"FUSEGRAPH_TIERED_START": tiered})
    assert cold["agree"] and cold["same_error"] and cold["plans"] == 1
    assert cold["parallel"] == [True] and cold["misses"] == 2 and cold["hits"] == 0
    warm = run(tmp_path, {"FUSEGRAPH_TIERED_START": tiered})
    assert warm["agree"] and warm["same_error"] and warm["plans"] == 1
    assert warm["misses"] == 0 and warm["hits"] == 2           # the kernel and scatter_add
    assert not warm["refreshed"]                               # loaded without the registries
