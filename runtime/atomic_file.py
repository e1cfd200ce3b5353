"""Replacing a file atomically, without leaving temporary files behind after crashes.

``write_atomically(path, write)`` calls ``write(f)`` on a new temporary file in ``path``'s
folder, flushes and fsyncs it, renames it over ``path`` and fsyncs the folder: whenever
the process dies, ``path`` is the previous file or the new one, whole. An exception
removes the temporary file and leaves ``path`` as it was. The temporary file is created
with mode ``0o666`` less the umask, the mode a plain ``open()`` gives, which the rename
keeps.

A killed process (SIGKILL, OOM killer) cannot remove its temporary file, which is as
large as the data. So the name says whose it is: ``.<name>.tmp-<host>-<pid>-<random>``
(``<name>`` is the destination's, cut to fit the file system's name limit), and every
write first removes the stale temporary files of the same destination left on this
host: those whose process is gone, and those carrying this process's pid that this
process is not writing (left by an earlier process that had the same pid). Another live
process's temporary file — a concurrent writer of the same path — is never touched;
nor is one from another host (a shared folder), whose pids mean nothing here. A zombie
(killed, not yet waited for) counts as alive until its parent reaps it. Off POSIX no
liveness test is made, so only this process's own leftovers are removed.
"""
from __future__ import annotations

import errno
import os
import platform
import re
import secrets
import threading
from contextlib import suppress
from typing import BinaryIO, Callable

from . import distribute

_NAME_MAX = 255                       # bytes of one file name (ext4, xfs, btrfs, apfs, ntfs)
_TAIL_ROOM = 1 + 10 + 1 + 8           # "-" pid "-" random
_lock = threading.Lock()              # a listing never sees a temp file not yet registered
_writing: set[str] = set()            # names of this process's temporary files being written
_TEMP = re.compile(r"(\d+)-[0-9a-f]+")   # what follows the prefix: <pid>-<random>


def _forget_the_parent() -> None:
    """In a forked child: a fresh lock (the parent's may have been held by a thread the
    child does not have) and nothing being written."""
    global _lock
    _lock = threading.Lock()
    _writing.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_parent)


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Replace ``path`` by what ``write(f)`` writes to a binary file object, atomically
    (see the module docstring). ``path``'s folder must exist. In a data-parallel job
    only rank 0 writes: elsewhere this does nothing (:mod:`.distribute`)."""
    if not distribute.is_writer():
        return
    folder = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(os.path.basename(path))
    with _lock:
        _remove_stale(folder, prefix)
        fd, tmp = _create(folder, f"{prefix}{os.getpid()}-")
        _writing.add(os.path.basename(tmp))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    finally:
        _writing.discard(os.path.basename(tmp))
    _fsync_folder(folder)


def _host() -> str:
    """This machine's name, reduced to characters safe in a file name."""
    return re.sub(r"[^A-Za-z0-9.]", "_", platform.node() or "localhost")[:32]


def _temp_prefix(name: str) -> str:
    """``.<name>.tmp-<host>-``, ``name`` cut so that the whole temp name fits in a name."""
    tail = f".tmp-{_host()}-"
    room = _NAME_MAX - 1 - len(os.fsencode(tail)) - _TAIL_ROOM
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}{tail}"


def _create(folder: str, prefix: str) -> tuple[int, str]:
    """A new file ``prefix<random>`` in ``folder``, opened for writing (its fd and path),
    with the mode ``open()`` would give (``0o666`` less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        path = os.path.join(folder, prefix + secrets.token_hex(4))
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue


def _remove_stale(folder: str, prefix: str) -> None:
    """Remove the temporary files ``prefix<pid>-<random>`` in ``folder`` that no live
    writer owns. Best effort: a file another process removes first, or one that cannot
    be removed, is passed over."""
    me = os.getpid()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _TEMP.fullmatch(name[len(prefix):]) if name.startswith(prefix) else None
        if match is None:
            continue
        pid = int(match[1])
        if (name not in _writing) if pid == me else not _alive(pid):
            with suppress(OSError):
                os.remove(os.path.join(folder, name))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (True where that cannot be told)."""
    if os.name != "posix":
        return True                     # os.kill would terminate it on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                     # EPERM: someone else's live process
        return True
    return True


def _fsync_folder(folder: str) -> None:
    """Make the rename durable: fsync the folder (POSIX; a file system that cannot fsync
    a folder is passed over)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)
