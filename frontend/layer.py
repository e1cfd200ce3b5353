"""``fg.layers.Layer``: the base of every layer and model.

A layer builds its weights on its first call, from the input shape; its ops are traced
under its name (``layer_scope``), so printed IR and errors say which layer made them.
Called on symbolic tensors it traces; called on numpy arrays it traces once per input
signature (batch dim symbolic), caches the graph and runs it on the installed backend.

Sub-layers assigned as attributes (or in lists) are tracked in assignment order; a
layer's ``weights`` are its sub-layers' weights in that order, then its own (the Keras 3
order, see KERAS_COMPAT.md), so ``get_weights`` lists match Keras's. Tracking starts with
the first attribute set, so sub-layers assigned before ``super().__init__()`` count too.

``training`` follows Keras 3: a call's explicit ``training`` (True/False) wins, else the
enclosing layer call's. It is passed to ``call`` only when ``call`` has a ``training``
parameter, but it always sets the scope that sub-layers inherit, so
``model(x, training=True)`` reaches a Dropout inside a model whose ``call(self, inputs)``
takes no ``training``. Left None (a functional model being built, a subclassed model's
forward graph), it stays None (not ``call``'s own default, unlike Keras): layers that
depend on it select with the graph's ``training`` flag, which each run sets.

A call traced outside any step (building a functional model) may update the layer's
own weights (BatchNormalization's moving statistics): the updates are recorded on the
call's record and become part of every step the model runs in (see :mod:`.state`).
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import warnings

import numpy as np

from ..ir import as_dtype, layer_scope
from ..ir.builder import current_layer_path, user_site
from . import constraints, eager, initializers, layer_config, regularizers, state
from .checks import check_bool
from .naming import check_name, release_path, to_snake_case, unique_name
from .nest import flatten, map_structure, pack_like
from .tensor import CallRecord, SymbolicTensor, is_symbolic, is_tensor
from .traceback_filter import filter_traceback
from .variables import Variable, check_shape

_TRAINING: contextvars.ContextVar = contextvars.ContextVar("fusegraph_training", default=None)
_BUILDING: contextvars.ContextVar = contextvars.ContextVar("fusegraph_building", default=False)


class Layer:
    """Base layer. Subclasses define ``build(input_shape)`` (optional) and ``call``.

    ``single_input``: the layer takes one tensor as its first argument (Dense, Conv2D,
    LSTM, ...); a list or dict there is refused with a TypeError naming the layer. Layers
    taking several tensors (Add, Concatenate, user layers by default) leave it False."""

    single_input = False

    def __new__(cls, *args, **kwargs):
        layer = super().__new__(cls)
        layer._init_args = (args, kwargs)   # for get_config (Keras 3's auto-config)
        return layer

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments {sorted(kwargs)}")
        owner = f"{user_site()}: {type(self).__name__}"
        check_name(owner, name)
        check_bool(owner, "trainable", trainable)
        dtype = _dtype_name(owner, dtype or "float32")
        # setdefault: sub-layers and weights made before super().__init__() stay tracked
        self.__dict__.setdefault("_layers", [])
        self.__dict__.setdefault("_own_weights", [])
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = dtype
        self.built = False
        self._path = self.name
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self._eager_function = None
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.__dict__.setdefault("_added_losses", [])
        self._last_record = None
        self._first_record = None
        trace = state.current()
        if (trace is not None and not isinstance(trace, state.DeferredUpdates)
                and not _BUILDING.get()):         # sub-layers made in build() are tracked
            warnings.warn(
                f"{user_site()}: layer '{self.name}' ({type(self).__name__}) was created while "
                f"a step or function was being traced (inside call()): its weights are made "
                f"again in each trace, are not tracked by the model (not in "
                f"trainable_weights) and are never trained. Create layers in __init__ and use "
                f"them in call()", UserWarning, stacklevel=2)

    # --- tracking -------------------------------------------------------------------
    def __setattr__(self, name, value):
        layers = self.__dict__.setdefault("_layers", [])
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, Layer) and item is not self \
                    and all(item is not known for known in layers):
                layers.append(item)
        object.__setattr__(self, name, value)

    # --- weights --------------------------------------------------------------------
    def add_weight(self, shape, initializer="glorot_uniform", dtype=None, trainable=True,
                   name=None, regularizer=None, constraint=None) -> Variable:
        """Create a weight now, initialized by ``initializer``; named ``<layer path>/<name>``.
        ``shape`` is a tuple of ints >= 0 (a ValueError naming the layer and the weight
        otherwise). ``regularizer`` (:mod:`.regularizers`): its penalty of the weight is
        in :attr:`losses` (and a compiled model's loss); ``constraint``
        (:mod:`.constraints`) is applied after each optimizer update of the weight."""
        self._require_init()
        own = self.__dict__.setdefault("_own_weights", [])
        name = name or f"variable_{len(own)}"
        owner = f"{user_site()}: layer '{self.name}': add_weight '{name}'"
        dtype = _dtype_name(owner, dtype or self.dtype)
        shape = check_shape(owner, shape)
        value = initializers.get(initializer)(shape, dtype)
        variable = Variable(value, name, f"{self._path}/{name}", trainable=trainable, dtype=dtype)
        variable.regularizer = regularizers.get(regularizer)
        variable.constraint = constraints.get(constraint)
        own.append(variable)
        return variable

    # --- losses ---------------------------------------------------------------------
    def add_loss(self, loss) -> None:
        """Add a scalar ``loss`` (a tensor of this call) to :attr:`losses`, as Keras's
        ``add_loss``: inside a model's train step it joins the step's loss."""
        global _ANY_ADDED_LOSS
        _ANY_ADDED_LOSS = True
        self.__dict__.setdefault("_added_losses", []).append((_loss_context(loss), loss))

    @property
    def losses(self) -> list:
        """The losses of the current context (the step being traced; eager code; a model
        being built): those added by this layer's and its sub-layers' calls there
        (:meth:`add_loss`, activity regularizers), then the penalties of the trainable
        weights that have a regularizer, computed from their current values."""
        context, out, seen = _loss_context(None), [], set()
        for layer in _layers_within(self):
            out += [t for key, t in layer.__dict__.get("_added_losses", ())
                    if key is context and id(t) not in seen and not seen.add(id(t))]
        for variable in self.trainable_weights:
            if variable.regularizer is not None:
                out.append(variable.regularizer(variable.read_value()))
        return out

    def _forget_other_losses(self) -> None:
        """At an outermost call: drop the added losses of other traces (Keras clears a
        layer's losses at each top-level call), keeping a model's construction's."""
        context = _loss_context(None)
        for layer in _layers_within(self):
            kept = [(k, t) for k, t in layer.__dict__.get("_added_losses", ())
                    if k is context or k is BUILDING]
            layer.__dict__["_added_losses"] = kept

    @property
    def weights(self) -> list[Variable]:
        out, seen = [], set()
        for layer in self._layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out + [w for w in self._own_weights if id(w) not in seen]

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        return [w for w in self.weights if w.trainable and self._owner_trainable(w)]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    # Keras 3's names for the same lists (its guides write ``self.trainable_variables``).
    @property
    def variables(self) -> list[Variable]:
        return self.weights

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return self.non_trainable_weights

    def _owner_trainable(self, weight) -> bool:
        if any(weight is w for w in self._own_weights):
            return True
        return any(layer.trainable and layer._owner_trainable(weight)
                   for layer in self._layers if any(weight is w for w in layer.weights))

    # --- config ---------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras's config: ``name``, ``trainable``, ``dtype``, and, unless the class
        defines its own ``get_config``, its constructor's arguments
        (:mod:`.layer_config`)."""
        own = type(self).get_config is Layer.get_config
        return layer_config.layer_config(self, with_arguments=own)

    @classmethod
    def from_config(cls, config: dict):
        """A new layer from :meth:`get_config`'s dict (Keras's ``cls(**config)``, with
        records made objects again: :func:`.layer_config.layer_from_config`)."""
        return layer_config.layer_from_config(cls, config)

    def get_build_config(self) -> dict | None:
        """Keras's ``build_config`` once built by a call: ``{"input_shape": shape}`` when
        the first call had one tensor argument, else ``{"shapes_dict": {"<argument>_shape":
        shape, ...}}``."""
        shapes = self.__dict__.get("_build_shapes")
        if not shapes:
            return None
        if len(shapes) == 1:
            return {"input_shape": next(iter(shapes.values()))}
        return {"shapes_dict": shapes}

    def build_from_config(self, config: dict | None) -> None:
        """Build from :meth:`get_build_config`'s dict (before weights are loaded), as
        Keras: ``build(input_shape)``, or ``build(**shapes_dict)`` (a layer built from
        several tensors, ``build(query_shape, value_shape)``)."""
        config = config or {}
        if self.built or not (config.get("input_shape") or config.get("shapes_dict")):
            return
        shapes = {"input_shape": config["input_shape"]} if config.get("input_shape") \
            else config["shapes_dict"]
        shapes = {k: _shape_tuples(v) for k, v in shapes.items()}
        token = _BUILDING.set(True)
        try:
            with _weights_undone_on_error(self):
                if "input_shape" in shapes:
                    self.build(shapes["input_shape"])
                else:
                    self.build(**shapes)
        finally:
            _BUILDING.reset(token)
        self.built = True
        self._build_shapes = shapes

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Assign all weights at once, in ``weights`` order. Every array is checked (the
        count, each shape, numbers only) before any is assigned, so nothing changes on a
        mismatch."""
        mine = self.weights
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"layer '{self.name}': set_weights takes a list of {len(mine)} "
                            f"arrays (as get_weights returns), got {weights!r}")
        weights = list(weights)
        if len(weights) != len(mine):
            unbuilt = ("" if self.built or mine else
                       " (it is not built yet, so it has no weights: call it on data or "
                       "build(input_shape) first)")
            raise ValueError(f"layer '{self.name}' expects {len(mine)} weight arrays, "
                             f"got {len(weights)}{unbuilt}")
        arrays = []
        for w, value in zip(mine, weights):
            if np.shape(value) != w.shape:
                raise ValueError(f"layer '{self.name}': weight '{w.path}' has shape {w.shape}, "
                                 f"got an array of shape {np.shape(value)}")
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"layer '{self.name}': weight '{w.path}' takes numbers, got "
                                f"an array of dtype {array.dtype}")
            arrays.append(array)
        for w, array in zip(mine, arrays):
            w.assign(array)

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # --- building and calling ---------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create weights from the input shape (Keras shape: None for unknown sizes)."""

    def build_from_call(self, args, kwargs) -> None:
        """Build from the tensors of the first call; by default from the first argument."""
        first = args[0] if args else next(iter(kwargs.values()))
        shapes = [t.shape for t in flatten(first)]
        self.build(shapes[0] if not isinstance(first, (list, tuple, dict)) else
                   pack_like(first, shapes))

    def call(self, *args, **kwargs):
        raise TypeError(f"layer '{self.name}' ({type(self).__name__}) defines no call()")

    # --- masks (Keras's): see the module docstring ------------------------------------------
    supports_masking = False      # whether its outputs carry a mask (compute_mask's)

    def compute_mask(self, inputs, mask=None):
        """The outputs' mask from the first input and its mask: the input's, for a layer
        that supports masking (a subclass that overrides this supports masking)."""
        return mask

    def _masks_supported(self) -> bool:
        return self.supports_masking or type(self).compute_mask is not Layer.compute_mask

    def _call_with_masks(self, args, kwargs):
        """``call`` with Keras's mask plumbing: the first argument's mask passed as
        ``mask`` to a ``call`` that takes it (unless given); the outputs given
        ``compute_mask``'s mask when the layer supports masking (else a warning that the
        mask stops here, as Keras warns)."""
        first = args[0] if args else next(iter(kwargs.values()), None)
        masks = [getattr(t, "_keras_mask", None) for t in flatten(first)]
        previous = (masks[0] if not isinstance(first, (list, tuple, dict)) else
                    pack_like(first, masks)) if any(m is not None for m in masks) else None
        if previous is not None and _accepts(self.call, "mask") and kwargs.get("mask") is None:
            kwargs = {**kwargs, "mask": previous}
        outputs = self.call(*args, **kwargs)
        if previous is None and not self._masks_supported():
            return outputs
        if not self._masks_supported():
            warnings.warn(f"layer '{self.name}' ({type(self).__name__}) was passed an input "
                          f"with a mask, but does not support masking: downstream layers will "
                          f"not see the mask", UserWarning, stacklevel=3)
            return outputs
        out_mask = self.compute_mask(first, previous)
        leaves = flatten(outputs)
        masks = out_mask if isinstance(out_mask, list) else [out_mask] * len(leaves)
        for t, m in zip(leaves, masks):     # one mask for all, or one per output
            if isinstance(t, SymbolicTensor) and t._keras_mask is None and m is not None:
                t._keras_mask = m
        return outputs

    @filter_traceback
    def __call__(self, *args, **kwargs):
        self._require_init()
        self._check_call(args, kwargs)
        if _ANY_ADDED_LOSS and current_layer_path() is None:   # no walk until a loss exists
            self._forget_other_losses()
        outputs = self._dispatch_call(args, kwargs)
        if self.activity_regularizer is not None:
            for output in flatten(outputs):
                if is_tensor(output):
                    self.add_loss(self.activity_regularizer(output))
        return outputs

    def _dispatch_call(self, args, kwargs):
        tensors = flatten((args, kwargs))
        if any(is_symbolic(t) for t in tensors):
            return self._symbolic_call(args, kwargs)
        if eager.runs_op_by_op(tensors, self._makes_masks()):
            return self._eager_op_call(args, kwargs)
        return self._eager_call(args, kwargs)

    def _makes_masks(self) -> bool:
        """Whether calls may give their outputs a mask of the layer's own
        (Embedding(mask_zero=True), Masking): an eager call then runs op by op, so its
        result carries it."""
        return self.supports_masking and type(self).compute_mask is not Layer.compute_mask

    def _require_init(self) -> None:
        """A RuntimeError for a subclass whose ``__init__`` did not call the base's."""
        if "built" not in self.__dict__:
            raise RuntimeError(f"{user_site()}: {type(self).__name__}.__init__ did not call "
                               f"super().__init__(): call it first (it sets the layer's name, "
                               f"dtype and weights)")

    def _check_call(self, args, kwargs) -> None:
        """The first argument is tensors or numpy arrays (one of them when
        ``single_input``) and ``training`` is None or a bool, else a TypeError naming the
        layer (before anything is traced or built)."""
        def owner() -> str:   # the user's line is looked up only for an error
            return f"{user_site()}: layer '{self.name}' ({type(self).__name__})"
        if not args and not kwargs:
            raise TypeError(f"{owner()} was called with no inputs")
        first = args[0] if args else next(iter(kwargs.values()))
        leaves = flatten(first)
        bad = [x for x in leaves if not (is_symbolic(x) or _is_array_like(x) or eager.is_eager(x))]
        if bad or not leaves:
            data = not any(is_symbolic(x) for x in leaves) and isinstance(
                first, (list, tuple, int, float))
            raise TypeError(f"{owner()}: its input must be a tensor or a numpy array (or a list "
                            f"or dict of them), got {first!r}" + (
                                "; convert data with np.asarray(...)" if data else
                                f", which holds {bad[0]!r}" if bad and bad[0] is not first
                                else ""))
        if self.single_input and isinstance(first, (list, tuple, dict)):
            shapes = [tuple(x.shape) for x in leaves]
            raise TypeError(f"{owner()} takes one tensor, got a {type(first).__name__} of "
                            f"{len(leaves)} with shapes {shapes}; pass one of them (a layer "
                            f"returning several tensors, such as an RNN with "
                            f"return_state=True, returns them as a list)")
        training = kwargs.get("training")
        if not (training is None or isinstance(training, (bool, np.bool_))
                or is_symbolic(training)):
            raise TypeError(f"{owner()}: training must be True, False or None, got {training!r}")

    def _symbolic_call(self, args, kwargs):
        given = (args, kwargs)
        kwargs, training = self._with_training(kwargs)
        outside = state.current() is None
        with layer_scope(self.name), _training_scope(training), \
                (state.deferring_updates(self) if outside else contextlib.nullcontext()) as deferred:
            outputs = self._build_and_call(args, kwargs)
        inputs = tuple(t for t in flatten((args, kwargs)) if is_symbolic(t))
        record = CallRecord(self, inputs, updates=tuple(deferred.updates) if outside else (),
                            arguments=given)
        outputs = pack_like(outputs, [_recorded(t, record) if is_symbolic(t) else t
                                      for t in flatten(outputs)])
        record.outputs = tuple(t for t in flatten(outputs) if is_symbolic(t))
        self._last_record = record
        if outside and self._first_record is None:    # a functional model's construction
            self._first_record = record
        return outputs

    @property
    def output(self):
        """The output tensor(s) of the layer's first call on symbolic tensors outside a
        step (Keras's node 0): what a model is built from, so that
        ``fg.Model(model.input, model.get_layer("conv2").output)`` extracts a layer's
        features."""
        return _one_or_list(self._first_call("output").outputs)

    @property
    def input(self):
        """The input tensor(s) of that first call (see :attr:`output`)."""
        return _one_or_list(self._first_call("input").inputs)

    def _first_call(self, what: str) -> CallRecord:
        if self._first_record is None:
            raise AttributeError(f"layer '{self.name}' has never been called on a symbolic "
                                 f"tensor (fg.Input or a layer's output), so it has no "
                                 f"defined {what}")
        return self._first_record

    def _build_and_call(self, args, kwargs):
        """``call``'s outputs, in the caller's layer scope, after building the layer from
        this first call (its weights undone if building fails)."""
        if not self.built:
            self._path = current_layer_path() or self.name
            token = _BUILDING.set(True)
            try:
                with _weights_undone_on_error(self):
                    self.build_from_call(args, kwargs)
            finally:
                _BUILDING.reset(token)
            self.built = True
            self._build_shapes = _call_shapes(self.call, args, kwargs)
        token = _BUILDING.set(False)
        try:
            return self._call_with_masks(args, kwargs)
        finally:
            _BUILDING.reset(token)

    def _eager_op_call(self, args, kwargs):
        """Eagerly, op by op (inside a recording tape, or where masks are made or carried):
        ``call`` runs
        on eager tensors and its ops at once, so a tape records them (:mod:`.eager`);
        outputs the ops left symbolic (a functional model's inlined graph, a recurrent
        layer's loop) are computed at the end. Returns eager tensors."""
        args, kwargs = map_structure(
            lambda x: eager.constant(_autocast(np.asarray(x), self.dtype)) if _is_array_like(x)
            else x,
            (args, kwargs))
        kwargs, training = self._with_training(kwargs)
        with eager.eager_calls(), layer_scope(self.name), _training_scope(training):
            outputs = self._build_and_call(args, kwargs)
            leaves = flatten(outputs)
            pending = [t for t in leaves if is_symbolic(t)]
            done = iter(eager.materialize([t.value for t in pending]))
        return pack_like(outputs, [next(done) if is_symbolic(t) else t for t in leaves])

    def _with_training(self, kwargs):
        """(the kwargs for ``call``, the training value of this call), as Keras 3 resolves
        it (see the module docstring): ``training`` is dropped from the kwargs when
        ``call`` takes no such parameter, yet still returned for the scope."""
        training = kwargs.get("training")
        if training is None:
            training = _TRAINING.get()
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        if _accepts(self.call, "training"):
            kwargs["training"] = training
        return kwargs, training

    def _eager_call(self, args, kwargs):
        """Trace once per input signature (a cached Function), then run on the backend."""
        if self._eager_function is None:
            from .function import Function
            self._eager_function = Function(lambda *a, **k: self._symbolic_call(a, k), self.name)
        arrays = map_structure(lambda x: _autocast(np.asarray(x), self.dtype)
                               if _is_array_like(x) or eager.is_eager(x) else x, (args, kwargs))
        return eager.results(self._eager_function(*arrays[0], **arrays[1]))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


