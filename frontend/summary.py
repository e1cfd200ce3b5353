"""``model.summary()``: a Keras-style table of layers, output shapes and parameters, as
wide as Keras 3 makes it.

The rule (Keras 3's ``print_summary``): a model is *sequential-like* (a ``Sequential``, a
subclassed model, or a functional model that is a plain chain: one input, one output,
no layer call with several inputs, no layer called twice) or not; the table has the
columns ``Layer (type)``, ``Output Shape``, ``Param #`` and, when not sequential-like,
``Connected to`` (``name[call][output]`` of each tensor a layer call reads, ``-`` for
none), plus ``Trainable`` with ``show_trainable`` (``Y``, ``N``, ``-`` for a layer
without weights). Its width ``line_length`` defaults to 88 columns (108 when not
sequential-like, 12 more with ``show_trainable``), at most the terminal's width less 4
(:func:`shutil.get_terminal_size`: ``COLUMNS``, else the terminal, else 80). Column ``i``
ends at ``positions[i]`` of the line: fractions of ``line_length`` (Keras 3's defaults
``[0.45, 0.80, 1.0]`` and ``[0.3, 0.56, 0.74, 1.0]``, each times 0.9 with a 1.0 added for
``show_trainable``), or, when the last one is above 1, absolute columns (Keras 2's rule,
which Keras 3's docstring still states). A column narrower than 4 is a ValueError, as
Keras's. A cell wider than its column wraps at spaces onto more lines; a word longer
than the column is cut with ``…`` (as Keras's rich table does). ``Param #`` is right
aligned.

The look is fusegraph's, not Keras's rich box: heavy rules around the header, a light
rule between layers, no vertical borders (the text splits into its words).
"""
from __future__ import annotations

import re
import shutil
import textwrap

import numpy as np

_SEQUENTIAL_POSITIONS = (0.45, 0.80, 1.0)
_GRAPH_POSITIONS = (0.3, 0.56, 0.74, 1.0)


def kind_name(layer) -> str:
    """A layer's class name as Keras shows it (``Functional`` for ``Model(inputs,
    outputs)``)."""
    kind = type(layer).__name__
    return "Functional" if kind == "Model" else kind


def format_summary(model, line_length=None, positions=None, expand_nested=False,
                   show_trainable=False, layer_range=None) -> str:
    """The summary text of ``model`` (see the module docstring for the layout)."""
    sequential_like = _sequential_like(model)
    headers = ["Layer (type)", "Output Shape", "Param #"]
    default_length = 88 if sequential_like else 108
    if positions is None:
        positions = _SEQUENTIAL_POSITIONS if sequential_like else _GRAPH_POSITIONS
    if not sequential_like:
        headers.append("Connected to")
    if show_trainable:
        default_length += 12
        positions = [p * 0.9 for p in positions] + [1.0]
        headers.append("Trainable")
    if line_length is None:
        line_length = min(default_length, shutil.get_terminal_size().columns - 4)
    widths = _column_widths(positions, line_length, len(headers))
    layers = model.layers
    start, stop = _layer_bounds(layers, layer_range)
    rows = []
    for layer in layers[start:stop]:
        rows += _layer_rows(model, layer, 0, sequential_like, show_trainable, expand_nested)
    table = _render([headers] + rows, widths)
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    nbytes = sum(w.value.nbytes for w in model.weights)
    tbytes = sum(w.value.nbytes for w in model.trainable_weights)
    heavy, light = "━" * line_length, "─" * line_length
    out = [f'Model: "{model.name}"', heavy, *table[0], heavy]
    for i, row in enumerate(table[1:]):
        out += ([light] if i else []) + row
    out += [heavy, f" Total params: {total:,} ({_bytes_text(nbytes)})",
            f" Trainable params: {trainable:,} ({_bytes_text(tbytes)})",
            f" Non-trainable params: {total - trainable:,} ({_bytes_text(nbytes - tbytes)})"]
    return "\n".join(out)


def _column_widths(positions, line_length: int, count: int) -> list[int]:
    """Column widths from the positions where columns end (fractions of ``line_length``,
    or absolute columns when the last is above 1)."""
    positions = list(positions)
    if len(positions) != count:
        raise ValueError(f"summary: positions must give the end of each of the {count} "
                         f"columns, got {len(positions)}: {positions}")
    if not isinstance(line_length, int) or line_length < 1:
        raise ValueError(f"summary: line_length must be a positive int, got {line_length!r}")
    scale = line_length if positions[-1] <= 1 else 1
    widths, current = [], 0
    for position in positions:
        width = int(position * scale) - current
        if width < 4:
            raise ValueError(f"Insufficient console width to print summary: column "
                             f"{len(widths) + 1} would be {width} wide (line_length="
                             f"{line_length}, positions={positions})")
        widths.append(width)
        current += width
    return widths


