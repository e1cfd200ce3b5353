"""``fg.utils.plot_model`` and ``fg.utils.model_to_dot``: a model's layers drawn by
Graphviz, as Keras 3's (same arguments, defaults, labels and graph attributes).

What is drawn, by kind of model (as Keras draws it):

* functional: one box per layer (its ``Input`` layers included), an edge from the layer
  that made each tensor a layer call reads to that layer;
* ``Sequential``: one box per layer (no input box), an edge from each to the next;
* subclassed: one box, the model itself.

A box is an HTML-like table: a black title row (``name (Class)``, or the class alone
with ``show_layer_names=False``); ``Activation: relu`` with ``show_layer_activations``
for layers that have one; then a row of the input and output shapes (``show_shapes``;
an ``InputLayer`` has only its output shape), the output dtype (``show_dtype``), and
``Trainable``/``Non-trainable`` (``show_trainable``, for layers with weights). With
``expand_nested``, a nested functional or Sequential model is drawn as a dashed cluster
of its own layers, and the edges go to and from the boxes inside it.

``model_to_dot`` returns a ``pydot.Dot`` (needs pydot: ``pip install pydot``);
``plot_model`` writes it through :mod:`.graphviz_files` (Graphviz's ``dot`` program for
images; the file's suffix picks the format, ``.dot`` writes the DOT text), atomically.
"""
from __future__ import annotations

import html

from ..frontend.model import Model, Sequential
from ..frontend.nest import flatten
from ..frontend.summary import kind_name
from .graphviz_files import require_dot, require_pydot, write_graph


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, splines="ortho",
                 **kwargs):
    """The ``pydot.Dot`` of ``model``'s layers (a ``pydot.Cluster`` with ``subgraph=True``);
    see the module docstring for what it draws. ValueError for a model not built yet or
    an unknown keyword argument; ImportError without pydot."""
    _check_model(model, "model_to_dot")
    _check_kwargs(kwargs)
    pydot = require_pydot("model_to_dot")
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    label = dict(show_shapes=show_shapes, show_dtype=show_dtype,
                 show_layer_names=show_layer_names,
                 show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    if _kind(model) == "subclassed":
        dot.add_node(_node(pydot, model, None, label))
        return dot
    records = _first_records(model)
    layers = model.layers
    for layer in layers:
        if expand_nested and _kind(layer) in ("functional", "sequential"):
            dot.add_subgraph(model_to_dot(layer, rankdir=rankdir, expand_nested=True,
                                          subgraph=True, **label))
        else:
            dot.add_node(_node(pydot, layer, records.get(id(layer)), label))
    if _kind(model) == "sequential":
        for source, target in zip(layers, layers[1:]):
            _add_edge(pydot, dot, _output_box(source, 0, expand_nested),
                      _first_box(target, 0, expand_nested))
        return dot
    for record in model._functional.records:
        for index, tensor in enumerate(record.inputs):
            source = tensor.record.layer if tensor.record is not None else None
            if source is None:
                continue
            _add_edge(pydot, dot, _output_box(source, _position(tensor), expand_nested),
                      _first_box(record.layer, index, expand_nested))
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho",
               **kwargs):
    """Draw ``model`` (see :func:`model_to_dot`) into ``to_file``, in the format its suffix
    names (``.png`` without one; ``.dot`` writes the DOT text and needs no Graphviz),
    atomically. Returns an ``IPython.display.Image`` of the file where IPython is installed
    (not for ``.pdf``), as Keras's, else None. ImportError saying what to install when
    pydot or Graphviz's ``dot`` is missing."""
    _check_model(model, "plot_model")
    _check_kwargs(kwargs)
    to_file = str(to_file)
    require_pydot("plot_model")
    if not to_file.lower().endswith((".dot", ".gv")):
        require_dot("plot_model")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, splines=splines)
    write_graph(dot.to_string(), to_file, "plot_model")
    if to_file.lower().endswith(".pdf"):
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    return display.Image(filename=to_file)


def _check_model(model, purpose: str) -> None:
    if not isinstance(model, Model):
        raise TypeError(f"{purpose} takes a model (fg.Model or fg.Sequential), got {model!r}")
    if not model.built:
        raise ValueError(f"{purpose}: model '{model.name}' has not been built yet: build it "
                         f"first by calling it on a batch of data or with model.build("
                         f"input_shape)")


def _check_kwargs(kwargs: dict) -> None:
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported (as in Keras 3)")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {sorted(kwargs)}")


def _kind(layer) -> str:
    """``functional``, ``sequential``, ``subclassed`` (a model), or ``layer``."""
    if isinstance(layer, Sequential):
        return "sequential"
    if not isinstance(layer, Model):
        return "layer"
    functional = type(layer).call is Model.call and layer._functional is not None
    return "functional" if functional else "subclassed"


