"""Data for the training loop: ``fg.data.Dataset`` and the adapters that ``fit``,
``evaluate`` and ``predict`` read batches through. Pure numpy/Python; no IR.

- ``Dataset``: a small, re-iterable ``tf.data`` — ``from_tensor_slices`` then ``batch``,
  ``shuffle``, ``map``, ``take``, ``repeat``, ``prefetch`` (a no-op). Elements are numpy
  structures (arrays in tuples, lists, dicts, nested); every ``iter()`` is a fresh pass.
- ``make_adapter(x, y, sample_weight, ...)`` → ``DataAdapter``, whose ``epoch_batches()``
  yields one epoch of ``(x, y, sample_weight)`` numpy batches (None for absent parts).
- ``train_validation_split`` and ``unpack_x_y_sample_weight``: Keras's helpers.

Shuffles are reproducible by default, as fusegraph's weights are: a ``seed`` of None is
drawn from the global generator (``fg.utils.set_random_seed``) when the shuffle is set up.
Pass ``k`` over the data (an epoch of arrays, an iteration of a Dataset) is then ordered by
``np.random.default_rng([seed, k])``: the same run after run, different pass to pass.
"""
from __future__ import annotations

import inspect
import itertools
import math
import numbers

import numpy as np

from ..frontend import random_state
from ..frontend.nest import flatten, labelled_leaves, map_structure, pack_like
from ..frontend.optimizer_checks import warn_at_user
from .py_dataset import PyDataset, pass_batches, standardize_batch

INFINITE_CARDINALITY = -1


def draw_seed(seed) -> int:
    """``seed``, or a seed drawn from fusegraph's random state when it is None."""
    return int(random_state.generator().integers(2**31)) if seed is None else int(seed)


