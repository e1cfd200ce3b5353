"""Keras's numpy helpers for preparing data before it reaches a model: ``to_categorical``
(class ids as one-hot rows) and ``pad_sequences`` (ragged sequences as one padded
array). Plain numpy, as in Keras 3 (``keras.utils``); errors name the argument."""
from __future__ import annotations

import numpy as np

PLACES = ("pre", "post")


def to_categorical(x, num_classes=None) -> np.ndarray:
    """One-hot rows for the integer class ids ``x``: shape ``x.shape + (num_classes,)``
    (a trailing axis of size 1 is dropped first, as Keras does), float64 as Keras 3's
    numpy path gives. ``num_classes`` defaults to ``max(x) + 1``; an id outside
    ``[0, num_classes)`` is a ValueError naming it."""
    x = np.asarray(x)
    if x.dtype.kind not in "iub" and not (x.dtype.kind == "f" and np.all(x == np.round(x))):
        raise ValueError(f"to_categorical: x must hold integer class ids, got dtype {x.dtype}")
    x = x.astype(np.int64)
    shape = x.shape[:-1] if x.ndim > 1 and x.shape[-1] == 1 else x.shape
    flat = x.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive int, got "
                         f"{num_classes!r}")
    bad = flat[(flat < 0) | (flat >= num_classes)]
    if bad.size:
        raise ValueError(f"to_categorical: class id {int(bad[0])} is outside [0, "
                         f"{num_classes}) (num_classes={num_classes})")
    out = np.zeros((flat.size, int(num_classes)))
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (int(num_classes),))


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0) -> np.ndarray:
    """``sequences`` (a list of sequences, each of samples of one shape) as an array
    ``(len(sequences), maxlen) + sample shape``, as Keras's ``pad_sequences``: ``maxlen``
    defaults to the longest; longer sequences lose their start (``truncating="pre"``) or
    end (``"post"``); shorter ones get ``value`` before (``padding="pre"``) or after
    (``"post"``) them."""
    for name, place in (("padding", padding), ("truncating", truncating)):
        if place not in PLACES:
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {place!r}")
    try:
        lengths = [len(s) for s in sequences]
    except TypeError:
        raise ValueError("pad_sequences: sequences must be a list of sequences (each with "
                         "a length)") from None
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be an int >= 0, got {maxlen!r}")
    samples = [np.asarray(s) for s in sequences if len(s)]
    sample_shape = samples[0].shape[1:] if samples else ()
    out = np.full((len(lengths), int(maxlen)) + sample_shape, value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        s = np.asarray(s, dtype=dtype)
        if s.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has samples of shape {s.shape[1:]}, "
                             f"expected {sample_shape} as the first sequence's")
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out
