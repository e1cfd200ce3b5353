"""The kernel cache's trust model (backends/numba/kernel_cache.py, kernels.py): code
planted in Numba's cache never runs, a corrupt entry is removed and rebuilt with a warning
naming it, folders are private (0700, files 0600, whatever the umask) and an unsafe one is
refused, concurrent processes fill one cache safely and a warm cache loads without
compiling; numba_cuda's kernels get the same verified cache.

Most checks run in this process: ``clear_memo()`` makes the next compile execute the kernel
module again with a fresh dispatcher, which reads Numba's disk cache as a new process
would. What needs a process of its own (the issue's attack repro, concurrency, CUDA, whose
simulator mode is fixed per process) runs in subprocesses.
"""
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from fusegraph.backends import numba_cpu
from fusegraph.backends.reference import compile as reference
from fusegraph.backends.numba import (KernelCacheError, KernelCacheWarning, cache_dir,
                                      clear_memo, kernel_cache, kernels)
from fusegraph.passes import fuse

from helpers.backend_checks import assert_same, softmax_graph

TESTS = str(Path(__file__).resolve().parents[1])
ARRAYS = [np.linspace(-2, 2, 20, dtype=np.float32).reshape(4, 5),
          np.linspace(0, 1, 5, dtype=np.float32)]
# What the warnings say of a bad file (kernel_cache.unseal's problems).
UNSEALED = "is truncated or was not written by fusegraph (no seal)"
MISMATCH = "does not match its seal (changed, truncated or replaced behind fusegraph's back)"


class Planted:
    """Unpickling this writes the marker file: the proof that planted code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('planted code ran')",))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(folder))
    clear_memo()
    yield folder
    clear_memo()


def run_softmax():
    """Compile (from a fresh memo) and run the softmax graph: (results, hits, misses,
    warning messages)."""
    clear_memo()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exe = numba_cpu.compile(fuse(softmax_graph()))
        results = exe(*ARRAYS)
    hits = sum(sum(k.kernel.stats.cache_hits.values()) for k in exe.kernels)
    misses = sum(sum(k.kernel.stats.cache_misses.values()) for k in exe.kernels)
    return results, hits, misses, [str(w.message) for w in caught
                                   if issubclass(w.category, KernelCacheWarning)]


def files(folder, pattern):
    found = sorted((folder / "__pycache__").glob(pattern))
    assert found, pattern
    return found


def assert_sealed(folder):
    """Every index and data file is sealed with the folder's key (rebuilt, not loaded)."""
    key = (folder / "__pycache__" / kernel_cache.KEY_NAME).read_bytes()
    for path in files(folder, "*.nb[ic]"):
        payload, problem = kernel_cache.unseal(key, path.name, path.read_bytes())
        assert problem == "" and payload, (path, problem)


# --- planted code never runs ------------------------------------------------------------

_TRAIN_CHILD = """
import json, warnings
warnings.simplefilter("always")
import numpy as np
import fusegraph as fg
inputs = fg.Input(shape=(3,))
outputs = fg.layers.Dense(2, activation="softmax")(inputs)
model = fg.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=fg.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
              backend="numba_cpu")
x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loss = model.train_on_batch(x, np.array([0, 1, 1, 0]))
print(json.dumps({"loss": float(np.asarray(loss).ravel()[0]),
                  "warnings": [str(w.message) for w in caught]}))
"""


def run_child(code, cache_folder, cwd, **env):
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                         env={**os.environ, "FUSEGRAPH_CACHE_DIR": str(cache_folder),
                              "PYTHONPATH": TESTS, **env},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_code_planted_in_the_cache_never_runs_in_the_next_process(tmp_path):
    """The issue's repro: a train_on_batch fills the cache; a pickle whose __reduce__ runs
    code is appended to every index (and replaces every data file, which plain Numba
    would unpickle as it is); the next process must not run it, must warn naming each
    file, and must train to the same loss."""
    folder, marker = tmp_path / "cache", tmp_path / "marker"
    first = run_child(_TRAIN_CHILD, folder, tmp_path)
    assert first["warnings"] == []
    planted = pickle.dumps(Planted(marker))
    indexes, data = files(folder, "*.nbi"), files(folder, "*.nbc")
    for path in indexes:
        path.write_bytes(path.read_bytes() + planted)
    for path in data:
        path.write_bytes(planted)

    second = run_child(_TRAIN_CHILD, folder, tmp_path)
    assert not marker.exists()
    assert second["loss"] == first["loss"]
    warned = "\n".join(second["warnings"])
    for path in indexes:                               # each named; its data never read
        assert f"{path} {MISMATCH}" in warned
    assert_sealed(folder)