@contextlib.contextmanager
def _weights_undone_on_error(layer: Layer):
    """A failed ``build`` leaves no weights behind: those it added to ``layer``, and the
    sub-layers it made with theirs, are dropped and their paths freed, so a later call
    builds afresh under the same names."""
    own, subs = layer._own_weights, layer.__dict__.setdefault("_layers", [])
    weights_before, layers_before = len(own), len(subs)
    try:
        yield
    except BaseException:
        for weight in own[weights_before:] + [w for sub in subs[layers_before:]
                                              for w in sub.weights]:
            release_path(weight.path)
        del own[weights_before:], subs[layers_before:]
        raise


def _recorded(tensor, record: CallRecord) -> SymbolicTensor:
    """``tensor`` as an output of the layer call ``record`` (its mask kept)."""
    out = SymbolicTensor(tensor.value, record, tensor.name)
    out._keras_mask = tensor._keras_mask
    return out


# The context of a loss added while a model is built from symbolic calls (outside any
# step): the model's own graph of such losses carries them into its steps.
BUILDING = "building"
_ANY_ADDED_LOSS = False     # whether any layer ever added a loss (calls skip the walk)


def _loss_context(loss):
    """Where a loss added now belongs (and which ``losses`` reads): the step being traced;
    :data:`BUILDING` for symbolic calls outside steps; None for eager code."""
    trace = state.current()
    if isinstance(trace, state.DeferredUpdates) or (trace is None and is_symbolic(loss)):
        return BUILDING
    return trace