def _int_arg(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _slice_parts(parts: tuple, index) -> tuple:
    """Rows ``index`` of every array in ``parts`` (None parts stay None)."""
    return tuple(None if p is None else map_structure(lambda a: a[index], p) for p in parts)


def numeric_array(leaf, label: str) -> np.ndarray:
    """``leaf`` as a numpy array of numbers (bool, int or float); a TypeError naming
    ``label`` (``y['out']``) for strings, objects (ragged lists) or complex numbers."""
    try:
        array = np.asarray(leaf)
    except ValueError as error:   # a ragged nested list
        raise TypeError(f"{label} is not a rectangular array of numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{label} has dtype {array.dtype}; expected numbers (bool, int or "
                        f"float), e.g. class labels as ints")
    return array


def _as_arrays(parts: dict, numeric: bool = True):
    """``(structures, n)``: the structures of ``parts`` (label -> structure or None), in
    order, with numpy leaves (of numbers, see :func:`numeric_array`, when ``numeric``)
    that share a leading sample axis of length ``n``. The ValueError for different
    lengths names every array's label and length."""
    pairs = [p for label, s in parts.items() if s is not None for p in labelled_leaves(s, label)]
    if not pairs:
        raise ValueError("no arrays given (None)")
    arrays = [numeric_array(leaf, name) if numeric else np.asarray(leaf) for name, leaf in pairs]
    for (name, leaf), array in zip(pairs, arrays):
        if array.ndim == 0:
            raise ValueError(f"{name} is a single value ({leaf!r}), not an array with a leading "
                             f"sample axis; a Python list is read as several inputs, so pass "
                             f"np.array(...) for one input")
    if len({len(a) for a in arrays}) > 1:
        listed = ", ".join(f"{name}: {len(a)}" for (name, _), a in zip(pairs, arrays))
        raise ValueError(f"Data cardinality is ambiguous: all arrays must have the same number "
                         f"of samples, got {listed}")
    it = iter(arrays)
    structures = tuple(None if s is None else pack_like(s, [next(it) for _ in flatten(s)])
                       for s in parts.values())
    return structures, len(arrays[0])


class Dataset:
    """A re-iterable pipeline of numpy elements, as ``tf.data.Dataset``.

    Build with ``Dataset.from_tensor_slices``; each method returns a new dataset
    (``prefetch`` returns this one). ``cardinality()`` is the number of elements, or
    ``INFINITE_CARDINALITY`` (-1) after ``repeat()``, when ``len()`` raises TypeError.
    ``batch_size``: the ``batch()`` size when this dataset is made by ``batch()`` (its
    elements are batches), else None (as tf.data's, a ``map`` after ``batch`` forgets it).
    """

    def __init__(self, make_iterator, cardinality: int, batch_size=None):
        """Internal: ``make_iterator()`` starts a fresh pass over the elements."""
        self._make_iterator = make_iterator
        self._cardinality = cardinality
        self.batch_size = batch_size

    @classmethod
    def from_tensor_slices(cls, structure) -> "Dataset":
        """Element ``i`` is ``structure`` with each array ``a`` replaced by ``a[i]``. Lists
        are structures (several arrays) like tuples and dicts."""
        (arrays,), n = _as_arrays({"tensors": structure}, numeric=False)
        leaves = flatten(arrays)
        return cls(lambda: (pack_like(arrays, [a[i] for a in leaves]) for i in range(n)), n)

    def __iter__(self):
        return iter(self._make_iterator())

    def cardinality(self) -> int:
        return self._cardinality

    def __len__(self) -> int:
        if self._cardinality == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        return self._cardinality

    def batch(self, batch_size, drop_remainder: bool = False) -> "Dataset":
        """Stack ``batch_size`` consecutive elements leaf by leaf (``np.stack``); the last,
        smaller batch is kept unless ``drop_remainder``."""
        size = _int_arg(batch_size, "batch_size")

        def batches():
            it = iter(self)
            while chunk := list(itertools.islice(it, size)):
                if drop_remainder and len(chunk) < size:
                    return
                yield pack_like(chunk[0], [np.stack(p) for p in zip(*map(flatten, chunk))])

        n = self._cardinality
        if n != INFINITE_CARDINALITY:
            n = n // size if drop_remainder else -(-n // size)
        return Dataset(batches, n, batch_size=size)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration: bool = True) -> "Dataset":
        """Shuffle through a buffer of ``buffer_size`` elements, as tf.data does: each
        element out is drawn at random from the buffer and the next element takes its
        place; ``buffer_size >= cardinality`` is a uniform shuffle. Iteration ``k`` uses
        ``default_rng([seed, k])`` (``k`` stays 0 without ``reshuffle_each_iteration``)."""
        size = _int_arg(buffer_size, "buffer_size")
        seed, passes = draw_seed(seed), itertools.count()

        def shuffled():
            rng = np.random.default_rng([seed, next(passes) if reshuffle_each_iteration else 0])
            buffer = []
            for element in self:
                if len(buffer) < size:
                    buffer.append(element)
                    continue
                i = rng.integers(len(buffer))
                yield buffer[i]
                buffer[i] = element
            yield from (buffer[i] for i in rng.permutation(len(buffer)))

        return Dataset(shuffled, self._cardinality)

    def map(self, fn) -> "Dataset":
        """``fn`` on each element (each batch, after ``batch``); a tuple element is passed
        as positional arguments (``lambda x, y: ...``), as tf.data does."""
        def call(e):
            return fn(*e) if isinstance(e, tuple) else fn(e)

        return Dataset(lambda: map(call, self), self._cardinality)

    def take(self, count) -> "Dataset":
        """The first ``count`` elements (all of them for ``count=-1``)."""
        if count == -1:
            return Dataset(self._make_iterator, self._cardinality)
        count = _int_arg(count, "take() count", minimum=0)
        n = count if self._cardinality == INFINITE_CARDINALITY else min(count, self._cardinality)
        return Dataset(lambda: itertools.islice(self, count), n)

    def repeat(self, count=None) -> "Dataset":
        """The elements ``count`` times over (forever for None or -1), each time a fresh
        pass (reshuffled by a ``shuffle`` before it)."""
        forever = count is None or count == -1
        if not forever:
            count = _int_arg(count, "repeat() count", minimum=0)

        def repeated():
            for _ in itertools.count() if forever else range(count):
                seen = 0
                for seen, element in enumerate(self, 1):
                    yield element
                if not seen:  # an empty dataset repeated forever stays empty
                    return

        n = self._cardinality
        if n != INFINITE_CARDINALITY:
            n = (INFINITE_CARDINALITY if n else 0) if forever else n * count
        return Dataset(repeated, n)

    def prefetch(self, buffer_size) -> "Dataset":
        """A no-op (elements are made on demand): this dataset."""
        return self


