"""benchmarks/compare.py: the order of its runs and each run's environment."""
from compare import ONE_THREAD_XLA, THREAD_VARS, child_env, parse_args, plan


def test_plan_interleaves_frameworks_cold_before_warm_with_sgemm_around():
    runs = plan(["mlp", "lstm"], ["fusegraph", "jax", "torch"], [1, 2], "/c")
    keys = [(r.framework, r.workload, r.threads, r.phase) for r in runs]
    assert keys[:2] == [("sgemm", "-", 1, "start"), ("sgemm", "-", 2, "start")]
    assert keys[-2:] == [("sgemm", "-", 1, "end"), ("sgemm", "-", 2, "end")]
    first_block = keys[2:8]
    assert first_block == [(f, "mlp", 1, p) for p in ("cold", "warm")
                           for f in ("fusegraph", "jax", "torch")]
    assert [k[0] for k in keys[8:11]] == ["jax", "torch", "fusegraph"]    # rotated
    assert len(runs) == 4 + 2 * 2 * 3 * 2
    cold, warm = runs[2], runs[5]
    assert cold.caches == warm.caches == ("/c/mlp-1-fusegraph", "/c/mlp-1-jax")
    assert runs[8].caches != cold.caches                     # a fresh cache per block


def test_child_env_sets_every_thread_variable_and_xla_for_one_thread(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/d")
    one = child_env(1, ("/fg", "/jax"))
    assert all(one[v] == "1" for v in THREAD_VARS)
    assert one["XLA_FLAGS"] == f"--xla_dump_to=/d {ONE_THREAD_XLA}"
    assert (one["FUSEGRAPH_CACHE_DIR"], one["JAX_COMPILATION_CACHE_DIR"]) == ("/fg", "/jax")
    two = child_env(2, ())
    assert all(two[v] == "2" for v in THREAD_VARS) and two["XLA_FLAGS"] == "--xla_dump_to=/d"


def test_quick_and_lists():
    args = parse_args(["--quick", "--threads", "2", "--workloads", "mlp,ticket"])
    assert (args.steps, args.warmup, args.threads, args.workloads) == (10, 2, [2], ["mlp", "ticket"])


def test_a_process_is_confined_to_its_thread_count_of_cpus():
    import os
    import subprocess
    import sys

    from compare import confine
    cpus = sorted(os.sched_getaffinity(0))
    assert confine(len(cpus)) is None
    if len(cpus) < 2:
        return
    out = subprocess.run([sys.executable, "-c", "import os; print(len(os.sched_getaffinity(0)))"],
                         capture_output=True, text=True, preexec_fn=confine(1), check=True)
    assert out.stdout.strip() == "1"
