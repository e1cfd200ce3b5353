"""Eager or traced: the one rule for frontend code that runs both inside a trace and on
numpy arrays outside one.

Losses, metrics, random draws, optimizer updates and ``Variable.assign_add`` are written
once, with ``fg.ops`` on symbolic tensors. Inside a trace they emit ops into it; called
outside one with concrete arguments, the same code runs eagerly: traced into a
:class:`~.function.Function` cached on its owner, compiled, run, and the variables it
assigned written back (so the numbers are the same either way).

* :func:`tracing` — is the caller inside a trace?
* :func:`traced_call` — does a call with these data arguments run symbolically?
* :func:`eager_argument` — a data argument as the eager path passes it (an array).
* :func:`eager_or_traced` — the decorator: direct inside a trace, a cached Function out
  of one. :func:`eager_functions` and :func:`clear_eager_functions` reach its cache.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..ir import Sym
from ..ir.builder import current_layer_path
from . import eager, state
from .function import Function
from .nest import flatten, labelled_leaves, map_structure
from .tensor import is_symbolic
from .variables import Variable

_CACHE = "_fusegraph_eager_functions"


def tracing() -> bool:
    """True inside a trace: while a state trace records variable updates (an
    ``fg.function`` or a train step being traced, an eager layer call), or while a
    layer's call is traced on symbolic inputs (``layer_scope``: building a functional
    model, which has no state trace).

    Both count because in both the Python code runs once to build a graph that runs later,
    maybe many times: what it computes must be ops in that graph, not numbers computed
    now. A random draw made now would repeat at every run; a metric or weight update
    made now would happen once, at build time. So inside a layer's symbolic call such an
    update raises (there is no step to record it in) rather than being applied once;
    only an update of the layer's own weights is kept, on the call's record, for the
    steps of the model built from it (see :mod:`.state`).
    """
    return state.current() is not None or current_layer_path() is not None


def _symbolic(x) -> bool:
    """A leaf that has no value now: a symbolic tensor or a symbolic dim."""
    return is_symbolic(x) or isinstance(x, Sym)


def traced_call(*data) -> bool:
    """True when a call with the data arguments ``data`` runs symbolically: inside a trace
    (:func:`tracing`), or when a leaf of ``data`` is a symbolic tensor, a symbolic dim or
    a Variable (which stands for its symbolic value)."""
    return tracing() or any(_symbolic(x) or isinstance(x, Variable) for x in flatten(list(data)))


def eager_argument(x):
    """A data argument as the eager path passes it to its Function, which takes arrays
    for data and anything else for static values (part of its signature):

    * numpy arrays stay; eager tensors become their arrays; numpy scalars become 0-d
      arrays of their dtype;
    * Python numbers, lists and tuples become ``np.asarray(x)``, with numpy's dtypes
      (``float`` float64, ``int`` int64): exactly what passing that array gives, so one
      trace serves every value;
    * ``bool``, ``None``, strings and other objects stay as they are: a bool is a flag
      (static), None an absent argument.
    """
    if getattr(x, "concrete", False):        # an eager tensor: its value
        return x.numpy()
    if isinstance(x, np.ndarray) or isinstance(x, (bool, str)) or x is None:
        return x
    if isinstance(x, (int, float, np.generic, list, tuple)):
        return np.asarray(x)
    return x


def _static_argument(x):
    """A static argument with its numpy scalars (and 0-d arrays) as Python numbers, so
    the Function keys it by value instead of taking it for data."""
    return map_structure(lambda leaf: leaf.item() if isinstance(leaf, np.generic) or (
        isinstance(leaf, np.ndarray) and leaf.ndim == 0) else leaf, x)


def eager_functions(owner) -> dict:
    """The eager Functions cached on ``owner`` (the instance of a decorated method, or a
    decorated function itself), keyed by the implementation they run."""
    return vars(owner).get(_CACHE, {})


def clear_eager_functions(owner) -> None:
    """Forget ``owner``'s eager Functions: the next eager call traces again (an optimizer
    does this when its graph would change: a new learning-rate schedule)."""
    vars(owner).pop(_CACHE, None)


def _argument_labels(fn, owner=None):
    """``labels(args, kwargs)`` for the Function running ``fn`` eagerly: each leaf named
    by its parameter, as the user called it (``mean.update_state(sample_weight)``;
    ``owner`` is a method's instance, named by its ``name``)."""
    params = list(inspect.signature(fn).parameters.values())[1 if owner is not None else 0:]
    prefix = fn.__name__ if owner is None else \
        f"{getattr(owner, 'name', type(owner).__name__)}.{fn.__name__}"

    def name_of(i: int) -> str:
        if i < len(params) and params[i].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD):
            return params[i].name
        return f"args[{i}]"

    def labels(args, kwargs) -> list[str]:
        named = [(name_of(i), a) for i, a in enumerate(args)] + list(kwargs.items())
        return [label for name, value in named
                for label, _ in labelled_leaves(value, f"{prefix}({name})")]
    return labels


