# Recorded runs: median ms per training step, 300 steps, --blas-threads 2 (see the docstring).
# 2026-11-29, AMD EPYC VM (Zen 5, AVX-512), 2 cores, Python 3.11.7, numpy 2.4.6 with
# OpenBLAS 0.3.31 (OPENBLAS_CORETYPE=Haswell, as this machine's environment sets it),
# numba 0.68.1, torch 2.13.0+cpu (MKL); load average about 1.2 from other sessions.
# "before": the numba_cpu backend as of commit a542346 (an interpreter loop over the ops,
# Adam split in two kernels); "after": per-binding generated plans, kept buffers, merged
# fusion groups. Two runs each, alternating; nb = numba_cpu, exe = its Executable alone.
#
#                     |------------ interleaved in one process -------------| |---- alone ----|
#   model             reference  numba_cpu (exe)   torch  ref/nb  torch/nb  numba_cpu  torch  torch/nb
#   digits, before        0.705  0.325 (0.262)     1.093   2.17x    3.37x     0.282    0.239   0.85x
#                         0.694  0.321 (0.258)     1.085   2.16x    3.38x     0.281    0.237   0.84x
#   digits, after         0.716  0.129 (0.067)     1.132   5.56x    8.78x     0.092    0.238   2.58x
#                         0.713  0.130 (0.067)     1.334   5.49x   10.26x     0.091    0.246   2.70x
#   wide, before          5.688  4.131 (3.597)     6.513   1.38x    1.58x     3.426    3.237   0.94x
#                         5.486  3.981 (3.488)     6.286   1.38x    1.58x     3.470    3.375   0.97x
#   wide, after           5.730  3.686 (3.110)     6.409   1.55x    1.74x     3.128    3.439   1.10x
#                         5.981  3.849 (3.146)     7.225   1.55x    1.88x     3.124    3.432   1.10x
#   wide, after, with OPENBLAS_CORETYPE=SkylakeX (OpenBLAS's AVX-512 kernels):
#                         5.164  3.089 (2.469)     6.722   1.67x    2.18x     2.278    3.492   1.53x
#
# Read the "alone" columns for torch: interleaved, torch runs with OMP_WAIT_POLICY=PASSIVE,
# which costs it about 4-5x on digits and 2x on wide (its two OpenMP workers sleep and wake
# around every op). With OMP_WAIT_POLICY= (unset) instead, interleaved torch took 0.37 ms
# (digits) and 4.3 ms (wide), and its spinning workers slowed numba_cpu's wide steps to 4.4.
# Kernels per step: digits 27 before, 21 after; wide 33 before, 25 after.
#
# lstm (Embedding(1000,32)-LSTM(64)-Dense(1), T=50, B=32, Adam), same machine, 200 steps.
# "before": every scan body interpreted op by op on every backend (numba_cpu 18.5 ms,
# reference 18.9 ms, in one process, 30 steps); "after": bodies optimized by the
# scan_bodies pass and run by numba_cpu as a compiled body Executable's plan, bound
# once per call, stacked outputs preallocated, carries passed along uncopied.
#
#                     reference  numba_cpu (exe)   torch  ref/nb  torch/nb  numba_cpu  torch  torch/nb
#   lstm, after          20.484 11.526 (11.358)   15.580   1.78x    1.35x    12.411    1.628   0.13x
#
# torch alone is 7.6x faster here: its LSTM cell is one fused C++ op per step (and its
# gates' exp/tanh SIMD), where a fusegraph step still runs ~15 numpy calls per body.
"""Median training-step time: fusegraph ``reference`` and ``numba_cpu`` against PyTorch.

    python benchmarks/vs_torch.py [--steps 300] [--models digits,wide,lstm] [--blas-threads 2]
                                  [--no-alone]

Models, the same in all three:

* ``digits``: MLP 64-64(relu)-10(softmax), sparse categorical cross-entropy, Adam(3e-3),
  batch 32 (the architecture of ``examples/digits.py`` without its Dropout, so that the
  peers compute the same thing);
* ``wide``: MLP 784-512(relu)-512(relu)-10(softmax), the same loss and optimizer,
  batch 128;
* ``lstm``: Embedding(1000, 32) -> LSTM(64) -> Dense(1), mean squared error, Adam(3e-3),
  int32 tokens, T=50, batch 32 (PyTorch: ``nn.Embedding``, ``nn.LSTM(batch_first=True)``
  and ``nn.Linear`` on the last hidden state, weights converted from Keras's layout: see
  :func:`torch_lstm_step_fn`).

fusegraph: ``model.train_on_batch(x, y)``: one traced and compiled step graph (forward,
loss, backward, Adam, the loss and accuracy metrics), returning Python floats. The
``nb exe`` column is the part of the numba_cpu step spent inside the backend's
Executable; the rest is the frontend and runtime (assembling the arguments, writing the
new variable values back, the metrics as floats).

PyTorch, written the idiomatic way: ``nn.Sequential(Linear, ReLU, ..., Linear)``,
``nn.CrossEntropyLoss`` **on the logits** (log-softmax fused into the loss, where Keras
computes softmax probabilities, clips them to [eps, 1 - eps] and takes the log: the same
loss up to that clipping), ``torch.optim.Adam(lr, eps=1e-7)`` (its defaults otherwise;
Keras's epsilon; torch adds it to ``sqrt(v_hat)`` where Keras adds it to ``sqrt(v)``, a
~1e-7 relative difference), ``zero_grad(set_to_none=True)``, and per step the loss and
the batch accuracy as Python floats, like ``train_on_batch``. Its initial weights are
copied from the fusegraph model (a Dense kernel ``[in, out]`` is a Linear weight
``[out, in]``); the first step's losses of the three peers are checked to agree. The
batch is converted to tensors once (fusegraph gets the numpy arrays each step).

Two settings, because no one thread setting suits both libraries on 2 cores:

* **interleaved**: the three peers in ONE process, steps interleaved one by one
  (reference, numba_cpu, torch, reference, ...) so they see the same machine state.
  Threads are set before numpy, numba or torch load: numpy's BLAS (OpenBLAS) gets
  ``--blas-threads`` (default 2), Numba ``NUMBA_NUM_THREADS=2``, torch
  ``torch.set_num_threads(2)``; idle OpenMP workers sleep (``OMP_WAIT_POLICY=PASSIVE``)
  and OpenBLAS's stop spinning after 2^4 cycles (``OPENBLAS_THREAD_TIMEOUT=4``), so the
  pools do not spin against each other. PASSIVE costs torch, whose two OpenMP workers
  then sleep and wake around every op (``OMP_WAIT_POLICY=`` — empty — leaves it unset;
  then torch's workers spin after each op and slow the fusegraph steps instead).
* **alone**: each peer in a process of its own (unless ``--no-alone``): numba_cpu with
  the settings above, torch with the environment this script was started in (its
  default OpenMP spinning unless you set otherwise) and ``set_num_threads(2)``: each
  library at its best.

Every setting the script makes is a ``setdefault``: set a variable in the environment to
try another. torch is optional: without it the torch columns are skipped. Not a test:
the numbers depend on the machine (and on whatever else runs on it). Recorded runs are
the comment block at the top of this file.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_ORIGINAL_ENV = dict(os.environ)   # what the torch-alone run gets


def _set_threads(argv) -> None:
    """Thread settings, before numpy/numba/torch load their pools."""
    blas = "2"
    for i, arg in enumerate(argv):
        if arg == "--blas-threads" and i + 1 < len(argv):
            blas = argv[i + 1]
        elif arg.startswith("--blas-threads="):
            blas = arg.split("=", 1)[1]
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, blas)
    os.environ.setdefault("NUMBA_NUM_THREADS", "2")
    if os.environ.get("OMP_WAIT_POLICY") == "":
        del os.environ["OMP_WAIT_POLICY"]                      # explicitly: leave it unset
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")    # idle OpenMP workers sleep
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")      # idle OpenBLAS workers, too


if __name__ == "__main__" and "--peer=torch" not in sys.argv:
    _set_threads(sys.argv[1:])

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import fusegraph as fg  # noqa: E402

try:  # noqa: E402
    import torch
except ImportError:   # torch is a peer here, not a dependency
    torch = None

LR = 3e-3
TITLES = {"digits": "digits MLP 64-64-10, batch 32", "wide": "MLP 784-512-512-10, batch 128",
          "lstm": "Emb-LSTM(64)-Dense, T=50, batch 32"}
LSTM_VOCAB, LSTM_T, LSTM_BATCH = 1000, 50, 32


def build_lstm(backend: str):
    """Embedding(1000, 32) -> LSTM(64) -> Dense(1), mse, Adam; int32 tokens [32, 50]."""
    inputs = fg.Input(shape=(LSTM_T,), dtype="int32")
    h = fg.layers.Embedding(LSTM_VOCAB, 32)(inputs)
    h = fg.layers.LSTM(64)(h)
    model = fg.Model(inputs, fg.layers.Dense(1)(h), name="lstm_regressor")
    model.compile(optimizer=fg.optimizers.Adam(LR), loss="mse", backend=backend)
    rng = np.random.default_rng(0)
    x = rng.integers(0, LSTM_VOCAB, (LSTM_BATCH, LSTM_T)).astype(np.int32)
    y = rng.random((LSTM_BATCH, 1), dtype=np.float32)
    return model, x, y


def torch_lstm_step_fn(weights: list, x, y):
    """nn.Embedding -> nn.LSTM(batch_first) -> nn.Linear on the last h, MSELoss, Adam,
    with the fusegraph model's weights. Keras's LSTM kernel ``(in, 4u)`` and recurrent
    kernel ``(u, 4u)`` hold the gates in the order input, forget, cell, output; PyTorch's
    ``weight_ih_l0 (4u, in)`` / ``weight_hh_l0 (4u, u)`` in the order i, f, g, o, where
    its g is Keras's cell candidate c: the same order, so each is the transpose. Keras
    has one bias ``(4u,)``; PyTorch adds two (``bias_ih_l0 + bias_hh_l0``): the first
    gets Keras's bias, the second zeros."""
    emb, kernel, recurrent, bias, dense_kernel, dense_bias = weights
    embedding = torch.nn.Embedding(*emb.shape)
    lstm = torch.nn.LSTM(kernel.shape[0], recurrent.shape[0], batch_first=True)
    linear = torch.nn.Linear(*dense_kernel.shape)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(emb.copy()))
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias.copy()))
        lstm.bias_hh_l0.zero_()
        linear.weight.copy_(torch.from_numpy(dense_kernel.T.copy()))
        linear.bias.copy_(torch.from_numpy(dense_bias.copy()))
    params = [*embedding.parameters(), *lstm.parameters(), *linear.parameters()]
    opt = torch.optim.Adam(params, lr=LR, eps=1e-7)
    loss_fn = torch.nn.MSELoss()
    tx, ty = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y)

    def step():
        opt.zero_grad(set_to_none=True)
        _, (h, _) = lstm(embedding(tx))
        loss = loss_fn(linear(h[-1]), ty)
        loss.backward()
        opt.step()
        return [loss.item()]
    return step


