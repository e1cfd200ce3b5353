"""fusegraph: a compiler for Keras-style models.

    import fusegraph as fg
    inputs = fg.Input(shape=(3,))
    outputs = fg.layers.Dense(5, activation="softmax")(inputs)
    model = fg.Model(inputs, outputs)
    print(model.ir())
"""
from .ir.builder import register_internal_dir

register_internal_dir(__file__)

from .backends import threads as _threads  # noqa: E402

_threads.quiet_idle_workers()   # before Numba can start its OpenMP pool

from . import (callbacks, config, constraints, data, distribute, initializers, ir, layers,  # noqa: E402
               losses, metrics, models, ops, optimizers, random, regularizers, saving, utils)
from .backends import optimizing_compiler  # noqa: E402
from .backends.reference.interpreter import run_single as _reference_op  # noqa: E402
from .frontend import execution as _execution  # noqa: E402
from .frontend.function import function  # noqa: E402
from .frontend.input_layer import Input  # noqa: E402
from .frontend.tape import GradientTape  # noqa: E402
from .frontend.eager import EagerTensor  # noqa: E402
from .frontend.tensor import SymbolicTensor, TraceError  # noqa: E402
from .frontend.variables import Variable  # noqa: E402
from .models import Model, Sequential  # noqa: E402

_execution.set_compiler(optimizing_compiler("reference"))
_execution.set_op_runner(_reference_op)

__version__ = "0.1.0"
__all__ = ["EagerTensor", "GradientTape", "Input", "Model", "Sequential", "SymbolicTensor", "TraceError",
           "Variable", "callbacks", "config", "constraints", "data", "distribute", "function", "initializers", "ir", "layers", "losses", "metrics", "models", "ops",
           "optimizers", "random", "regularizers", "saving", "utils"]
