"""Variables: named, shaped numpy state (weights) that graphs read as parameters."""
from __future__ import annotations

import numpy as np

from ..ir import TensorType, Value, as_dtype
from ..ir.builder import current_layer_path, user_site
from . import state
from .naming import check_name, ir_name, unique_name, unique_path
from .tensor import SymbolicTensor, TraceError, is_symbolic

class _Symbol(Value):
    """A variable's parameter Value. It holds its variable: every graph or tensor that
    reads the variable keeps it alive (a layer made inside another's call is held by
    nothing else once the call returns, yet the model built from the call reads it)."""

    __slots__ = ("variable",)


def variable_of(value: Value) -> "Variable | None":
    """The Variable whose parameter Value is ``value``, if any."""
    return value.variable if isinstance(value, _Symbol) else None


class Variable:
    """A weight. ``symbol`` is the IR parameter Value every graph that reads it uses, so a
    layer called twice shares its weights. ``path`` is unique in the session
    (``dense/kernel``); the parameter's name in printed IR is ``path`` as
    :func:`.naming.ir_name` gives it.

    Constructed as Keras's ``keras.Variable(initializer, shape=None, dtype=None,
    trainable=True, name=None)``: ``initializer`` is an array-like value, or an
    initializer (a name such as ``"zeros"``, or a callable(shape, dtype)) with ``shape``
    given; ``dtype`` defaults to float32; ``name`` (no ``/``, as in Keras) defaults to
    ``variable`` (``variable_1``, ...) and is also the path. Layers, metrics and
    optimizers give the path (``path=``); the older positional form
    ``Variable(value, name, path, trainable=..., dtype=...)`` (a string second argument)
    is that too.

    Operators (``+ - * / ** @``, their reflected forms, unary ``-``, ``+``, ``abs``,
    comparisons, ``[...]``) apply to :meth:`read_value` inside a trace or with a symbolic
    operand (giving a symbolic tensor), else to the numpy value (giving an array);
    ``np.asarray(v)`` is a copy of the value."""

    def __init__(self, initializer, *args, shape=None, dtype=None, trainable=True,
                 name=None, path=None):
        order = (("name", "path", "trainable", "dtype") if args and isinstance(args[0], str)
                 else ("shape", "dtype", "trainable", "name"))   # the older form, or Keras's
        if len(args) > len(order):
            raise TypeError(f"Variable() takes at most {len(order) + 1} positional arguments, "
                            f"got {len(args) + 1}")
        given = {"shape": shape, "dtype": dtype, "trainable": trainable, "name": name,
                 "path": path}
        defaults = {"trainable": True}
        for key, value in zip(order, args):
            if given[key] is not defaults.get(key):
                raise TypeError(f"Variable() got multiple values for argument '{key}'")
            given[key] = value
        shape, dtype, trainable, name, path = (given[k] for k in
                                               ("shape", "dtype", "trainable", "name", "path"))
        if path is None:
            check_name("Variable", name)
            name = name or unique_name("variable")
        self.dtype = as_dtype(dtype or "float32")
        self._value = _initial_value(initializer, shape, self.dtype, name)
        self.version = 0        # counts the values held: every assign and adopt, in place too
        self.regularizer = None  # a penalty of the value, in its layer's ``losses``
        self.constraint = None   # applied to the value after each optimizer update
        self.name = name
        self.path = unique_path(path or name)
        self.trainable = bool(trainable)
        self.symbol = _Symbol(TensorType(self._value.shape, self.dtype), name=ir_name(self.path))
        self.symbol.variable = self
        trace = state.current()
        if trace is not None:
            trace.created.append(self)

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def value(self) -> np.ndarray:
        """The variable's own array (not a copy, unlike :meth:`numpy`): a training step
        may write the new values into it (numba_cpu's donated parameters), as PyTorch's
        optimizers update a parameter's tensor."""
        return self._value

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def read_value(self):
        """The variable as a tensor: in a trace, its latest value assigned there, else its
        parameter; outside any (eager code, :mod:`.eager`), its value now, as an eager
        tensor."""
        from . import eager
        trace = state.current()
        if trace is None and eager.running_eagerly():
            return eager.variable_leaf(self)
        latest = trace.latest(self) if trace is not None else None
        return latest if latest is not None else SymbolicTensor(self.symbol, None, self.path)

    def assign(self, value) -> None:
        """Replace the value. A symbolic value (inside a traced function or step) is
        recorded as an update the runtime applies after the step; an array is applied
        now. The shape must stay the same; it is checked before anything changes.
        Another Variable stands for its value (inside a trace, its latest value there)."""
        if isinstance(value, Variable):
            value = value.read_value() if state.current() is not None else value.value
        if getattr(value, "concrete", False) and state.current() is not None:
            from . import ops
            value = ops.convert_to_tensor(value)      # an eager tensor in a trace: a constant
        if is_symbolic(value):
            self._assign_symbolic(value)
            return
        array = np.asarray(value)
        if array.shape != self._value.shape:
            raise ValueError(f"cannot assign a value of shape {array.shape} to variable "
                             f"'{self.path}' of shape {self._value.shape}")
        if array.dtype.kind not in "biuf":
            raise TypeError(f"variable '{self.path}' ({self.dtype.keras_name}) takes numbers, "
                            f"got an array of dtype {array.dtype}")
        self._value = array.astype(self.dtype.numpy, order="C", copy=True)
        self.version += 1

    def adopt(self, array: np.ndarray) -> None:
        """Take ``array`` as the new value without copying it, when it owns its data, is
        C-contiguous and has the variable's dtype and shape (a step's fresh result); else
        copy as ``assign`` does. The runtime's commit uses this: no per-step copy of every
        weight. Only for an array nobody else holds: a graph run's results are such
        arrays (``TracedGraph.run`` copies a result that is one of the run's arguments —
        the caller's input, another variable's value — or that repeats another result);
        a view is copied here."""
        if array is self._value:        # written in place (a donated parameter)
            self.version += 1
        elif (isinstance(array, np.ndarray) and array.base is None and array.flags.c_contiguous
                and array.dtype == self.dtype.numpy and array.shape == self._value.shape):
            self._value = array
            self.version += 1
        else:
            self.assign(array)

    def _assign_symbolic(self, tensor) -> None:
        trace = state.current()
        if trace is None or not trace.accepts(self):
            layer = current_layer_path()
            where = (f" (in layer '{layer}', whose call is traced to build a model: only "
                     f"its own weights' updates become part of the model's step; this "
                     f"variable's would have no step to happen in)" if layer else "")
            raise TraceError(f"{user_site()}: variable '{self.path}' was assigned a symbolic "
                             f"value outside a traced step{where}; assign inside fg.function "
                             f"or train_step, or assign a numpy array")
        if tensor.type.shape != self.symbol.type.shape:
            raise ValueError(f"{user_site()}: cannot assign a value of shape {tensor.shape} to "
                             f"variable '{self.path}' of shape {self.shape}")
        from . import ops
        trace.assign(self, ops.cast(tensor, self.dtype))

    def assign_add(self, delta) -> None:
        self._update(delta, "add")

    def assign_sub(self, delta) -> None:
        self._update(delta, "subtract")

    def _update(self, delta, how: str) -> None:
        """Inside a trace (or with a symbolic delta) an op and a recorded update, as
        ``assign``; outside one, numpy now (an add needs no compiled graph)."""
        from . import ops
        from .dispatch import traced_call
        if traced_call(delta):
            self.assign(getattr(ops, how)(self.read_value(), delta))
        else:
            self.assign(getattr(np, how)(self._value, np.asarray(delta, self.dtype.numpy)))

    # --- operators: on read_value() in a trace, else on the numpy value ----------------
    def _operand(self, other=None):
        """What an operator applies to: the symbolic value inside a trace (or next to a
        symbolic ``other``); its eager tensor next to an eager ``other`` or while a tape
        records (:mod:`.eager`); else the numpy value."""
        from . import eager
        from .dispatch import tracing
        if (tracing() or is_symbolic(other) or eager.is_eager(other)
                or (eager.recording_tapes() and eager.running_eagerly())):
            return self.read_value()
        view = self._value.view()        # results may be views of it: never written through
        view.flags.writeable = False
        return view

    def __array__(self, dtype=None, copy=None):
        return np.array(self._value, dtype=dtype, copy=True)

    def __getitem__(self, key):
        return self._operand()[key]

    def __iter__(self):       # not the __getitem__ protocol: a symbolic value refuses it
        return iter(self._operand())

    def __neg__(self):
        return -self._operand()

    def __pos__(self):
        return self._operand()

    def __abs__(self):
        return abs(self._operand())

    __hash__ = object.__hash__   # by identity, as before the comparisons below
    __array_ufunc__ = None       # ``np.float32(2) * v`` defers to ``v.__rmul__`` (traced)

    def __repr__(self) -> str:
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype.keras_name}>"


