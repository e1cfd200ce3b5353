"""Data-parallel training on 2 MPI ranks (runtime/distribute.py), each test one job of
tests/helpers/mpi_jobs.py started with mpiexec on this machine (loopback). Skipped where
no MPI runtime or mpi4py is installed (the `distributed` extra installs both)."""
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from fusegraph.runtime import launch as launch_module
from fusegraph.runtime.launch import find_mpiexec, launch

pytestmark = pytest.mark.skipif(
    find_mpiexec() is None or importlib.util.find_spec("mpi4py") is None,
    reason="no MPI runtime: pip install -e '.[distributed]' (mpi4py and Open MPI)")

JOBS = os.path.join(os.path.dirname(__file__), os.pardir, "helpers", "mpi_jobs.py")
sys.path.insert(0, os.path.dirname(JOBS))
import mpi_jobs  # noqa: E402


def run_job(job: str, out, backend: str = "reference", timeout: int = 120):
    """The job on 2 ranks: (return code, stdout + stderr, seconds)."""
    start = time.perf_counter()
    done = launch(2, [sys.executable, JOBS, job, str(out), backend], stdout=subprocess.PIPE,
                  stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return done.returncode, done.stdout, time.perf_counter() - start


@pytest.mark.parametrize("backend", ["reference", "numba_cpu"])
def test_two_ranks_end_as_one_process_does(backend, tmp_path):
    """Weights (rank 1 started from others: the broadcast), the history's loss and
    accuracy (global), evaluate and predict (all rows on every rank) equal a one-process
    fit on the global batches, with synchronized BatchNormalization, to 1e-5."""
    code, output, _ = run_job("train", tmp_path, backend)
    assert code == 0, output
    one = mpi_jobs.train(backend)
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    for key, expected in one.items():
        for rank in ranks:
            np.testing.assert_allclose(rank[key], expected, rtol=1e-5, atol=1e-6, err_msg=key)
    assert all(np.array_equal(ranks[0][k], ranks[1][k]) for k in one)   # ranks agree bitwise


def test_a_masked_mean_over_uneven_shares_equals_one_process(tmp_path):
    """Each rank's share has its own count of valid steps: the loss divides by the global
    count (it had divided by the rank's own, and trained differently)."""
    code, output, _ = run_job("masked", tmp_path)
    assert code == 0, output
    one = mpi_jobs.masked("reference")
    for rank in (0, 1):
        got = np.load(tmp_path / f"masked{rank}.npz")
        for key, expected in one.items():
            np.testing.assert_allclose(got[key], expected, rtol=1e-5, err_msg=key)


def test_ranks_agree_however_the_model_is_built_trained_or_stopped(tmp_path):
    """A subclassed model built by its first step (differently on each rank) fit on a
    Dataset, train_on_batch before any fit, a callback that stops rank 1 alone mid-epoch,
    predict on fewer samples than ranks: the ranks end equal, and stop together."""
    code, output, _ = run_job("edges", tmp_path, timeout=120)
    assert code == 0, output
    ranks = [np.load(tmp_path / f"edges{r}.npz") for r in (0, 1)]
    for key in ranks[0].files:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
    assert int(ranks[0]["iterations"]) == 2              # both stopped after batch 1
    assert ranks[0]["one_row"].shape == (1, 2)


def test_a_batch_the_ranks_cannot_share_is_an_error_naming_both_numbers(tmp_path):
    code, output, _ = run_job("indivisible", tmp_path)
    assert code != 0
    assert "a global batch of 15 samples" in output and "among 2 ranks" in output
    assert "rank 0 of 2 failed" in output or "rank 1 of 2 failed" in output


def test_a_rank_that_raises_ends_the_job_naming_it(tmp_path):
    code, output, seconds = run_job("fail", tmp_path, timeout=60)
    assert code != 0 and seconds < 60
    assert "rank 1 of 2 failed" in output and "failed on purpose" in output


def test_a_killed_rank_makes_the_launcher_fail_rather_than_wait(tmp_path):
    code, output, seconds = run_job("kill", tmp_path, timeout=60)
    assert code != 0 and seconds < 60, output


def test_only_rank_0_writes_files(tmp_path):
    code, output, _ = run_job("files", tmp_path)
    assert code == 0, output
    assert sorted(os.listdir(tmp_path)) == ["by_rank0.npz", "epoch1.npz", "epoch2.npz"]


def test_fusegraph_train_with_ranks_launches_mpiexec(tmp_path):
    example = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "examples",
                           "digits.py")
    with subprocess.Popen([sys.executable, "-m", "fusegraph", "train", example, "--ranks",
                           "2", "--epochs", "2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                          start_new_session=True) as job:
        try:
            out, err = job.communicate(timeout=180)
        finally:
            if job.returncode is None:       # a hung job: end it whole, ranks included
                launch_module._end_job(job, whole=True)
    assert job.returncode == 0, out + err
    assert out.count("final metrics: loss=") == 1          # rank 0 alone prints
    assert out.count("Epoch 2/2") == 1
