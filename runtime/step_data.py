"""A step's data: what one batch becomes before the compiled ``train_step``/``test_step``
runs on it, and what the step's logs become after.

``StepData`` is mixed into the Trainer (it reads the model's ``_functional``,
``input_names`` and ``_match_inputs``): ``_step_data`` converts and checks a batch,
``_step_labels`` names its leaves in errors, ``_step_holder_shapes`` gives the traced
placeholders the model's input shapes, and ``_check_data`` traces a loop's first batch
and checks all of its array data against the trace's host guards before the first step
(``_check_inputs``: the model inputs against what its layers require, as Embedding ids).
:func:`log_values` turns a step's returned logs into floats (numeric arrays, such as
F1Score's per-class result, into float arrays, as Keras logs them), or says which key
is wrong.
"""
from __future__ import annotations

import numpy as np

from ..ir import Sym
from ..frontend.function import graph_array
from ..frontend.nest import flatten, labelled_leaves, pack_like
from ..frontend.tensor import is_symbolic
from .data import numeric_array, unpack_x_y_sample_weight
from .error_context import errors_from


class StepData:
    """The Trainer's batch conversion and data checks (see the module)."""

    def _step_data(self, x, y=None, sample_weight=None, convert=True):
        """What train_step/test_step receive, as Keras passes it (x alone when there are
        no targets), as the arrays the step graph takes: a functional model's inputs are
        checked and converted as a call converts them (a wrong shape, dtype or name is an
        error naming the input), other float64 and float16 arrays become float32 (and
        non-numbers are a TypeError naming ``y``, ``sample_weight``...). With
        ``convert=False``, the same structure with the arrays as given. A batch of no
        samples is a ValueError naming the empty array (a step on it would still move the
        optimizer and, with BatchNormalization, set its moving statistics to NaN). The
        inputs are checked against what the model's layers require of them first
        (:meth:`_check_inputs`): all of the data when ``_check_data`` passes it whole."""
        if convert:
            _check_not_empty({"x": x, "y": y, "sample_weight": sample_weight})
        if self._functional is not None and x is not None:
            self._check_inputs(x)
            arrays = self._match_inputs(x, convert=convert)
            if isinstance(x, dict):
                x = dict(zip(self.input_names, arrays))
            else:
                x = type(x)(arrays) if isinstance(x, (list, tuple)) else arrays[0]
        elif convert:
            x = _floatx(x, "x")
        if convert:
            y, sample_weight = _floatx(y, "y"), _floatx(sample_weight, "sample_weight")
        if y is None and sample_weight is None:
            return x
        return (x, y) if sample_weight is None else (x, y, sample_weight)

    def _check_inputs(self, x) -> None:
        """The inputs ``x`` of a functional model (an array, a list, or a dict by name;
        whole arrays or one batch) against what the model's layers called on each
        ``fg.Input`` required of its values (an Embedding's ids in ``[0, input_dim)``, see
        :func:`.guards.declared`), on the host: an :class:`.guards.IndexRangeError`
        naming the input (``x``, ``x[1]``, ``x['title']``) and the position in its array.
        A model not traced yet (subclassed, before its first call) has nothing to check."""
        if self._functional is None:
            return
        required = self._functional.input_requirements
        if not any(required):
            return
        arrays = self._match_inputs(x, convert=False)
        for i, (array, checks) in enumerate(zip(arrays, required)):
            label = (f"x[{self.input_names[i]!r}]" if isinstance(x, dict) else
                     f"x[{i}]" if isinstance(x, (list, tuple)) else "x")
            for guard in checks:
                guard.check(array, label, f"model '{self.name}'")

    @staticmethod
    def _step_labels(args, kwargs, names=("x", "y", "sample_weight")) -> list[str]:
        """Labels of a step's flattened data for errors (``y['out']``), read as the step
        reads it (:func:`.data.unpack_x_y_sample_weight`); ``names`` for x, y and
        sample_weight (``validation_data[0]``, ...)."""
        data = args[0] if len(args) == 1 and not kwargs else (args, kwargs)
        parts = data if isinstance(data, (list, tuple)) and len(data) in (1, 2, 3) else (data,)
        return [label for name, part in zip(names, parts)
                for label, _ in labelled_leaves(part, name)]

    def _check_data(self, function, data, where: str, names=("x", "y", "sample_weight"),
                    datasets: bool = False):
        """Before the first step of a loop on array data: trace ``function`` for its first
        batch (so that a wrong structure, name, shape or dtype, and targets the losses
        cannot use, fail now, not after steps changed the weights) and check all of the
        data against the trace's host guards and the model inputs' requirements (class
        labels, Embedding ids in range, at their position in the user's arrays; ``names``
        name x, y and sample_weight). With ``datasets``, a Dataset's first batch is traced and checked the same way (see
        :meth:`.DataAdapter.first_batch`). An error reads ``where: ...``. Other sources
        are checked batch by batch."""
        batch = data.first_batch(datasets)
        if batch is None:
            return
        if data.arrays is None:
            names = ("x", "y", "sample_weight")
        with errors_from(where):
            traced = function.traced(self._step_data(*batch))
            whole = self._step_data(*(data.arrays or batch), convert=False)
            traced.check(flatten(whole), self._step_labels((whole,), {}, names), where)

    def _step_holder_shapes(self, args, kwargs) -> list:
        """Placeholder shapes for a step's data: ``x`` as the model's inputs (each of their
        symbolic sizes, a Keras None, stays symbolic: an ``Input(shape=(None, F))`` is
        traced once for all sequence lengths), the targets and sample weights as their
        data (only the batch axis symbolic, or the inputs' batch size when the model was
        built for one). For a model without inputs (subclassed), all as their data."""
        leaves = flatten((args, kwargs))
        defaults = [None] * len(leaves)
        if self._functional is None or len(args) != 1 or kwargs:
            return defaults
        x = unpack_x_y_sample_weight(args[0])[0]
        inputs = self._functional.flat_inputs
        if x is None or len(flatten(x)) != len(inputs):
            return defaults
        by_name = dict(zip(self.input_names, inputs))
        if isinstance(x, dict):
            if set(x) != set(by_name):
                return defaults
            ordered = [by_name[k] for k in x]
        else:
            ordered = list(inputs)
        shapes = [tuple(None if isinstance(d, Sym) else d for d in t.type.shape)
                  for t in ordered]
        batch = {shape[0] for shape in shapes if shape and shape[0] is not None}
        if len(batch) != 1:
            return shapes + defaults[len(shapes):]
        fixed = batch.pop()   # a model built for one batch size: targets take it too
        return shapes + [(fixed,) + np.shape(leaf)[1:] if np.ndim(leaf) > 0 else None
                         for leaf in leaves[len(shapes):]]


