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

How the forward graph is built and inlined is :mod:`.functional`; how a call's inputs
are matched and checked, and its other arguments keyed, is :mod:`.model_calls`.
"""
from __future__ import annotations

import json
import warnings

import numpy as np

from ..ir.errors import ShapeError
from ..ir.clone import inline
from . import collectives, eager, model_config, ops, serialization
from . import state
from .context import TRAINING
from .function import _is_array, commit, graph_array
from .functional import Functional, fresh_salts, make_functional
from .input_layer import InputLayer, placeholder
from .layer import Layer, autocast_dtype
from .layer_config import layer_config
from .model_calls import brief, call_key, check_tensor, constant_note, match_inputs
from .naming import unique_name
from .nest import flatten, pack_like
from ..backends import backend_capability, default_pipeline
from ..ir.ops.region import ANY_KERNEL
from ..passes import FUSION_PIPELINE, pipeline_through, run_pipeline, targeting
from .summary import format_summary
from .tensor import SymbolicTensor, is_symbolic
from .traceback_filter import filter_traceback


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
        self._graph_network = inputs is not None or outputs is not None
        self._functional = None
        self._eager_forwards: dict = {}   # traced by calls: their other arguments' key -> forward
        self._eager_array_layouts: set = set()   # keys of those with arrays, contents left out
        self._warned_array_retrace = False
        if inputs is not None or outputs is not None:
            self._init_functional(inputs, outputs)

    # --- config (Keras 3's: :mod:`.model_config`) ----------------------------------------
    @property
    def _keras_class_name(self) -> str:
        """The class a config names: Keras's ``Functional`` for ``Model(inputs, outputs)``."""
        return "Functional" if self._graph_network and type(self).__name__ == "Model" \
            else type(self).__name__

    def get_config(self) -> dict:
        """A functional model's layers and calls (:func:`.model_config.functional_config`);
        a subclassed model's as a layer's (its constructor's arguments unless it defines
        ``get_config``)."""
        if self._graph_network:
            return model_config.functional_config(self)
        return layer_config(self, with_arguments=type(self).get_config is Model.get_config)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        if "layers" in config and "input_layers" in config:
            return model_config.functional_from_config(cls, config, custom_objects)
        return super().from_config(config)

    def to_json(self, **kwargs) -> str:
        """The model's record (:func:`.serialization.serialize_keras_object`) as JSON;
        ``kwargs`` go to ``json.dumps``."""
        return json.dumps(serialization.serialize_keras_object(self), **kwargs)

    # --- functional construction --------------------------------------------------------
    def _init_functional(self, inputs, outputs, track_layers=True):
        self._functional = make_functional(self, inputs, outputs, track_layers)
        self.built = True

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
    def input(self):
        """The model's input tensor (a list for several): ``fg.Model(model.input, ...)``."""
        inputs = self.inputs
        return inputs[0] if len(inputs) == 1 else inputs

    @property
    def output(self):
        """The model's output tensor (a list for several)."""
        outputs = self.outputs
        return outputs[0] if len(outputs) == 1 else outputs

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
        replacements = {t.value: check_tensor(self.name, t, x).value
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
        eagerly = trace is None and eager.running_eagerly()
        for variable in source.variables if eagerly else ():
            replacements[variable.symbol] = variable.read_value().value   # its eager value
        results = inline(_as_called(source, trace, eagerly), replacements, fresh_salts())
        n = len(f.flat_outputs)
        masks = [] if f.masks is None else inline(_as_called(f.masks, trace, eagerly),
                                                  replacements, fresh_salts())
        if f.losses is not None and not eagerly:   # its layers' added losses, for this call
            for value in inline(_as_called(f.losses, trace, eagerly), replacements,
                                fresh_salts()):
                self.add_loss(SymbolicTensor(value))
        if eagerly:        # run the copy now; the updates apply now
            tensors = eager.materialize(results + masks)
            for variable, tensor in zip(f.updated, tensors[n:len(results)]):
                variable.assign(tensor.numpy())
            outputs, masks = tensors[:n], tensors[len(results):]
        else:
            for variable, value in zip(f.updated, results[n:]):   # none from f.traced
                variable.assign(SymbolicTensor(value))
            outputs, masks = ([SymbolicTensor(v) for v in results[:n]],
                              [SymbolicTensor(v) for v in masks])
        masks = iter(masks)
        for out, t in zip(outputs, f.flat_outputs):      # the masks the outputs carry
            if t._keras_mask is not None:
                out._keras_mask = next(masks)
        return pack_like(f.outputs, outputs)

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
        self._eager_forwards[call_key(((), {}))] = self._functional

    @filter_traceback
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
        ``fg.function`` or a train step, array arguments are graph inputs instead.) While a
        gradient tape records, or on eager tensors, the call runs op by op instead
        (:mod:`.eager`), so the tape can differentiate it, and so does a model whose
        outputs carry masks, so its results carry them; it returns eager tensors."""
        leaves = flatten((args, kwargs))
        if any(is_symbolic(t) for t in leaves) or eager.runs_op_by_op(leaves,
                                                                     self._makes_masks()):
            return super().__call__(*args, **kwargs)     # traced, or eagerly op by op
        training = kwargs.get("training")
        self._require_init()
        if training is not None and not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"model '{self.name}': training must be True, False or None, got "
                            f"{training!r}")
        training = bool(training)
        if self._functional is not None and not self._eager_forwards:
            return eager.results(self._run(args[0], training=training))
        extras = (args[1:], {k: v for k, v in kwargs.items() if k != "training"})
        key = call_key(extras)
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
        return eager.results(self._run(args[0], training=training, forward=forward))

    def _makes_masks(self) -> bool:
        """Whether the model's outputs carry masks (its calls then run op by op eagerly,
        so their results carry them too)."""
        functional = self.__dict__.get("_functional")   # none before __init__ ran
        return functional is not None and functional.masks is not None

    def _warn_array_retrace(self, extras) -> None:
        """Warn once per model when a call's other arguments differ from an earlier
        call's only in an array's values: each such value is a trace of its own."""
        if not any(_is_array(leaf) for leaf in flatten(extras)):
            return
        layout = call_key(extras, contents=False)
        if layout in self._eager_array_layouts and not self._warned_array_retrace:
            self._warned_array_retrace = True
            warnings.warn(
                f"model '{self.name}': an array argument other than the inputs took a new "
                f"value, and each new value traces and compiles call() again (it is a "
                f"constant of the trace; at most {MAX_EAGER_TRACES} traces are kept). "
                f"Pass per-batch arrays (masks, biases) as part of the inputs, or run the "
                f"model inside fg.function, where array arguments are graph inputs",
                stacklevel=4)   # past __call__ and its traceback filter
        self._eager_array_layouts.add(layout)

    def _trace_call(self, x, extras) -> "Functional":
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
                                 f"a batch axis (rank >= 1), got {brief(a.item())}")
        holders = [placeholder((None,) + a.shape[1:], autocast_dtype(a.dtype, self.dtype), name)
                   for name, a in zip(names, arrays)]
        structure = pack_like(x, holders)
        args, kwargs = extras
        try:
            outputs = Layer.__call__(self, structure, *args, **kwargs)
        except ShapeError as e:
            raise ShapeError(f"{e}{constant_note(x, args)}") from None
        return make_functional(self, structure, outputs, track_layers=False)

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
        """The model's inputs, in order, from a tensor/array, a list, or a dict by name
        (see :func:`.model_calls.match_inputs`); ``functional`` defaults to the model's."""
        return match_inputs(self.name, functional or self._functional, x, convert)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None) -> None:
        """Print a Keras-style table of layers, output shapes and parameter counts, as
        wide as the terminal allows (Keras 3's arguments; see :mod:`.summary`);
        ``print_fn`` (default ``print``) gets the whole text."""
        (print_fn or print)(format_summary(self, line_length, positions, expand_nested,
                                           show_trainable, layer_range))

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


