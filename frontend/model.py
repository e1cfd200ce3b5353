"""``Model`` and ``Sequential``: layers that own a forward graph.

* Functional: ``Model(inputs, outputs)`` with a tensor, a list or a dict on each side.
  Its forward graph is traced once at construction; its layers are those called
  between the inputs and the outputs, in the order first called.
* Subclassed: ``call`` defined by the user; traced on the first call (or ``build``),
  and again for each new set of a call's other (non-input) arguments (see ``__call__``).
* ``Sequential([...])``: layers applied in order; traced as soon as its input shape is
  known (an ``Input`` first, or ``input_shape=`` on the first layer).

Called on numpy arrays, a model checks them against its inputs (names, rank, sizes,
dtype) and runs its graph on the installed backend. Array dtypes convert as Keras does
where no information is lost (float64 -> float32, ints -> floats); a float array for an
integer input is an error. ``training=True`` on such a call runs the graph with its
``training`` flag set (Dropout on); it is off by default, as in ``predict``. A
subclassed model's forward graph is therefore traced with ``training`` left open (its
first call's ``training`` is not baked in): layers that depend on it select with the
flag. (A ``call`` that branches in Python on ``training`` itself sees None there.)

Called on symbolic tensors, a functional model inlines a copy of its graph; each copy
draws its own random numbers (its random ops get fresh salts from the session's source
of call sites in :mod:`.random`), so a model called twice in one step gets two dropout
masks, as two calls of a Keras model do.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..ir import BATCH, Sym
from ..ir.builder import user_site
from ..ir.errors import ShapeError
from ..ir.clone import inline
from . import ops
from . import state
from .checks import cast_in_range
from .context import RNG_KEY, TRAINING
from .function import _is_array, _leaf_key, commit, graph_array
from .graphs import trace_graph
from .input_layer import InputLayer, placeholder
from .layer import Layer, autocast_dtype
from .naming import key_mismatch, unique_name
from .nest import flatten, pack_like, treedef
from ..passes import pipeline_through, run_pipeline
from .random import make_salt, next_site, split_salt
from .summary import format_summary
from .tensor import SymbolicTensor, is_symbolic


MAX_EAGER_TRACES = 8   # forward graphs a model traced by its calls keeps (least recent dropped)


class Model(Layer):
    """A layer with a forward graph; see the module docstring for the three styles."""

    def __init__(self, *args, inputs=None, outputs=None, name=None, **kwargs):
        if args:
            inputs, outputs = (args + (outputs,))[:2] if len(args) == 1 else args[:2]
        if name is None and (inputs is not None or outputs is not None) \
                and type(self).__name__ == "Model":
            name = unique_name("functional")   # Keras 3: Model(inputs, outputs) is "functional"
        super().__init__(name=name, **kwargs)
        self._functional = None
        self._eager_forwards: dict = {}   # traced by calls: their other arguments' key -> forward
        self._eager_array_layouts: set = set()   # keys of those with arrays, contents left out
        self._warned_array_retrace = False
        if inputs is not None or outputs is not None:
            self._init_functional(inputs, outputs)

    # --- functional construction --------------------------------------------------------
    def _init_functional(self, inputs, outputs, track_layers=True):
        self._functional = self._make_functional(inputs, outputs, track_layers)
        self.built = True

    def _make_functional(self, inputs, outputs, track_layers=True) -> "_Functional":
        """The forward graph from ``inputs`` to ``outputs`` (checked), with the variable
        updates the layer calls between them recorded (see :func:`_call_updates`)."""
        flat_inputs = flatten(inputs)
        for i, t in enumerate(flat_inputs):
            if not (is_symbolic(t) and isinstance(t.record.layer, InputLayer)):
                raise TypeError(f"model '{self.name}': input {i} must be a tensor made by "
                                f"fg.Input(...), got {t!r}")
        if outputs is None or not flatten(outputs):
            raise ValueError(f"model '{self.name}': `outputs` is empty")
        flat_outputs = flatten(outputs)
        for i, t in enumerate(flat_outputs):
            if not is_symbolic(t):
                raise TypeError(f"model '{self.name}': output {i} must be a symbolic tensor, "
                                f"got {t!r}")
        records = _records_between(flat_inputs, outputs)
        _check_unique_names(self.name, [t.record for t in flat_inputs] + records)
        if track_layers:
            for record in records:
                if all(record.layer is not known for known in self._layers):
                    self._layers.append(record.layer)
        traced = trace_graph(self.name, flat_inputs, flat_outputs, self.weights)
        updates = _call_updates(records)
        stepped = traced if not updates else trace_graph(
            self.name, flat_inputs, flat_outputs + [t for _, t in updates], self.weights)
        return _Functional(inputs, outputs, flat_inputs, flat_outputs, records, traced,
                           [v for v, _ in updates], stepped)

    @property
    def layers(self) -> list:
        return list(self._layers)

    def get_layer(self, name: str):
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"model '{self.name}' has no layer '{name}'; it has "
                         f"{[layer.name for layer in self._layers]}")

    @property
    def inputs(self) -> list:
        return list(self._require_functional().flat_inputs)

    @property
    def outputs(self) -> list:
        return list(self._require_functional().flat_outputs)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self._require_functional().flat_inputs]

    @property
    def output_names(self) -> list[str]:
        """Keys of a dict of outputs, else the names of the layers producing them."""
        f = self._require_functional()
        if isinstance(f.outputs, dict):
            return list(f.outputs)
        return [t.record.layer.name if t.record and t.record.layer else t.name
                for t in f.flat_outputs]

    def _require_functional(self):
        if self._functional is None:
            if type(self).call is Model.call:
                raise ValueError(
                    f"model '{self.name}' has no forward graph: {type(self).__name__} defines "
                    f"no call() (a model without call() can still train through its own "
                    f"train_step); define call(self, inputs) to call it, predict() with it or "
                    f"print its forward IR")
            raise ValueError(f"model '{self.name}' has no traced graph yet: call it on data "
                             f"first (model(x)) or build it with model.build(input_shape)")
        return self._functional

    # --- calling ----------------------------------------------------------------------
    def call(self, inputs, training=None):
        """A functional model called on new tensors inlines its graph (weights shared).

        The copy reads each variable's latest value in the current trace (program order,
        as a layer's own call would), and the variable updates its layers recorded when
        the model was built (BatchNormalization's moving statistics) are issued again as
        assignments of the copy's values: they reach the step being traced (or, inside
        another model's construction, that model's call record). Not when ``training``
        is known False (given, or inherited from an enclosing call, as a Python or numpy
        bool): in inference those updates would assign the unchanged values, so the copy
        is of the outputs-only graph and a test step returns no moving statistics."""
        f = self._require_functional()
        replacements = {t.value: self._check_tensor(t, x).value
                        for t, x in zip(f.flat_inputs, self._match_inputs(inputs, convert=False))}
        if isinstance(training, (bool, np.bool_)):
            training = bool(training)
            replacements[TRAINING] = ops.convert_to_tensor(training).value
        source = f.traced if training is False else f.stepped
        trace = state.current()
        for variable in source.variables if trace is not None else ():
            latest = trace.latest(variable)
            if latest is not None:
                replacements[variable.symbol] = latest.value
        results = inline(source.graph, replacements, _fresh_salts())
        n = len(f.flat_outputs)
        for variable, value in zip(f.updated, results[n:]):   # none from f.traced
            variable.assign(SymbolicTensor(value))
        return pack_like(f.outputs, [SymbolicTensor(v) for v in results[:n]])

    def _check_tensor(self, input_tensor, x) -> SymbolicTensor:
        """``x`` (a tensor the model is called on) as a value for ``input_tensor``: of its
        rank, its sizes where both are known (a symbolic size against a fixed one is
        checked when the graph runs) and its dtype (a float or int tensor for a float input is
        cast, as arrays are), else an error naming the model, the input and the caller's
        line."""
        x = ops.convert_to_tensor(x)
        want, got = input_tensor.type, x.type
        where = f"{user_site()}: model '{self.name}', input '{input_tensor.name}'"
        expected = tuple(None if isinstance(d, Sym) else d for d in want.shape)
        if got.rank != want.rank or any(
                isinstance(w, int) and isinstance(g, int) and w != g
                for w, g in zip(want.shape, got.shape)):
            raise ShapeError(f"{where}: expected a tensor of shape {expected} (None = any "
                             f"size), got shape {x.shape}")
        if got.dtype != want.dtype:
            if want.dtype.is_int or got.dtype.numpy.kind not in "biuf":
                raise TypeError(f"{where}: expected {want.dtype.keras_name} values, got a "
                                f"{got.dtype.keras_name} tensor")
            x = ops.cast(x, want.dtype)
        return x

    def build_from_call(self, args, kwargs) -> None:
        """Nothing to build on a call: a subclassed model's sub-layers build on their own
        first calls, and a functional model's graph exists already. (``build(input_shape)``
        is the user's way to trace a subclassed model ahead of data; calling it from here
        would trace ``call`` inside itself, forever.)"""

    def build(self, input_shape) -> None:
        """Trace a subclassed model on placeholders of ``input_shape`` (batch included)."""
        if self._functional is not None or not isinstance(input_shape, (tuple, list)):
            return
        holder = placeholder(tuple(input_shape), "float32", "input")
        outputs = self(holder)
        self._init_functional(holder, outputs, track_layers=False)
        self._eager_forwards[_call_key(((), {}))] = self._functional

    def __call__(self, *args, **kwargs):
        """On symbolic tensors, a layer call. On arrays, the forward graph is run: a
        functional model's, or, for a model traced by its calls (subclassed, or a
        Sequential without an input shape), the graph traced for this call's other
        arguments (besides ``training``): each distinct set of them (by value, as
        ``fg.function``'s static arguments; an array among them by its contents) is a
        trace of its own, so ``m(x, scale=5.0)`` after ``m(x, scale=2.0)`` computes with
        5.0. The first trace is the model's ``graph``.

        An array among the other arguments is a constant of its trace, so each new value
        of it (a per-batch ``attention_mask=``) traces and compiles ``call`` again: the
        first time that happens a model warns (once), and it keeps at most
        :data:`MAX_EAGER_TRACES` traces, dropping the least recently used, so such calls
        cost a retrace each but do not grow memory without bound. (Inside
        ``fg.function`` or a train step, array arguments are graph inputs instead.)"""
        if any(is_symbolic(t) for t in flatten((args, kwargs))):
            return super().__call__(*args, **kwargs)
        training = kwargs.get("training")
        self._require_init()
        if training is not None and not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"model '{self.name}': training must be True, False or None, got "
                            f"{training!r}")
        training = bool(training)
        if self._functional is not None and not self._eager_forwards:
            return self._run(args[0], training=training)
        extras = (args[1:], {k: v for k, v in kwargs.items() if k != "training"})
        key = _call_key(extras)
        forward = self._eager_forwards.pop(key, None)
        if forward is None:
            self._warn_array_retrace(extras)
            forward = self._trace_call(args[0], extras)
            if self._functional is None:
                self._functional = forward
                self.built = True
            if len(self._eager_forwards) >= MAX_EAGER_TRACES:   # the least recently used
                del self._eager_forwards[next(iter(self._eager_forwards))]
        self._eager_forwards[key] = forward                      # now the most recent
        return self._run(args[0], training=training, forward=forward)

    def _warn_array_retrace(self, extras) -> None:
        """Warn once per model when a call's other arguments differ from an earlier
        call's only in an array's values: each such value is a trace of its own."""
        if not any(_is_array(leaf) for leaf in flatten(extras)):
            return
        layout = _call_key(extras, contents=False)
        if layout in self._eager_array_layouts and not self._warned_array_retrace:
            self._warned_array_retrace = True
            warnings.warn(
                f"model '{self.name}': an array argument other than the inputs took a new "
                f"value, and each new value traces and compiles call() again (it is a "
                f"constant of the trace; at most {MAX_EAGER_TRACES} traces are kept). "
                f"Pass per-batch arrays (masks, biases) as part of the inputs, or run the "
                f"model inside fg.function, where array arguments are graph inputs",
                stacklevel=3)
        self._eager_array_layouts.add(layout)

    def _trace_call(self, x, extras) -> "_Functional":
        """The forward graph of ``call`` on placeholders like the arrays ``x`` (batch axis
        symbolic) with the other arguments ``extras`` as given; traced with ``training``
        left open: each run sets the flag."""
        keys = list(x) if isinstance(x, dict) else None
        names = [keys[i] if keys else f"input_{i}" for i in range(len(flatten(x)))]
        arrays = [graph_array(a, f"model '{self.name}', input '{name}'")
                  for name, a in zip(names, flatten(x))]
        for name, a in zip(names, arrays):
            if a.ndim == 0:
                raise ValueError(f"model '{self.name}', input '{name}': expected an array with "
                                 f"a batch axis (rank >= 1), got {_brief(a.item())}")
        holders = [placeholder((None,) + a.shape[1:], autocast_dtype(a.dtype, self.dtype), name)
                   for name, a in zip(names, arrays)]
        structure = pack_like(x, holders)
        args, kwargs = extras
        try:
            outputs = Layer.__call__(self, structure, *args, **kwargs)
        except ShapeError as e:
            raise ShapeError(f"{e}{_constant_note(x, args)}") from None
        return self._make_functional(structure, outputs, track_layers=False)

    def _run(self, x, training: bool = False, forward=None):
        """The forward graph (``forward``, default the model's) on arrays; with
        ``training`` and layer updates (moving statistics), the graph that also computes
        them, written back after the run."""
        f = forward or self._functional
        inputs = self._match_inputs(x, convert=True, functional=f)
        if not (training and f.updated):
            return pack_like(f.outputs, f.traced.run(inputs, training=training))
        results = f.stepped.run(inputs, training=True)
        n = len(f.flat_outputs)
        commit(list(zip(f.updated, results[n:])))
        return pack_like(f.outputs, results[:n])

    def _match_inputs(self, x, convert: bool, functional=None) -> list:
        """The model's inputs, in order, from a tensor/array, a list, or a dict by name."""
        f = functional or self._functional
        names = [t.name for t in f.flat_inputs]
        if isinstance(x, dict):
            missing = [n for n in names if n not in x]
            unknown = [k for k in x if k not in names]
            if missing or unknown:
                raise KeyError(f"model '{self.name}': "
                               + key_mismatch("input", missing, unknown, names))
            items = [x[n] for n in names]
        else:
            items = flatten(x) if isinstance(x, (list, tuple)) else [x]
            if len(items) != len(names):
                nested = isinstance(x, list) and not any(
                    _is_array(i) or is_symbolic(i) for i in items)
                raise ValueError(f"model '{self.name}' expects {len(names)} input(s) {names}, "
                                 f"got {len(items)}" + (
                                     " (a Python list is read as a list of inputs: pass "
                                     "np.asarray(...) for one input)" if nested else ""))
        if not convert:
            return items
        arrays = [_check_array(self.name, t, a) for t, a in zip(f.flat_inputs, items)]
        _check_shared_sizes(self.name, f.flat_inputs, arrays)
        return arrays

    def summary(self, print_fn=print) -> None:
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        print_fn(format_summary(self))

    def ir(self, stage: str = "forward", after: str | None = None) -> str:
        """The forward graph as SSA text; with ``after``, as it is after that pass of the
        compile pipeline (``after="fusion"`` shows the kernels)."""
        if stage != "forward":
            raise ValueError(f"unknown IR stage {stage!r}: expected 'forward'")
        return graph_text(self.graph, after)

    @property
    def graph(self):
        """The forward Graph: inputs, context parameters, then the variables it reads."""
        return self._require_functional().traced.graph


def _call_key(extras, contents: bool = True) -> tuple:
    """A hashable key of an eager call's arguments other than its inputs: their nesting,
    then each leaf as ``fg.function`` keys a static argument (by value; a Variable by
    identity), an array by its dtype, shape and contents (it is a constant of the trace;
    without ``contents``, by its dtype and shape only)."""
    leaves = flatten(extras)
    return (treedef(extras),) + tuple(
        ("array", x.dtype.str, x.shape) + ((x.tobytes(),) if contents else ())
        if _is_array(x) else _leaf_key(x, False)
        for x in (np.asarray(leaf) if _is_array(leaf) else leaf for leaf in leaves))


def _fresh_salts():
    """An ``inline`` attribute hook giving each copied random op a fresh call site.

    A draw keyed by the run's ``rng_key`` has a salt made of (site, seed salt, stream)
    (:func:`.random.make_salt`); the copy keeps its seed salt and stream and takes the
    next site of the session's counter (one new site per original site, so normal()'s
    two streams stay a pair). Stateless draws
    (an int seed: a constant key) stay as they are: the same seed gives the same draws at
    every call, as in Keras."""
    sites: dict[int, int] = {}

    def rewrite(op):
        if op.kind != "random_uniform" or op.operands[0] is not RNG_KEY:
            return None
        site, seed_salt, stream = split_salt(op.attrs["salt"])
        if site not in sites:
            sites[site] = next_site()
        return {**op.attrs, "salt": make_salt(sites[site], seed_salt, stream)}
    return rewrite


def graph_text(graph, after: str | None) -> str:
    """``graph`` as text, first run through the compile pipeline up to ``after``."""
    if after is not None:
        graph, _ = run_pipeline(graph, pipeline_through(after))
    return str(graph)


class _Functional:
    """The traced forward graph of a model and what is needed to run it. ``updated``: the
    variables its layers' calls update (see :func:`_call_updates`); ``stepped``: the graph
    whose results are the outputs, then those variables' new values (``traced`` itself
    when there are none). ``traced`` (``model.graph``, predictions) computes outputs only."""

    def __init__(self, inputs, outputs, flat_inputs, flat_outputs, records, traced,
                 updated=(), stepped=None):
        self.inputs, self.outputs = inputs, outputs
        self.flat_inputs, self.flat_outputs = flat_inputs, flat_outputs
        self.records, self.traced = records, traced
        self.updated, self.stepped = list(updated), stepped or traced


def _call_updates(records) -> list:
    """The (variable, new value) updates the layer calls ``records`` (in call order)
    recorded outside any trace; a variable updated by several calls (a layer shared by
    two branches) keeps its place of first update and the last call's value, as a state
    trace keeps them. (Each of those calls computed its update from the variable's value
    before the step, as separate calls traced at build time cannot see each other's.)"""
    latest: dict[int, tuple] = {}
    for record in records:
        for variable, value in record.updates:
            latest[id(variable)] = (variable, value)
    return list(latest.values())


def _records_between(inputs, outputs) -> list:
    """Layer calls between ``inputs`` and ``outputs`` (a structure), in Keras 3's order of
    a functional model's operations, which fixes the order of ``layers`` and so of
    ``get_weights``: deepest first (the longest path to an output), ties in the order a
    depth-first walk from the outputs first reaches them (dict outputs by sorted key, as
    Keras flattens them). A layer called several times is placed once, at its deepest
    call. Plain ops (``x + y``) count as operations for depth and order, as in Keras."""
    stop = {id(t) for t in inputs}
    order: dict[int, int] = {}          # operation -> first traversal index
    post: list = []                     # records, inputs before outputs
    done: set[int] = set()

    def operation(record):
        return id(record.layer) if record.layer is not None else id(record)

    def visit(t):
        record = t.record
        if record is None or id(record) in done:
            return
        order.setdefault(operation(record), len(order))
        done.add(id(record))
        if id(t) not in stop:
            for parent in record.inputs:
                visit(parent)
        post.append(record)

    for t in _keras_flatten(outputs):
        visit(t)
    depth: dict[int, int] = {}
    op_depth: dict[int, int] = {}
    for record in reversed(post):
        d = max(depth.setdefault(id(record), 0), op_depth.get(operation(record), 0))
        op_depth[operation(record)] = depth[id(record)] = d
        for parent in record.inputs:
            if parent.record is not None and id(parent.record) in done:
                depth[id(parent.record)] = max(d + 1, depth.get(id(parent.record), 0))
    ranked = sorted((r for r in post if r.layer is not None),
                    key=lambda r: (-op_depth[operation(r)], order[operation(r)], r.seq))
    return ranked


def _keras_flatten(structure) -> list:
    """Leaves as Keras's ``tree.flatten`` lists them: dicts by sorted key."""
    if isinstance(structure, dict):
        return [leaf for k in sorted(structure) for leaf in _keras_flatten(structure[k])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _keras_flatten(item)]
    return [structure]


def _check_unique_names(model_name: str, records) -> None:
    """Keras's rule: the layers of a model (its inputs included) have distinct names."""
    seen: dict[str, object] = {}
    for record in records:
        layer = record.layer
        if seen.setdefault(layer.name, layer) is not layer:
            raise ValueError(f"{user_site()}: model '{model_name}': all layer names should be "
                             f"unique, but two layers (inputs included) are named "
                             f"'{layer.name}'; give them different `name=`s")


def _check_shared_sizes(model_name: str, inputs, arrays) -> None:
    """Inputs sharing a size symbol (the batch axis) got arrays of one size there."""
    first: dict = {}
    for t, a in zip(inputs, arrays):
        for axis, d in enumerate(t.type.shape):
            if not isinstance(d, Sym):
                continue
            other = first.setdefault(d, (t.name, axis, a.shape[axis]))
            if other[2] != a.shape[axis]:
                what = "batch sizes" if d == BATCH else f"sizes of {d}"
                raise ValueError(f"model '{model_name}': the inputs have different {what}: "
                                 f"input '{other[0]}' has {other[2]} (axis {other[1]}), input "
                                 f"'{t.name}' has {a.shape[axis]} (axis {axis})")


def _constant_note(x, args) -> str:
    """For an error tracing a model's call: which other positional arguments are arrays
    with the inputs' batch size, taken as constants of the trace."""
    batch = {np.shape(a)[0] for a in flatten(x) if np.ndim(a)}
    which = [f"argument {i + 2} (shape {np.shape(a)})" for i, a in enumerate(args)
             if _is_array(a) and np.ndim(a) and np.shape(a)[0] in batch]
    if not which:
        return ""
    return (f" (note: the model's inputs are its first argument only; its positional "
            f"{', '.join(which)} is a constant of the trace, with a fixed first axis, not an "
            f"input with a batch axis: pass several inputs as one list, model([a, b]), with "
            f"call(self, inputs) unpacking them)")


def _check_array(model_name: str, tensor, x) -> np.ndarray:
    """``x`` as an array for the input ``tensor``: its rank and known sizes; numbers,
    converted to the input's dtype without loss (an int out of an int input's range, or
    floats for an int input, refused)."""
    array = np.asarray(x)
    t = tensor.type
    where = f"model '{model_name}', input '{tensor.name}'"
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected an array of numbers, got {_brief(x)}")
    expected = tuple(None if isinstance(d, Sym) else d for d in t.shape)
    if array.ndim != t.rank or any(d is not None and d != n for d, n in zip(expected, array.shape)):
        raise ValueError(f"{where}: expected an array of shape {expected} (None = any size), "
                         f"got shape {array.shape}")
    if array.dtype != t.dtype.numpy:
        if t.dtype.is_int and array.dtype.kind == "f":
            raise TypeError(f"{where}: expected {t.dtype.keras_name} values, got {array.dtype}; "
                            f"cast them with .astype('{t.dtype.keras_name}') if they are indices")
        array = cast_in_range(array, t.dtype.numpy, where)
    return array


def _brief(x) -> str:
    """``x`` for an error message: an array by its dtype and shape, else its repr (cut)."""
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


class Sequential(Model):
    """A plain stack of layers, each called on the previous one's output."""

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._input_tensor = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        if is_symbolic(layer) and isinstance(layer.record.layer, InputLayer):
            if self._layers:
                raise ValueError(f"sequential '{self.name}': an Input must come first")
            self._input_tensor = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"sequential '{self.name}' takes layers, got {layer!r}")
        self._layers.append(layer)
        if self._input_tensor is None and len(self._layers) == 1 and layer._input_shape_arg:
            self._input_tensor = placeholder((None,) + layer._input_shape_arg, "float32",
                                             f"{self.name}_input")
        if self._input_tensor is not None:
            self._init_functional(self._input_tensor, self._trace(self._input_tensor),
                                  track_layers=False)

    build_from_call = Layer.build_from_call   # build(input_shape) from the first call's input

    def _trace(self, x):
        for layer in self._layers:
            x = layer(x)
        return x

    def call(self, inputs, training=None):
        return self._trace(inputs)

    def build(self, input_shape) -> None:
        if self._functional is None and self._layers:
            self._input_tensor = placeholder(tuple(input_shape), "float32", f"{self.name}_input")
            self._init_functional(self._input_tensor, self._trace(self._input_tensor),
                                  track_layers=False)
