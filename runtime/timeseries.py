"""``fg.utils.timeseries_dataset_from_array``: Keras 3's sliding windows over a time
series, as a :class:`~.data.Dataset` that ``fit`` reads.

Window ``i`` starts at ``start_index + p_i`` with ``p_i = i * sequence_stride`` and holds
``data[start_index + p_i + j * sampling_rate]`` for ``j < sequence_length``, all before
``end_index``; its target is ``targets[start_index + p_i]`` (the value at the window's
first step; shift ``targets`` to predict later steps, as Keras's docs show). The number
of windows is ``ceil(n / sequence_stride)`` for ``n = end_index - start_index -
(sequence_length - 1) * sampling_rate``, capped by ``len(targets)`` as Keras caps it.

The pipeline runs on window start positions (integers) and cuts the windows of a whole
batch with one numpy gather, so no window is stored. ``shuffle``: the start positions are
first shuffled with ``np.random.RandomState(seed)`` as Keras does (the same order), then,
as Keras's tf.data pipeline does, shuffled again through a buffer of ``batch_size * 8``
(1024 unbatched) every pass (fusegraph's buffer shuffle, :meth:`.Dataset.shuffle`: a
uniform draw from the buffer like tf.data's, but not its random numbers). A ``seed`` of
None is drawn from fusegraph's random state (:func:`.data.draw_seed`), so runs repeat.
"""
from __future__ import annotations

import numpy as np

from .data import Dataset, draw_seed

_NAME = "timeseries_dataset_from_array"


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None) -> Dataset:
    """A Dataset of windows over ``data`` (an array, time steps along axis 0), paired with
    ``targets`` (or alone when ``targets`` is None), in batches of ``batch_size`` (single
    windows when None). See the module for the windows and the shuffling; the argument
    checks are Keras's, with errors naming the argument and the value."""
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError(f"{_NAME}: `data` must be an array with time steps along axis 0, "
                         f"got a scalar {data!r}")
    length = len(data)
    sequence_length = _positive_int("sequence_length", sequence_length)
    sampling_rate = _positive_int("sampling_rate", sampling_rate, below=length)
    sequence_stride = _positive_int("sequence_stride", sequence_stride, below=length)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    start, end = _window_range(start_index, end_index, length)
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        if targets.ndim == 0:
            raise ValueError(f"{_NAME}: `targets` must be an array (one target per time step) "
                             f"or None, got a scalar {targets!r}")
        count = min(count, len(targets))
    positions = np.arange(0, max(count, 0), sequence_stride)
    if targets is not None and len(positions) and start + positions[-1] >= len(targets):
        raise ValueError(f"{_NAME}: `targets` has {len(targets)} entries, but the window "
                         f"starting at data[{start + positions[-1]}] needs "
                         f"targets[{start + positions[-1]}]")
    if shuffle:
        seed = draw_seed(seed)
        np.random.RandomState(seed).shuffle(positions)
    pipeline = Dataset.from_tensor_slices(positions)
    if shuffle:
        pipeline = pipeline.shuffle(1024 if batch_size is None else batch_size * 8, seed=seed)
    if batch_size is not None:
        pipeline = pipeline.batch(batch_size)
    offsets = np.arange(sequence_length) * sampling_rate
    window_data, window_targets = data[start:end], None if targets is None else targets[start:]

    def windows(first_steps):
        """The windows starting at ``first_steps`` (a position or a batch of them)."""
        cut = window_data[np.expand_dims(first_steps, -1) + offsets]
        return cut if window_targets is None else (cut, window_targets[first_steps])

    return pipeline.map(windows)


def _positive_int(name: str, value, below=None) -> int:
    """``value`` as an int >= 1 (and < ``below``, the data's length, where given)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1 or (below is not None and value >= below):
        bound = "" if below is None else f" and lower than the length of the data ({below})"
        raise ValueError(f"{_NAME}: `{name}` must be an int >= 1{bound}, got {value!r}")
    return int(value)


def _window_range(start_index, end_index, length: int) -> tuple:
    """``(start, end)``: the steps of ``data`` windows may use, Keras's checks on
    ``start_index`` (0 when None) and ``end_index`` (the data's length when None)."""
    start = 0 if start_index is None else _index("start_index", start_index)
    if not start < length:
        raise ValueError(f"{_NAME}: `start_index` must be lower than the length of the data "
                         f"({length}), got {start_index!r}")
    if end_index is None:
        return start, length
    end = _index("end_index", end_index)
    if not start < end < length:
        raise ValueError(f"{_NAME}: `end_index` must be higher than `start_index` ({start}) "
                         f"and lower than the length of the data ({length}), got "
                         f"{end_index!r}")
    return start, end


def _index(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 0:
        raise ValueError(f"{_NAME}: `{name}` must be an int >= 0, got {value!r}")
    return int(value)
