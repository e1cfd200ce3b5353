"""Eager per-op overhead: microseconds per small op run eagerly, fusegraph against
PyTorch eager and JAX's eager ``jax.numpy`` (no ``jit``), in one process, rounds
interleaved, medians.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/eager_ops.py [--rounds 7]

Each case runs ``--calls`` times per round on tiny operands, so the time is the
framework's dispatch, not arithmetic: an elementwise add and an exp of 8 floats, a
[16,16] matmul, and one step of a two-op function under a gradient tape (forward and
gradient, as TensorFlow's and PyTorch's eager users write it; JAX: ``jax.grad`` of the
same function, not jitted). A peer that is not installed is left out with a line saying
so. Not a test: the numbers depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import numpy as np


def fusegraph_cases() -> dict:
    import fusegraph as fg
    from fusegraph import ops
    x = ops.convert_to_tensor(np.ones(8, np.float32))
    y = ops.convert_to_tensor(np.ones(8, np.float32))
    m = ops.convert_to_tensor(np.ones((16, 16), np.float32))

    def grad_step():
        with fg.GradientTape() as tape:
            tape.watch(x)
            loss = ops.sum(ops.tanh(x * y))
        return tape.gradient(loss, x)
    return {"add": lambda: x + y, "exp": lambda: ops.exp(x), "matmul 16x16": lambda: m @ m,
            "tape: forward + gradient": grad_step}


def torch_cases() -> dict:
    import torch
    torch.set_num_threads(1)
    x = torch.ones(8)
    y = torch.ones(8)
    m = torch.ones((16, 16))
    xg = torch.ones(8, requires_grad=True)

    def grad_step():
        loss = torch.tanh(xg * y).sum()
        return torch.autograd.grad(loss, xg)
    return {"add": lambda: x + y, "exp": lambda: torch.exp(x), "matmul 16x16": lambda: m @ m,
            "tape: forward + gradient": grad_step}


def jax_cases() -> dict:
    import jax
    import jax.numpy as jnp
    x = jnp.ones(8)
    y = jnp.ones(8)
    m = jnp.ones((16, 16))
    grad = jax.grad(lambda v: jnp.sum(jnp.tanh(v * y)))
    return {"add": lambda: (x + y).block_until_ready(), "exp": lambda: jnp.exp(x).block_until_ready(),
            "matmul 16x16": lambda: (m @ m).block_until_ready(),
            "tape: forward + gradient": lambda: grad(x).block_until_ready()}


def per_call_us(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args(argv)
    makers = {"fusegraph": fusegraph_cases, "PyTorch eager": torch_cases, "JAX eager": jax_cases}
    modules = {"fusegraph": "fusegraph", "PyTorch eager": "torch", "JAX eager": "jax"}
    frameworks = {}
    for name, make in makers.items():
        if importlib.util.find_spec(modules[name]) is None:
            print(f"{name}: not installed, left out (pip install -e \".[bench]\")")
            continue
        frameworks[name] = make()
    times = {(f, c): [] for f, cases in frameworks.items() for c in cases}
    for fn in (fn for cases in frameworks.values() for fn in cases.values()):
        per_call_us(fn, 20)                        # warm up: first calls compile or trace
    for _ in range(args.rounds):
        for f, cases in frameworks.items():
            for c, fn in cases.items():
                times[(f, c)].append(per_call_us(fn, args.calls))
    names = list(frameworks)
    print("\n| op | " + " | ".join(f"{n} us" for n in names) + " | fusegraph / best peer |")
    print("|---" * (len(names) + 2) + "|")
    for case in frameworks[names[0]]:
        medians = {f: statistics.median(times[(f, case)]) for f in names}
        peers = [medians[f] for f in names if f != "fusegraph"]
        ratio = f"{medians['fusegraph'] / min(peers):.1f}" if peers and "fusegraph" in medians else "-"
        print(f"| {case} | " + " | ".join(f"{medians[f]:.1f}" for f in names) + f" | {ratio} |")


if __name__ == "__main__":
    main()