def _as_called(source, trace, eagerly: bool):
    """The graph of ``source`` (a TracedGraph) a call inlines: in a step or eagerly, with
    its ``replicated`` flag decided (a replicated step's copy syncs BatchNormalization,
    any other drops that branch); while another graph is built (a model calling a
    model: no trace, or only the deferred updates of a layer call), with the flag open,
    for that graph's own calls to decide."""
    if (trace is None and not eagerly) or isinstance(trace, state.DeferredUpdates):
        return source.graph
    return source.replica_graph(collectives.active())


def graph_text(graph, after: str | None, backend: str | None = None) -> str:
    """``graph`` as text, first run through the compile pipeline up to ``after`` (see
    :func:`through_pipeline`)."""
    return str(graph if after is None else through_pipeline(graph, after, backend)[0])


def through_pipeline(graph, after: str | None, backend: str | None = None) -> tuple:
    """``(graph, report)``: ``graph`` run through the compile pipeline up to ``after`` (all
    of it when None): backend ``backend``'s pipeline, fusing what its kernels hold, or
    (None) the kernel pipeline every backend starts with
    (:data:`fusegraph.passes.FUSION_PIPELINE`)."""
    names = FUSION_PIPELINE if backend is None else default_pipeline(backend)
    if after is not None:
        names = pipeline_through(after, names)
    with targeting(ANY_KERNEL if backend is None else backend_capability(backend)):
        return run_pipeline(graph, names)


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

    _graph_network = False    # its config is its layer list (model_config.sequential_config)

    @property
    def _keras_class_name(self) -> str:
        return type(self).__name__

    def get_config(self) -> dict:
        return model_config.sequential_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return model_config.sequential_from_config(cls, config, custom_objects)

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
