"""Trust for the on-disk kernel cache: a private folder, and Numba's cache files verified
before anything in them is unpickled.

Numba's ``cache=True`` keeps an index (``*.nbi``) and machine code (``*.nbc``) per
function; both are pickles, and unpickling runs code. So a file someone else could write
would be code running in the next process, and one corrupt file would make every later
process fail. The rules here, the way ssh and pip treat their folders:

* **A private folder.** :func:`private_folder` creates the cache folder, its
  ``__pycache__`` and any missing parent 0700 (``chmod`` after ``mkdir``, so the umask
  does not matter), and refuses (:class:`KernelCacheError`, naming the folder, its owner
  and mode, and what to do) a folder that is not owned by the effective user or that
  group or others can write. Only the folder itself is checked, not its parents (as pip).
* **Private files.** Every file written here (:func:`write_private`) is created
  ``O_EXCL``/``O_NOFOLLOW`` under a temporary name, ``fchmod`` 0600, then renamed over
  its final name, so a reader never sees half a file.
* **Sealed artifacts.** Each ``.nbi``/``.nbc`` is written as
  ``MAGIC + HMAC-SHA256(key, file name + NUL + payload) + payload``: the digest is in the
  same file as what it covers, written by the same rename, so concurrent writers can
  never leave a digest that disagrees with its artifact. Binding the file's name keeps one
  valid artifact from being swapped in for another. The key is 32 random bytes in
  ``__pycache__/.key`` (:data:`KEY_NAME`), created 0600 atomically (``link`` of a
  complete temporary file: the first creator wins, others read it); a key file readable
  or writable by anyone else, or not owned by the user, is refused.
* **Verified before unpickling.** An artifact that is empty, truncated, unsealed, sealed
  with another key or changed afterwards is never unpickled: it is removed, a
  :class:`KernelCacheWarning` names it, and Numba compiles the kernel again and writes a
  fresh sealed file. A sealed payload that still fails to unpickle is treated the same.
* **Concurrent processes.** Numba's save is a read-modify-write of the index plus a data
  file; two processes saving different signatures of one kernel could otherwise give
  both the same data file name. Saves hold an exclusive POSIX record lock
  (``fcntl.lockf``) on ``__pycache__/.lock``, loads a shared one, so an index and the
  data it names are always read as one writer left them. Compiling happens outside the
  lock. Record locks belong to the process, so a child forked while a thread holds one
  does not inherit it (an ``flock`` would stay held by the child's copy of the file
  descriptor for as long as the child lives); the threads of one process are kept apart
  by an in-process lock, which a forked child gets afresh.

Hooked in at Numba's own seams, not by fiddling with files after the fact:
:func:`verify_disk_cache` replaces the cache object Numba attached to a ``cache=True``
dispatcher by a subclass of that same cache class whose locator (:class:`KernelLocator`)
puts the files in the kernel's folder, stamps them with the kernel's source hash, and
whose index/data file object reads and writes through the checks above. The classes are
derived from whatever cache class the dispatcher has, so numba's CPU ``FunctionCache``
and the CUDA target's ``CUDACache`` (built into numba, or from the numba-cuda package,
which has its own copy of the caching module) are both covered. A dispatcher without a
disk cache (the CUDA simulator's kernels, ``NUMBA_DISABLE_JIT``) is left alone.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import hmac
import io
import os
import pickle
import pwd
import secrets
import stat
import sys
import threading
import warnings

KEY_NAME = ".key"
LOCK_NAME = ".lock"
KEY_BYTES = 32
MAGIC = b"fusegraph-sealed-1\n"
_TAG_BYTES = hashlib.sha256().digest_size


class KernelCacheError(OSError):
    """The kernel cache folder (or its key) cannot be trusted or used."""


class KernelCacheWarning(UserWarning):
    """A cache file failed verification and was removed (its kernel is compiled again)."""


# --- the folder ---------------------------------------------------------------------------

def private_folder(path: str) -> str:
    """``path`` and its ``__pycache__``, created 0700 if missing (parents too), checked
    if present: owned by the effective user, not writable by group or others, usable.
    Returns ``path``. Raises :class:`KernelCacheError` for a folder that is not to be
    trusted, another ``OSError`` (from ``mkdir``, or ``EACCES``) for one that cannot be
    created or written."""
    for folder in (path, os.path.join(path, "__pycache__")):
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            _make_private(folder)
            st = os.stat(folder)
        _check_private(folder, st)
    return path


def _make_private(folder: str) -> None:
    parent = os.path.dirname(os.path.abspath(folder))
    if not os.path.exists(parent):
        _make_private(parent)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        return          # made by another process meanwhile: the caller checks it
    os.chmod(folder, 0o700)


def _who(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _check_private(folder: str, st: os.stat_result) -> None:
    where = f"the kernel cache folder {folder!r}"
    facts = f"owner {_who(st.st_uid)}, mode {stat.S_IMODE(st.st_mode):04o}"
    why = ("fusegraph runs the compiled code cached there, so it only uses a folder "
           "that you alone can write")
    if not stat.S_ISDIR(st.st_mode):
        raise KernelCacheError(f"{where} is not a folder ({facts}); set "
                               f"FUSEGRAPH_CACHE_DIR to a folder of your own")
    if st.st_uid != os.geteuid():
        raise KernelCacheError(
            f"{where} belongs to another user ({facts}; you are {_who(os.geteuid())}): "
            f"{why}. Set FUSEGRAPH_CACHE_DIR to a folder of your own (or remove that one)")
    if st.st_mode & 0o022:
        raise KernelCacheError(
            f"{where} is writable by group or others ({facts}): {why}. Run "
            f"`chmod 700 {folder}` if you trust what is in it (or remove it), or set "
            f"FUSEGRAPH_CACHE_DIR to a folder of your own")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, f"cannot write in it ({facts})", folder)


# --- files --------------------------------------------------------------------------------

def _private_temp(path: str, data: bytes) -> str:
    """A new 0600 file beside ``path`` holding ``data``; returns its name."""
    tmp = f"{path}.tmp-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_private(path: str, data: bytes) -> None:
    """Replace ``path`` by a 0600 file holding ``data``, atomically (temporary + rename)."""
    tmp = _private_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_nofollow(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def discard(path: str, problem: str) -> None:
    """Remove the cache file ``path`` (gone already is fine), with a warning naming it."""
    warnings.warn(f"fusegraph kernel cache: {path} {problem}; removed it, the kernel is "
                  f"compiled again", KernelCacheWarning, stacklevel=2)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_IN_PROCESS = threading.Lock()      # record locks do not keep a process's threads apart


def _fresh_lock_in_child() -> None:
    global _IN_PROCESS
    _IN_PROCESS = threading.Lock()   # the thread that held the parent's is not in the child


os.register_at_fork(after_in_child=_fresh_lock_in_child)


@contextlib.contextmanager
def locked(pycache: str, *, exclusive: bool):
    """Hold the record lock on ``pycache``'s lock file (exclusive to write, shared to
    read) and this process's lock."""
    with _IN_PROCESS:
        fd = os.open(os.path.join(pycache, LOCK_NAME),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.lockf(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)


# --- the key and the seal -----------------------------------------------------------------

def cache_key(pycache: str) -> bytes:
    """The HMAC key of the cache in ``pycache``, created on first use. A key file that is
    not the user's own or that others can read or write raises :class:`KernelCacheError`
    (the key may be known: nothing sealed with it can be trusted); one of the wrong
    length is replaced, with a warning (everything sealed with it is then rebuilt)."""
    path = os.path.join(pycache, KEY_NAME)
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            tmp = _private_temp(path, secrets.token_bytes(KEY_BYTES))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass                                    # another process won: read theirs
            finally:
                os.unlink(tmp)
            continue
        except OSError as e:      # a symlink (ELOOP), a folder, no permission
            raise KernelCacheError(
                f"the kernel cache key {path!r} cannot be opened as a private file "
                f"({e.strerror}): expected a regular file owned by {_who(os.geteuid())}, "
                f"mode 0600. Remove it (every cached kernel is then compiled again)") from e
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if (st.st_uid != os.geteuid() or st.st_mode & 0o077
                    or not stat.S_ISREG(st.st_mode)):
                raise KernelCacheError(
                    f"the kernel cache key {path!r} is not a private file (owner "
                    f"{_who(st.st_uid)}, mode {stat.S_IMODE(st.st_mode):04o}), expected yours "
                    f"with mode 0600: whoever can "
                    f"read it can forge cached code. Remove it (every cached kernel is then "
                    f"compiled again)")
            key = f.read(KEY_BYTES + 1)
        if len(key) == KEY_BYTES:
            return key
        discard(path, f"is not a key ({len(key)} bytes)")


def _tag(key: bytes, name: str, payload: bytes) -> bytes:
    return hmac.new(key, name.encode() + b"\0" + payload, hashlib.sha256).digest()


def seal(key: bytes, name: str, payload: bytes) -> bytes:
    """The bytes of a cache file named ``name`` (its base name) holding ``payload``."""
    return MAGIC + _tag(key, name, payload) + payload


def unseal(key: bytes, name: str, blob: bytes) -> tuple[bytes | None, str]:
    """``(payload, "")`` when ``blob`` is a file named ``name`` sealed with ``key``, else
    ``(None, what is wrong)``."""
    if not blob:
        return None, "is empty"
    head = len(MAGIC) + _TAG_BYTES
    if not blob.startswith(MAGIC) or len(blob) < head:
        return None, "is truncated or was not written by fusegraph (no seal)"
    payload = blob[head:]
    if not hmac.compare_digest(blob[len(MAGIC):head], _tag(key, name, payload)):
        return None, ("does not match its seal (changed, truncated or replaced behind "
                      "fusegraph's back)")
    return payload, ""


# --- Numba's seams ------------------------------------------------------------------------

class KernelLocator:
    """Numba cache locator of a generated kernel: files in ``__pycache__`` beside the
    kernel's source file (a folder :func:`private_folder` made), stamped with the
    kernel's module name, which carries the hash of the source fusegraph compiled (not
    of the file on disk, which is never executed)."""

    def __init__(self, py_func):
        self._py_file = py_func.__code__.co_filename
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(os.path.dirname(self._py_file), "__pycache__")
        self._stamp = py_func.__module__

    def ensure_cache_path(self):
        private_folder(os.path.dirname(self._cache_path))

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return self._stamp

    def get_disambiguator(self):
        return str(self._lineno)


class _KernelCacheImpl:
    """Mixin over a Numba ``CacheImpl``: the locator is always :class:`KernelLocator`
    (not Numba's search, which ``NUMBA_CACHE_DIR``/``NUMBA_CACHE_LOCATOR_CLASSES`` steer);
    file names as Numba forms them (``<module file>.<qualname>-<line>.pyXY``)."""

    def __init__(self, py_func):
        self._lineno = py_func.__code__.co_firstlineno
        self._locator = KernelLocator(py_func)
        module_file = os.path.splitext(os.path.basename(py_func.__code__.co_filename))[0]
        self._filename_base = self.get_filename_base(
            f"{module_file}.{py_func.__qualname__}", getattr(sys, "abiflags", ""))


class _SealedFiles:
    """Mixin over a Numba ``IndexDataCacheFile``: every file goes through
    :func:`seal`/:func:`unseal` and :func:`write_private`; loads and saves hold the
    folder's lock. Numba's own save/load logic (index numbering, version and stamp
    checks) is kept; only the reading and writing of bytes is replaced."""

    def __init__(self, cache_path, filename_base, source_stamp):
        super().__init__(cache_path, filename_base, source_stamp)
        self._key = cache_key(cache_path)

    def load(self, key):
        with locked(self._cache_path, exclusive=False):
            return super().load(key)

    def save(self, key, data):
        with locked(self._cache_path, exclusive=True):
            super().save(key, data)

    def flush(self):
        with locked(self._cache_path, exclusive=True):
            super().flush()

    def _load_index(self):
        payload = self._verified(self._index_path)
        if payload is None:
            return {}
        try:
            stream = io.BytesIO(payload)
            if pickle.load(stream) != self._version:
                return {}
            stamp, overloads = pickle.loads(stream.read())
        except Exception as e:        # noqa: BLE001 -- any unpickling failure: rebuild
            discard(self._index_path, f"cannot be read ({type(e).__name__}: {e})")
            return {}
        return overloads if stamp == self._source_stamp else {}

    def _load_data(self, name):
        path = self._data_path(name)
        payload = self._verified(path)
        if payload is None:
            return None
        try:
            return pickle.loads(payload)
        except Exception as e:        # noqa: BLE001 -- any unpickling failure: rebuild
            discard(path, f"cannot be read ({type(e).__name__}: {e})")
            return None

    @contextlib.contextmanager
    def _open_for_write(self, filepath):
        buffer = io.BytesIO()
        yield buffer
        write_private(filepath, seal(self._key, os.path.basename(filepath),
                                     buffer.getvalue()))

    def _verified(self, path):
        try:
            blob = _read_nofollow(path)
        except FileNotFoundError:
            return None
        except OSError as e:          # a planted symlink (ELOOP), a folder, ...
            discard(path, f"cannot be read ({e.strerror or e})")
            return None
        payload, problem = unseal(self._key, os.path.basename(path), blob)
        if problem:
            discard(path, problem)
        return payload


class _VerifiedCache:
    """Mixin over a Numba ``Cache``: its impl is :class:`_KernelCacheImpl`, its index and
    data file object :class:`_SealedFiles` over the class Numba's own ``__init__`` chose
    (which reads nothing).

    A load on the CPU initializes Numba's runtime (NRT: the compiled wrapper unboxes
    arrays through it), not the whole target context: Numba's ``load_overload`` first
    refreshes its typing and lowering registries, which imports most of ``numba.np`` and
    ``scipy.linalg`` (0.1-0.25 s, measured: the largest part of a warm first step) that
    loading machine code never uses. A compile refreshes them itself when one happens.
    Other targets (CUDA) load as Numba does."""

    def __init__(self, py_func):
        super().__init__(py_func)
        files = _sealed_files_class(type(self._cache_file))
        self._cache_file = files(self._cache_path, self._impl.filename_base,
                                 self._impl.locator.get_source_stamp())

    def load_overload(self, sig, target_context):
        from numba.core.cpu import CPUContext

        if not isinstance(target_context, CPUContext):
            return super().load_overload(sig, target_context)
        from numba.core.runtime import rtsys
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


@functools.cache
def _sealed_files_class(base: type) -> type:
    return type(f"Sealed{base.__name__}", (_SealedFiles, base), {})


@functools.cache
def _verified_cache_class(base: type) -> type:
    impl = type(f"Kernel{base._impl_class.__name__}", (_KernelCacheImpl, base._impl_class), {})
    return type(f"Verified{base.__name__}", (_VerifiedCache, base), {"_impl_class": impl})


def cached_signatures(dispatcher) -> set:
    """The argument signatures the verified disk cache of ``dispatcher`` holds machine
    code for (empty without one), read from its index as a load reads it (verified,
    under the shared lock), loading no code. An entry compiled for another CPU counts
    too: loading it compiles afresh, as Numba would."""
    files = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if not isinstance(files, _SealedFiles):
        return set()
    with locked(files._cache_path, exclusive=False):
        return {key[0] for key in files._load_index()}


def verify_disk_cache(dispatcher) -> None:
    """Give the ``cache=True`` Numba ``dispatcher`` of a generated kernel (whose source
    file lies in a :func:`private_folder`) the verified disk cache, before its first
    call reads anything. A dispatcher without a disk cache is left as it is."""
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or cache.cache_path is None:
        return
    dispatcher._cache = _verified_cache_class(type(cache))(dispatcher.py_func)
