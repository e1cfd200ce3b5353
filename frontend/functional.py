"""A model's traced forward graph: built from the layer calls between its inputs and
outputs, and inlined as a copy when the model is called on symbolic tensors.

:func:`make_functional` checks a functional model's inputs (``fg.Input`` tensors) and
outputs (symbolic), orders the layer calls between them as Keras 3 does
(:func:`records_between`), refuses two layers of one name, and traces two graphs: the
outputs only, and (when those calls recorded variable updates, BatchNormalization's
moving statistics) the outputs and then the updated values. :func:`fresh_salts` gives
each inlined copy of a graph its own random draws.
"""
from __future__ import annotations

import functools

from ..ir.builder import user_site
from . import guards
from .context import RNG_KEY
from .graphs import trace_graph
from .input_layer import InputLayer
from .layer import BUILDING
from .nest import flatten
from .random import make_salt, next_site, split_salt
from .tensor import is_symbolic


def make_functional(model, inputs, outputs, track_layers=True) -> "Functional":
    """``model``'s forward graph from ``inputs`` to ``outputs`` (checked), with the variable
    updates the layer calls between them recorded (see :func:`call_updates`)."""
    flat_inputs = flatten(inputs)
    for i, t in enumerate(flat_inputs):
        if not (is_symbolic(t) and isinstance(t.record.layer, InputLayer)):
            raise TypeError(f"model '{model.name}': input {i} must be a tensor made by "
                            f"fg.Input(...), got {t!r}")
    if outputs is None or not flatten(outputs):
        raise ValueError(f"model '{model.name}': `outputs` is empty")
    flat_outputs = flatten(outputs)
    for i, t in enumerate(flat_outputs):
        if not is_symbolic(t):
            raise TypeError(f"model '{model.name}': output {i} must be a symbolic tensor, "
                            f"got {t!r}")
    records = records_between(flat_inputs, outputs)
    check_unique_names(model.name, [t.record for t in flat_inputs] + records)
    if track_layers:
        for record in records:
            if all(record.layer is not known for known in model._layers):
                model._layers.append(record.layer)
    traced = trace_graph(model.name, flat_inputs, flat_outputs, model.weights)
    updates = call_updates(records)
    stepped = traced if not updates else trace_graph(
        model.name, flat_inputs, flat_outputs + [t for _, t in updates], model.weights)
    masked = [t._keras_mask for t in flat_outputs if t._keras_mask is not None]
    masks = trace_graph(model.name, flat_inputs, masked, model.weights) if masked else None
    added = _added_losses(records)
    losses = trace_graph(model.name, flat_inputs, added, model.weights) if added else None
    return Functional(inputs, outputs, flat_inputs, flat_outputs, records, traced,
                      [v for v, _ in updates], stepped, masks, losses)


def _added_losses(records) -> list:
    """The losses the layer calls ``records`` added while the model was built (activity
    regularizers, ``add_loss``), each once: the model's calls add them again, computed
    from their inputs (:attr:`Functional.losses`)."""
    out, seen = [], set()
    for record in records:
        for key, loss in record.layer.__dict__.get("_added_losses", ()):
            if key is BUILDING and is_symbolic(loss) and id(loss) not in seen:
                seen.add(id(loss))
                out.append(loss)
    return out


class Functional:
    """The traced forward graph of a model and what is needed to run it. ``updated``: the
    variables its layers' calls update (see :func:`call_updates`); ``stepped``: the graph
    whose results are the outputs, then those variables' new values (``traced`` itself
    when there are none). ``traced`` (``model.graph``, predictions) computes outputs only.
    ``masks``: the graph of the masks the outputs carry (Embedding(mask_zero=True),
    Masking), in output order, for the model's calls to attach (losses and metrics leave
    masked steps out); None when none does. ``losses``: the graph of the losses its
    layers added while it was built (activity regularizers, ``add_loss``), which its
    calls add to the model's ``losses`` there; None when there are none."""

    def __init__(self, inputs, outputs, flat_inputs, flat_outputs, records, traced,
                 updated=(), stepped=None, masks=None, losses=None):
        self.inputs, self.outputs = inputs, outputs
        self.flat_inputs, self.flat_outputs = flat_inputs, flat_outputs
        self.records, self.traced = records, traced
        self.updated, self.stepped = list(updated), stepped or traced
        self.masks, self.losses = masks, losses

    @functools.cached_property
    def input_requirements(self) -> list:
        """Per flat input, what this model's layers require of its values (an Embedding's
        ids in range: :func:`.guards.declared`); fixed once the graph is built, so read
        once, not per batch."""
        layers = [record.layer for record in self.records]
        return [guards.declared(t, layers) for t in self.flat_inputs]


def call_updates(records) -> list:
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


def records_between(inputs, outputs) -> list:
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

    for t in keras_flatten(outputs):
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


def keras_flatten(structure) -> list:
    """Leaves as Keras's ``tree.flatten`` lists them: dicts by sorted key."""
    if isinstance(structure, dict):
        return [leaf for k in sorted(structure) for leaf in keras_flatten(structure[k])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in keras_flatten(item)]
    return [structure]


def check_unique_names(model_name: str, records) -> None:
    """Keras's rule: the layers of a model (its inputs included) have distinct names."""
    seen: dict[str, object] = {}
    for record in records:
        layer = record.layer
        if seen.setdefault(layer.name, layer) is not layer:
            raise ValueError(f"{user_site()}: model '{model_name}': all layer names should be "
                             f"unique, but two layers (inputs included) are named "
                             f"'{layer.name}'; give them different `name=`s")


def fresh_salts():
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
