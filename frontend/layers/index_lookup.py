"""``StringLookup`` and ``IntegerLookup``: tokens to vocabulary indices (or back), as
Keras 3 (3.15) maps them. Data layers: numpy in, numpy out, before the graph
(:mod:`.data_layers`).

Index layout (Keras's): with ``output_mode="int"`` and a ``mask_token``, index 0 is the
mask; then ``num_oov_indices`` OOV indices; then the vocabulary's tokens. In the other
output modes the mask has no index (masked inputs encode to nothing). An unknown token
goes to the one OOV index; with several, to ``oov_start + hash % num_oov_indices``:
FarmHash Fingerprint64 of the string (SipHash with ``salt``), or for IntegerLookup the
value itself modulo the count (``oov_method="floormod"``) or the hash of its decimal
string (``"farmhash"``). With ``num_oov_indices=0`` an unknown token is an error.
``invert=True`` maps indices back to tokens (unknown indices to ``oov_token``, 0 to the
mask token when there is one).

``adapt(data)`` counts tokens (the mask and OOV tokens left out) and keeps them sorted
by count, high to low, ties by the token, high to low (strings by their UTF-8 bytes),
truncated to ``max_tokens`` minus the special indices. For "tf_idf" it also counts, per
token, the documents holding it (a document: a row of a rank-2 batch; a whole rank-1
batch of a dataset; an element of a rank-1 array) and sets ``idf = log(1 + documents /
(1 + documents with the token))``, the special indices getting the mean idf, zeros
padding to ``max_tokens`` with ``pad_to_max_tokens``.

Outputs: int64 indices ("int"); int64 encodings ("one_hot", "multi_hot", "count", as
Keras returns them); float32 counts times the idf weights ("tf_idf"); inverted string
lookups give numpy str arrays (Keras gives bytes). The learned state lives in
:attr:`IndexLookup.lookup_tokens` (the tokens, in index order from the first token
index) and :attr:`IndexLookup.idf_weights` (a float32 array over every index, or None).
"""
from __future__ import annotations

from abc import abstractmethod

import collections
import itertools

import numpy as np

from ...ir.builder import user_site
from ..checks import check_bool, check_int_at_least
from .data_layers import (DataLayer, adapt_batches, as_data_array, check_choice,
                          check_not_sparse, encode)
from .hashing import hash_key
from .string_hashing import as_hash_strings, hash_buckets

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