def unpack_x_y_sample_weight(data) -> tuple:
    """``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``,
    missing parts None. As in Keras, a list counts as a tuple here."""
    if not isinstance(data, (list, tuple)):
        return data, None, None
    if len(data) in (1, 2, 3):
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found a sequence of length {len(data)}")


def is_stream(x) -> bool:
    """A Dataset, generator function, iterator or other non-array iterable."""
    if isinstance(x, Dataset):
        return True
    if isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(x, "__array__"):
        return False
    return inspect.isgeneratorfunction(x) or hasattr(x, "__iter__")


def _numpy_batch(element) -> tuple:
    return tuple(None if p is None else map_structure(np.asarray, p)
                 for p in unpack_x_y_sample_weight(element))


class DataAdapter:
    """One source of batches for a training, evaluation or prediction loop.

    ``epoch_batches()`` iterates one epoch of ``(x, y, sample_weight)`` batches. Without
    ``steps_per_epoch`` an epoch is one full pass over the data (ValueError when a pass
    yields nothing, e.g. a generator used up by an earlier epoch). With it, an epoch is
    that many batches, carrying on from where the last epoch stopped: a re-iterable source
    (arrays, a Dataset, a generator function, an iterable) starts a new pass, reshuffled,
    when a pass ends; a one-shot iterator (a generator object) that runs out ends the epoch
    early with Keras's warning and sets ``ran_out_of_data``, and the loop should stop.

    ``position()`` and ``move_to(position)`` carry where the batches stand over to a new
    adapter of the same data (a resumed ``fit``, :mod:`.backup`).

    ``num_batches``: batches per epoch, None when unknown (learned after the first full
    pass of a re-iterable source). ``num_samples``: for array data, else None.
    ``arrays``: for array data, the whole ``(x, y, sample_weight)`` (numpy leaves, None
    for absent parts), so that a loop can check all of it before the first step, and
    ``first_batch()`` its first batch (unshuffled); None for other sources.
    """

    def __init__(self, new_pass, *, num_batches, num_samples, steps_per_epoch, one_shot,
                 arrays=None, batch_size=None, peek=None, source="x",
                 steps_name="steps_per_epoch", shuffle_seed=None, seekable=False):
        """Internal (use ``make_adapter``): ``new_pass(k, shuffle_seed)`` iterates pass
        ``k``'s batches, ordered by ``shuffle_seed`` (None: not shuffled); ``seekable``:
        a pass depends on ``k`` and the seed alone (arrays, a PyDataset), so that
        :meth:`move_to` need not replay the passes before it. ``source`` and
        ``steps_name`` name the data and the steps argument in errors."""
        self._new_pass, self._one_shot = new_pass, one_shot
        self.shuffle_seed, self._seekable = shuffle_seed, seekable
        self._source, self._steps_name = source, steps_name
        self.steps_per_epoch = steps_per_epoch
        self.num_batches = steps_per_epoch or num_batches
        self.num_samples = num_samples
        self.arrays, self._batch_size, self._peek = arrays, batch_size, peek
        self.ran_out_of_data = False
        self._passes, self._iterator, self._taken = 0, None, 0

    def first_batch(self, datasets: bool = False) -> tuple | None:
        """The first ``(x, y, sample_weight)`` batch of array data (no pass is started,
        nothing shuffled); with ``datasets``, also of a Dataset, by iterating it once more
        outside the epochs (a ``shuffle`` in it then moves on to its next order, so ask
        only where the order does not matter, as for validation). None otherwise: a
        generator cannot be looked at without consuming it."""
        if self.arrays is not None:
            return _slice_parts(self.arrays, slice(0, self._batch_size))
        return self._peek() if datasets and self._peek is not None else None

    def _start_pass(self) -> None:
        self._iterator = iter(self._new_pass(self._passes, self.shuffle_seed))
        self._passes += 1
        self._taken = 0

    def _take(self):
        """The current pass's next batch (None at its end)."""
        batch = next(self._iterator, None)
        self._taken += batch is not None
        return batch

    def position(self) -> list:
        """``[passes started, batches taken from the last one, the shuffle seed]``, the
        second None between passes (after a whole-pass epoch)."""
        return [self._passes, None if self._iterator is None else self._taken,
                self.shuffle_seed]

    def move_to(self, position) -> None:
        """Stand where an adapter of the same data stood at ``position()``, so that the
        batches that follow are the ones that followed there, in the same shuffled
        orders. A seekable source (arrays, a PyDataset) starts its pass there; another is
        replayed: its passes are run through and the batches taken are dropped, which
        repeats a deterministic source (a Dataset's shuffles included) exactly."""
        passes, taken, self.shuffle_seed = position
        if self._seekable:
            self._passes = passes - (taken is not None)
        else:
            for _ in range(passes - (taken is not None)):
                self._start_pass()
                while self._take() is not None:
                    pass
        self._iterator = None
        if taken is not None:
            self._start_pass()
            for _ in range(taken):
                self._take()

    def epoch_batches(self, done: int = 0):
        """One epoch of ``(x, y, sample_weight)`` batches (see the class), less the
        ``done`` batches a resumed epoch trained before (a whole-pass epoch continues
        the pass that :meth:`move_to` left unfinished)."""
        if self.ran_out_of_data:
            return
        if self.steps_per_epoch is None:
            if self._iterator is None:
                self._start_pass()
            while (batch := self._take()) is not None:
                yield batch
            count, self._iterator = self._taken, None
            if not count:
                raise ValueError(
                    f"{self._source}: the generator is used up: an earlier epoch consumed it. "
                    f"To train for several epochs, pass {self._steps_name} and a generator "
                    f"that loops forever (`while True: ... yield x, y`), as Keras requires, "
                    f"or pass the generator function itself (it is called again each epoch)"
                    if self._one_shot and self._passes > 1 else
                    f"{self._source} yielded no batches (an empty Dataset, a "
                    f"batch(..., drop_remainder=True) that dropped every sample, or a "
                    f"generator that returned at once)")
            if self.num_batches is None and not self._one_shot:
                self.num_batches = count
            return
        for _ in range(self.steps_per_epoch - done):
            if self._iterator is None:
                self._start_pass()
            batch = self._take()
            if batch is None and not self._one_shot:
                self._start_pass()
                batch = self._take()
            if batch is None:
                warn_at_user("Your input ran out of data; interrupting training. Make sure that "
                             "your dataset or generator can generate at least "
                             "`steps_per_epoch * epochs` batches. You may need to use the "
                             "`.repeat()` function when building your dataset.")
                self.ran_out_of_data = True
                return
            yield batch