def _layers_within(layer) -> list:
    """``layer`` and every layer inside it, each once, outermost first."""
    out, stack, seen = [], [layer], set()
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        out.append(current)
        stack.extend(current.__dict__.get("_layers", ()))
    return out


def _one_or_list(tensors):
    """One tensor alone, several as a list (Keras's ``layer.output``)."""
    return tensors[0] if len(tensors) == 1 else list(tensors)


def training_mode():
    """The ``training`` value the current layer call runs with (None when none says)."""
    return _TRAINING.get()


@contextlib.contextmanager
def _training_scope(training):
    """Sub-layers called inside inherit ``training`` (unless given their own)."""
    token = _TRAINING.set(training)
    try:
        yield
    finally:
        _TRAINING.reset(token)


def _call_shapes(call, args, kwargs) -> dict:
    """``{"<argument>_shape": shape}`` for each argument of a call holding tensors (a
    list or dict of them as a list or dict of shapes), masks left out, as Keras's build
    config keeps them."""
    try:
        bound = inspect.signature(call).bind(*args, **kwargs).arguments
    except TypeError:
        bound = {f"input_{i}": a for i, a in enumerate(args)} | dict(kwargs)
    shapes = {}
    for name, value in bound.items():
        if name == "mask" or name.startswith("mask_"):    # as Keras: masks are not built on
            continue
        leaves = flatten(value)
        if leaves and all(is_tensor(t) for t in leaves):
            shapes[f"{name}_shape"] = map_structure(lambda t: tuple(t.shape), value)
    return shapes