class IndexLookup(DataLayer):
    """What StringLookup and IntegerLookup share (module docstring); subclasses say how
    inputs become tokens (:meth:`tokens_of`) and how OOV tokens are hashed."""

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                 idf_weights, invert, output_mode, pad_to_max_tokens, sparse, salt,
                 oov_method="floormod", **kwargs):
        super().__init__(**kwargs)
        owner = self.owner()
        output_mode = _ALIASES.get(output_mode, output_mode)
        check_choice(owner, "output_mode", output_mode, OUTPUT_MODES)
        check_choice(owner, "oov_method", oov_method, ("floormod", "farmhash"))
        if max_tokens is not None:
            check_int_at_least(owner, "max_tokens", max_tokens, 2)
        check_int_at_least(owner, "num_oov_indices", num_oov_indices, 0)
        check_bool(owner, "invert", invert)
        check_bool(owner, "pad_to_max_tokens", pad_to_max_tokens)
        check_not_sparse(owner, sparse)
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{owner}: pad_to_max_tokens=True needs `max_tokens`")
        if invert and output_mode != "int":
            raise ValueError(f"{owner}: invert=True needs output_mode='int', got "
                             f"{output_mode!r}")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{owner}: `idf_weights` is only for output_mode='tf_idf', "
                             f"got output_mode={output_mode!r}")
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(f"{owner}: output_mode='tf_idf' with a `vocabulary` needs "
                             f"`idf_weights` too")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse = False
        self.oov_method = oov_method
        self.salt = hash_key(owner, salt)
        self.lookup_tokens: list = []
        self.idf_weights: np.ndarray | None = None
        self._index: dict = {}
        self._has_input_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    def owner(self) -> str:
        return f"{user_site()}: {type(self).__name__} '{self.name}'"

    # --- the index layout ----------------------------------------------------------------
    def oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def token_start(self) -> int:
        return self.oov_start() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """Indices in all: the special ones and the tokens."""
        return self.token_start() + len(self.lookup_tokens)

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The token of every index (the mask token at 0 in "int" mode with a mask, the
        OOV token at each OOV index), or the tokens alone."""
        specials = [self.mask_token] * self.oov_start() + [self.oov_token] * self.num_oov_indices
        return (specials if include_special_tokens else []) + list(self.lookup_tokens)

    # --- setting the vocabulary ------------------------------------------------------------
    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Use ``vocabulary`` (a sequence of tokens, or a text file's path with one token
        a line), which may start with the special tokens in their index order (they are
        then not tokens); ``idf_weights`` for "tf_idf", one per entry of ``vocabulary``."""
        owner = self.owner()
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
            while vocabulary and vocabulary[-1] == "":
                vocabulary.pop()
        tokens = [self.token_value(v) for v in np.asarray(vocabulary).ravel().tolist()]
        if not tokens:
            raise ValueError(f"{owner}: the vocabulary is empty")
        specials = self.get_vocabulary()[:self.token_start()]
        found_specials = tokens[:len(specials)] == specials
        if found_specials:
            tokens = tokens[len(specials):]
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{owner}: the vocabulary repeats {repeated}; give each token once")
        reserved = [t for t in (self.mask_token, self.oov_token if self.invert else None)
                    if t is not None and t in tokens]
        if reserved:
            raise ValueError(f"{owner}: the vocabulary holds the reserved token "
                             f"{reserved[0]!r} among its tokens; leave the mask and OOV "
                             f"tokens out, or put them first in this order: {specials}")
        if self.max_tokens is not None and len(specials) + len(tokens) > self.max_tokens:
            raise ValueError(f"{owner}: the vocabulary has {len(specials) + len(tokens)} "
                             f"entries with the special ones, more than max_tokens="
                             f"{self.max_tokens}")
        if self.output_mode == "tf_idf":
            self.idf_weights = self._given_idf(idf_weights, len(vocabulary), found_specials)
        elif idf_weights is not None:
            raise ValueError(f"{owner}: `idf_weights` is only for output_mode='tf_idf'")
        self._set_tokens(tokens)

    def _given_idf(self, idf_weights, count: int, found_specials: bool) -> np.ndarray:
        owner = self.owner()
        if idf_weights is None:
            raise ValueError(f"{owner}: output_mode='tf_idf' needs `idf_weights` with the "
                             f"vocabulary")
        weights = np.asarray(idf_weights, dtype=np.float64)
        if weights.ndim != 1 or len(weights) != count:
            raise ValueError(f"{owner}: `idf_weights` must be 1-D with one weight per "
                             f"vocabulary entry ({count}), got shape {weights.shape}")
        front = 0 if found_specials else self.token_start()
        weights = np.concatenate([np.full(front, np.mean(weights)), weights])
        return self._padded(weights.astype(np.float32))

    def _padded(self, weights: np.ndarray) -> np.ndarray:
        """``weights`` with zeros up to ``max_tokens`` under ``pad_to_max_tokens``."""
        if self.pad_to_max_tokens:
            weights = np.concatenate([weights, np.zeros(self.max_tokens - len(weights),
                                                         np.float32)])
        return weights

    def _set_tokens(self, tokens: list) -> None:
        self.lookup_tokens = list(tokens)
        start = self.token_start()
        self._index = {t: start + i for i, t in enumerate(self.lookup_tokens)}

    # --- adapt -------------------------------------------------------------------------
    def adapt(self, data, steps=None) -> None:
        """Learn the vocabulary (and idf weights) from ``data``: an array or list (one
        batch: a rank-1 array's elements are documents of one token each), or a batched
        :class:`fg.data.Dataset` or other iterable of batches, of which ``steps`` at most
        are read (module docstring)."""
        owner = self.owner()
        single = isinstance(data, (np.ndarray, list, tuple, str, bytes))
        batches = itertools.islice(adapt_batches(data, owner), steps)
        self.learn(row for batch in batches
                   for row in self.adapt_rows(as_data_array(batch, self), single))

    def learn(self, documents) -> None:
        """Set the vocabulary (and idf weights) from ``documents``, an iterable of lists
        of tokens: adapt's counting and ordering (module docstring)."""
        if self._has_input_vocabulary:
            raise ValueError(f"{self.owner()}: cannot adapt a layer given a `vocabulary`")
        counts, containing, n_documents = collections.Counter(), collections.Counter(), 0
        for row in documents:
            counts.update(row)
            containing.update(set(row))
            n_documents += 1
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        ranked = sorted(counts, key=lambda t: (counts[t], self.sort_key(t)), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - self.token_start()]
        if self.output_mode == "tf_idf" and ranked:
            seen = np.array([containing[t] for t in ranked], dtype=np.float64)
            idf = np.log(1 + n_documents / (1 + seen)).astype(np.float32)
            front = np.full(self.token_start(), np.mean(idf), np.float32)
            self.idf_weights = self._padded(np.concatenate([front, idf]))
        if ranked:
            self._set_tokens(ranked)

    def adapt_rows(self, batch: np.ndarray, single: bool) -> list[list]:
        """The documents (lists of tokens) of one batch of adapt's data: a rank-1 array
        given whole is one-token documents, a rank-1 batch of a dataset is one document
        (Keras's rule), a higher rank is one document per row."""
        tokens = self.tokens_of(batch)
        if tokens.ndim == 0 or (tokens.ndim == 1 and not single):
            tokens = tokens.reshape(1, -1)
        elif tokens.ndim == 1:
            tokens = tokens.reshape(-1, 1)
        return [row.ravel().tolist() for row in tokens]

    def sort_key(self, token):
        """How adapt orders tokens of equal count (high to low)."""
        return token

    # --- calling ------------------------------------------------------------------------
    def call(self, inputs: np.ndarray) -> np.ndarray:
        if self.invert:
            return self.tokens_at(inputs)
        if self.output_mode != "int" and not self.pad_to_max_tokens and not self.lookup_tokens:
            raise RuntimeError(f"{self.owner()}: output_mode={self.output_mode!r} needs the "
                               f"vocabulary's size: give a `vocabulary` or call adapt() first")
        ids = self.indices(self.tokens_of(inputs))
        return self.encode_indices(ids)

    def encode_indices(self, ids: np.ndarray) -> np.ndarray:
        """Index array ``ids`` (-1 where masked in the encoded modes) as ``output_mode``
        gives it."""
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        if self.output_mode != "tf_idf":
            return encode(ids, self.output_mode, depth, np.int64)
        return encode(ids, "count", depth, np.float32) * self.idf_weights

    def indices(self, tokens: np.ndarray) -> np.ndarray:
        """int64 index of each token (the mask: 0 in "int" mode, else -1, encoding to
        nothing)."""
        unique, inverse = np.unique(tokens, return_inverse=True)
        found = np.array([self._index.get(t, -1) for t in unique.tolist()], dtype=np.int64)
        ids = found[inverse].reshape(tokens.shape)
        masked = tokens == self.mask_token if self.mask_token is not None else \
            np.zeros(tokens.shape, bool)
        unknown = (ids < 0) & ~masked
        if unknown.any():
            if self.num_oov_indices == 0:
                raise ValueError(f"{self.owner()}: with num_oov_indices=0 every input must "
                                 f"be in the vocabulary, got {tokens[unknown][:5].tolist()}; "
                                 f"set num_oov_indices=1")
            oov = (self.oov_index(tokens) if self.num_oov_indices > 1 else
                   np.zeros(tokens.shape, np.int64)) + self.oov_start()
            ids = np.where(unknown, oov, ids)
        return np.where(masked, 0 if self.output_mode == "int" else -1, ids)

    def oov_index(self, tokens: np.ndarray) -> np.ndarray:
        """Which of several OOV indices (from 0) each token takes: its hash's bucket."""
        return hash_buckets(as_hash_strings(tokens), self.num_oov_indices, self.salt)

    def tokens_at(self, ids: np.ndarray) -> np.ndarray:
        """``invert=True``: the token of each index (module docstring)."""
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self.owner()}: invert=True takes integer indices, got an "
                            f"array of dtype {ids.dtype}")
        vocabulary = self.get_vocabulary()
        inside = (ids >= 0) & (ids < len(vocabulary))
        table = np.asarray(vocabulary + [self.oov_token])
        return table[np.where(inside, ids, len(vocabulary))]

    @abstractmethod
    def tokens_of(self, inputs: np.ndarray) -> np.ndarray:
        """The layer's inputs as an array of its tokens (strings or ints), checked."""

    @abstractmethod
    def token_value(self, value):
        """A vocabulary entry as this layer's token type."""