def make_adapter(x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                 steps_per_epoch=None, seed=None, labels=("x", "y", "sample_weight"),
                 steps_name="steps_per_epoch") -> DataAdapter:
    """A ``DataAdapter`` for ``x`` (and ``y``/``sample_weight`` for array data).

    - Arrays (numpy or array-likes; lists/tuples of them as positional inputs/outputs,
      dicts by name): batches of ``batch_size`` (default 32), the last one partial;
      ``shuffle=True`` reorders the samples every pass (see the module on ``seed``).
    - A ``Dataset`` yielding ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` batches (batch
      it yourself: no ``batch_size``); an infinite one needs ``steps_per_epoch``.
    - A ``PyDataset`` (:mod:`.py_dataset`): its batches by index, in a new order every
      pass when ``shuffle``; its ``on_epoch_begin``/``on_epoch_end`` around every epoch.
    - A generator function (called again each pass), an iterable (``iter()`` each pass) or
      a generator/iterator of such batches. A generator object is consumed: it yields its
      batches once, so for several epochs pass ``steps_per_epoch`` and a generator that
      loops forever, as Keras requires.
    ``shuffle`` does not apply to datasets and generators (shuffle those yourself).
    ``labels`` name ``x``, ``y`` and ``sample_weight`` in errors (``validation_data[0]``...;
    ``labels[0]`` names a Dataset or generator), ``steps_name`` the caller's argument
    for ``steps_per_epoch`` (``steps`` of evaluate, ``validation_steps``). A Dataset
    known to have no batches is refused here.
    """
    if steps_per_epoch is not None:
        steps_per_epoch = _int_arg(steps_per_epoch, steps_name)
    if isinstance(x, PyDataset):
        return _py_dataset_adapter(x, y, sample_weight, batch_size, shuffle, steps_per_epoch,
                                   seed, labels, steps_name)
    if is_stream(x):
        return _stream_adapter(x, y, sample_weight, batch_size, steps_per_epoch, labels,
                               steps_name)
    return _array_adapter(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, seed,
                          labels)


