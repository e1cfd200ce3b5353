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
the layer, the user's ``file:line`` and the op (see :func:`_error`).
"""
from __future__ import annotations

import numpy as np

from ..ir import DType, Sym, as_dtype, emit
from ..ir.builder import user_location
from ..ir.errors import ShapeError
from ..ir.types import promote, symbolic_size
from .checks import cast_in_range
from .tensor import CallRecord, SymbolicTensor, is_symbolic
from .variables import Variable


# --- errors -----------------------------------------------------------------------
def _error(kind, message: str, error=ShapeError) -> Exception:
    """``error`` prefixed like emit's errors: ``layer 'dense' at model.py:12: reshape: ...``
    (the layer only inside one; ``kind`` may be None)."""
    loc = user_location()
    where = " ".join(part for part in (f"layer '{loc.layer}'" if loc.layer else "",
                                        f"at {loc.file}:{loc.line}" if loc.file else "") if part)
    return error(f"{where or 'fg.ops'}: " + (f"{kind}: " if kind else "") + message)


# --- conversion -------------------------------------------------------------------
def _wrap(value, inputs) -> SymbolicTensor:
    return SymbolicTensor(value, CallRecord(None, tuple(t for t in inputs if is_symbolic(t))))


def convert_to_tensor(x, dtype=None) -> SymbolicTensor:
    """A symbolic tensor for ``x``: tensors pass through (cast if ``dtype`` differs);
    numbers and arrays become constants (integers default to int32). A number that does
    not fit an integer dtype is a ValueError at the user's line, not wrapped around;
    anything else (None, strings) a TypeError there."""
    if isinstance(x, Variable):
        x = x.read_value()
    if is_symbolic(x):
        return x if dtype is None or as_dtype(dtype) == x.type.dtype else cast(x, dtype)
    try:
        array = np.asarray(x)
    except ValueError:   # a ragged nested list
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":
        raise _error(None, f"expected a tensor, a number or an array of numbers, got "
                           f"{x!r:.60} ({type(x).__name__})", TypeError)
    if dtype is None:
        dtype = as_dtype("float32" if array.dtype.kind == "f" else
                         "bool" if array.dtype.kind == "b" else "int32")
    dtype = as_dtype(dtype)
    try:
        value = cast_in_range(array, dtype.numpy, f"a constant of dtype {dtype.keras_name}")
    except ValueError as error:
        fix = "cast the tensor to int64 first, or use a float" if dtype == DType.i32 \
            else "use a float"
        raise _error(None, f"{error} ({fix})", ValueError) from None
    value = value.tolist()
    return _wrap(emit("constant", value=value, dtype=dtype), ())


def _python_scalar_dtype(x, other: DType) -> DType:
    if isinstance(x, bool):
        return DType.bool
    if isinstance(x, int):
        return other if other != DType.bool else DType.i32
    return other if other.is_float else DType.f32


def _coerce_pair(a, b):
    """Two symbolic tensors of one dtype (Keras's weak typing for Python numbers)."""
    a, b = (convert_to_tensor(t) if isinstance(t, Variable) else t for t in (a, b))
    if not is_symbolic(a) and not is_symbolic(b):
        a = convert_to_tensor(a)
    if not is_symbolic(a):
        a = convert_to_tensor(a, _weak_dtype(a, b.type.dtype))
    if not is_symbolic(b):
        b = convert_to_tensor(b, _weak_dtype(b, a.type.dtype))
    if a.type.dtype != b.type.dtype:
        dtype = result_dtype(a.type.dtype, b.type.dtype)
        a, b = cast(a, dtype), cast(b, dtype)
    return a, b


def result_dtype(a: DType, b: DType) -> DType:
    """Keras's promotion of two tensor dtypes: an int or bool with a float gives that float
    (int32 + float32 -> float32); otherwise numpy's rule (f32 + f64 -> f64)."""
    if a.is_float != b.is_float:
        return a if a.is_float else b
    return promote(a, b)


def _weak_dtype(x, other: DType) -> DType:
    """The dtype of a constant ``x`` meeting a tensor of dtype ``other``: Python numbers
    are weak (see :func:`_python_scalar_dtype`), float arrays take a float ``other``;
    int and bool arrays keep theirs (uint32/uint64 as int64, narrower ints as int32).
    Anything else is left to :func:`convert_to_tensor` to refuse."""
    if isinstance(x, (bool, int, float)):
        return _python_scalar_dtype(x, other)
    dtype = np.asarray(x).dtype
    if dtype.kind == "f":
        return other if other.is_float else DType.f32
    if dtype.kind == "b":
        return DType.bool
    if dtype.kind in "iu":
        return DType.i64 if dtype.itemsize == 8 or dtype == np.uint32 else DType.i32
    return other


def _unary(kind, x):
    x = convert_to_tensor(x)
    return _wrap(emit(kind, x.value), (x,))


def _binary(kind, a, b):
    a, b = _coerce_pair(a, b)
    return _wrap(emit(kind, a.value, b.value), (a, b))


def _float(x):
    x = convert_to_tensor(x)
    return x if x.type.dtype.is_float else cast(x, "float32")


# --- elementwise --------------------------------------------------------------------
def add(x1, x2): return _binary("add", x1, x2)
def subtract(x1, x2): return _binary("sub", x1, x2)
def multiply(x1, x2): return _binary("mul", x1, x2)
def maximum(x1, x2): return _binary("maximum", x1, x2)
def minimum(x1, x2): return _binary("minimum", x1, x2)
def equal(x1, x2): return _binary("eq", x1, x2)
def not_equal(x1, x2): return _binary("ne", x1, x2)
def less(x1, x2): return _binary("lt", x1, x2)
def less_equal(x1, x2): return _binary("le", x1, x2)
def greater(x1, x2): return _binary("gt", x1, x2)
def greater_equal(x1, x2): return _binary("ge", x1, x2)
def logical_and(x1, x2): return _binary("logical_and", cast(x1, "bool"), cast(x2, "bool"))
def logical_or(x1, x2): return _binary("logical_or", cast(x1, "bool"), cast(x2, "bool"))
def logical_not(x): return _unary("logical_not", cast(x, "bool"))


def divide(x1, x2):
    """True division; integer operands give float32."""
    a, b = _coerce_pair(x1, x2)
    return _binary("div", _float(a), _float(b))


def power(x1, x2):
    a, b = _coerce_pair(x1, x2)
    return _binary("pow", _float(a), _float(b))


def negative(x): return _unary("neg", x)
def abs(x): return _unary("abs", x)  # noqa: A001  (keras.ops name)
def sign(x): return _unary("sign", x)
def exp(x): return _unary("exp", _float(x))
def log(x): return _unary("log", _float(x))
def sqrt(x): return _unary("sqrt", _float(x))
def rsqrt(x): return _unary("rsqrt", _float(x))
def tanh(x): return _unary("tanh", _float(x))
def sigmoid(x): return _unary("sigmoid", _float(x))
def erf(x): return _unary("erf", _float(x))
def sin(x): return _unary("sin", _float(x))
def cos(x): return _unary("cos", _float(x))
def floor(x): return _unary("floor", _float(x))
def square(x): return multiply(x, x)


def log1p(x):
    """log(1 + x), accurate for tiny x: with u = 1 + x rounded, log(u) * x / (u - 1) cancels
    the rounding of u (Goldberg's identity); u == 1 gives x. (A simplification pass must not
    fold (1 + x) - 1 into x.)"""
    x = _float(x)
    u = add(x, 1.0)
    d = subtract(u, 1.0)
    exact = equal(d, 0.0)
    return where(exact, x, divide(multiply(x, log(u)), where(exact, 1.0, d)))


def reciprocal(x): return divide(1.0, x)


def clip(x, x_min, x_max):
    return minimum(maximum(x, x_min), x_max)


def where(condition, x1, x2):
    cond = cast(condition, "bool")
    a, b = _coerce_pair(x1, x2)
    return _wrap(emit("where", cond.value, a.value, b.value), (cond, a, b))


def cast(x, dtype):
    x = convert_to_tensor(x)
    dtype = as_dtype(dtype)
    if x.type.dtype == dtype:
        return x
    return _wrap(emit("cast", x.value, dtype=dtype), (x,))


def full(shape, fill_value, dtype="float32"):
    """A tensor of ``shape`` (an int, or a tuple of ints and symbols from ``fg.ops.shape``)
    filled with a number."""
    shape = (shape,) if isinstance(shape, (int, np.integer, Sym)) else tuple(shape)
    return broadcast_to(convert_to_tensor(fill_value, dtype), shape)


def zeros(shape, dtype="float32"):
    return full(shape, 0, dtype)


def ones(shape, dtype="float32"):
    return full(shape, 1, dtype)


def full_like(x, fill_value, dtype=None):
    x = convert_to_tensor(x)
    return full(x.type.shape, fill_value, dtype or x.type.dtype)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)