def test_planted_pickle_replacing_an_index_never_runs(cache, tmp_path):
    run_softmax()
    marker = tmp_path / "marker"
    for path in files(cache, "*.nbi"):
        path.write_bytes(pickle.dumps(Planted(marker)))
    results, hits, misses, warned = run_softmax()
    assert not marker.exists() and (hits, misses) == (0, 2)
    assert sorted(warned) == [f"fusegraph kernel cache: {p} {UNSEALED}; removed it, the "
                              f"kernel is compiled again" for p in files(cache, "*.nbi")]
    assert_same(results, run_softmax()[0], 0, 0)
    assert_sealed(cache)


def test_a_changed_kernel_file_is_never_executed_and_is_rewritten(cache, tmp_path):
    want = run_softmax()[0]
    marker = tmp_path / "marker"
    kernel_files = sorted(cache.glob("k_*.py"))
    assert len(kernel_files) == 2
    sources = [p.read_text() for p in kernel_files]
    for path in kernel_files:
        path.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + path.read_text())
    results, hits, misses, warned = run_softmax()
    assert not marker.exists() and (hits, misses) == (2, 0)
    assert_same(results, want, 0, 0)
    assert sorted(warned) == sorted(f"fusegraph kernel cache: {p} differs from the source "
                                    f"fusegraph generated for it (changed behind its "
                                    f"back); rewritten (the file is never executed)"
                                    for p in kernel_files)
    assert [p.read_text() for p in kernel_files] == sources


# --- corrupt entries are removed and rebuilt ---------------------------------------------

def _tamper(blob):
    middle = len(blob) // 2
    return blob[:middle] + bytes([blob[middle] ^ 1]) + blob[middle + 1:]


CORRUPTIONS = {
    "empty": (lambda blob: b"", "is empty"),
    "truncated": (lambda blob: blob[:len(blob) // 3], MISMATCH),
    "cut inside the seal": (lambda blob: blob[:len(kernel_cache.MAGIC) + 5], UNSEALED),
    "garbage": (lambda blob: os.urandom(len(blob)), UNSEALED),
    "one bit flipped": (_tamper, MISMATCH),
}


@pytest.mark.parametrize("suffix", ["nbi", "nbc"])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_entry_is_removed_rebuilt_and_named(cache, suffix, corruption):
    want = run_softmax()[0]
    change, problem = CORRUPTIONS[corruption]
    bad = files(cache, f"*.{suffix}")[0]
    bad.write_bytes(change(bad.read_bytes()))
    results, hits, misses, warned = run_softmax()
    assert_same(results, want, 0, 0)
    assert (hits, misses) == (1, 1)
    assert warned == [f"fusegraph kernel cache: {bad} {problem}; removed it, the kernel is "
                      f"compiled again"]
    assert_sealed(cache)
    assert run_softmax()[1:] == (2, 0, [])               # rebuilt: loads cleanly again


def test_a_sealed_file_swapped_for_another_is_refused(cache):
    """The seal binds the file name: one kernel's valid data under another's name fails."""
    run_softmax()
    first, second = files(cache, "*.nbc")
    first.write_bytes(second.read_bytes())
    warned = run_softmax()[3]
    assert warned == [f"fusegraph kernel cache: {first} {MISMATCH}; removed it, the kernel "
                      f"is compiled again"]


def test_a_planted_symlink_is_removed_not_followed(cache, tmp_path):
    run_softmax()
    index = files(cache, "*.nbi")[0]
    target = tmp_path / "elsewhere"
    target.write_bytes(index.read_bytes())
    index.unlink()
    index.symlink_to(target)
    warned = run_softmax()[3]
    assert len(warned) == 1 and str(index) in warned[0] and "cannot be read" in warned[0]
    assert not index.is_symlink() and target.exists()
    assert_sealed(cache)


def test_the_key_must_be_private_and_a_bad_one_is_replaced(cache):
    run_softmax()
    key = cache / "__pycache__" / kernel_cache.KEY_NAME
    key.chmod(0o644)
    with pytest.raises(KernelCacheError, match=r"kernel cache key '.*\.key' is not a private "
                                                r"file \(owner .*, mode 0644\)"):
        run_softmax()
    key.chmod(0o600)
    key.write_bytes(b"short")
    results, hits, misses, warned = run_softmax()
    assert (hits, misses) == (0, 2)                      # everything sealed with it: rebuilt
    assert warned[0] == (f"fusegraph kernel cache: {key} is not a key (5 bytes); removed "
                         f"it, the kernel is compiled again")
    assert len(key.read_bytes()) == kernel_cache.KEY_BYTES
    assert_sealed(cache)


# --- private folders ----------------------------------------------------------------------

def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_folders_are_0700_and_files_0600_whatever_the_umask(tmp_path, monkeypatch):
    folder = tmp_path / "made" / "by" / "fusegraph"
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(folder))
    old = os.umask(0)
    try:
        run_softmax()
    finally:
        os.umask(old)
        clear_memo()
    for made in (tmp_path / "made", tmp_path / "made" / "by", folder, folder / "__pycache__"):
        assert mode(made) == 0o700, made
    written = [p for p in folder.rglob("*") if p.is_file()]
    assert len(written) == 2 + 2 + 2 + 2              # .py, .nbi, .nbc, key and lock
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}