class StringLookup(IndexLookup):
    """Strings to indices (or back with ``invert``); see the module docstring."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, salt=None,
                 **kwargs):
        self.encoding = encoding
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         idf_weights, invert, output_mode, pad_to_max_tokens, sparse, salt,
                         name=name, **kwargs)

    def tokens_of(self, inputs: np.ndarray) -> np.ndarray:
        if inputs.dtype.kind == "S":
            inputs = np.char.decode(inputs, self.encoding)
        if inputs.dtype.kind != "U":
            raise TypeError(f"{self.owner()} takes strings, got an array of dtype "
                            f"{inputs.dtype}")
        return inputs

    def token_value(self, value):
        return value.decode(self.encoding) if isinstance(value, bytes) else str(value)

    def sort_key(self, token):
        return token.encode("utf-8")


class IntegerLookup(IndexLookup):
    """Integers to indices (or back with ``invert``); floats are truncated to integers
    first, as Keras casts them; see the module docstring."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, name=None, **kwargs):
        owner = f"{user_site()}: IntegerLookup"
        if vocabulary_dtype != "int64":
            raise ValueError(f"{owner}: only vocabulary_dtype='int64' is supported (as in "
                             f"Keras), got {vocabulary_dtype!r}")
        if salt is not None and oov_method != "farmhash":
            raise ValueError(f"{owner}: `salt` needs oov_method='farmhash', got "
                             f"oov_method={oov_method!r}")
        self.vocabulary_dtype = vocabulary_dtype
        super().__init__(max_tokens, num_oov_indices,
                         None if mask_token is None else int(mask_token),
                         None if oov_token is None else int(oov_token), vocabulary,
                         idf_weights, invert, output_mode, pad_to_max_tokens, sparse, salt,
                         oov_method, name=name, **kwargs)

    def tokens_of(self, inputs: np.ndarray) -> np.ndarray:
        if inputs.dtype.kind not in "iuf":
            raise TypeError(f"{self.owner()} takes integers, got an array of dtype "
                            f"{inputs.dtype}")
        return inputs.astype(np.int64)

    def token_value(self, value):
        return int(value)

    def oov_index(self, tokens: np.ndarray) -> np.ndarray:
        if self.oov_method == "floormod":
            return np.mod(tokens, self.num_oov_indices)
        return super().oov_index(tokens)

    def tokens_at(self, ids: np.ndarray) -> np.ndarray:
        return super().tokens_at(ids).astype(np.int64)
