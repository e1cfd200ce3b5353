"""Weights in Keras 3's HDF5 layout (``.weights.h5``, and ``model.weights.h5`` inside a
``.keras`` file).

Keras 3 stores each object's own variables under ``<path>/vars/0``, ``1``, ... (the
object's trainable variables, then its non-trainable ones, in creation order), where the
path walks the object tree as Keras's saving library does: a functional or Sequential
model's ``layers`` first, then every attribute holding a layer, a list/dict of layers or
the optimizer, in sorted order with private (``_``) names last, each object saved where
first reached; a layer reached through a list is named by its class in snake case, with
``_1``, ``_2`` ... for repeats (``layers/dense``, ``layers/dense_1``), not by its
(auto-generated) name. Keras's recurrent layers keep their weights in a ``cell``, and
MultiHeadAttention in four EinsumDense sub-layers: fusegraph's keep them on the layer,
so :func:`_keras_children` maps them to Keras's paths.

:func:`weight_groups` lists a model's ``(path, variables, name)`` groups;
:func:`write` writes them to an open HDF5 file; :func:`read_into` checks a file's
groups against the model's (every path, count and shape) before assigning anything.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..frontend.input_layer import InputLayer
from ..frontend.layer import Layer
from ..frontend.naming import to_snake_case
from ..frontend.optimizer_base import Optimizer


def weight_groups(model, with_optimizer: bool = True) -> list[tuple[str, list, str]]:
    """``(path, variables, name)`` per object of ``model``'s tree, in Keras's order
    (see the module docstring); the optimizer's group (``optimizer``) when it has
    variables and ``with_optimizer``."""
    groups: list = []
    visited: set[int] = set()
    _walk(model, "", groups, visited, with_optimizer)
    return groups


def _walk(obj, path: str, groups: list, visited: set, with_optimizer: bool) -> None:
    if id(obj) in visited:
        return
    visited.add(id(obj))
    if isinstance(obj, Optimizer):
        if with_optimizer and obj.variables:
            groups.append((path, list(obj.variables), obj.name))
        return
    own = list(obj._own_weights) if isinstance(obj, Layer) else []
    special = _keras_children(obj)
    if special is not None:
        groups.append((path, [], obj.name))
        for child, variables in special:
            groups.append((_join(path, child), variables, child))
        return
    groups.append((path, [w for w in own if w.trainable] + [w for w in own if not w.trainable],
                   obj.name))
    for attr, child in _children(obj):
        if isinstance(child, (list, tuple, dict)):
            _walk_container(child, _join(path, attr), groups, visited, with_optimizer)
        else:
            _walk(child, _join(path, attr), groups, visited, with_optimizer)


def _walk_container(container, path, groups, visited, with_optimizer) -> None:
    used: dict[str, int] = {}
    items = container.values() if isinstance(container, dict) else container
    for item in items:
        if isinstance(item, (Layer, InputLayer, Optimizer)):
            name = _snake(type(item).__name__)
            used[name] = used.get(name, -1) + 1
            _walk(item, _join(path, name if used[name] == 0 else f"{name}_{used[name]}"),
                  groups, visited, with_optimizer)


def _children(obj) -> list:
    """The attributes Keras's walk visits holding layers, containers of layers or the
    optimizer: ``layers`` first for a functional or Sequential model, then sorted by
    name, private names last; a subclassed model's ``layers`` at its sorted place."""
    if isinstance(obj, InputLayer):
        return []
    attrs = {name: value for name, value in vars(obj).items()
             if not name.startswith("__") and _saveable(value)}
    graph = getattr(obj, "_graph_network", False) or hasattr(obj, "_input_tensor")
    if hasattr(obj, "layers") and hasattr(obj, "_functional"):     # a model
        attrs["layers"] = obj.layers
        optimizer = getattr(obj, "optimizer", None)
        if optimizer is not None:
            attrs["optimizer"] = optimizer
    ordered = sorted(attrs, key=lambda n: "~" + n if n.startswith("_") else n)
    if graph and "layers" in attrs:
        ordered.remove("layers")
        ordered.insert(0, "layers")
    return [(name, attrs[name]) for name in ordered]


def _saveable(value) -> bool:
    if isinstance(value, (Layer, Optimizer)):
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(
        isinstance(v, (Layer, InputLayer, Optimizer)) for v in value)


