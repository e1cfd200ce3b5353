"""Median time of one ``train_on_batch`` step, ``reference`` against ``numba_cpu``.

    python benchmarks/step_time.py [--steps 200] [--models digits,wide,lstm]

Models: the digits MLP of ``examples/digits.py`` (64-64-10 with dropout, Adam, batch 32),
a wider MLP (784-512-512-10, Adam, batch 128) and a recurrent regressor
(Embedding(1000, 32) -> LSTM(64) -> Dense(1), mse, Adam, T=50, batch 32). Both backends train their own copy
of a model from the same initial weights on the same batch; after a warm-up (which
compiles, or loads the kernels from the disk cache), the steps are interleaved one by
one (reference, numba_cpu, reference, ...) so that both see the same machine state, and
the medians are reported with their ratio (> 1: numba_cpu is faster). The first steps'
losses are compared (later ones differ with dropout: the interleaved models draw from one
random stream).

Threads: BLAS is limited to one thread (``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/
``MKL_NUM_THREADS``, unless already set), so kernels are serial unless
``FUSEGRAPH_NUMBA_PARALLEL_MIN`` gives the size from which they use Numba's threads
(``NUMBA_NUM_THREADS``, default 2 here). Not a test: numbers depend on the machine.

Recorded (2026-11-29, a 2-core AMD EPYC VM, 100 steps), lstm: before (scan bodies
interpreted per step) reference 18.9 ms, numba_cpu 18.5 ms (1.02x); after (compiled body
plans) reference 19.4 ms, numba_cpu 10.3 ms (1.89x); 2026-12-02, with each scan one
compiled loop and fast_math's vectorized exp/tanh in the kernels: 13.0 -> 7.0 ms.
``benchmarks/compare.py`` compares numba_cpu with JAX and PyTorch on the workloads of
issue 8.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # idle OpenMP workers sleep, not spin

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import fusegraph as fg  # noqa: E402
from fusegraph.backends.numba_cpu.codegen import parallel_threshold  # noqa: E402

BACKENDS = ("reference", "numba_cpu")


def digits_model(backend: str):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    import digits

    model = digits.build_model()   # compiled for the reference; recompile for `backend`
    model.compile(optimizer=fg.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], backend=backend)
    rng = np.random.default_rng(0)
    x = rng.random((digits.BATCH_SIZE, 64), dtype=np.float32)
    y = rng.integers(0, 10, digits.BATCH_SIZE).astype(np.int32)
    return model, x, y


def wide_model(backend: str):
    inputs = fg.Input(shape=(784,))
    h = fg.layers.Dense(512, activation="relu")(inputs)
    h = fg.layers.Dense(512, activation="relu")(h)
    outputs = fg.layers.Dense(10, activation="softmax")(h)
    model = fg.Model(inputs, outputs, name="wide_mlp")
    model.compile(optimizer=fg.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], backend=backend)
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    y = rng.integers(0, 10, 128).astype(np.int32)
    return model, x, y


def lstm_model(backend: str):
    inputs = fg.Input(shape=(50,), dtype="int32")
    h = fg.layers.Embedding(1000, 32)(inputs)
    h = fg.layers.LSTM(64)(h)
    model = fg.Model(inputs, fg.layers.Dense(1)(h), name="lstm_regressor")
    model.compile(optimizer=fg.optimizers.Adam(1e-3), loss="mse", backend=backend)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 1000, (32, 50)).astype(np.int32)
    y = rng.random((32, 1), dtype=np.float32)
    return model, x, y


MODELS = {"digits": ("digits MLP 64-64-10, batch 32", digits_model),
          "wide": ("MLP 784-512-512-10, batch 128", wide_model),
          "lstm": ("Emb-LSTM(64)-Dense, T=50, batch 32", lstm_model)}


def bench(build, steps: int, warmup: int) -> dict:
    runs = {}
    for backend in BACKENDS:
        fg.utils.clear_session()
        fg.utils.set_random_seed(0)
        model, x, y = build(backend)
        start = time.perf_counter()
        loss = np.atleast_1d(model.train_on_batch(x, y))[0]
        first = time.perf_counter() - start
        fg.config.wait_for_kernels()    # a tiered start runs on the reference meanwhile
        for _ in range(warmup):
            model.train_on_batch(x, y)
        runs[backend] = (model, x, y, first, loss)
    times = {b: [] for b in BACKENDS}
    for _ in range(steps):
        for backend in BACKENDS:
            model, x, y, _, _ = runs[backend]
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[backend].append(time.perf_counter() - start)
    return {b: (statistics.median(times[b]), runs[b][3], runs[b][4], kernel_count(runs[b][0]))
            for b in BACKENDS}


def kernel_count(model) -> int:
    exe = model._train_function.last_trace.traced_graph._executable
    return len(getattr(exe, "kernels", ()))


def _parallel_kernels() -> str:
    threshold = parallel_threshold()
    return ("serial kernels" if threshold is None
            else f"parallel kernels from {threshold} elements")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per backend")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps after the first")
    parser.add_argument("--models", default="digits,wide,lstm",
                        help="comma-separated: digits,wide,lstm")
    args = parser.parse_args(argv)

    import numba
    print(f"numba {numba.__version__} (NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}), "
          f"numpy {np.__version__}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {os.cpu_count()} CPUs, "
          f"{_parallel_kernels()}")
    header = (f"{'model':<34} {'reference ms':>12} {'numba_cpu ms':>12} {'speedup':>8} "
              f"{'1st step ref s':>14} {'1st step nb s':>13} {'kernels':>7}")
    print(header)
    print("-" * len(header))
    for name in args.models.split(","):
        title, build = MODELS[name]
        result = bench(build, args.steps, args.warmup)
        ref, ref_first, ref_loss, _ = result["reference"]
        nb, nb_first, nb_loss, kernels = result["numba_cpu"]
        print(f"{title:<34} {ref * 1e3:12.3f} {nb * 1e3:12.3f} {ref / nb:7.2f}x "
              f"{ref_first:14.3f} {nb_first:13.3f} {kernels:7d}")
        if not np.isclose(ref_loss, nb_loss, rtol=1e-4):
            print(f"  warning: first-step losses differ: {ref_loss} vs {nb_loss}")


if __name__ == "__main__":
    main()
