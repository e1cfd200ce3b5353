"""The thread policy (fusegraph.backends.threads): one count for BLAS and kernel threads."""
import json
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest
import threadpoolctl

import fusegraph as fg
from fusegraph.backends import threads


@pytest.fixture
def restore_threads():
    before = fg.config.get_num_threads()
    yield
    fg.config.set_num_threads(before)


def _blas_threads() -> set:
    return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def _model():
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse", backend="numba_cpu")
    return model


@pytest.mark.parametrize("env, expected", [
    ({"FUSEGRAPH_NUM_THREADS": "3", "OMP_NUM_THREADS": "1"}, 3),
    ({"OMP_NUM_THREADS": "2,1"}, 2),
    ({"OPENBLAS_NUM_THREADS": "4", "NUMBA_NUM_THREADS": "2"}, 2),
    ({"MKL_NUM_THREADS": "5"}, 5),
])
def test_default_count_comes_from_the_environment(monkeypatch, env, expected):
    for name in threads._ENV_ORDER + threads._ENV_OTHERS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert threads.default_num_threads() == expected


def test_default_count_without_environment_is_the_usable_cpus(monkeypatch):
    for name in threads._ENV_ORDER + threads._ENV_OTHERS:
        monkeypatch.delenv(name, raising=False)
    assert threads.default_num_threads() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("value", ["zero", "0", "-2"])
def test_a_bad_environment_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("FUSEGRAPH_NUM_THREADS", value)
    with pytest.raises(ValueError, match=f"FUSEGRAPH_NUM_THREADS={value!r}.*positive integer"):
        threads.default_num_threads()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_refuses_what_is_not_a_positive_int(bad, restore_threads):
    before = fg.config.get_num_threads()
    with pytest.raises(ValueError, match="positive int"):
        fg.config.set_num_threads(bad)
    assert fg.config.get_num_threads() == before       # nothing half applied


def test_set_num_threads_sets_blas_and_kernel_threads_together(restore_threads):
    model = _model()
    x = np.ones((4, 3), "float32")
    model.train_on_batch(x, np.zeros((4, 2), "float32"))   # numba is loaded now
    numba.get_num_threads()     # starts Numba's pool, as a parallel kernel would (the policy
    #                             applies to it from then on: run alone, this test saw it unstarted)
    for n in (1, 2):
        fg.config.set_num_threads(n)
        assert fg.config.get_num_threads() == n
        assert _blas_threads() == {n}
        assert numba.get_num_threads() == min(n, numba.config.NUMBA_NUM_THREADS)


def test_the_policy_reaches_a_thread_that_runs_a_step(restore_threads):
    """Numba's count is per thread: a step run from a new thread applies the policy
    there (a fresh thread starts with all of Numba's pool)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs a Numba pool of 2 threads to tell 1 from the default")
    model = _model()
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    model.train_on_batch(x, y)
    fg.config.set_num_threads(1)
    seen = {}

    def worker():
        seen["before"] = numba.get_num_threads()
        model.train_on_batch(x, y)
        seen["after"] = numba.get_num_threads()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"before": numba.config.NUMBA_NUM_THREADS, "after": 1}


def test_quiet_idle_workers_keeps_what_the_environment_says(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    threads.quiet_idle_workers()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    threads.quiet_idle_workers()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_a_library_kept_on_one_thread_stays_there_when_the_count_changes(monkeypatch, restore_threads):
    """numba_cpu's GEMM keeps numpy's OpenBLAS on one thread once MKL takes the large
    products; the count then applies to every other BLAS library."""
    monkeypatch.setattr(threads, "_one_thread", set())
    fg.config.set_num_threads(2)
    openblas = lambda: {i["num_threads"] for i in threadpoolctl.threadpool_info()  # noqa: E731
                        if i["internal_api"] == "openblas"}
    assert openblas() == {2}
    threads.keep_on_one_thread("openblas")
    assert openblas() == {1}
    fg.config.set_num_threads(2)
    assert openblas() == {1}
    others = {i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas" and i["internal_api"] != "openblas"}
    assert others <= {2}
    monkeypatch.setattr(threads, "_one_thread", set())
    fg.config.set_num_threads(2)
    assert openblas() == {2}


FORK_SCRIPT = """
import json
import os
os.environ["FUSEGRAPH_NUMBA_PARALLEL_MIN"] = "1"       # every kernel parallel
os.environ["FUSEGRAPH_TIERED_START"] = "0"
import numpy as np
import fusegraph as fg
from fusegraph.backends import threads
inputs = fg.Input(shape=(64,))
hidden = fg.layers.Dense(32, activation="relu")(inputs)
model = fg.Model(inputs, fg.layers.Dense(8, activation="softmax")(hidden))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", backend="numba_cpu")
rng = np.random.default_rng(0)
x, y = rng.random((16, 64), dtype=np.float32), rng.integers(0, 8, 16)
model.train_on_batch(x, y)
model.train_on_batch(x, y)
assert threads._pool_started()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    loss = float(model.train_on_batch(x, y))
    os.write(write, json.dumps([loss, threads.forks()]).encode())
    os._exit(0)
os.close(write)
_, status = os.waitpid(pid, 0)
child = json.loads(os.read(read, 1000).decode() or "null")
print(json.dumps({"status": status, "child": child, "parent": [
    float(model.train_on_batch(x, y)), threads.forks()]}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_child_forked_after_parallel_kernels_runs_serial_twins(tmp_path):
    """Numba kills a child forked from a process whose GNU OpenMP pool started, at the
    child's first parallel kernel: the child's executables swap theirs for serial ones
    and train on, with the parent's results."""
    run = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "NUMBA_NUM_THREADS": "2",
                                           "FUSEGRAPH_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["status"] == 0, run.stderr          # the child was not killed
    (child_loss, child_forks), (parent_loss, parent_forks) = out["child"], out["parent"]
    assert child_forks == 1 and parent_forks == 0
    assert child_loss == pytest.approx(parent_loss, rel=1e-6)