def build(name: str, backend: str):
    """(model, x, y): a compiled fusegraph model and one fixed batch."""
    if name == "lstm":
        return build_lstm(backend)
    if name == "digits":
        sizes, batch = (64, 64, 10), 32
    else:
        sizes, batch = (784, 512, 512, 10), 128
    inputs = fg.Input(shape=(sizes[0],))
    h = inputs
    for width in sizes[1:-1]:
        h = fg.layers.Dense(width, activation="relu")(h)
    outputs = fg.layers.Dense(sizes[-1], activation="softmax")(h)
    model = fg.Model(inputs, outputs, name=f"{name}_mlp")
    model.compile(optimizer=fg.optimizers.Adam(LR), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], backend=backend)
    rng = np.random.default_rng(0)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int32)
    return model, x, y


def torch_step_fn(weights: list, x, y):
    """An idiomatic PyTorch training step for the MLP whose Dense weights (kernel, bias,
    kernel, bias, ...) are ``weights``."""
    layers = []
    for i in range(0, len(weights), 2):
        kernel, bias = weights[i], weights[i + 1]
        linear = torch.nn.Linear(*kernel.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias.copy()))
        layers += [linear, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])      # logits: the softmax is in the loss
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=LR, eps=1e-7)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=True)
        logits = net(tx)
        loss = loss_fn(logits, ty)
        loss.backward()
        opt.step()
        with torch.no_grad():
            accuracy = (logits.argmax(1) == ty).float().mean()
        return [loss.item(), accuracy.item()]
    return step


