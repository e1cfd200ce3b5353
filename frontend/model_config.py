"""Models' configs as Keras 3 writes and reads them: functional, Sequential, subclassed.

A functional model's config lists its layers (``model.layers`` order, inputs included),
each as its serialized record plus ``name``, ``build_config`` and ``inbound_nodes``: one
node per call of the layer inside this model, holding the call's ``args`` and ``kwargs``
with every tensor written as Keras's ``__keras_tensor__`` record, whose
``keras_history`` ``[layer name, node index, tensor index]`` names the call that made it
(node indices count the layer's calls in this model, in call order). ``input_layers``
and ``output_layers`` give the inputs' and outputs' histories in the structure the
model was built with. Plain ops called outside layers (``x * 2.0``, ``fg.ops.mean``)
are written as Keras's op nodes (:mod:`.op_nodes`). :func:`functional_from_config` creates the layers again and replays the
calls in an order where every call's inputs exist (Keras's rule).

A Sequential's config lists an ``InputLayer`` record (when it has an input) and its
layers with their ``build_config``; a subclassed model's is its own ``get_config`` (or
the constructor's arguments, as a layer's).
"""
from __future__ import annotations

import contextlib
import contextvars

from . import serialization
from .input_layer import Input, InputLayer
from .layer_config import dtype_name, dtype_policy
from .nest import flatten, map_structure
from .op_nodes import OpNodes
from .tensor import is_symbolic


def input_layer_config(layer: InputLayer) -> dict:
    """Keras's InputLayer record (its config has the dtype by name, not a policy)."""
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": list(_keras_shape(layer.type.shape)),
                       "dtype": layer.type.dtype.keras_name, "sparse": False,
                       "ragged": False, "name": layer.name, "optional": False},
            "registered_name": None}


def _keras_shape(shape) -> tuple:
    return tuple(d if isinstance(d, int) else None for d in shape)


def layer_record(layer) -> dict:
    """A layer's serialized record with Keras's ``build_config`` when it has one."""
    if isinstance(layer, InputLayer):
        return input_layer_config(layer)
    record = serialization.serialize_keras_object(layer)
    build = layer.get_build_config()
    if build is not None:
        record["build_config"] = serialization.serialize_keras_object(build)
    return record


