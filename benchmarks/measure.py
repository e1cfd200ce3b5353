"""One measurement in a process of its own: ``compare.py`` starts this script once per
(workload, framework, threads, cold/warm) and reads the JSON line it prints last.

    python benchmarks/measure.py FRAMEWORK WORKLOAD --threads N --spawned-at T
                                 [--steps 30] [--warmup 5] [--tiny] [--backend numba_cpu]
    python benchmarks/measure.py sgemm - --threads N --spawned-at T

FRAMEWORK is ``fusegraph``, ``torch``, ``jax`` or ``sgemm`` (numpy float32 matmul of two
2048x2048 matrices: the BLAS rate the MLP is compared with). The thread count and the
caches come from the environment ``compare.py`` gives this process (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``NUMBA_NUM_THREADS``, ``XLA_FLAGS``,
``FUSEGRAPH_CACHE_DIR``, ``JAX_COMPILATION_CACHE_DIR``), read when the libraries load;
``--threads`` also goes to ``torch.set_num_threads`` and to
``fusegraph.config.set_num_threads`` where fusegraph has it.

Printed (one JSON object): ``first_step_s`` (from ``--spawned-at``, the parent's clock
just before it started this process, to the end of the first step: interpreter start,
imports, building, tracing and compiling, the step), its parts ``import_s``, ``build_s``
and ``first_call_s``, ``first_loss``, for fusegraph ``ready_s`` (from the same start
until every kernel is compiled or loaded: its first steps run on the reference
meanwhile; the warm-up and timed steps come after, for fusegraph at least one warm-up
step even with ``--warmup 0``, so that a cold process leaves behind what a user's first
run leaves: the kernels cached and the step's plan checked,
:mod:`fusegraph.backends.numba_cpu.plan_trust`), the timed steps'
``median_ms``/``p25_ms``/``p75_ms`` (after ``--warmup`` untimed steps; none when ``--steps 0``), ``max_rss_mb`` (this
process's peak resident memory, ``getrusage``), ``versions`` (with the MKL linked into
libtorch, which threadpoolctl does not see) and ``blas`` (the thread pools loaded, from
threadpoolctl). Nothing is printed before that line on stdout.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

SGEMM_SIZE = 2048


def _thread_pools() -> list:
    """The native thread pools loaded in this process (BLAS, OpenMP), as threadpoolctl
    sees them; one entry saying so when threadpoolctl is missing."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"internal_api": "threadpoolctl not installed"}]
    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: info.get(k) for k in keys if info.get(k) is not None}
            for info in threadpool_info()]


def _framework(name: str, threads: int, backend: str):
    """``(build(workload, sizes) -> (model, step), versions)`` for ``name``, its library
    imported and its threads set."""
    if name == "fusegraph":
        import fusegraph as fg
        import numba

        from workloads import fusegraph_models
        config = getattr(fg, "config", None)
        if config is not None and hasattr(config, "set_num_threads"):
            config.set_num_threads(threads)
        return ((lambda w, s: fusegraph_models.build(w, s, backend)),
                {"fusegraph": backend, "numba": numba.__version__})
    if name == "torch":
        import torch

        from workloads import torch_models
        torch.set_num_threads(threads)
        mkl = next((line.split("Version", 1)[-1].split()[0]
                    for line in torch.__config__.parallel_info().splitlines()
                    if "Math Kernel Library" in line), "none")
        return torch_models.build, {"torch": torch.__version__, "torch's MKL": mkl}
    if name == "jax":
        import jax
        import jaxlib

        from workloads import jax_models
        return jax_models.build, {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
    raise ValueError(f"unknown framework {name!r}")


def measure_workload(args) -> dict:
    start = time.time()
    build, versions = _framework(args.framework, args.threads, args.backend)
    from workloads import WORKLOADS
    spec = WORKLOADS[args.workload]
    imported = time.time()
    _, step = build(args.workload, spec.tiny if args.tiny else spec.sizes)
    built = time.time()
    first_loss = step()
    first_done = time.time()
    ready = _wait_for_kernels(args.framework)
    for _ in range(args.warmup if ready is None else max(args.warmup, 1)):
        step()      # fusegraph: at least one, so that a cold process leaves its plan checked
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    out = {"first_step_s": first_done - args.spawned_at, "import_s": imported - start,
           "build_s": built - imported, "first_call_s": first_done - built,
           "first_loss": first_loss, "steps": len(times), "versions": versions}
    if ready is not None:
        out["ready_s"] = ready - args.spawned_at
    if times:
        q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
        out.update(median_ms=statistics.median(times), p25_ms=q[0], p75_ms=q[2])
    return out


def _wait_for_kernels(framework: str) -> float | None:
    """For fusegraph, whose first steps run on the reference while kernels compile in
    the background (a tiered start): wait until they are all ready, so that the timed
    steps are the compiled ones and a cold process leaves a full cache; the time then.
    None for the other frameworks (compiled by their first step)."""
    if framework != "fusegraph":
        return None
    import fusegraph as fg
    fg.config.wait_for_kernels()
    return time.time()


def measure_sgemm(args) -> dict:
    """GFLOP/s of numpy's float32 matmul of two ``SGEMM_SIZE`` squares: the median of
    ``max(args.steps, 5)`` products after two untimed ones."""
    import numpy as np
    rng = np.random.default_rng(0)
    a, b = (rng.random((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    for _ in range(2):
        np.matmul(a, b, out=out)
    times = []
    for _ in range(max(min(args.steps, 20), 5)):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t)
    return {"gflops": 2.0 * SGEMM_SIZE ** 3 / statistics.median(times) / 1e9,
            "size": SGEMM_SIZE, "versions": {"numpy": np.__version__}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="one benchmark measurement (see compare.py)")
    parser.add_argument("framework", choices=("fusegraph", "torch", "jax", "sgemm"))
    parser.add_argument("workload", help="a workload name (``-`` for sgemm)")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--spawned-at", type=float, required=True,
                        help="time.time() of the parent just before starting this process")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny sizes")
    parser.add_argument("--backend", default="numba_cpu", help="fusegraph's backend")
    args = parser.parse_args(argv)
    out = measure_sgemm(args) if args.framework == "sgemm" else measure_workload(args)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["blas"] = _thread_pools()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