def shape(x) -> tuple:
    """The static shape: ints, and dimension symbols (such as the batch ``B``) where the
    size is known only at run time; pass it on to ``reshape``, ``broadcast_to`` or
    ``fg.random`` functions."""
    return convert_to_tensor(x).type.shape


def dim_size(x, axis: int = 0, dtype="float32"):
    """The size of axis ``axis`` of ``x`` as a scalar tensor of ``dtype``, read from its
    shape when the graph runs, so a symbolic axis (the batch ``B``) is counted too. Not
    in ``fg.ops`` (Keras has no such op): the running means and losses count with it."""
    x = convert_to_tensor(x)
    (axis,) = normalize_axes(int(axis), x.ndim, op="dim_size")
    return _wrap(emit("dim_size", x.value, axis=axis, dtype=as_dtype(dtype)), (x,))


def stop_gradient(x):
    return _unary("stop_gradient", x)


# --- reductions -----------------------------------------------------------------------
def normalize_axes(axis, rank: int, what: str = "axis", op=None) -> tuple:
    """``None`` -> all axes; an int or sequence -> sorted, non-negative, checked. Errors
    name ``op`` (the function the user called) and the user's line."""
    if axis is None:
        return tuple(range(rank))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise _error(op, f"{what} must be an int, a tuple of ints or None, got {axis!r}", TypeError)
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise _error(op, f"{what} {a} is out of range for a tensor of rank {rank}: "
                             f"expected an int in [{-rank}, {rank})")
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise _error(op, f"{what} {axis} repeats an axis (rank {rank})")
    return tuple(sorted(out))