def refusal(monkeypatch, folder):
    """The message of the error that refuses ``folder`` as FUSEGRAPH_CACHE_DIR."""
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(folder))
    with pytest.raises(KernelCacheError) as refused:
        cache_dir()
    return str(refused.value)


@pytest.mark.parametrize("bits", [0o777, 0o770, 0o702])
@pytest.mark.parametrize("which", ["folder", "__pycache__"])
def test_a_folder_others_can_write_is_refused(tmp_path, monkeypatch, bits, which):
    folder = tmp_path / "cache"
    (folder / "__pycache__").mkdir(parents=True)
    unsafe = folder if which == "folder" else folder / "__pycache__"
    unsafe.chmod(bits)
    message = refusal(monkeypatch, folder)
    assert message.startswith(f"the kernel cache folder '{unsafe}' is writable by group or "
                              f"others (owner ")
    assert f"mode {bits:04o}" in message and f"`chmod 700 {unsafe}`" in message
    assert "FUSEGRAPH_CACHE_DIR" in message
    assert mode(unsafe) == bits                        # refused, not silently "fixed"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 4321, 4321)
    message = refusal(monkeypatch, folder)
    assert message.startswith(f"the kernel cache folder '{folder}' belongs to another user "
                              f"(owner uid 4321, mode 0700; you are ")
    assert "Set FUSEGRAPH_CACHE_DIR to a folder of your own" in message
    assert not (folder / "__pycache__").exists()


def test_a_relative_folder_is_made_absolute_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", "relative")
    assert cache_dir() == str(tmp_path / "relative")
    assert mode(tmp_path / "relative") == 0o700


def test_a_configured_folder_that_cannot_be_made_is_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("FUSEGRAPH_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(KernelCacheError, match=r"FUSEGRAPH_CACHE_DIR='.*a-file/cache' cannot "
                                                r"be used as the kernel cache folder \(Not a "
                                                r"directory\)"):
        cache_dir()