def _stream_adapter(x, y, sample_weight, batch_size, steps_per_epoch, labels,
                    steps_name) -> DataAdapter:
    """``make_adapter`` for a Dataset or generator ``x`` (see there): y, sample_weight
    and batch_size must not be given; an infinite Dataset needs ``steps_per_epoch``."""
    kind = "Dataset" if isinstance(x, Dataset) else "generator"
    if y is not None or sample_weight is not None:
        raise ValueError(f"y and sample_weight must come from the {kind} when x is a {kind} "
                         f"(yield (x, y) or (x, y, sample_weight)); do not pass them")
    if batch_size is not None:
        raise ValueError(f"batch_size must not be given when x is a {kind}: it yields "
                         f"batches already (use dataset.batch(batch_size))")
    num_batches = x.cardinality() if isinstance(x, Dataset) else None
    if num_batches == INFINITE_CARDINALITY:
        if steps_per_epoch is None:
            raise ValueError(f"{labels[0]}: the Dataset is infinite (repeat()): pass "
                             f"{steps_name} so that it ends")
        num_batches = None
    if num_batches == 0:
        raise ValueError(f"{labels[0]}: the Dataset has no batches (it is empty, or "
                         f"batch(..., drop_remainder=True) dropped every sample)")
    source = x if inspect.isgeneratorfunction(x) else x.__iter__
    peek = (lambda: next(map(_numpy_batch, x), None)) if isinstance(x, Dataset) else None
    return DataAdapter(lambda k, seed: map(_numpy_batch, source()), num_batches=num_batches,
                       num_samples=None, steps_per_epoch=steps_per_epoch,
                       one_shot=hasattr(x, "__next__"), peek=peek, source=labels[0],
                       steps_name=steps_name)


class _PyDatasetAdapter(DataAdapter):
    """A DataAdapter that calls its PyDataset's ``on_epoch_begin()`` before and
    ``on_epoch_end()`` after every epoch (also one cut short), as Keras's loops do."""

    def __init__(self, dataset: PyDataset, new_pass, **kwargs):
        super().__init__(new_pass, **kwargs)
        self._dataset = dataset

    def epoch_batches(self, done: int = 0):
        self._dataset.on_epoch_begin()
        try:
            yield from super().epoch_batches(done)
        finally:
            self._dataset.on_epoch_end()