def _render(rows, widths) -> list[list[str]]:
    """Each row as its lines: cells wrapped into their columns (a space after each, two
    after the right-aligned ``Param #``)."""
    out = []
    for row in rows:
        cells = [_wrap(text, width - (2 if column == 2 else 1))
                 for column, (text, width) in enumerate(zip(row, widths))]
        height = max(len(c) for c in cells)
        lines = []
        for k in range(height):
            parts = []
            for column, (cell, width) in enumerate(zip(cells, widths)):
                text = cell[k] if k < len(cell) else ""
                parts.append(text.rjust(width - 2) + "  " if column == 2 else text.ljust(width))
            lines.append("".join(parts).rstrip())
        out.append(lines)
    return out


def _wrap(text: str, width: int) -> list[str]:
    """``text`` wrapped at spaces into lines of ``width``; a longer word cut with ``…``."""
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]
    return [line if len(line) <= width else line[:width - 1] + "…" for line in lines]


def _sequential_like(model) -> bool:
    """Whether ``model`` prints without ``Connected to`` (see the module docstring)."""
    from .model import Model, Sequential
    f = model._functional
    if isinstance(model, Sequential) or type(model).call is not Model.call or f is None:
        return True
    if len(f.flat_inputs) > 1 or len(f.flat_outputs) > 1:
        return False
    seen = set()
    for record in f.records:
        if len(record.inputs) > 1 or id(record.layer) in seen:
            return False
        seen.add(id(record.layer))
    return True


def _layer_rows(model, layer, level: int, sequential_like: bool, show_trainable: bool,
                expand_nested: bool) -> list[list[str]]:
    """The row of ``layer`` (a layer of ``model``), then its own layers' rows when it is a
    model and ``expand_nested``."""
    records = _records(model)
    mine = [r for r in records if r.layer is layer]
    record = mine[0] if mine else layer.__dict__.get("_last_record")
    prefix = "   " * level + "└ " if level else ""
    shape = _shape_text(record.outputs) if record is not None and record.outputs else "?"
    row = [f"{prefix}{layer.name} ({kind_name(layer)})", shape, f"{layer.count_params():,}"]
    if not sequential_like:
        row.append(_connections(records, mine) if level == 0 else "-")
    if show_trainable:
        row.append("-" if not layer.weights else "Y" if layer.trainable else "N")
    rows = [row]
    if expand_nested and getattr(layer, "layers", None):
        for inner in layer.layers:
            rows += _layer_rows(layer, inner, level + 1, sequential_like, show_trainable,
                                expand_nested)
    return rows


def _records(model) -> list:
    f = getattr(model, "_functional", None)
    return list(f.records) if f is not None else []


def _connections(records, calls) -> str:
    """``producer[call][output]`` of each tensor the layer's ``calls`` read."""
    links = []
    for record in calls:
        for t in record.inputs:
            source = t.record
            if source is None or source.layer is None:
                continue
            call = [r for r in records if r.layer is source.layer].index(source) \
                if source in records else 0
            outputs = list(source.outputs)
            index = next((i for i, o in enumerate(outputs) if o is t), 0)
            links.append(f"{source.layer.name}[{call}][{index}]")
    return ", ".join(links) or "-"


def _layer_bounds(layers, layer_range) -> tuple[int, int]:
    """The slice of ``layers`` from the first whose name matches ``layer_range[0]`` (a
    regular expression) to the last matching ``layer_range[1]``; all without a range."""
    if layer_range is None:
        return 0, len(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2 \
            or not all(isinstance(p, str) for p in layer_range):
        raise ValueError(f"layer_range must be a list or tuple of two layer names (regular "
                         f"expressions), got {layer_range!r}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(f"layer_range {list(layer_range)} matches no layer of the model; "
                         f"its layers are {[layer.name for layer in layers]}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def _shape_text(tensors) -> str:
    shapes = [str(t.shape).replace(",)", ")") for t in tensors]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _bytes_text(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return ""