# --- functional -------------------------------------------------------------------------
def functional_config(model) -> dict:
    """Keras 3's config of the functional model ``model`` (see the module docstring)."""
    functional = model._require_functional()
    calls: dict[int, list] = {}
    for record in sorted(functional.records, key=lambda r: r.seq):
        calls.setdefault(id(record.layer), []).append(record)
    nodes = {id(r): (r.layer.name, i) for rs in calls.values() for i, r in enumerate(rs)}

    def history(t) -> list:
        """The ``[layer, node, tensor]`` of the input or layer call that made ``t``, or
        None."""
        if t.record is not None and isinstance(t.record.layer, InputLayer):
            return [t.record.layer.name, 0, 0]      # (an input no output reads too)
        if t.record is None or id(t.record) not in nodes:
            return None
        name, node = nodes[id(t.record)]
        return [name, node, next(i for i, out in enumerate(t.record.outputs) if out is t)]

    known: dict = {}         # an op's operands by IR value: the first call that made each
    for record in [t.record for t in functional.flat_inputs] + sorted(
            functional.records, key=lambda r: r.seq):
        for out in record.outputs:
            made_by = history(out)
            if made_by is not None:
                known.setdefault(id(out.value), made_by)
    op_nodes = OpNodes(model.name, known, [layer.name for layer in model.layers])

    def tensor_record(t):
        if not is_symbolic(t):
            return serialization.serialize_keras_object(t)
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype,
                           "keras_history": history(t) or op_nodes.history(t.value)}}

    layers = []
    for layer in model.layers:
        entry = layer_record(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [] if isinstance(layer, InputLayer) else [
            {"args": map_structure(tensor_record, list(r.arguments[0])),
             "kwargs": map_structure(tensor_record, dict(r.arguments[1]))}
            for r in calls.get(id(layer), [])]
        layers.append(entry)
    inputs = _histories(functional.inputs, tensor_record)
    outputs = _histories(functional.outputs, tensor_record)
    return {"name": model.name, "trainable": model.trainable,
            "layers": layers + op_nodes.entries, "input_layers": inputs,
            "output_layers": outputs}


def _histories(structure, tensor_record):
    """A structure of tensors as Keras writes ``input_layers``/``output_layers``: one
    tensor as its history, a list as a list of histories, a dict by key."""
    if isinstance(structure, dict):
        return {k: _histories(v, tensor_record) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_histories(t, tensor_record) for t in structure]
    return tensor_record(structure)["config"]["keras_history"]


# Whether calls' ``training`` arguments are the user's (files fusegraph wrote: a call
# given training=True keeps it) or Keras's (which records the flag every training-aware
# call had while built, and ignores it when its models run): see _call_if_ready.
_USERS_TRAINING: contextvars.ContextVar = contextvars.ContextVar("fusegraph_users_training",
                                                                default=False)


@contextlib.contextmanager
def calls_keep_training(keep: bool):
    """Within the block, functional configs keep their calls' ``training`` arguments
    (``keep``: the config was written by fusegraph) or drop them (Keras's)."""
    token = _USERS_TRAINING.set(bool(keep))
    try:
        yield
    finally:
        _USERS_TRAINING.reset(token)


def functional_from_config(model_class, config: dict, custom_objects=None, make_layer=None):
    """A new functional model of ``model_class`` from :func:`functional_config`'s dict
    (Keras's too): layers made (by ``make_layer(entry)`` when given, else from their
    records), their calls replayed once their inputs exist."""
    made: dict[str, object] = {}
    outputs: dict[tuple, list] = {}
    pending = []
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            inner = entry["config"]
            tensor = Input(batch_shape=tuple(inner.get("batch_shape") or
                                             inner.get("batch_input_shape")),
                           dtype=dtype_name(inner.get("dtype")), name=inner.get("name", name))
            made[name] = tensor.record.layer
            outputs[(name, 0)] = [tensor]
            continue
        layer = make_layer(entry) if make_layer is not None else \
            serialization.deserialize_keras_object(entry, custom_objects)
        made[name] = layer
        pending += [(layer, name, i, node) for i, node in enumerate(entry["inbound_nodes"])]
    while pending:
        waiting = [call for call in pending if not _call_if_ready(call, outputs)]
        if len(waiting) == len(pending):
            missing = sorted({tuple(h) for _, _, _, node in waiting
                              for h in _histories_in(node) if tuple(h[:2]) not in outputs})
            raise ValueError(f"model config '{config.get('name')}': the calls of "
                             f"{sorted({n for _, n, _, _ in waiting})} read tensors no layer "
                             f"makes: {missing}")
        pending = waiting

    def tensor(history):
        name, node, index = history
        return outputs[(name, node)][index]
    inputs = _from_histories(config["input_layers"], tensor)
    results = _from_histories(config["output_layers"], tensor)
    return model_class(inputs=inputs, outputs=results, name=config.get("name"),
                       trainable=config.get("trainable", True))


def _from_histories(structure, tensor):
    if isinstance(structure, dict):
        return {k: _from_histories(v, tensor) for k, v in structure.items()}
    if isinstance(structure, list) and structure and isinstance(structure[0], list):
        return [_from_histories(h, tensor) for h in structure]
    return tensor(structure)


def _histories_in(node) -> list:
    found = []

    def visit(x):
        if isinstance(x, dict):
            if x.get("class_name") == "__keras_tensor__":
                found.append(x["config"]["keras_history"])
            else:
                for v in x.values():
                    visit(v)
        elif isinstance(x, list):
            for v in x:
                visit(v)
    visit(node)
    return found


def _call_if_ready(call, outputs) -> bool:
    """Replay one node when every tensor it reads exists; whether it ran."""
    layer, name, index, node = call
    if any(tuple(h[:2]) not in outputs for h in _histories_in(node)):
        return False

    def rebuild(x):
        if isinstance(x, dict):
            if x.get("class_name") == "__keras_tensor__":
                layer_name, node_index, tensor_index = x["config"]["keras_history"]
                return outputs[(layer_name, node_index)][tensor_index]
            if "class_name" in x:
                return serialization.deserialize_keras_object(x)
            return {k: rebuild(v) for k, v in x.items()}
        if isinstance(x, list):
            return [rebuild(v) for v in x]
        return x
    args = rebuild(node.get("args", []))
    # Keras records the training flag a call had while built (its models ignore it; a
    # training= the user gave is kept from our own files) and masks that were None
    # (masks travel with their tensors)
    kwargs = {k: v for k, v in rebuild(node.get("kwargs", {})).items()
              if not (k == "training" and not _USERS_TRAINING.get())
              and not (k == "mask" and v is None)}
    result = layer(*args, **kwargs)
    outputs[(name, index)] = [t for t in flatten(result) if is_symbolic(t)]
    return True


# --- Sequential ---------------------------------------------------------------------------
def sequential_config(model) -> dict:
    """Keras 3's config of a Sequential."""
    layers = []
    if model._input_tensor is not None:
        layers.append(input_layer_config(model._input_tensor.record.layer))
    layers += [layer_record(layer) for layer in model.layers]
    config = {"name": model.name, "trainable": model.trainable,
              "dtype": dtype_policy(model.dtype), "layers": layers}
    if model._input_tensor is not None:
        config["build_input_shape"] = list(model._input_tensor.shape)
    return config


def sequential_from_config(model_class, config: dict, custom_objects=None, make_layer=None):
    """A new Sequential from :func:`sequential_config`'s dict (Keras's too); layers made
    by ``make_layer(entry)`` when given."""
    model = model_class(name=config.get("name"), trainable=config.get("trainable", True))
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            inner = entry["config"]
            model.add(Input(batch_shape=tuple(inner.get("batch_shape") or
                                              inner.get("batch_input_shape")),
                            dtype=dtype_name(inner.get("dtype")), name=inner.get("name")))
            continue
        model.add(make_layer(entry) if make_layer is not None else
                  serialization.deserialize_keras_object(entry, custom_objects))
    if not model.built and config.get("build_input_shape") is not None:
        model.build(tuple(config["build_input_shape"]))
    return model


# --- clone_model --------------------------------------------------------------------------
def clone_model(model, input_tensors=None, clone_function=None):
    """A new model of the same architecture with new, freshly initialized layers
    (Keras's ``clone_model``): ``clone_function(layer)`` makes each layer's copy (default:
    the layer made again from its record, ``type(layer).from_config(layer.get_config())``
    for most, Keras op nodes included); a subclassed model is
    ``from_config(get_config())``. ``input_tensors`` (Keras's option of new inputs) is
    not supported: a ValueError."""
    if input_tensors is not None:
        raise ValueError("clone_model(input_tensors=...) is not supported by fusegraph: "
                         "clone the model, then call the clone on your tensors")
    def copy(layer):        # no file involved: a Lambda's function is our own
        with serialization.safe_mode_scope(False):
            return serialization.deserialize_keras_object(
                serialization.serialize_keras_object(layer))
    clone_function = clone_function or copy
    config = model.get_config()
    if getattr(model, "_graph_network", False):
        def make_layer(entry):
            return clone_function(model.get_layer(entry["name"]))
        return functional_from_config(type(model), config, make_layer=make_layer)
    if type(model).__name__ == "Sequential" or hasattr(model, "_input_tensor"):
        layers = iter(model.layers)
        return sequential_from_config(type(model), config,
                                      make_layer=lambda entry: clone_function(next(layers)))
    with serialization.safe_mode_scope(False):
        return type(model).from_config(config)
