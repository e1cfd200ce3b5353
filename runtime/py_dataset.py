"""``fg.utils.PyDataset``: Keras 3's base class for a dataset written in Python, batch by
batch, and the order in which ``fit``/``evaluate``/``predict`` read its batches.

A subclass implements ``__len__`` (the number of batches) and ``__getitem__(index)``
returning batch ``index``: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` of
numpy arrays (or structures of them). Optional ``on_epoch_begin()``/``on_epoch_end()``
run before and after every epoch of a loop (``fit``'s epochs, one ``evaluate``, one
``predict``), as in Keras. An infinite dataset overrides the ``num_batches`` property to
return None; ``fit`` then needs ``steps_per_epoch``.

The loops read it through :func:`pass_batches`: ``fit(shuffle=True)`` (its default) visits
the batches in a new order each epoch (Keras shuffles the indices too; fusegraph's order is
reproducible: ``default_rng([seed, pass])``, see :mod:`.data`), ``evaluate``/``predict``
in index order. With ``workers > 1``, a thread pool of that many threads prepares up to
``max_queue_size`` batches ahead while the model trains on the current one; batches
still come out in order, and ``__getitem__`` must then be safe to call from several
threads at once. Threads help where ``__getitem__`` waits (reading files) or
runs numpy code that releases the GIL. ``use_multiprocessing=True`` is refused (a
ValueError): fusegraph does not fork worker processes.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools

import numpy as np

from ..frontend.optimizer_checks import warn_at_user

_DEFAULTS = {"_workers": 1, "_use_multiprocessing": False, "_max_queue_size": 10}


class PyDataset:
    """Base class of a dataset written in Python (see the module): implement ``__len__``
    and ``__getitem__(index)`` returning one batch, and call
    ``super().__init__(**kwargs)`` so that ``workers``, ``use_multiprocessing`` and
    ``max_queue_size`` reach it."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def _setting(self, key: str):
        """A constructor setting, its default with Keras's warning when a subclass did
        not call ``super().__init__``."""
        if key not in vars(self):
            warn_at_user("Your `PyDataset` class should call `super().__init__(**kwargs)` in "
                         "its constructor. `**kwargs` can include `workers`, "
                         "`use_multiprocessing`, `max_queue_size`. Do not pass these "
                         "arguments to `fit()`, as they will be ignored.")
            setattr(self, key, _DEFAULTS[key])
        return vars(self)[key]

    @property
    def workers(self) -> int:
        return self._setting("_workers")

    @workers.setter
    def workers(self, value) -> None:
        self._workers = _count(type(self).__name__, "workers", value, 0)

    @property
    def use_multiprocessing(self) -> bool:
        return self._setting("_use_multiprocessing")

    @use_multiprocessing.setter
    def use_multiprocessing(self, value) -> None:
        if value is not False and value is not True:
            raise TypeError(f"{type(self).__name__}: `use_multiprocessing` must be a bool, "
                            f"got {value!r}")
        if value:
            raise ValueError(f"{type(self).__name__}: use_multiprocessing=True is not "
                             f"supported by fusegraph (it prepares batches in threads); pass "
                             f"workers=N for N threads instead")
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return self._setting("_max_queue_size")

    @max_queue_size.setter
    def max_queue_size(self, value) -> None:
        self._max_queue_size = _count(type(self).__name__, "max_queue_size", value, 1)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index) "
                                  f"returning batch `index`")

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), or None for an infinite dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (the number "
                                  f"of batches) or the num_batches property (None when "
                                  f"infinite)")

    def __iter__(self):
        """The batches in index order (no workers), forever when infinite."""
        count = self.num_batches
        for index in itertools.count() if count is None else range(count):
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called before every epoch of a loop reading this dataset."""

    def on_epoch_end(self) -> None:
        """Called after every epoch of a loop reading this dataset."""


def _count(owner: str, key: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < low:
        raise ValueError(f"{owner}: `{key}` must be an int >= {low}, got {value!r}")
    return int(value)


def standardize_batch(dataset: PyDataset, index: int, batch) -> tuple:
    """Batch ``index`` as ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``: a list counts
    as a tuple; anything else that is not a tuple is ``x`` alone. A tuple of another
    length is a ValueError naming the dataset and the index."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return (batch,)
    if len(batch) not in (1, 2, 3):
        raise ValueError(f"{type(dataset).__name__}.__getitem__({index}) returned a tuple of "
                         f"length {len(batch)}; expected (inputs,), (inputs, targets) or "
                         f"(inputs, targets, sample_weights)")
    return batch


def pass_batches(dataset: PyDataset, order=None):
    """One pass over ``dataset``'s batches, standardized (:func:`standardize_batch`):
    ``order`` the indices to visit (all of them in index order when None; every index
    forever for an infinite dataset). With ``workers > 1`` the batches are fetched ahead
    in a thread pool, at most ``max_queue_size`` of them, and yielded in order; closing
    the generator (a loop that stops early) cancels what was not started."""
    if order is None:
        count = dataset.num_batches
        order = itertools.count() if count is None else range(count)
    order = map(int, order)
    if dataset.workers <= 1:
        for index in order:
            yield standardize_batch(dataset, index, dataset[index])
        return
    with concurrent.futures.ThreadPoolExecutor(dataset.workers,
                                               thread_name_prefix="PyDataset") as pool:
        pending = collections.deque()
        try:
            for index in order:
                pending.append((index, pool.submit(dataset.__getitem__, index)))
                if len(pending) >= dataset.max_queue_size:
                    yield _ready(dataset, pending)
            while pending:
                yield _ready(dataset, pending)
        finally:
            for _, future in pending:
                future.cancel()


def _ready(dataset: PyDataset, pending) -> tuple:
    """The oldest fetch of ``pending`` (``(index, future)`` pairs), waited for."""
    index, future = pending.popleft()
    return standardize_batch(dataset, index, future.result())