class _Timed:
    """Wraps an Executable to time the last call."""

    def __init__(self, exe):
        self.exe, self.last = exe, 0.0

    def __call__(self, *arrays):
        start = time.perf_counter()
        out = self.exe(*arrays)
        self.last = time.perf_counter() - start
        return out

    def __getattr__(self, name):
        return getattr(self.exe, name)


def _peers(name: str, wanted) -> dict:
    """name -> dict(step=..., first=seconds of the first step, loss=its loss), built from
    one set of initial weights, in the order of ``wanted``."""
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    model, x, y = build(name, "reference")
    weights = [w.copy() for w in model.get_weights()]
    runs = {}
    for peer in wanted:
        if peer == "torch":
            step = (torch_lstm_step_fn if name == "lstm" else torch_step_fn)(weights, x, y)
            run = dict(step=step)
        else:
            fg.utils.clear_session()
            model, x, y = build(name, peer)
            model.set_weights(weights)
            run = dict(step=lambda m=model, x=x, y=y: np.atleast_1d(m.train_on_batch(x, y)),
                       model=model)
        start = time.perf_counter()
        run["loss"] = run["step"]()[0]
        run["first"] = time.perf_counter() - start
        runs[peer] = run
    return runs


def bench(name: str, wanted, steps: int, warmup: int) -> dict:
    """Interleaved medians (seconds) of the peers in ``wanted``."""
    runs = _peers(name, wanted)
    timer = None
    if "numba_cpu" in runs:
        traced = runs["numba_cpu"]["model"]._train_function.last_trace.traced_graph
        timer = traced._executable = _Timed(traced._executable)
    for run in runs.values():
        for _ in range(warmup):
            run["step"]()
    times = {peer: [] for peer in runs}
    exe_times = []
    for _ in range(steps):
        for peer, run in runs.items():
            start = time.perf_counter()
            run["step"]()
            times[peer].append(time.perf_counter() - start)
            if peer == "numba_cpu":
                exe_times.append(timer.last)
    out = {peer: dict(median=statistics.median(t), first=runs[peer]["first"],
                      loss=runs[peer]["loss"]) for peer, t in times.items()}
    if timer is not None:
        out["numba_cpu"]["exe"] = statistics.median(exe_times)
        out["numba_cpu"]["kernels"] = len(getattr(timer.exe, "kernels", ()))
        out["numba_cpu"]["plan_errors"] = list(getattr(timer.exe, "plan_errors", ()))
    return out