def _floatx(structure, label: str):
    """float64 and float16 arrays as float32 (Keras's floatx), as Keras's data adapters
    convert them; other arrays (int labels, int token ids) in a dtype graphs take (uint8
    labels as int32, see :func:`~fusegraph.frontend.function.graph_array`). A leaf that
    is not numbers, or a uint64 past int64's range, is an error naming it by its place
    under ``label`` (``y['out']``)."""
    if structure is None:
        return None

    def convert(pair):
        name, leaf = pair
        if leaf is None:  # no target for an output without a loss
            return None
        array = numeric_array(leaf, name)
        return array.astype(np.float32) if array.dtype in (np.float64, np.float16) \
            else graph_array(array, name)
    return pack_like(structure, [convert(p) for p in labelled_leaves(structure, label)])


def _check_not_empty(parts: dict) -> None:
    """A ValueError naming the first array leaf of ``parts`` (label -> structure) whose
    leading (sample) axis is empty."""
    for label, structure in parts.items():
        for name, leaf in labelled_leaves(structure, label) if structure is not None else ():
            if leaf is not None and np.ndim(leaf) > 0 and len(leaf) == 0:
                raise ValueError(f"{name} has no samples (shape {np.shape(leaf)}): a step "
                                 f"needs a batch of at least one sample")


def numeric_logs(logs) -> bool:
    """Whether a step's traced ``logs`` will pass :func:`log_values`: a dict of numbers
    or numeric arrays, symbolic or not (known from the trace, before the step runs)."""
    return isinstance(logs, dict) and all(
        np.dtype(value.dtype).kind in "biuf" if is_symbolic(value)
        else np.asarray(value).dtype.kind in "biuf" for value in logs.values())


def log_values(logs, step: str) -> dict:
    """The logs ``step`` (``train_step``, ``test_step``) returned: scalars as floats,
    numeric arrays (a per-class metric) as float64 arrays, as Keras logs them; a
    TypeError naming the step and the key for anything else."""
    if not isinstance(logs, dict):
        raise TypeError(f"{step} must return a dict of metric values (numbers by name), "
                        f"got {type(logs).__name__}")
    values = {}
    for key, value in logs.items():
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{step} returned {{{key!r}: ...}} of {repr(value)[:60]}; the "
                            f"values of the logs are numbers or numeric arrays")
        values[key] = float(array) if array.ndim == 0 else array.astype(np.float64)
    return values