def _keras_children(layer):
    """``[(sub-path, variables)]`` where Keras keeps a built-in layer's weights in
    sub-layers of its own (recurrent cells, attention projections); None elsewhere."""
    from ..frontend.layers.attention import MultiHeadAttention
    from ..frontend.layers.recurrent import _RNN
    if isinstance(layer, _RNN):
        return [("cell", list(layer._own_weights))]
    if isinstance(layer, MultiHeadAttention):
        return [(f"{part}_dense", [w for w in (getattr(layer, f"{part}_kernel", None),
                                               getattr(layer, f"{part}_bias", None))
                                   if w is not None])
                for part in ("key", "output", "query", "value")]
    return None


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _snake(name: str) -> str:
    """Keras's ``to_snake_case`` (a private class's name gets ``private`` in front)."""
    name = to_snake_case(name)
    return "private" + name if name[0] == "_" else name


# --- files ----------------------------------------------------------------------------------
def write(h5file, model) -> None:
    """Write ``model``'s groups into the open, empty HDF5 file ``h5file``."""
    for path, variables, name in weight_groups(model):
        group = h5file.require_group(_join(path, "vars"))
        group.attrs["name"] = name
        for i, w in enumerate(variables):
            group.create_dataset(str(i), data=w.numpy())


def read_into(h5file, model, source: str, with_optimizer: bool = True) -> None:
    """Assign the weights in the open HDF5 file ``h5file`` to ``model``. Every group the
    model has must be in the file with its count and shapes, and a file group with
    variables the model lacks is an error too: nothing is assigned before all is
    checked. The optimizer's variables load too when the file and the model both have
    them (with ``with_optimizer``), its slots built first if needed; when they do not
    match (another optimizer: Keras's "load pretrained weights, fine-tune with another
    optimizer"), a warning says so and the optimizer keeps its state, as in Keras.
    ``source`` names the file in errors."""
    groups = weight_groups(model, with_optimizer=False)
    assignments = _checked(h5file, groups, model, source)
    expected = {_join(path, "vars") for path, _, _ in groups}
    extra = sorted(key for key in _groups_with_vars(h5file)
                   if key.split("/")[0] != "optimizer" and key not in expected)
    if extra:
        raise ValueError(f"{source}: model '{model.name}' has no weights where the file "
                         f"holds {extra}: the file was written by another model")
    optimizer = getattr(model, "optimizer", None)
    if with_optimizer and optimizer is not None and "optimizer" in h5file:
        if not optimizer.built:
            optimizer.build(model.trainable_weights)
        try:
            assignments += _checked(h5file, [("optimizer", list(optimizer.variables),
                                              optimizer.name)], model, source)
        except ValueError as e:
            warnings.warn(f"{source}: the optimizer's variables were not loaded: {e}",
                          stacklevel=3)
    for w, array in assignments:
        w.assign(np.asarray(array, dtype=w.value.dtype))


def _checked(h5file, groups, model, source: str) -> list:
    """``(variable, array)`` pairs for ``groups``, each checked against the file's
    ``<path>/vars`` (count and shapes); a ValueError naming the first mismatch."""
    pairs = []
    for path, variables, _ in groups:
        key = _join(path, "vars")
        stored = _stored(h5file, key)
        if len(stored) != len(variables):
            raise ValueError(f"{source}: model '{model.name}': '{path or model.name}' has "
                             f"{len(variables)} weights, the file holds {len(stored)} at "
                             f"'{key}'")
        for w, array in zip(variables, stored):
            if tuple(array.shape) != tuple(w.shape):
                raise ValueError(f"{source}: model '{model.name}': weight '{w.path}' has "
                                 f"shape {tuple(w.shape)}, the file's '{key}' holds shape "
                                 f"{tuple(array.shape)}")
            pairs.append((w, array))
    return pairs


def _stored(h5file, key: str) -> list:
    if key not in h5file:
        return []
    group = h5file[key]
    return [group[str(i)][()] for i in range(len(group))]


def _groups_with_vars(h5file) -> list[str]:
    found = []

    def visit(name, obj):
        if name.endswith("vars") and hasattr(obj, "keys") and len(obj):
            found.append(name)
    h5file.visititems(visit)
    return found
