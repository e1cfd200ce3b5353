"""The Numba CUDA backend: every ``fused`` op runs as a generated ``numba.cuda`` kernel,
matmuls run on cuBLAS through CuPy when a GPU is there, the other ops run as in the
reference backend, on the host.

* :mod:`.templates`: the shared scalar expression templates
  (:mod:`fusegraph.backends.numba.templates`), with the few entries CUDA spells
  differently overridden by dict-merge;
* :mod:`.codegen`: a fused op's region -> the readable source of one ``@cuda.jit``
  kernel (one thread per element of the non-reduced part of the iteration space, from
  ``cuda.grid(1)``; the reduced axes looped inside the thread);
* :mod:`.device`: ``numba.cuda`` and CuPy, imported lazily (importing this package
  imports neither), the simulator switch, PTX availability;
* :mod:`.executable`: ``compile(graph) -> Executable`` (the reference calling
  convention: numpy in, numpy out) and ``compile_ptx_all(graph)``.

The kernel generator and the kernel step are the shared Numba core's
(:mod:`fusegraph.backends.numba`); kernels are loaded by its loader
(:func:`fusegraph.backends.numba.load_kernel`: the private cache folder, keyed by a hash
of the source, the module compiled from the source it generated), so a second process on
a GPU loads Numba's cached machine code, through the verified cache
(:mod:`fusegraph.backends.numba.kernel_cache`: the
``CUDACache`` Numba attaches to a ``cache=True`` kernel is replaced by its sealed,
checked-before-unpickling subclass). The simulator's kernels have no disk cache.

Without a GPU the backend runs in Numba's CUDA simulator: set ``NUMBA_ENABLE_CUDASIM=1``
before ``numba.cuda`` is first imported in the process (see :mod:`.device`). Use it
through ``fusegraph.backends.optimizing_compiler("numba_cuda")`` or
``model.compile(..., backend="numba_cuda")``, which run :data:`PIPELINE` first, fusion
forming the kernels :data:`CAPABILITY` admits.
"""
from ..reference.interpreter import ExecutionError
from ...ir.binding import InputError

from ...passes import FUSION_PIPELINE

from .codegen import CAPABILITY, CodegenError, CudaKernelSpec, generate_kernel
from .device import ptx_status
from .executable import (CudaUnavailableError, Executable, KernelStep, compile,
                         compile_ptx_all, kernel_signature)

# The passes before this backend: numba_cpu's (no measurement of "scan_fusion" here yet).
PIPELINE = FUSION_PIPELINE

__all__ = ["CAPABILITY", "CodegenError", "CudaKernelSpec", "CudaUnavailableError",
           "ExecutionError", "Executable", "InputError", "KernelStep", "PIPELINE", "compile",
           "compile_ptx_all", "generate_kernel", "kernel_signature", "ptx_status"]
