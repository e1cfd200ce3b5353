"""runtime/distribute.py and runtime/launch.py without MPI: how a global batch is shared
among ranks, the errors for batches that cannot be, the launcher's command line, and the
rank as the launcher's environment says (the 2-rank jobs: test_distribute_mpi.py)."""
import sys

import numpy as np
import pytest

from fusegraph.frontend import random_state
from fusegraph.ir.ops import collective
from fusegraph.runtime import distribute, launch


class Comm:
    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


@pytest.fixture
def make(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)   # a 2-rank strategy sets it
    yield lambda rank, size: distribute.DataParallel(comm=Comm(rank, size))
    collective.install(None)
    random_state.set_replica(0)
    distribute._STRATEGY = None


def test_each_rank_takes_its_contiguous_share_of_a_batch(make):
    x, y = np.arange(16).reshape(8, 2), np.arange(8)
    share = make(1, 2).shard((x, y, None))
    np.testing.assert_array_equal(share[0], x[4:])
    np.testing.assert_array_equal(share[1], y[4:])
    assert share[2] is None
    assert make(0, 2).shard(np.arange(5), exact=False).tolist() == [0, 1]
    assert make(1, 2).shard(np.arange(5), exact=False).tolist() == [2, 3, 4]
    assert distribute.rank() == 1 and distribute.world_size() == 2


def test_training_batches_must_divide_among_the_ranks(make):
    strategy = make(0, 2)
    strategy.check_batches(66, 16)                     # 4 batches of 16 and one of 2
    with pytest.raises(ValueError, match=r"a global batch of 15 samples \(60 samples in "
                                         r"batches of 15\) does not divide among 2 ranks"):
        strategy.check_batches(60, 15)
    with pytest.raises(ValueError, match=r"global batch of 2 samples \(the last batch of 66 "
                                         r"samples in batches of 16\) does not divide among 4"):
        make(0, 4).check_batches(66, 16)
    with pytest.raises(ValueError, match="a global batch of 5 samples does not divide among 2"):
        strategy.shard(np.arange(5))
    with pytest.raises(ValueError, match="a batch of 1 sample cannot give each of 2 ranks one"):
        strategy.shard(np.arange(1), exact=False)
    assert make(0, 2).shard(np.arange(1), exact=False, empty=True).tolist() == []


def test_each_rank_draws_its_own_random_keys(make):
    random_state.set_replica(0)
    first = random_state.next_run_key()
    make(1, 2)
    assert random_state.next_run_key() != first + 1


def test_without_a_strategy_the_launchers_environment_says_the_rank(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distribute.rank() == 3 and distribute.world_size() == 4
    assert distribute.is_writer()        # no strategy: every process writes its own files


def test_the_launch_command(monkeypatch):
    monkeypatch.setattr(launch, "find_mpiexec", lambda: "/opt/mpi/bin/mpiexec")
    monkeypatch.setattr(launch, "_is_open_mpi", lambda path: True)
    command, env = launch.mpiexec_command(2, ["python", "t.py"])
    assert command == ["/opt/mpi/bin/mpiexec", "-n", "2", "--oversubscribe", "python", "t.py"]
    assert env["OMPI_ALLOW_RUN_AS_ROOT"] == "1" and env[launch.RANKS_VARIABLE] == "2"
    monkeypatch.setattr(launch, "find_mpiexec", lambda: None)
    with pytest.raises(RuntimeError, match=r"pip install -e \"\.\[distributed\]\""):
        launch.mpiexec_command(2, ["python"])
    with pytest.raises(ValueError, match="ranks must be an int >= 1"):
        launch.mpiexec_command(0, ["python"])
