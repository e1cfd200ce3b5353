"""The markdown tables ``compare.py`` prints, from its list of run records.

A record is what ``measure.py`` printed, plus ``framework``, ``workload``, ``threads`` and
``phase`` (``cold``/``warm`` for a workload, ``start``/``end`` for sgemm), or ``error``
when the process failed. Step times come from warm processes; first steps from both;
peak memory from both (warm: after all its steps; cold: after compiling and one step).
"""
from __future__ import annotations

import datetime
import math
import os
import platform

from workloads import WORKLOADS, matmul_flops

PEERS = ("jax", "torch")
PEER_LABELS = {"jax": "JAX jit", "torch": "PyTorch eager"}
MISSING = "–"


def machine() -> dict:
    """Date, CPU, core count, load and the OpenBLAS variables of this run."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "load_before": os.getloadavg(),
            "python": platform.python_version(),
            "openblas_env": {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE",
                                                            "OPENBLAS_L2_SIZE")}}


def _find(records, framework, workload, threads, phase):
    for r in records:
        if (r["framework"], r["workload"], r["threads"], r["phase"]) == (
                framework, workload, threads, phase) and "error" not in r:
            return r
    return None


def _num(x: float) -> str:
    """Two or three significant figures, as the issue's tables write them."""
    if x is None or not math.isfinite(x):
        return MISSING
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _columns(settings) -> list:
    return [f for f in ("fusegraph",) + PEERS if f in settings["frameworks"]]


def _label(framework: str, settings) -> str:
    return settings["backend"] if framework == "fusegraph" else PEER_LABELS[framework]


def _table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _rows(settings, cell) -> list:
    """One row per (workload, threads): the workload's title on its first row, ``same``
    after; then ``cell(framework, workload, threads)`` per framework column."""
    rows = []
    for workload in settings["workloads"]:
        for i, n in enumerate(settings["threads"]):
            title = WORKLOADS[workload].title if i == 0 else "same"
            rows.append([title, str(n)] + [cell(f, workload, n) for f in _columns(settings)])
    return rows


def step_table(records, settings) -> str:
    """Median step ms per framework, and fusegraph's over the best peer's."""
    def median(f, w, n):
        r = _find(records, f, w, n, "warm")
        return r.get("median_ms") if r else None

    rows = _rows(settings, lambda f, w, n: _num(median(f, w, n)))
    columns = _columns(settings)
    peers = [f for f in columns if f in PEERS]
    ratio_col = "fusegraph" in columns and peers
    if ratio_col:
        keys = [(w, n) for w in settings["workloads"] for n in settings["threads"]]
        for row, (w, n) in zip(rows, keys):
            ours = median("fusegraph", w, n)
            best = min((m for m in (median(p, w, n) for p in peers) if m is not None),
                       default=None)
            row.append(_num(ours / best) if ours is not None and best else MISSING)
    header = ["workload", "threads"] + [_label(f, settings) for f in columns]
    if ratio_col:
        header.append(f"{_label('fusegraph', settings)} / best")
    return _table(header, rows)


def first_step_table(records, settings) -> str:
    """Seconds from process start to the end of the first step: empty / warm cache; for
    fusegraph with an empty cache also when every kernel was ready (its first steps run
    on the reference until then), in parentheses."""
    def cell(f, w, n):
        cold, warm = (_find(records, f, w, n, p) for p in ("cold", "warm"))
        text = " / ".join(_num(r.get("first_step_s")) if r else MISSING for r in (cold, warm))
        ready = cold.get("ready_s") if cold else None
        return text if ready is None else f"{text} (ready {_num(ready)})"
    return _table(["workload", "threads"] + [_label(f, settings) for f in _columns(settings)],
                  _rows(settings, cell))


def rss_table(records, settings) -> str:
    """Peak resident MB: the warm process (all its steps), then the cold one."""
    def cell(f, w, n):
        warm, cold = (_find(records, f, w, n, p) for p in ("warm", "cold"))
        return (f"{_num(warm.get('max_rss_mb')) if warm else MISSING} "
                f"({_num(cold.get('max_rss_mb')) if cold else MISSING})")
    return _table(["workload", "threads"] + [_label(f, settings) for f in _columns(settings)],
                  _rows(settings, cell))


def sgemm_rates(records, threads: int) -> list:
    return [r["gflops"] for r in records if r["framework"] == "sgemm"
            and r["threads"] == threads and "gflops" in r]