def _initial_value(initializer, shape, dtype, name) -> np.ndarray:
    """The first value of variable ``name``: ``initializer(shape, dtype)`` for an
    initializer (a name or a callable; ``shape`` required), else the array-like
    ``initializer`` itself (its shape must equal ``shape`` when that is given)."""
    from . import initializers
    if isinstance(initializer, str) or callable(initializer):
        if shape is None:
            raise ValueError(f"variable '{name}': an initializer ({initializer!r}) needs "
                             f"`shape`")
        value = initializers.get(initializer)(check_shape(f"variable '{name}'", shape),
                                              dtype.keras_name)
    else:
        value = initializer
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"variable '{name}': the initial value must be numbers, got an array "
                        f"of dtype {array.dtype}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"variable '{name}': `shape` is {tuple(shape)} but the initial "
                         f"value has shape {array.shape}")
    return np.array(array, dtype=dtype.numpy, order="C")


def check_shape(owner: str, shape) -> tuple:
    """``shape`` as a tuple of Python ints >= 0 (numpy ints taken as ints), else a
    ValueError naming ``owner``."""
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else None
    if dims is None or any(isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer))
                           or d < 0 for d in dims):
        raise ValueError(f"{owner}: `shape` must be a tuple of ints >= 0, got {shape!r}")
    return tuple(int(d) for d in dims)


def _binary(name: str):
    def method(self, other):
        if isinstance(other, Variable):
            other = other._operand()
        return getattr(self._operand(other), name)(other)
    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "pow", "matmul", "lt", "le", "gt", "ge",
              "eq", "ne"):
    setattr(Variable, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("add", "sub", "mul", "truediv", "pow", "matmul"):
    setattr(Variable, f"__r{_name}__", _binary(f"__r{_name}__"))
