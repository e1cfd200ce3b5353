"""fusegraph against JAX ``jit`` and PyTorch eager on the four workloads of
``workloads/``, each measurement in a fresh process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare.py \\
        [--workloads mlp,ticket,lstm,transformer] [--threads 1,2] [--steps 30] [--warmup 5]
        [--frameworks fusegraph,jax,torch] [--backend numba_cpu] [--quick] [--tiny]
        [--json results.json]

For every (workload, thread count) the frameworks run one after another (their order
rotated from one block to the next), twice: a **cold** process, whose kernel caches are
empty (a new ``FUSEGRAPH_CACHE_DIR``; a new JAX persistent compilation cache, which JAX
fills as fusegraph fills its own; PyTorch has none), which stops after its first step
(fusegraph's once its kernels are ready and one more step checked its plan: what a
user's first run leaves in the cache), then a **warm** process on the caches the cold
one filled, which times ``--steps`` steps after ``--warmup`` untimed ones (see ``measure.py`` for what a process reports). Each
process gets the thread count through ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS``, ``NUMBA_NUM_THREADS``, ``torch.set_num_threads``,
``fusegraph.config.set_num_threads`` where it exists, and, for one thread, ``XLA_FLAGS``
``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` (XLA's CPU pool
cannot be set to other counts below the number of cores); and each process is confined
to that many CPUs (``sched_setaffinity``), since XLA's dots ran on both cores of the
2-core VM at "1 thread" anyway (a [4096,128] @ [128,512] matmul: 321 GFLOP/s, one
core's peak being about 200). A large float32 sgemm
(numpy, 2048x2048) is measured at each thread count at the start and at the end of the
run: the MLP's matmul rate is given as a fraction of the better of the two.

Printed: markdown tables of median step times (with fusegraph's time over the best
peer's), first steps with empty and warm caches, peak resident memory and the MLP's
rate against sgemm, the BLAS and OpenMP pools each framework loaded (threadpoolctl),
and each workload's first-step losses (the frameworks start from the same weights on the
same batch, so these agree when the frameworks compute the same thing).

This environment sets ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, which slow numpy's
OpenBLAS: unset both in the benchmark command alone (as above), never in tests. It also
sets ``PYTHONDONTWRITEBYTECODE``, so an editable install of fusegraph would compile its
Python source again in every process (0.1 s of each first step) while the peers, installed
from wheels, have their bytecode: the run first writes fusegraph's bytecode (``compileall``,
what ``pip install`` of a wheel does).
A peer that is not installed is skipped with a line saying so (``pip install -e
".[bench]"`` installs them). Not a test: the numbers depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import compileall
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from report import machine, print_report
from workloads import WORKLOADS

FRAMEWORKS = ("fusegraph", "jax", "torch")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
ONE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SLOW_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MEASURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measure.py")
CHILD_TIMEOUT_S = 900


@dataclasses.dataclass(frozen=True)
class Run:
    """One process to start: ``framework`` on ``workload`` (``-`` for sgemm) at
    ``threads``; ``phase`` is cold/warm (sgemm: start/end); ``caches`` the folders it uses."""
    framework: str
    workload: str
    threads: int
    phase: str
    caches: tuple = ()


def child_env(threads: int, caches: tuple) -> dict:
    """This process's environment with the thread settings for ``threads`` and, when
    given, the (fusegraph, JAX) cache folders."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    if threads == 1:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {ONE_THREAD_XLA}".strip()
    if caches:
        env["FUSEGRAPH_CACHE_DIR"], env["JAX_COMPILATION_CACHE_DIR"] = caches
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def confine(threads: int):
    """A ``preexec_fn`` that keeps the child on ``threads`` of the CPUs this process may
    use (None when that is all of them): a pool that ignores the thread settings (XLA's,
    below the number of cores) cannot use more cores than the column says."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cpus or threads >= len(cpus):
        return None
    return lambda: os.sched_setaffinity(0, cpus[:threads])


def run_child(run: Run, args) -> dict:
    """Start ``measure.py`` for ``run``; its JSON report with the run's keys added, or
    ``error`` (the last lines of its stderr) when it failed."""
    record = dataclasses.asdict(run)
    del record["caches"]
    timed = run.phase in ("warm", "start", "end")
    cmd = [sys.executable, MEASURE, run.framework, run.workload, "--threads", str(run.threads),
           "--steps", str(args.steps if timed else 0),
           "--warmup", str(args.warmup if timed else 0), "--backend", args.backend]
    if args.tiny:
        cmd.append("--tiny")
    cmd += ["--spawned-at", repr(time.time())]
    try:
        done = subprocess.run(cmd, env=child_env(run.threads, run.caches), capture_output=True,
                              text=True, timeout=CHILD_TIMEOUT_S,
                              preexec_fn=confine(run.threads))
    except subprocess.TimeoutExpired:
        return {**record, "error": f"timed out after {CHILD_TIMEOUT_S} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {**record, "error": " | ".join(done.stderr.strip().splitlines()[-3:])
                or f"exit status {done.returncode}, no output"}
    return {**record, **json.loads(lines[-1])}


def compile_bytecode() -> None:
    """Write the bytecode of fusegraph's Python source (the project folder this script is
    in, tests and hidden folders left out), as installing a wheel does (module
    docstring)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    compileall.compile_dir(root, quiet=1, rx=re.compile(r"[/\\](\.|tests[/\\]|build[/\\])"))


