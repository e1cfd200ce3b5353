"""The CUDA runtime pieces, imported lazily: ``numba.cuda`` and CuPy are imported on the
first call that needs them (a compile on this backend, a PTX compile), never when
fusegraph or this package is imported, so CPU users pay nothing.

**The simulator.** Numba's CUDA simulator runs kernels as Python on the CPU, with no GPU
and no CUDA toolkit. ``numba.cuda`` decides between the simulator and the real driver
once, when it is first imported, from ``NUMBA_ENABLE_CUDASIM``: set
``NUMBA_ENABLE_CUDASIM=1`` in the environment **before numba.cuda is first imported**
(before the first use of this backend in the process, since :func:`cuda_module` is what
imports it). Numba itself may already have been imported (by numba_cpu, say): Numba
reads its configuration at its own import, so :func:`cuda_module` refreshes it
(``numba.core.config.reload_config()``, which Numba's own compiler calls before every
compile anyway) just before importing ``numba.cuda``. Once ``numba.cuda`` is loaded its
mode is fixed for the process.

The simulator lacks the compiler: in a simulator process ``numba.cuda.compile_ptx`` is
None (it swaps in a stub of ``numba.cuda.compiler``), so PTX is compiled in a process
without the simulator (see :func:`ptx_status`).
"""
from __future__ import annotations

import os
import sys

_CUDA = None
_CUPY: list = []          # [module or None, reason] once looked up

# The architecture PTX is compiled for when no GPU is present: compute capability 7.5
# (Turing) is the oldest CUDA 13 still targets and every CUDA 12 supports, and PTX runs
# on every newer GPU (the driver compiles it for the GPU it loads on). Numba's own
# default (5.0) is refused by CUDA 13's NVVM.
DEFAULT_PTX_CC = (7, 5)


def cuda_module():
    """``numba.cuda``, imported on the first call (see the module docstring)."""
    global _CUDA
    if _CUDA is None:
        if "numba.cuda" not in sys.modules:
            try:
                from numba.core import config
                config.reload_config()
            except Exception:   # an out-of-tree numba.cuda reads the environment itself
                pass
        from numba import cuda
        _CUDA = cuda
    return _CUDA


def is_simulator() -> bool:
    """Whether the loaded ``numba.cuda`` is Numba's CUDA simulator."""
    return "simulator" in getattr(cuda_module().to_device, "__module__", "")


def gpu_available() -> bool:
    """A real NVIDIA GPU with a working driver (never in the simulator)."""
    cuda = cuda_module()
    if is_simulator():
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def device_name() -> str:
    """What kernels run on, in words."""
    if is_simulator():
        return "Numba CUDA simulator (CPU)"
    if not gpu_available():
        return "no GPU"
    dev = cuda_module().get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return f"{name} (compute capability {dev.compute_capability[0]}.{dev.compute_capability[1]})"


def cupy_module():
    """``(cupy, "")`` when CuPy imports and sees a GPU, else ``(None, reason)``. Never
    imported in the simulator. ``FUSEGRAPH_CUDA_MATMUL=host`` turns it off (matmuls
    then run on the host), to compare the two paths."""
    if os.environ.get("FUSEGRAPH_CUDA_MATMUL", "").lower() == "host":
        return None, "FUSEGRAPH_CUDA_MATMUL=host"
    if not _CUPY:
        if not gpu_available():
            _CUPY[:] = [None, "no GPU (or the simulator)"]
        else:
            try:
                import cupy
                if cupy.cuda.runtime.getDeviceCount() < 1:
                    raise RuntimeError("CuPy sees no GPU")
                _CUPY[:] = [cupy, ""]
            except Exception as e:
                _CUPY[:] = [None, f"CuPy unavailable: {type(e).__name__}: {e}"]
    return _CUPY[0], _CUPY[1]


def ptx_cc() -> tuple[int, int]:
    """The compute capability to compile PTX for without a GPU: ``FUSEGRAPH_CUDA_PTX_CC``
    (``"9.0"``) if set, else :data:`DEFAULT_PTX_CC`."""
    value = os.environ.get("FUSEGRAPH_CUDA_PTX_CC")
    if not value:
        return DEFAULT_PTX_CC
    major, _, minor = value.partition(".")
    return int(major), int(minor or 0)


_PTX_STATUS: list = []


def ptx_status() -> tuple[bool, str]:
    """``(True, what compiles it)`` when this process can compile kernels to PTX (NVVM
    and libdevice found: a CUDA toolkit, or NVIDIA's pip wheels, no GPU needed), else
    ``(False, why not)``. Compiles a one-line kernel once to find out."""
    if _PTX_STATUS:
        return _PTX_STATUS[0]
    try:
        cuda = cuda_module()
        if is_simulator() or getattr(cuda, "compile_ptx", None) is None:
            result = (False, "this process loaded Numba's CUDA simulator "
                             "(NUMBA_ENABLE_CUDASIM=1), which has no compile_ptx; "
                             "compile PTX in a process without it")
        else:
            from numba import types

            def probe(a):
                i = cuda.grid(1)
                if i < a.shape[0]:
                    a[i] = a[i] + 1

            sig = (types.Array(types.float32, 1, "C"),)
            if gpu_available():
                cuda.compile_ptx_for_current_device(probe, sig)
                where = f"for the current device, {device_name()}"
            else:
                cc = ptx_cc()
                cuda.compile_ptx(probe, sig, cc=cc)
                where = f"for compute capability {cc[0]}.{cc[1]} (no GPU)"
            result = (True, f"numba {_numba_version()} compiles PTX {where}")
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        result = (False, f"cannot compile PTX here: {type(e).__name__}: {first}")
    _PTX_STATUS.append(result)
    return result


def _numba_version() -> str:
    import numba
    return numba.__version__