def mlp_rate_table(records, settings) -> str | None:
    """The MLP step's matmul GFLOP/s per framework, and its fraction of sgemm's (the
    better of the start and end measurements at the same thread count: the rate the
    machine reached in this run)."""
    if "mlp" not in settings["workloads"]:
        return None
    spec = WORKLOADS["mlp"]
    flops = matmul_flops("mlp", spec.tiny if settings["tiny"] else spec.sizes)
    rows = []
    for n in settings["threads"]:
        rates = sgemm_rates(records, n)
        sgemm = max(rates, default=None)
        row = [str(n), " / ".join(_num(r) for r in rates) or MISSING]
        for f in _columns(settings):
            r = _find(records, f, "mlp", n, "warm")
            if r is None or "median_ms" not in r:
                row.append(MISSING)
                continue
            rate = flops / (r["median_ms"] / 1e3) / 1e9
            row.append(_num(rate) + (f" ({rate / sgemm:.0%})" if sgemm else ""))
        rows.append(row)
    header = ["threads", "sgemm 2048 GFLOP/s (start / end)"] + [
        f"{_label(f, settings)} GFLOP/s (of sgemm)" for f in _columns(settings)]
    return _table(header, rows)


def _pool(p: dict) -> str:
    name = p.get("internal_api", "?")
    details = ", ".join(str(p[k]) for k in ("version", "architecture") if p.get(k))
    where = os.path.basename(p.get("filepath", ""))
    return (f"{name} {details}".strip() + f" ({p.get('num_threads', '?')} threads"
            + (f", {where})" if where else ")"))


def blas_lines(records) -> list:
    """One line per (framework, threads): the thread pools its processes loaded."""
    seen = {}
    for r in records:
        if "blas" in r:
            key = (r["framework"], r["threads"])
            seen.setdefault(key, "; ".join(sorted(_pool(p) for p in r["blas"])) or "none")
    return [f"- {f}, {n} thread(s): {pools}" for (f, n), pools in sorted(seen.items())]


def loss_lines(records, settings) -> list:
    """Per workload, the first-step losses of the frameworks (cold processes at the first
    thread count), flagged when they differ by more than 1e-4 relative."""
    lines = []
    for w in settings["workloads"]:
        losses = {}
        for f in _columns(settings):
            r = _find(records, f, w, settings["threads"][0], "cold")
            if r is not None and "first_loss" in r:
                losses[f] = r["first_loss"]
        if losses:
            ref = next(iter(losses.values()))
            agree = all(abs(v - ref) <= 1e-4 * max(abs(ref), 1e-12) for v in losses.values())
            lines.append(f"- {w}: " + ", ".join(f"{f} {v:.6g}" for f, v in losses.items())
                         + ("" if agree else "  **DIFFER**"))
    return lines


def print_report(records, about, settings) -> None:
    load = lambda key: "/".join(f"{x:.1f}" for x in about[key])   # noqa: E731
    print(f"\n{about['date']}, {about['cpu']}, {about['cores']} cores, Python "
          f"{about['python']}; load average (1/5/15 min) {load('load_before')} before, "
          f"{load('load_after')} after; {about['minutes']:.1f} minutes; "
          f"{settings['steps']} timed steps after {settings['warmup']} warm-up per "
          f"process{'; TINY sizes' if settings['tiny'] else ''}; OpenBLAS variables: "
          f"{about['openblas_env']}")
    versions = {}
    for r in records:
        versions.update(r.get("versions", {}))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("\nMedian step, ms (warm process)\n")
    print(step_table(records, settings))
    print("\nFirst step, s from process start: empty cache / warm cache (fusegraph, empty "
          "cache: every kernel ready)\n")
    print(first_step_table(records, settings))
    print("\nPeak RSS, MB: warm process (cold process)\n")
    print(rss_table(records, settings))
    rate = mlp_rate_table(records, settings)
    if rate:
        print("\nMLP matmul rate against a large sgemm measured in the same run\n")
        print(rate)
    print("\nThread pools loaded (threadpoolctl):")
    print("\n".join(blas_lines(records)))
    print("\nFirst-step losses (same weights, same batch):")
    print("\n".join(loss_lines(records, settings)))
    failed = [r for r in records if "error" in r]
    if failed:
        print("\nFailed runs:")
        for r in failed:
            print(f"- {r['workload']} {r['framework']} {r['threads']} thread(s) {r['phase']}: "
                  f"{r['error']}")