def available(frameworks: list) -> list:
    """The frameworks of ``frameworks`` that can be imported; a line for each that is not."""
    modules = {"fusegraph": "fusegraph", "jax": "jax", "torch": "torch"}
    found = []
    for name in frameworks:
        if importlib.util.find_spec(modules[name]) is None:
            print(f"{name} is not installed: skipped (pip install -e \".[bench]\")")
        else:
            found.append(name)
    return found


def plan(workloads: list, frameworks: list, threads: list, cache_root: str) -> list[Run]:
    """The runs in the order they happen: sgemm at each thread count, then per workload
    and thread count the cold processes of all frameworks and their warm ones (framework
    order rotated per block), then sgemm again."""
    runs = [Run("sgemm", "-", n, "start") for n in threads]
    block = 0
    for workload in workloads:
        for n in threads:
            shift = block % len(frameworks)
            order = frameworks[shift:] + frameworks[:shift]
            caches = tuple(os.path.join(cache_root, f"{workload}-{n}-{kind}")
                           for kind in ("fusegraph", "jax"))
            runs += [Run(f, workload, n, phase, caches) for phase in ("cold", "warm")
                     for f in order]
            block += 1
    return runs + [Run("sgemm", "-", n, "end") for n in threads]


def _progress(i: int, total: int, record: dict) -> str:
    where = (f"[{i}/{total}] {record['workload']} {record['framework']} "
             f"{record['threads']} thread(s) {record['phase']}: ")
    if "error" in record:
        return where + "FAILED: " + record["error"]
    if "gflops" in record:
        return where + f"{record['gflops']:.1f} GFLOP/s"
    step = f"{record['median_ms']:.2f} ms/step, " if "median_ms" in record else ""
    return where + f"{step}first step {record['first_step_s']:.2f} s"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, of {','.join(WORKLOADS)}")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per warm process")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before them")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help=f"comma-separated, of {','.join(FRAMEWORKS)}")
    parser.add_argument("--backend", default="numba_cpu", help="fusegraph's backend")
    parser.add_argument("--quick", action="store_true",
                        help="10 timed steps after 2 warm-up steps: checks that everything "
                             "runs; its medians are too noisy to quote")
    parser.add_argument("--tiny", action="store_true",
                        help="the tests' tiny sizes (a smoke test of this script)")
    parser.add_argument("--json", metavar="PATH", help="also write every result as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup = 10, 2
    for key, known in (("workloads", WORKLOADS), ("frameworks", FRAMEWORKS)):
        chosen = getattr(args, key).split(",")
        unknown = [c for c in chosen if c not in known]
        if unknown:
            parser.error(f"unknown {key} {unknown}; expected some of {list(known)}")
        setattr(args, key, chosen)
    args.threads = [int(n) for n in args.threads.split(",")]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    for var in SLOW_BLAS_VARS:
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set and slows numpy's OpenBLAS; run "
                  f"with env -u {' -u '.join(SLOW_BLAS_VARS)}")
    frameworks = available(args.frameworks)
    if "fusegraph" in frameworks:
        compile_bytecode()
    about = machine()
    cache_root = tempfile.mkdtemp(prefix="fusegraph-bench-")
    runs = plan(args.workloads, frameworks, args.threads, cache_root)
    records = []
    started = time.time()
    try:
        for i, run in enumerate(runs, 1):
            records.append(run_child(run, args))
            print(_progress(i, len(runs), records[-1]), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
    about["load_after"] = os.getloadavg()
    about["minutes"] = (time.time() - started) / 60
    settings = {k: getattr(args, k) for k in ("workloads", "threads", "steps", "warmup",
                                              "backend", "tiny")}
    settings["frameworks"] = frameworks
    print_report(records, about, settings)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": about, "settings": settings, "runs": records}, f, indent=1)


if __name__ == "__main__":
    main()
