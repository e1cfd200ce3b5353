"""fusegraph: a compiler for Keras-style models.

    import fusegraph as fg
    inputs = fg.Input(shape=(3,))
    outputs = fg.layers.Dense(5, activation="softmax")(inputs)
    model = fg.Model(inputs, outputs)
    print(model.ir())
"""
from .ir.builder import register_internal_dir

register_internal_dir(__file__)

from . import ir, layers, ops, utils  # noqa: E402
from .backends import get_backend  # noqa: E402
from .frontend import execution as _execution  # noqa: E402
from .frontend.input_layer import Input  # noqa: E402
from .frontend.tensor import SymbolicTensor, TraceError  # noqa: E402
from .frontend.variables import Variable  # noqa: E402
from .models import Model, Sequential  # noqa: E402

_execution.set_compiler(get_backend("reference"))

__version__ = "0.1.0"
__all__ = ["Input", "Model", "Sequential", "SymbolicTensor", "TraceError", "Variable", "ir",
           "layers", "ops", "utils"]
