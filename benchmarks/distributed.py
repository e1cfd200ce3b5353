"""Data-parallel throughput over MPI: examples per second of the MLP and the Transformer
block (``benchmarks/workloads``) trained on 1 and 2 ranks of this machine, the scaling
efficiency, and the gradient bytes each step all-reduces (to size a cluster's network).

    pip install -e ".[distributed,mkl]"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/distributed.py [--steps 30]

Each configuration is one job started with ``mpiexec`` (:mod:`fusegraph.runtime.launch`)
on the workload's global batch (MLP 128, Transformer 32: each rank trains on its share,
``train_on_batch`` with ``compile(distribute=DataParallel())``); rank 0 reports the
median time of ``--steps`` steps after ``--warmup`` (a barrier before each step, so the
ranks start together). Configurations, each with ``T`` kernel/BLAS threads per rank
(``fg.config.set_num_threads``): 1 rank x 1 thread, 2 ranks x 1 thread (one core each),
and 1 rank x 2 threads (the same two cores used by one process, the alternative on one
machine). Scaling efficiency = throughput(2 ranks) / (2 x throughput(1 rank)), both at
one thread per rank. Gradient bytes per step: the trainable weights' bytes (float32),
the payload of one all-reduce; a ring all-reduce sends and receives about
``2 (N-1)/N`` times that per rank and step. Not a test: the numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("mlp", "transformer")
CONFIGS = ((1, 1), (2, 1), (1, 2))     # (ranks, threads per rank)


def worker(name: str, threads: int, steps: int, warmup: int) -> None:
    """One rank of a job: time the steps; rank 0 prints one JSON line."""
    sys.path.insert(0, HERE)
    import fusegraph as fg
    from workloads import WORKLOADS as SPECS, fusegraph_models

    fg.config.set_num_threads(threads)
    strategy = fg.distribute.DataParallel()
    model, step = fusegraph_models.build(name, None, distribute=strategy)
    for _ in range(warmup):
        step()
    fg.config.wait_for_kernels()
    times = []
    for _ in range(steps):
        strategy.comm.Barrier()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    if strategy.rank == 0:
        batch = SPECS[name].sizes.batch
        gradient_bytes = sum(w.numpy().nbytes for w in model.trainable_weights)
        median = statistics.median(times)
        print(json.dumps({"workload": name, "ranks": strategy.size, "threads": threads,
                          "batch": batch, "step_ms": median * 1e3,
                          "examples_per_s": batch / median,
                          "gradient_bytes": gradient_bytes}), flush=True)


def measure(name: str, ranks: int, threads: int, steps: int, warmup: int) -> dict:
    from fusegraph.runtime.launch import launch
    done = launch(ranks, [sys.executable, os.path.abspath(__file__), "--worker", name,
                          "--threads", str(threads), "--steps", str(steps),
                          "--warmup", str(warmup)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                  timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} on {ranks} ranks failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1])


def table(records: list) -> str:
    rows = ["| workload | ranks x threads | step ms | examples/s | scaling efficiency | "
            "gradient MB per step |", "|---|---|---|---|---|---|"]
    by = {(r["workload"], r["ranks"], r["threads"]): r for r in records}
    for r in records:
        one = by.get((r["workload"], 1, 1))
        efficiency = (f"{r['examples_per_s'] / (r['ranks'] * one['examples_per_s']):.2f}"
                      if one and r["ranks"] > 1 else "")
        rows.append(f"| {r['workload']} | {r['ranks']} x {r['threads']} | {r['step_ms']:.2f} | "
                    f"{r['examples_per_s']:.0f} | {efficiency} | "
                    f"{r['gradient_bytes'] / 2**20:.2f} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--json", default=None, help="write every measurement here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.threads, args.steps, args.warmup)
        return
    records = []
    for name in args.workloads.split(","):
        for ranks, threads in CONFIGS:
            records.append(measure(name, ranks, threads, args.steps, args.warmup))
            print(f"{name}: {ranks} rank(s) x {threads} thread(s): "
                  f"{records[-1]['step_ms']:.2f} ms/step", flush=True)
    print(table(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
