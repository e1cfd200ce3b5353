"""``TextVectorization``: strings to token indices or encodings, as Keras 3 (3.15). A
data layer: Python strings or numpy string arrays in, numpy arrays out, before the
graph (:mod:`.data_layers`).

Each string goes through, as Keras does it with TensorFlow's string ops:

1. ``standardize``: "lower_and_strip_punctuation" (the default), "lower",
   "strip_punctuation", None, or a callable taking and returning a numpy str array (as
   Keras calls it on backends other than TensorFlow). Lowering changes ASCII letters
   only and stripping removes the 32 ASCII punctuation characters (TensorFlow's
   ``lower`` and Keras's regex): "ÄB" becomes "Äb", "“" stays.
2. ``split``: "whitespace" (the default: runs of space, tab, newline, CR, VT and FF
   separate tokens; other Unicode spaces do not, as TensorFlow's ``strings.split``),
   "character" (Unicode code points), or None (the whole string is one token). With a
   split, the input is a rank-1 batch of strings or (batch, 1).
3. ``ngrams``: None, n (widths 1..n) or a tuple of widths: the tokens joined by spaces,
   all of the first width, then all of the next (TensorFlow's ``strings.ngrams``).
4. A :class:`StringLookup` with mask token "" (``lookup_layer``, holding the vocabulary
   and idf weights): "int" gives int64 ids, index 0 padding and 1 OOV, rows padded with
   0 to the longest (or cut/padded to ``output_sequence_length``); "multi_hot", "count"
   and "tf_idf" fold each string's tokens over the vocabulary ("one_hot" with a split
   gives (batch, tokens, vocabulary), padding positions all zeros, where Keras returns
   a ragged tensor).

``adapt(data)`` learns the vocabulary as the lookup does, each string a document.
"""
from __future__ import annotations

import itertools
import re
import string

import numpy as np

from ...ir.builder import user_site
from ..checks import check_positive_int
from .data_layers import DataLayer, adapt_batches, as_data_array, check_choice
from .index_lookup import StringLookup

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
_WHITESPACE = re.compile("[ \t\n\r\v\f]+")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")


class TextVectorization(DataLayer):
    """Standardize, split, n-grams, vocabulary lookup (module docstring)."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        owner = f"{user_site()}: TextVectorization"
        if not callable(standardize) and standardize is not None:
            check_choice(owner, "standardize", standardize, _STANDARDIZE)
        if split is not None:
            check_choice(owner, "split", split, _SPLIT)
        if ragged:
            raise ValueError(f"{owner}: `ragged=True` is not supported (fusegraph arrays are "
                             f"rectangular; Keras allows it with the TensorFlow backend only)")
        self.ngrams = _ngram_widths(owner, ngrams)
        self.lookup_layer = StringLookup(
            max_tokens=max_tokens, mask_token="", output_mode=output_mode,
            vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, encoding=encoding,
            name=f"{self.name}_lookup")
        self.output_mode = self.lookup_layer.output_mode
        if output_sequence_length is not None:
            if self.output_mode != "int":
                raise ValueError(f"{owner}: `output_sequence_length` is only for "
                                 f"output_mode='int', got output_mode={self.output_mode!r}")
            check_positive_int(owner, "output_sequence_length", output_sequence_length)
        self.standardize = standardize
        self.split = split
        self.output_sequence_length = output_sequence_length
        self.encoding = encoding

    # --- the vocabulary (the lookup's) ----------------------------------------------------
    def get_vocabulary(self, include_special_tokens=True) -> list:
        return self.lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self.lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        self.lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary from ``data`` (strings: an array, a list, or a batched
        :class:`fg.data.Dataset`), each string a document; ``steps`` batches at most."""
        owner = f"{user_site()}: TextVectorization '{self.name}'"
        batches = itertools.islice(adapt_batches(data, owner), steps)
        self.lookup_layer.learn(document for batch in batches
                                for document in self.documents(as_data_array(batch, self)))

    # --- calling --------------------------------------------------------------------------
    def call(self, inputs: np.ndarray) -> np.ndarray:
        if self.split is None:
            ids = self.lookup_layer.indices(self.lookup_layer.tokens_of(self.standardized(inputs)))
            if self.output_mode == "int" and self.output_sequence_length is not None:
                ids = _fit_length(ids, self.output_sequence_length)
            return self.lookup_layer.encode_indices(ids)
        scalar = inputs.ndim == 0
        documents = self.documents(inputs.reshape(1) if scalar else inputs)
        width = (self.output_sequence_length if self.output_sequence_length is not None
                 else max((len(d) for d in documents), default=0))
        rows = [self.lookup_layer.indices(np.array(d, dtype=str)) for d in documents]
        pad = 0 if self.output_mode == "int" else -1        # -1 encodes to nothing
        ids = np.stack([_fit_length(r, width, pad) for r in rows]) if rows else \
            np.zeros((0, width), np.int64)
        out = self.lookup_layer.encode_indices(ids)
        return out[0] if scalar else out

    def documents(self, inputs: np.ndarray) -> list[list[str]]:
        """Each string's tokens (standardized, split, n-grams): one list per string of a
        rank-1 (or (batch, 1)) array."""
        if self.split is not None and inputs.ndim > 1:
            if inputs.shape[-1] != 1:
                raise ValueError(f"{user_site()}: TextVectorization '{self.name}': with a "
                                 f"`split`, the input must be a batch of strings (batch,) or "
                                 f"(batch, 1), got shape {inputs.shape}")
            inputs = inputs[..., 0]
        texts = self.standardized(inputs)
        if self.split is None:
            return [[t] for t in np.atleast_1d(texts).ravel().tolist()]
        return [self.ngrammed(self.tokens(t)) for t in np.atleast_1d(texts).tolist()]

    def standardized(self, inputs: np.ndarray) -> np.ndarray:
        texts = self.lookup_layer.tokens_of(inputs)
        if callable(self.standardize):
            return np.asarray(self.standardize(texts), dtype=str)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            texts = np.vectorize(lambda t: t.translate(_ASCII_LOWER), otypes=[str])(texts)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            texts = np.vectorize(lambda t: t.translate(_NO_PUNCTUATION), otypes=[str])(texts)
        return texts

    def tokens(self, text: str) -> list[str]:
        if self.split == "character":
            return list(text)
        return [t for t in _WHITESPACE.split(text) if t]

    def ngrammed(self, tokens: list[str]) -> list[str]:
        if self.ngrams is None:
            return tokens
        return [" ".join(tokens[i:i + n]) for n in self.ngrams
                for i in range(len(tokens) - n + 1)]


def _ngram_widths(owner: str, ngrams) -> tuple | None:
    """Keras's ``ngrams``: None, n (widths 1..n) or a tuple of positive widths."""
    if ngrams is None:
        return None
    if isinstance(ngrams, (int, np.integer)) and not isinstance(ngrams, bool) and ngrams > 0:
        return tuple(range(1, int(ngrams) + 1))
    if isinstance(ngrams, tuple) and ngrams and all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0
            for n in ngrams):
        return tuple(int(n) for n in ngrams)
    raise ValueError(f"{owner}: `ngrams` must be None, a positive int or a tuple of positive "
                     f"ints, got {ngrams!r}")


def _fit_length(ids: np.ndarray, width: int, pad: int = 0) -> np.ndarray:
    """``ids`` cut or padded with ``pad`` along its last axis to ``width``."""
    ids = ids[..., :width]
    missing = width - ids.shape[-1]
    if missing <= 0:
        return ids
    return np.pad(ids, [(0, 0)] * (ids.ndim - 1) + [(0, missing)], constant_values=pad)