def test_an_unusable_default_folder_falls_back_to_a_private_temporary_one(tmp_path,
                                                                          monkeypatch):
    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("")
    monkeypatch.delenv("FUSEGRAPH_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(blocker))
    monkeypatch.setattr(kernels, "_FALLBACK_DIR", None)
    with pytest.warns(KernelCacheWarning, match=r"kernel cache folder .*home-is-a-file/"
                                                r"\.cache/fusegraph/numba cannot be used"):
        fallback = cache_dir()
    assert cache_dir() == fallback                    # one per process, warned once
    assert mode(fallback) == mode(os.path.join(fallback, "__pycache__")) == 0o700
    os.rmdir(os.path.join(fallback, "__pycache__"))
    os.rmdir(fallback)


# --- concurrency and warm starts ----------------------------------------------------------

_SOFTMAX_CHILD = """
import json, sys, warnings
import numpy as np
from fusegraph.backends import numba_cpu
from fusegraph.backends.reference import compile as reference
from fusegraph.passes import fuse
from helpers.backend_checks import softmax_graph
x = np.linspace(-2, 2, 20, dtype=np.float32).reshape(4, 5)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    exe = numba_cpu.compile(fuse(softmax_graph()))
    out = exe(x, np.linspace(0, 1, 5, dtype=np.float32))
stats = [k.kernel.stats for k in exe.kernels]
print(json.dumps({"out": [o.tolist() for o in out],
                  "hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "misses": sum(sum(s.cache_misses.values()) for s in stats),
                  "warnings": [str(w.message) for w in caught]}))
"""


def test_four_processes_fill_one_cache_and_a_fifth_loads_it_without_compiling(tmp_path):
    folder = tmp_path / "cache"
    env = {**os.environ, "FUSEGRAPH_CACHE_DIR": str(folder), "PYTHONPATH": TESTS,
           "NUMBA_NUM_THREADS": "1"}
    children = [subprocess.Popen([sys.executable, "-c", _SOFTMAX_CHILD], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(4)]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, out + err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["out"] == reports[0]["out"] and r["warnings"] == [] for r in reports)
    assert_sealed(folder)
    fifth = run_child(_SOFTMAX_CHILD, folder, tmp_path)
    assert fifth == {**reports[0], "hits": 2, "misses": 0}


def test_a_warm_cache_is_sealed_once_and_not_rewritten(cache):
    run_softmax()
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert run_softmax()[1:] == (2, 0, [])
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == before


def test_a_child_forked_while_a_thread_holds_the_locks_gets_its_own(cache):
    """A thread holds the cache's file lock and the loader's lock when the process forks:
    the child must take both (once the parent lets go) instead of waiting forever on
    copies nobody will release (an flock'd descriptor, a held threading.Lock)."""
    run_softmax()
    pycache = str(cache / "__pycache__")
    holding, release = threading.Event(), threading.Event()

    def hold():
        with kernels._LOCK, kernel_cache.locked(pycache, exclusive=True):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(30)
    pid = os.fork()
    if pid == 0:              # the child: exit 0 once it has both; SIGALRM ends a hang
        try:
            signal.alarm(20)
            with kernel_cache.locked(pycache, exclusive=True):
                kernels.clear_memo()
            os._exit(0)
        finally:
            os._exit(1)
    release.set()
    thread.join()
    status = os.waitpid(pid, 0)[1]
    assert os.waitstatus_to_exitcode(status) == 0, "the child waited on a lock held at the fork"
    assert run_softmax()[1:] == (2, 0, [])              # the parent loads as before


# --- numba_cuda ---------------------------------------------------------------------------

_CUDA_CHILD = """
import json, sys
import numpy as np
from fusegraph.backends import numba_cuda
from fusegraph.backends.numba import load_kernel
from fusegraph.passes import fuse
from helpers.backend_checks import softmax_graph
graph = fuse(softmax_graph())
spec = numba_cuda.generate_kernel(next(op for op in graph.ops if op.kind == "fused").region)
kernel = load_kernel(spec)
cache = getattr(kernel, "_cache", None)
report = {"cache": type(cache).__name__, "path": getattr(cache, "cache_path", None),
          "files": type(getattr(cache, "_cache_file", None)).__name__}
if sys.argv[1] == "run":                         # the simulator: the backend runs
    exe = numba_cuda.compile(graph)
    x = np.linspace(-2, 2, 20, dtype=np.float32).reshape(4, 5)
    report["out"] = [o.tolist() for o in exe(x, np.linspace(0, 1, 5, dtype=np.float32))]
print(json.dumps(report))
"""


def test_numba_cuda_kernels_get_the_verified_cache_and_the_simulator_still_runs(tmp_path):
    folder = tmp_path / "cache"
    env = {**os.environ, "FUSEGRAPH_CACHE_DIR": str(folder), "PYTHONPATH": TESTS}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env.pop("FUSEGRAPH_CUDA_REAL", None)
    reports = {}
    for mode_, extra in (("real", {}), ("run", {"NUMBA_ENABLE_CUDASIM": "1"})):
        run = subprocess.run([sys.executable, "-c", _CUDA_CHILD, mode_], cwd=tmp_path,
                             env={**env, **extra}, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        reports[mode_] = json.loads(run.stdout.strip().splitlines()[-1])
    # Without the simulator numba.cuda builds a CUDADispatcher (no GPU needed until a
    # compile): its disk cache is the verified one, in the private folder.
    assert reports["real"] == {"cache": "VerifiedCUDACache",
                               "path": str(folder / "__pycache__"),
                               "files": "SealedIndexDataCacheFile"}
    # The simulator's kernels have no disk cache; the backend runs as before.
    assert reports["run"]["cache"] == "NoneType"
    want = reference(softmax_graph())(*ARRAYS)
    assert_same([np.asarray(o, np.float32) for o in reports["run"]["out"]], want, 2e-6, 1e-6)
    assert mode(folder) == mode(folder / "__pycache__") == 0o700
