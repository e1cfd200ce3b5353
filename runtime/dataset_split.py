"""``fg.utils.split_dataset``: Keras 3's split of a dataset's samples into a left and a
right :class:`~.data.Dataset` (train / test).

Sizes follow Keras's rules: ``left_size``/``right_size`` a float in (0, 1) (a fraction
of the samples, rounded) or an int in (0, number of samples); one of them None is the
complement of the other; both given may leave samples out (the left split takes the
first samples, the right one the last). ``shuffle`` permutes the samples first, with
``np.random.default_rng(seed)`` (a ``seed`` of None drawn from fusegraph's random state,
:func:`.data.draw_seed`; Keras uses Python's global ``random``, so the orders differ).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..frontend.nest import flatten, map_structure, pack_like
from .data import INFINITE_CARDINALITY, Dataset, _as_arrays, draw_seed


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None) -> tuple:
    """``(left, right)`` Datasets of the samples of ``dataset``: a numpy array, a tuple
    or list of arrays of one length (elements are tuples, as Keras makes them), a dict
    of such arrays, or a finite :class:`~.data.Dataset` (its elements are the samples; a
    ``batch()``-ed one is split sample by sample and both halves are batched again with
    its batch size, as Keras does). Sizes and shuffling: see the module."""
    batch_size = None
    if isinstance(dataset, Dataset):
        batch_size = dataset.batch_size
        samples = _samples_of(dataset)
    else:
        if isinstance(dataset, list):
            dataset = tuple(dataset)
        (samples,), _ = _as_arrays({"dataset": dataset}, numeric=False)
    total = len(flatten(samples)[0])
    left, right = _split_sizes(left_size, right_size, total)
    order = np.random.default_rng(draw_seed(seed)).permutation(total) if shuffle \
        else np.arange(total)
    halves = tuple(Dataset.from_tensor_slices(map_structure(lambda a, rows=rows: a[rows],
                                                            samples))
                   for rows in (order[:left], order[total - right:]))
    return halves if batch_size is None else tuple(half.batch(batch_size) for half in halves)


def _samples_of(dataset: Dataset):
    """The samples of a finite Dataset as one structure of arrays (its elements stacked,
    or, for a batched one, its batches concatenated)."""
    if dataset.cardinality() == INFINITE_CARDINALITY:
        raise ValueError("split_dataset: the Dataset is infinite (repeat()); expected a "
                         "finite one")
    elements = list(dataset)
    if not elements:
        raise ValueError("split_dataset: the Dataset is empty; expected samples to split")
    join = np.concatenate if dataset.batch_size is not None else np.stack
    leaves = [join([np.asarray(leaf) for leaf in parts]) for parts in
              zip(*map(flatten, elements))]
    return pack_like(elements[0], leaves)


def _split_sizes(left_size, right_size, total: int) -> tuple:
    """``(left, right)`` numbers of samples (see the module), or a ValueError/TypeError
    naming the argument, its value and the number of samples."""
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: at least one of `left_size` and `right_size` must be "
                         "given; both are None")
    sizes = {}
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is None:
            continue
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Real):
            raise TypeError(f"split_dataset: `{name}` must be an int, a float or None, got "
                            f"{size!r} of type {type(size).__name__}")
        if isinstance(size, numbers.Integral):
            if not 0 < size < total:
                raise ValueError(f"split_dataset: `{name}` must be an int in (0, {total}) (the "
                                 f"number of samples) or a float in (0, 1), got {size!r}")
            sizes[name] = int(size)
        elif not 0 < size < 1:
            raise ValueError(f"split_dataset: `{name}` must be a float in (0, 1) or an int in "
                             f"(0, {total}) (the number of samples), got {size!r}")
        else:
            sizes[name] = round(float(size) * total)
    if all(isinstance(s, float) for s in (left_size, right_size)) and left_size + right_size > 1:
        raise ValueError(f"split_dataset: `left_size` + `right_size` must be at most 1, got "
                         f"{left_size} + {right_size}")
    left = sizes.get("left_size", total - sizes.get("right_size", 0))
    right = sizes.get("right_size", total - left)
    if left + right > total:
        raise ValueError(f"split_dataset: `left_size` ({left_size}) and `right_size` "
                         f"({right_size}) take {left + right} samples; the dataset has {total}")
    for side, size in (("left", left), ("right", right)):
        if size == 0:
            raise ValueError(f"split_dataset: with {total} samples, left_size={left_size} and "
                             f"right_size={right_size} leave the {side} split empty")
    return left, right