def _reduce(kind, x, axis, keepdims):
    x = convert_to_tensor(x)
    axes = normalize_axes(axis, x.ndim, op=kind)
    return _wrap(emit(kind, x.value, axes=axes, keepdims=keepdims), (x,))


def sum(x, axis=None, keepdims=False): return _reduce("reduce_sum", x, axis, keepdims)  # noqa: A001
def max(x, axis=None, keepdims=False): return _reduce("reduce_max", x, axis, keepdims)  # noqa: A001
def min(x, axis=None, keepdims=False): return _reduce("reduce_min", x, axis, keepdims)  # noqa: A001
def mean(x, axis=None, keepdims=False): return _reduce("reduce_mean", _float(x), axis, keepdims)


def _flat(kind, x):
    """``x`` as one axis (for axis=None), which needs every dimension known."""
    if x.type.symbols:
        raise _error(kind, f"axis=None flattens the tensor, but {x.type} has dims of unknown "
                           f"size {list(map(str, x.type.symbols))}; pass an axis")
    return reshape(x, (-1,))


def _arg(kind, x, axis, keepdims):
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = _flat(kind, x), 0
    if not isinstance(axis, (int, np.integer)):
        raise _error(kind, f"axis must be an int or None, got {axis!r}", TypeError)
    (axis,) = normalize_axes(axis, x.ndim, op=kind)
    return _wrap(emit(kind, x.value, axis=axis, keepdims=keepdims), (x,))


def argmax(x, axis=None, keepdims=False): return _arg("argmax", x, axis, keepdims)
def argmin(x, axis=None, keepdims=False): return _arg("argmin", x, axis, keepdims)


# --- contraction ----------------------------------------------------------------------
def matmul(x1, x2):
    """numpy matmul; a rank-1 operand is treated as a row (left) or column (right)."""
    a, b = _coerce_pair(x1, x2)
    squeeze = []
    if a.ndim == 1:
        a = expand_dims(a, 0)
        squeeze.append(-2)
    if b.ndim == 1:
        b = expand_dims(b, 1)
        squeeze.append(-1)
    out = _wrap(emit("matmul", a.value, b.value), (a, b))
    return squeeze_axes(out, squeeze) if squeeze else out


dot = matmul


# --- movement -------------------------------------------------------------------------
def reshape(x, newshape):
    """Reshape; a -1 stands for the one inferred size, which may be the batch dim."""
    x = convert_to_tensor(x)
    target = tuple(-1 if d is None else d for d in ((newshape,) if isinstance(newshape, int) else newshape))
    if target == x.type.shape:
        return x
    target = _place_symbols(x, target)
    return _wrap(emit("reshape", x.value, shape=target), (x,))


