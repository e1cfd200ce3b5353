"""The tables of benchmarks/report.py, from made-up run records."""
from report import blas_lines, first_step_table, loss_lines, mlp_rate_table, step_table
from workloads import WORKLOADS, matmul_flops

SETTINGS = {"workloads": ["mlp"], "threads": [1, 2], "frameworks": ["fusegraph", "jax", "torch"],
            "backend": "numba_cpu", "tiny": False, "steps": 30, "warmup": 5}


def _record(framework, threads, phase, **values):
    return {"framework": framework, "workload": "mlp", "threads": threads, "phase": phase,
            **values}


RECORDS = [
    _record("sgemm", 1, "start", gflops=100.0), _record("sgemm", 1, "end", gflops=120.0),
    _record("fusegraph", 1, "cold", first_step_s=5.0, first_loss=2.5, max_rss_mb=300.0),
    _record("fusegraph", 1, "warm", first_step_s=0.4, median_ms=4.0, max_rss_mb=200.0),
    _record("jax", 1, "cold", first_step_s=1.5, first_loss=2.5),
    _record("jax", 1, "warm", first_step_s=1.2, median_ms=5.0),
    _record("torch", 1, "warm", median_ms=8.0),
    _record("fusegraph", 2, "warm", median_ms=3.0),
    _record("torch", 2, "warm", error="boom"),
]


def _rows(table: str) -> list:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_step_table_gives_medians_and_the_ratio_to_the_best_peer():
    rows = _rows(step_table(RECORDS, SETTINGS))
    assert rows[0][1:] == ["1", "4.00", "5.00", "8.00", "0.80"]
    assert rows[1][:2] == ["same", "2"]
    assert rows[1][2:] == ["3.00", "–", "–", "–"]          # no peer measured, one failed


def test_first_step_table_has_cold_and_warm():
    assert _rows(first_step_table(RECORDS, SETTINGS))[0][2:4] == ["5.00 / 0.40", "1.50 / 1.20"]


def test_first_step_table_says_when_a_tiered_start_had_every_kernel():
    records = [_record("fusegraph", 1, "cold", first_step_s=0.5, ready_s=3.25),
               *RECORDS[1:]]
    assert _rows(first_step_table(records, SETTINGS))[0][2] == "0.50 / 0.40 (ready 3.25)"


def test_mlp_rate_is_a_fraction_of_the_best_sgemm():
    rate = matmul_flops("mlp", WORKLOADS["mlp"].sizes) / 4e-3 / 1e9
    row = _rows(mlp_rate_table(RECORDS, SETTINGS))[0]
    assert row[1] == "100 / 120"
    assert row[2] == f"{rate:.0f} ({rate / 120:.0%})"


def test_losses_are_flagged_when_they_differ():
    assert loss_lines(RECORDS, SETTINGS) == ["- mlp: fusegraph 2.5, jax 2.5"]
    differing = RECORDS + [_record("torch", 1, "cold", first_loss=2.6)]
    assert loss_lines(differing, SETTINGS)[0].endswith("**DIFFER**")


def test_blas_lines_name_library_kernel_and_threads():
    pool = {"internal_api": "openblas", "version": "0.3.31", "architecture": "SkylakeX",
            "num_threads": 1, "filepath": "/x/libopenblas.so"}
    lines = blas_lines([_record("sgemm", 1, "start", blas=[pool])])
    assert lines == ["- sgemm, 1 thread(s): openblas 0.3.31, SkylakeX (1 threads, libopenblas.so)"]