def alone(peer: str, models: list, steps: int, warmup: int) -> dict:
    """Medians of ``peer`` run in a process of its own: model -> seconds (empty when the
    run failed)."""
    env = dict(_ORIGINAL_ENV) if peer == "torch" else dict(os.environ)
    cmd = [sys.executable, os.path.abspath(__file__), f"--peer={peer}", "--models",
           ",".join(models), "--steps", str(steps), "--warmup", str(warmup)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        print(f"  ({peer} alone failed: {done.stderr.strip().splitlines()[-1:]})")
        return {}
    return json.loads(lines[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="fusegraph reference / numba_cpu vs PyTorch "
                                                 "training-step medians")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per peer (>= 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps after the first")
    parser.add_argument("--models", default="digits,wide,lstm",
                        help="comma-separated: digits,wide,lstm")
    parser.add_argument("--blas-threads", default="2",
                        help="numpy BLAS threads (read before numpy loads; default 2)")
    parser.add_argument("--no-alone", action="store_true",
                        help="skip the runs of numba_cpu and torch in processes of their own")
    parser.add_argument("--peer", help=argparse.SUPPRESS)   # internal: one peer, JSON out
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if torch is not None:
        torch.set_num_threads(2)
    if args.peer:
        out = {m: bench(m, [args.peer], args.steps, args.warmup)[args.peer]["median"]
               for m in models}
        print(json.dumps(out))
        return

    import numba
    print(f"{os.cpu_count()} CPUs; numpy {np.__version__} (BLAS threads "
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}), numba {numba.__version__} "
          f"(NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}), OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
          + (f"torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch is not None
             else "torch not importable: skipped"))
    peers = ["reference", "numba_cpu"] + (["torch"] if torch is not None else [])
    results = {m: bench(m, peers, args.steps, args.warmup) for m in models}
    solo = {}
    if not args.no_alone:
        for peer in peers[1:]:
            solo[peer] = alone(peer, models, args.steps, args.warmup)

    print(f"\nmedian ms per training step ({args.steps} steps)")
    head = f"{'':<31}{'-- interleaved in one process ':-<56}"
    if solo:
        head += f"  {'-- alone ':-<24}"
    print(head)
    header = (f"{'model':<31}{'reference':>10}{'numba_cpu':>10}{'(exe)':>8}"
              + (f"{'torch':>9}" if torch is not None else "") + f"{'ref/nb':>9}"
              + (f"{'torch/nb':>10}" if torch is not None else ""))
    if solo:
        header += f"  {'numba_cpu':>9}" + (f"{'torch':>8}{'torch/nb':>9}" if torch else "")
    header += f"{'kernels':>8}{'1st nb s':>9}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        nb = r["numba_cpu"]["median"]
        line = (f"{TITLES[name]:<31}{r['reference']['median'] * 1e3:10.3f}{nb * 1e3:10.3f}"
                f"{r['numba_cpu']['exe'] * 1e3:8.3f}")
        if torch is not None:
            line += f"{r['torch']['median'] * 1e3:9.3f}"
        line += f"{r['reference']['median'] / nb:8.2f}x"
        if torch is not None:
            line += f"{r['torch']['median'] / nb:9.2f}x"
        if solo:
            nb_alone = solo.get("numba_cpu", {}).get(name, float("nan"))
            line += f"  {nb_alone * 1e3:9.3f}"
            if torch is not None:
                t_alone = solo.get("torch", {}).get(name, float("nan"))
                line += f"{t_alone * 1e3:8.3f}{t_alone / nb_alone:8.2f}x"
        line += f"{r['numba_cpu']['kernels']:8d}{r['numba_cpu']['first']:9.3f}"
        print(line)
        losses = {p: r[p]["loss"] for p in peers}
        if not np.allclose(list(losses.values()), losses["reference"], rtol=1e-4):
            print(f"  warning: first-step losses differ: {losses}")
        if r["numba_cpu"].get("plan_errors"):
            print(f"  warning: numba_cpu plan errors: {r['numba_cpu']['plan_errors']}")


if __name__ == "__main__":
    main()