def eager_or_traced(fn=None, *, method: bool = False, data=None, name=None,
                    symbolic_batch: bool = True, eager_kwargs=None, eager_result=None,
                    taped: bool = True):
    """Decorate ``fn``, written with ``fg.ops`` on symbolic tensors, to run eagerly on
    concrete arguments outside a trace.

    A call runs ``fn`` directly when :func:`traced_call` says so for its data arguments,
    or when a static argument holds a symbolic tensor or dim (a random shape ``(B, 4)``).
    Otherwise its data arguments go through :func:`eager_argument`, its static ones get
    their numpy scalars as Python numbers, and a :class:`~.function.Function` of ``fn``
    runs them: one per owner and implementation, cached on the owner (the instance for a
    method, the decorated function otherwise); the Function's own signature cache
    traces once per shapes, dtypes and static values (Variables by identity).

    * ``method``: ``fn``'s first parameter is the owner (``self``).
    * ``data``: the names of the parameters that carry tensors (default: all of them;
      the items of ``*args``/``**kwargs`` one by one); the others are static.
    * ``name``: the Function's name, a string or ``name(owner)`` (default: ``fn``'s name,
      after ``owner.name + "_"`` for a method).
    * ``symbolic_batch``: passed to the Function (False: whole shapes are traced, for
      arguments that share no batch axis, such as gradients of differently shaped weights).
    * ``eager_kwargs``: arguments set on the eager path only (a random draw that is a
      graph of its own is told so).
    * ``eager_result``: applied to the eager path's outputs (metrics' numpy scalars).
    * ``taped``: while a gradient tape records eagerly (:mod:`.eager`), or when a data
      argument is an eager tensor carrying a mask (a model's prediction), ``fn`` runs op
      by op on eager tensors instead (its data arrays made eager tensors), so the tape
      records its ops and a loss sees the mask; False keeps the Function (random draws,
      whose draw a Function's run key makes).
    """
    if fn is None:
        return functools.partial(eager_or_traced, method=method, data=data, name=name,
                                 symbolic_batch=symbolic_batch, eager_kwargs=eager_kwargs,
                                 eager_result=eager_result, taped=taped)
    signature = inspect.signature(fn)
    data = None if data is None else frozenset(data)

    @functools.wraps(fn)
    def dispatch(*args, **kwargs):
        if tracing():
            return fn(*args, **kwargs)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return fn(*args, **kwargs)  # Python's own error for a bad call
        bound.apply_defaults()
        arguments = list(bound.arguments.items())[1 if method else 0:]
        is_data = {key: data is None or key in data for key, _ in arguments}
        if _runs_symbolically(arguments, is_data):
            return fn(*args, **kwargs)
        if taped and eager.runs_op_by_op([x for k, v in arguments if is_data[k]
                                          for x in flatten(v)]):
            for key, value in arguments:
                if is_data[key]:
                    bound.arguments[key] = map_structure(_eager_tensor, value)
            return fn(*bound.args, **bound.kwargs)
        _convert_for_eager(bound, signature, arguments, is_data)
        bound.arguments.update(eager_kwargs or {})
        owner = args[0] if method else dispatch
        call_args = bound.args[1:] if method else bound.args
        function = _cached_function(fn, owner, method=method, name=name,
                                    symbolic_batch=symbolic_batch)
        outputs = function(*call_args, **bound.kwargs)
        return eager_result(outputs) if eager_result is not None else outputs

    dispatch.symbolic = fn
    return dispatch


def _eager_tensor(x):
    """A data leaf as an eager tensor (arrays and numbers; others as they are)."""
    if isinstance(x, (np.ndarray, np.generic, int, float)) and not isinstance(x, bool):
        return eager.constant(x)
    return x


def _runs_symbolically(arguments, is_data) -> bool:
    """Whether a call with these bound ``(name, value)`` arguments runs ``fn`` directly:
    :func:`traced_call` for the data ones, or a symbolic tensor or dim in a static one."""
    return traced_call(*[v for k, v in arguments if is_data[k]]) or any(
        _symbolic(x) for k, v in arguments if not is_data[k] for x in flatten(v))


def _convert_for_eager(bound, signature, arguments, is_data) -> None:
    """Rewrite ``bound``'s arguments as the eager Function takes them: data through
    :func:`eager_argument`, static ones through :func:`_static_argument`, the items of
    ``*args``/``**kwargs`` one by one."""
    for key, value in arguments:
        convert = eager_argument if is_data[key] else _static_argument
        kind = signature.parameters[key].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[key] = tuple(convert(v) for v in value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            bound.arguments[key] = {k: convert(v) for k, v in value.items()}
        else:
            bound.arguments[key] = convert(value)


def _cached_function(fn, owner, *, method: bool, name, symbolic_batch: bool) -> Function:
    """The Function running ``fn`` for ``owner``, made on first use and cached on the
    owner keyed by ``fn`` (see :func:`eager_or_traced` for ``name`` and the label rule)."""
    cache = vars(owner).setdefault(_CACHE, {})
    function = cache.get(fn)
    if function is None:
        label = name(owner) if callable(name) else name or (
            f"{getattr(owner, 'name', type(owner).__name__)}_{fn.__name__}" if method
            else fn.__name__)
        body = functools.partial(fn, owner) if method else fn
        function = cache[fn] = Function(
            body, name=label, symbolic_batch=symbolic_batch,
            argument_labels=_argument_labels(fn, owner if method else None))
    return function