def _py_dataset_adapter(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, seed,
                        labels, steps_name) -> DataAdapter:
    """``make_adapter`` for a PyDataset ``x`` (see there): y, sample_weight and
    batch_size must not be given; an infinite one (``num_batches`` None) needs
    ``steps_per_epoch`` and is not shuffled (Keras's warning when asked)."""
    kind = type(x).__name__
    for name, value in (("y", y), ("sample_weight", sample_weight), ("batch_size", batch_size)):
        if value is not None:
            raise ValueError(f"{name} must not be given when x is a PyDataset ({kind}): its "
                             f"__getitem__ returns whole batches, (x, y) or (x, y, "
                             f"sample_weight)")
    num_batches = x.num_batches
    if num_batches is None:
        if steps_per_epoch is None:
            raise ValueError(f"{labels[0]}: the PyDataset {kind} is infinite (num_batches is "
                             f"None): pass {steps_name} so that it ends")
        if shuffle:
            warn_at_user("`shuffle=True` was passed, but will be ignored since the data `x` "
                         "was provided as an infinite PyDataset. The PyDataset is expected "
                         "to already be shuffled.")
        shuffle = False
    elif _int_arg(num_batches, f"{kind}: len() (the number of batches)", minimum=0) == 0:
        raise ValueError(f"{labels[0]}: the PyDataset {kind} has no batches (len() is 0)")
    def new_pass(k, shuffle_seed):
        order = _pass_order(shuffle_seed, k, num_batches)
        return map(_numpy_batch, pass_batches(x, order))

    return _PyDatasetAdapter(x, new_pass, num_batches=num_batches, num_samples=None,
                             steps_per_epoch=steps_per_epoch, one_shot=False,
                             peek=lambda: _numpy_batch(standardize_batch(x, 0, x[0])),
                             source=labels[0], steps_name=steps_name, seekable=True,
                             shuffle_seed=draw_seed(seed) if shuffle else None)


def _pass_order(shuffle_seed, k: int, size: int):
    """The order of ``size`` items (samples, batches) in pass ``k``: a permutation drawn
    from ``shuffle_seed`` and ``k`` (see the module), or None (in order) without a seed."""
    return None if shuffle_seed is None else \
        np.random.default_rng([shuffle_seed, k]).permutation(size)


def _array_adapter(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, seed,
                   labels) -> DataAdapter:
    """``make_adapter`` for array data (see there): batches of ``batch_size`` (default
    32), the samples reordered every pass when ``shuffle``."""
    if x is None:
        raise ValueError(f"{labels[0]} is required")
    batch_size = 32 if batch_size is None else _int_arg(batch_size, "batch_size")
    parts, n = _as_arrays(dict(zip(labels, (x, y, sample_weight))))
    if n == 0:
        raise ValueError(f"{labels[0]} has no samples (length 0)")
    def new_pass(k, shuffle_seed):
        order = _pass_order(shuffle_seed, k, n)
        for start in range(0, n, batch_size):
            stop = start + batch_size
            yield _slice_parts(parts, slice(start, stop) if order is None else order[start:stop])

    return DataAdapter(new_pass, num_batches=math.ceil(n / batch_size), num_samples=n,
                       steps_per_epoch=steps_per_epoch, one_shot=False, arrays=parts,
                       batch_size=batch_size, seekable=True,
                       shuffle_seed=draw_seed(seed) if shuffle else None)


def train_validation_split(x, y, sample_weight, validation_split) -> tuple:
    """``((x, y, sample_weight), (x_val, y_val, sample_weight_val))``: the last
    ``validation_split`` fraction of the samples is held out, before any shuffling, as
    Keras does. Only array data can be split; ``y``/``sample_weight`` may be None."""
    if not isinstance(validation_split, numbers.Real) or not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be a float in (0, 1), got {validation_split!r}")
    streams = [type(leaf).__name__ for leaf in flatten((x, y, sample_weight)) if is_stream(leaf)]
    if streams:
        raise ValueError(f"validation_split is only supported for array data (numpy arrays and "
                         f"lists/dicts of them), got {', '.join(streams)}; pass "
                         f"validation_data instead")
    parts, n = _as_arrays({"x": x, "y": y, "sample_weight": sample_weight})
    split_at = math.floor(n * (1.0 - validation_split))
    if split_at in (0, n):
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split "
                         f"it into a validation and training set as specified by "
                         f"`validation_split={validation_split}`. Either provide more data, or a "
                         f"different value for the `validation_split` argument.")
    return _slice_parts(parts, slice(0, split_at)), _slice_parts(parts, slice(split_at, None))
