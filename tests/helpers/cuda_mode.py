"""Where CUDA tests run: in Numba's CUDA simulator (the default, no GPU needed) or, with
``FUSEGRAPH_CUDA_REAL=1``, on a real GPU.

The simulator switch must be set before numba.cuda is first imported (it picks the
simulator or the driver once, at its import): a test module calls :func:`use_simulator`
at its own import, before anything that could import numba.cuda, and
:func:`skip_unless_cuda_runs` in each CUDA test.
"""
import os

import pytest

REAL_GPU = os.environ.get("FUSEGRAPH_CUDA_REAL") == "1"


def use_simulator() -> None:
    """Turn on Numba's CUDA simulator unless ``FUSEGRAPH_CUDA_REAL=1``."""
    if not REAL_GPU:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"


def skip_unless_cuda_runs() -> None:
    """Skip the calling test, with the reason, where the CUDA backend cannot run here."""
    from fusegraph.backends.numba_cuda import device

    if REAL_GPU and not device.gpu_available():
        pytest.skip("FUSEGRAPH_CUDA_REAL=1 but numba.cuda finds no GPU")
    if not REAL_GPU and not device.is_simulator():
        pytest.skip("numba.cuda was imported without the simulator before this module set "
                    "NUMBA_ENABLE_CUDASIM=1 (it must be set before numba.cuda loads)")