def _place_symbols(x, target):
    """Put the input's dimension symbols into a user's -1 (Keras code writes
    ``reshape(x, (-1, 4, 8))`` meaning "the batch dim")."""
    if -1 not in target or not x.type.symbols:
        return target
    n_in, syms = symbolic_size(x.type.shape)
    n_out, _ = symbolic_size(tuple(d for d in target if d != -1))
    if len(syms) == 1 and n_out == n_in:
        return tuple(Sym(syms[0]) if d == -1 else d for d in target)
    if n_out and n_in % n_out == 0 and len(syms) == 0:
        return target
    if len(syms) == 1:
        raise _error("reshape", f"cannot reshape {x.type} to {newshape_str(target)}: the -1 "
                                f"stands for the unknown dim {syms[0]}, so the other sizes must "
                                f"multiply to {n_in} (the size of {x.type} per {syms[0]}), "
                                f"got {n_out}")
    raise _error("reshape", f"cannot reshape {x.type} to {newshape_str(target)}: a -1 can stand "
                            f"for one unknown dim only, and {x.type} has {list(syms)}; keep "
                            f"each as its own axis")


def newshape_str(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def expand_dims(x, axis):
    x = convert_to_tensor(x)
    rank = x.ndim + 1
    if not isinstance(axis, (int, np.integer)) or not -rank <= axis < rank:
        raise _error("expand_dims", f"axis {axis!r} is out of range for {x.type}: expected an "
                                    f"int in [{-rank}, {rank})")
    shape = list(x.type.shape)
    shape.insert(axis % rank, 1)
    return _wrap(emit("reshape", x.value, shape=tuple(shape)), (x,))


def squeeze_axes(x, axes):
    axes = normalize_axes(tuple(axes), x.ndim, op="squeeze")
    for a in axes:
        if x.type.shape[a] != 1:
            raise _error("squeeze", f"cannot squeeze axis {a} of {x.type}: expected size 1, "
                                    f"its size is {x.type.shape[a]}")
    shape = tuple(d for i, d in enumerate(x.type.shape) if i not in axes)
    return _wrap(emit("reshape", x.value, shape=shape), (x,))


def squeeze(x, axis=None):
    x = convert_to_tensor(x)
    if axis is None:
        axis = [i for i, d in enumerate(x.type.shape) if d == 1]
    return squeeze_axes(x, (axis,) if isinstance(axis, int) else axis)


def transpose(x, axes=None):
    x = convert_to_tensor(x)
    if axes is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        normalize_axes(axes, x.ndim, op="transpose")  # ints, in range, no repeats
        perm = tuple(int(a) % x.ndim for a in axes)
        if len(perm) != x.ndim:
            raise _error("transpose", f"axes {tuple(axes)} must list each of the {x.ndim} axes "
                                      f"of {x.type} once")
    return _wrap(emit("transpose", x.value, perm=perm), (x,))


def broadcast_to(x, shape):
    x = convert_to_tensor(x)
    return _wrap(emit("broadcast_to", x.value, shape=tuple(shape)), (x,))


def concatenate(xs, axis=0):
    xs = [convert_to_tensor(t) for t in xs]
    if not xs:
        raise _error("concatenate", "expected a non-empty list of tensors, got none", ValueError)
    dtype = xs[0].type.dtype
    for t in xs[1:]:
        dtype = result_dtype(dtype, t.type.dtype)
    xs = [cast(t, dtype) for t in xs]
    (axis,) = normalize_axes(axis, xs[0].ndim, op="concatenate")
    return _wrap(emit("concatenate", *(t.value for t in xs), axis=axis), xs)


def stack(xs, axis=0):
    xs = [convert_to_tensor(t) for t in xs]
    return concatenate([expand_dims(t, axis) for t in xs], axis=axis)


def take(x, indices, axis=None):
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = _flat("take", x), 0
    (axis,) = normalize_axes(axis, x.ndim, op="take")
    dim = x.type.shape[axis]
    if not is_symbolic(indices) and not isinstance(indices, Variable) and isinstance(dim, int):
        # indices known now: wrap negative ones (numpy's meaning) and check the range
        array = np.asarray(indices)
        if array.dtype.kind in "iu" and array.size:
            if array.min() < -dim or array.max() >= dim:
                raise _error("take", f"indices {array.tolist()} are out of range for axis "
                                     f"{axis} of {x.type}: expected ints in [{-dim}, {dim})",
                             IndexError)
            indices = np.where(array < 0, array + dim, array)
    idx = convert_to_tensor(indices)
    if not idx.type.dtype.is_int:
        idx = cast(idx, "int32")
    return _wrap(emit("take", x.value, idx.value, axis=axis), (x, idx))


def one_hot(x, num_classes, axis=-1, dtype="float32"):
    x = cast(x, "int32") if not convert_to_tensor(x).type.dtype.is_int else convert_to_tensor(x)
    out = _wrap(emit("one_hot", x.value, depth=int(num_classes), dtype=as_dtype(dtype)), (x,))
    if axis in (-1, out.ndim - 1):
        return out
    perm = list(range(out.ndim - 1))
    perm.insert(axis % out.ndim, out.ndim - 1)
    return transpose(out, perm)


def arange(start, stop=None, step=1, dtype=None):
    """numpy's arange; ``dtype`` None gives int32 for int arguments, else float32."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise _error("arange", "step must be nonzero, got 0", ValueError)
    if dtype is None:
        dtype = "int32" if all(isinstance(v, (int, np.integer)) for v in (start, stop, step)) \
            else "float32"
    n = int(np.ceil((stop - start) / step)) if (stop - start) * step > 0 else 0
    ramp = _wrap(emit("iota", shape=(n,), axis=0, dtype=as_dtype(dtype)), ())
    if step != 1:
        ramp = multiply(ramp, step)
    return add(ramp, start) if start else ramp


def iota(shape, axis, dtype="int32"):
    """0, 1, 2, ... along ``axis`` of a tensor of ``shape`` (fusegraph extension)."""
    return _wrap(emit("iota", shape=tuple(shape), axis=axis, dtype=as_dtype(dtype)), ())


def getitem(x, key):
    """``x[key]`` for ints, slices (positive step), ``None``, ``...``, and an int tensor or
    int array alone (a gather along axis 0)."""
    if is_symbolic(key) or isinstance(key, (list, np.ndarray)):
        dtype = key.dtype if is_symbolic(key) else np.asarray(key).dtype.name
        if not dtype.startswith(("int", "uint")):
            raise _error("getitem", f"an index tensor must hold ints, got {dtype} values"
                         + ("; a boolean mask gives a shape that depends on the values: use "
                            "fg.ops.where(mask, x, 0) instead" if dtype == "bool" else ""),
                         IndexError)
        return take(x, key, axis=0)
    key = key if isinstance(key, tuple) else (key,)
    if len([k for k in key if k is Ellipsis]) > 1:
        raise _error("getitem", f"an index can have only one Ellipsis (...), got {key}", IndexError)
    used = len([k for k in key if k is not None and k is not Ellipsis])
    if used > x.ndim:
        raise _error("getitem", f"too many indices for {x.type}: expected at most {x.ndim}, "
                                f"got {used} in {key}", IndexError)
    ellipsis = [i for i, k in enumerate(key) if k is Ellipsis]  # `is`: keys may be arrays
    fill = (slice(None),) * (x.ndim - used)
    key = key[:ellipsis[0]] + fill + key[ellipsis[0] + 1:] if ellipsis else key + fill
    axes, begin, end, stride, out_shape = [], [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        dim = x.type.shape[axis]
        if isinstance(k, (int, np.integer)):
            size = _concrete(dim, axis, x)
            if not -size <= k < size:
                raise _error("getitem", f"index {k} is out of bounds for axis {axis} of {x.type}: "
                                        f"expected an int in [{-size}, {size})", IndexError)
            axes.append(axis); begin.append(int(k) % size); end.append(int(k) % size + 1); stride.append(1)
        elif isinstance(k, slice):
            if k == slice(None) or (isinstance(dim, Sym) and k in (slice(None, None, 1), slice(0, None))):
                out_shape.append(dim)
            else:
                b, e, s = k.indices(_concrete(dim, axis, x))
                if s <= 0:
                    raise _error("getitem", f"negative slice steps are not supported (axis "
                                            f"{axis}: {k}); expected a step > 0", IndexError)
                e = b if e < b else e
                axes.append(axis); begin.append(b); end.append(e); stride.append(s)
                out_shape.append(len(range(b, e, s)))
        else:
            raise _error("getitem", f"unsupported index {k!r} on axis {axis}: expected ints, "
                                    f"slices, None, ... or an int tensor", IndexError)
        axis += 1
    out = x
    if axes:
        out = _wrap(emit("slice", x.value, axes=tuple(axes), begin=tuple(begin), end=tuple(end),
                         stride=tuple(stride)), (x,))
    if tuple(out_shape) != out.type.shape:
        out = _wrap(emit("reshape", out.value, shape=tuple(out_shape)), (out,))
    return out


def _concrete(dim, axis, x) -> int:
    if isinstance(dim, Sym):
        raise _error("getitem", f"cannot index the symbolic dimension {dim} (axis {axis}) of "
                                f"{x.type} with an int or a partial slice: its size is unknown "
                                f"until the model runs; keep the whole axis (:)", IndexError)
    return dim
