"""``model.summary()``: a Keras-style table of layers, output shapes and parameters."""
from __future__ import annotations

import numpy as np


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


def _rows(model):
    f = model._functional
    records = {}
    if f is not None:
        for record in f.records:
            records.setdefault(id(record.layer), record)
    producers = {}
    for record in records.values():
        for t in getattr(record, "outputs", ()):
            producers[id(t)] = record.layer.name
    rows, connected = [], False
    for layer in model.layers:
        record = records.get(id(layer)) or getattr(layer, "_last_record", None)
        shape = _shape_text(record.outputs) if record is not None and getattr(record, "outputs", ()) else "?"
        sources = [producers.get(id(t)) for t in record.inputs] if record is not None else []
        connected |= len(sources) > 1
        kind = type(layer).__name__
        kind = "Functional" if kind == "Model" else kind   # Keras's name for Model(inputs, outputs)
        rows.append((f"{layer.name} ({kind})", shape, layer.count_params(),
                     ", ".join(s for s in sources if s)))
    return rows, connected


def format_summary(model) -> str:
    rows, connected = _rows(model)
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    table = [[name, shape, f"{params:,}"] + ([links] if connected else [])
             for name, shape, params, links in rows]
    widths = [max([len(headers[i])] + [len(r[i]) for r in table]) + 2 for i in range(len(headers))]
    line = lambda cells: "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    nbytes = sum(w.value.nbytes for w in model.weights)
    tbytes = sum(w.value.nbytes for w in model.trainable_weights)
    rule = "━" * sum(widths)
    out = [f'Model: "{model.name}"', rule, line(headers), rule]
    for r in table:
        out.append(line(r))
    out += [rule, f" Total params: {total:,} ({_bytes_text(nbytes)})",
            f" Trainable params: {trainable:,} ({_bytes_text(tbytes)})",
            f" Non-trainable params: {total - trainable:,} ({_bytes_text(nbytes - tbytes)})"]
    return "\n".join(out)