def _shape_tuples(shape):
    """A JSON shape (lists) as Keras's build takes it: a tuple, or a list of tuples."""
    if isinstance(shape, dict):
        return {k: _shape_tuples(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _dtype_name(owner: str, dtype) -> str:
    """``dtype``'s Keras name, or a TypeError naming ``owner`` and the argument."""
    try:
        return as_dtype(dtype).keras_name
    except TypeError as e:
        raise TypeError(f"{owner}: `dtype`: {e}") from None


def _accepts(fn, name: str) -> bool:
    """Whether ``fn``'s signature names ``name`` (a ``**kwargs`` catch-all does not
    count: Keras passes ``training`` only to a ``call`` that names it)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def autocast_dtype(array_dtype, layer_dtype) -> np.dtype:
    """Keras's autocast: float arrays take a float layer's dtype (a float64 numpy array
    into a float32 layer computes in float32); other dtypes stay as they are."""
    array_dtype, layer_dtype = np.dtype(array_dtype), np.dtype(layer_dtype)
    return layer_dtype if array_dtype.kind == "f" and layer_dtype.kind == "f" else array_dtype


def _autocast(array: np.ndarray, layer_dtype) -> np.ndarray:
    return array.astype(autocast_dtype(array.dtype, layer_dtype), copy=False)


def _is_array_like(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic))