def _first_records(model) -> dict:
    """Each layer's first call among ``model``'s layer calls, by ``id`` of the layer."""
    records = {}
    for record in model._functional.records if model._functional is not None else ():
        records.setdefault(id(record.layer), record)
    return records


def _first_box(layer, index: int, expand: bool):
    """The box an edge into ``layer``'s input ``index`` points at: inside an expanded
    nested model, its input layer (functional) or its first layer (Sequential)."""
    while expand and _kind(layer) in ("functional", "sequential"):
        if _kind(layer) == "sequential":
            layer, index = layer.layers[0], 0
        else:
            layer = layer.inputs[min(index, len(layer.inputs) - 1)].record.layer
    return layer


def _output_box(layer, position: int, expand: bool):
    """The box an edge from ``layer``'s output ``position`` starts at: inside an expanded
    nested model, the layer that makes that output of the model."""
    while expand and _kind(layer) in ("functional", "sequential"):
        tensor = layer.outputs[position]
        layer, position = tensor.record.layer, _position(tensor)
    return layer


def _position(tensor) -> int:
    """Which output of the call that made it ``tensor`` is."""
    return next((i for i, out in enumerate(flatten(tensor.record.outputs)) if out is tensor), 0)


def _add_edge(pydot, dot, source, target) -> None:
    src, dst = str(id(source)), str(id(target))
    if not dot.get_edge(src, dst):
        edge = pydot.Edge(src, dst)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def _node(pydot, layer, record, label: dict):
    node = pydot.Node(str(id(layer)), label=_label(layer, record, **label))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _label(layer, record, show_shapes, show_dtype, show_layer_names,
           show_layer_activations, show_trainable) -> str:
    """The HTML-like table of one box (see the module docstring)."""
    kind = kind_name(layer)
    cells = []
    if show_shapes:
        inputs, outputs = _io(layer, record)
        if kind != "InputLayer":
            cells.append(_cell(f"Input shape: <b>{_shapes(inputs)}</b>"))
        cells.append(_cell(f"Output shape: <b>{_shapes(outputs)}</b>"))
    if show_dtype:
        outputs = _io(layer, record)[1]
        dtypes = [t.dtype for t in outputs]
        text = "?" if not dtypes else dtypes[0] if len(dtypes) == 1 else str(dtypes)
        cells.append(_cell(f"Output dtype: <b>{html.escape(text)}</b>"))
    if show_trainable and getattr(layer, "weights", None):
        color, text = ("forestgreen", "Trainable") if layer.trainable else \
            ("firebrick", "Non-trainable")
        cells.append(f'<td bgcolor="{color}"><font point-size="14" color="white">'
                     f"<b>{text}</b></font></td>")
    span = max(1, 2 * show_shapes + show_dtype + show_trainable)
    title = (f"<b>{html.escape(layer.name)}</b> ({html.escape(kind)})" if show_layer_names
             else f"<b>{html.escape(kind)}</b>")
    rows = [f'<tr><td colspan="{span}" bgcolor="black"><font point-size="16" '
            f'color="white">{title}</font></td></tr>']
    activation = getattr(layer, "activation", None) if show_layer_activations else None
    if activation is not None:
        name = getattr(activation, "name", None) or getattr(activation, "__name__", None) \
            or str(activation)
        rows.append(f'<tr><td bgcolor="white" colspan="{span}"><font point-size="14">'
                    f"Activation: <b>{html.escape(name)}</b></font></td></tr>")
    if cells:
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
            + "".join(rows) + "</table>>")


def _cell(text: str) -> str:
    return f'<td bgcolor="white"><font point-size="14">{text}</font></td>'


def _io(layer, record) -> tuple:
    """The input and output tensors of ``layer``'s call (``record``, else its last call),
    or empty tuples where it has none (a subclassed model never called)."""
    if record is None and isinstance(layer, Model) and layer._functional is not None:
        return tuple(layer.inputs), tuple(layer.outputs)
    record = record if record is not None else layer.__dict__.get("_last_record")
    if record is None:
        return (), ()
    return tuple(t for t in flatten(record.inputs) if hasattr(t, "shape")), \
        tuple(t for t in flatten(record.outputs) if hasattr(t, "shape"))


def _shapes(tensors) -> str:
    """``(None, 3)`` for one tensor, ``[(None, 3), (None, 2)]`` for several, ``?`` for
    none."""
    shapes = [str(t.shape) for t in tensors]
    text = "?" if not shapes else shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"
    return html.escape(text)


__all__ = ["model_to_dot", "plot_model"]
