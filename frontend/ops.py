"""``fg.ops``: keras.ops-named functions on symbolic tensors; each call emits IR ops.

Every function takes symbolic tensors, Python numbers or numpy arrays (which become
``constant`` ops) and returns a :class:`SymbolicTensor`. Dtypes follow Keras: a Python
number takes the tensor's dtype (a float with an int tensor gives float32), two tensors
of different dtypes promote as Keras does (an int or bool with a float gives that float,
so int32 + float32 is float32, not numpy's float64; otherwise numpy's rule), and ``/`` of
ints gives float32. Axis arguments accept negative values and ``None`` (all axes).
Higher-level functions (activations, softmax, normalization) live in :mod:`.nn` and are
compositions of these.

Errors raised here, before an op is emitted, say where as :func:`~fusegraph.ir.emit` does:
the layer, the user's ``file:line`` and the op (see :func:`.ops_coerce._error`).

The functions live by kind, each module with its own contract: :mod:`.ops_coerce`
(conversion of Python values, dtype promotion, axis normalization), :mod:`.ops_math`
(elementwise, reductions, matmul), :mod:`.ops_shape` (shape and movement, indexing) and
:mod:`.ops_create` (constructors); this module gathers them under the keras.ops names.
"""
from .ops_coerce import cast, convert_to_tensor, normalize_axes, result_dtype  # noqa: F401
from .ops_create import (  # noqa: F401
    arange, full, full_like, iota, ones, ones_like, zeros, zeros_like)
from .ops_math import (  # noqa: F401
    abs, add, all, any, argmax, argmin, clip, cos, divide, dot, equal, erf, exp, floor, greater,
    greater_equal, less, less_equal, log, log1p, logical_and, logical_not, logical_or, matmul,
    max, maximum, mean, min, minimum, multiply, negative, not_equal, power, reciprocal, rsqrt,
    sigmoid, sign, sin, sqrt, square, stop_gradient, subtract, sum, tanh, where)
from .ops_shape import (  # noqa: F401
    broadcast_to, concatenate, dim_size, expand_dims, getitem, one_hot, reshape,
    shape, squeeze, squeeze_axes, stack, take, transpose)
