"""``Hashing``: values (strings, integers, floats) to ``num_bins`` bins, as Keras 3.

A value's bin is its string's FarmHash Fingerprint64 modulo the bin count (SipHash-2-4
keyed by ``salt`` when one is given), the hashes TensorFlow computes for Keras (see
:mod:`.string_hashing`), so bins equal Keras's. Integers hash as their decimal strings,
floats as the decimal strings of their truncations (Keras casts them to int64 first).
With ``mask_value``, that value goes to bin 0 and the others to ``1 + hash % (num_bins -
1)``. ``output_mode`` "one_hot", "multi_hot" or "count" encodes the bins over
``num_bins`` (float32, Keras's floatx); "int" gives int64 bins (or the layer's int
dtype). A data layer: numpy in, numpy out, before the graph (:mod:`.data_layers`).
"""
from __future__ import annotations

import numpy as np

from ...ir.builder import user_site
from ..checks import check_positive_int
from .data_layers import DataLayer, check_choice, check_not_sparse, encode
from .string_hashing import as_hash_strings, hash_buckets


def hash_key(owner: str, salt) -> list | None:
    """Keras's ``salt``: None, one int (both key words) or two ints, as a list of two."""
    if salt is None:
        return None
    if isinstance(salt, (int, np.integer)) and not isinstance(salt, bool):
        return [int(salt), int(salt)]
    if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in salt):
        return [int(s) for s in salt]
    raise ValueError(f"{owner}: `salt` must be an int or a tuple of 2 ints, got {salt!r}")


class Hashing(DataLayer):
    """Hashes values into ``num_bins`` bins (module docstring)."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        owner = f"{user_site()}: Hashing"
        check_choice(owner, "output_mode", output_mode, ("int", "one_hot", "multi_hot", "count"))
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        check_positive_int(owner, "num_bins", num_bins)
        check_not_sparse(owner, sparse)
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ValueError(f"{owner}: output_mode='int' gives int32 or int64 bins, got "
                             f"dtype={self.dtype!r}")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.salt = hash_key(owner, salt)
        self.output_mode = output_mode
        self.sparse = False

    def call(self, inputs):
        if self.output_mode == "one_hot" and inputs.ndim and inputs.shape[-1] == 1:
            inputs = inputs[..., 0]
        return encode(self.bins(inputs), self.output_mode, self.num_bins, self.dtype)

    def bins(self, values: np.ndarray) -> np.ndarray:
        """The int64 bin of each value (mask first, then the hash)."""
        bins = self.num_bins
        masked = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            masked = values == self.mask_value
        out = hash_buckets(as_hash_strings(values), bins, self.salt)
        if masked is not None:
            out = np.where(masked, 0, out + 1)
        return out
