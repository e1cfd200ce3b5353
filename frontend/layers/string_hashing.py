"""The two string hashes Keras's preprocessing layers use (through TensorFlow), written
here so that bins and OOV indices equal Keras's without TensorFlow:

- :func:`fingerprint64`: FarmHash's ``Fingerprint64`` (farmhashna's 64-bit hash), what
  ``tf.strings.to_hash_bucket_fast`` takes modulo the bucket count (``Hashing`` without a
  salt; lookups with several OOV indices);
- :func:`siphash64`: SipHash-2-4 with a 128-bit key given as two 64-bit words, what
  ``tf.strings.to_hash_bucket_strong`` takes (``Hashing`` and ``StringLookup`` with a
  ``salt``).

Both hash the UTF-8 bytes of a string; arithmetic is on Python ints masked to 64 bits.
:func:`hash_buckets` maps an array of strings to bucket indices, hashing each distinct
string once. Integers are hashed as their decimal strings (as Keras does, through
``tf.as_string``): :func:`as_hash_strings`.
"""
from __future__ import annotations

import numpy as np

_MASK = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _fetch64(data: bytes, i: int) -> int:
    return int.from_bytes(data[i:i + 8], "little")


def _fetch32(data: bytes, i: int) -> int:
    return int.from_bytes(data[i:i + 4], "little")


def _rotate(value: int, shift: int) -> int:
    return value if shift == 0 else ((value >> shift) | (value << (64 - shift))) & _MASK


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def _hash_16(u: int, v: int, mul: int) -> int:
    a = _shift_mix(((u ^ v) * mul) & _MASK)
    b = _shift_mix(((v ^ a) * mul) & _MASK)
    return (b * mul) & _MASK


def _hash_0_to_16(s: bytes) -> int:
    n = len(s)
    if n >= 8:
        mul = _K2 + n * 2
        a = (_fetch64(s, 0) + _K2) & _MASK
        b = _fetch64(s, n - 8)
        c = (_rotate(b, 37) * mul + a) & _MASK
        d = ((_rotate(a, 25) + b) * mul) & _MASK
        return _hash_16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        return _hash_16(n + (_fetch32(s, 0) << 3), _fetch32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _MASK) * _K2) & _MASK
    return _K2


def _hash_17_to_64_start(s: bytes, k: int) -> tuple[int, int, int, int]:
    """(mul, a, y, z) of farmhash's 17-to-64-byte hashes (its first word times ``k``):
    ``z`` is the whole hash of 17 to 32 bytes."""
    n = len(s)
    mul = _K2 + n * 2
    a = (_fetch64(s, 0) * k) & _MASK
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _MASK
    d = (_fetch64(s, n - 16) * _K2) & _MASK
    y = (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK
    z = _hash_16(y, (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK, mul)
    return mul, a, y, z


def _hash_33_to_64(s: bytes) -> int:
    n = len(s)
    mul, a, y, z = _hash_17_to_64_start(s, _K2)
    e = (_fetch64(s, 16) * mul) & _MASK
    f = _fetch64(s, 24)
    g = ((y + _fetch64(s, n - 32)) * mul) & _MASK
    h = ((z + _fetch64(s, n - 24)) * mul) & _MASK
    return _hash_16((_rotate((e + f) & _MASK, 43) + _rotate(g, 30) + h) & _MASK,
                    (e + _rotate((f + a) & _MASK, 18) + g) & _MASK, mul)


def _weak_32(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    """farmhash's WeakHashLen32WithSeeds of the 32 bytes at ``i``."""
    w, x, y, z = (_fetch64(s, i + 8 * k) for k in range(4))
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def fingerprint64(data: bytes) -> int:
    """FarmHash Fingerprint64 of ``data`` (an unsigned 64-bit int)."""
    n = len(data)
    if n <= 16:
        return _hash_0_to_16(data)
    if n <= 32:
        return _hash_17_to_64_start(data, _K1)[3]
    if n <= 64:
        return _hash_33_to_64(data)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _MASK
    z = (_shift_mix((y * _K2 + 113) & _MASK) * _K2) & _MASK
    v, w = (0, 0), (0, 0)
    x = (x * _K2 + _fetch64(data, 0)) & _MASK
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    for i in range(0, end, 64):
        x = (_rotate((x + y + v[0] + _fetch64(data, i + 8)) & _MASK, 37) * _K1) & _MASK
        y = (_rotate((y + v[1] + _fetch64(data, i + 48)) & _MASK, 42) * _K1) & _MASK
        x ^= w[1]
        y = (y + v[0] + _fetch64(data, i + 40)) & _MASK
        z = (_rotate((z + w[0]) & _MASK, 33) * _K1) & _MASK
        v = _weak_32(data, i, (v[1] * _K1) & _MASK, (x + w[0]) & _MASK)
        w = _weak_32(data, i + 32, (z + w[1]) & _MASK, (y + _fetch64(data, i + 16)) & _MASK)
        z, x = x, z
    mul = _K1 + ((z & 0xFF) << 1)
    i = last64
    w0 = (w[0] + ((n - 1) & 63)) & _MASK
    v0 = (v[0] + w0) & _MASK
    w0 = (w0 + v0) & _MASK
    v, w = (v0, v[1]), (w0, w[1])
    x = (_rotate((x + y + v[0] + _fetch64(data, i + 8)) & _MASK, 37) * mul) & _MASK
    y = (_rotate((y + v[1] + _fetch64(data, i + 48)) & _MASK, 42) * mul) & _MASK
    x ^= (w[1] * 9) & _MASK
    y = (y + v[0] * 9 + _fetch64(data, i + 40)) & _MASK
    z = (_rotate((z + w[0]) & _MASK, 33) * mul) & _MASK
    v = _weak_32(data, i, (v[1] * mul) & _MASK, (x + w[0]) & _MASK)
    w = _weak_32(data, i + 32, (z + w[1]) & _MASK, (y + _fetch64(data, i + 16)) & _MASK)
    z, x = x, z
    return _hash_16((_hash_16(v[0], w[0], mul) + _shift_mix(y) * _K0 + z) & _MASK,
                    (_hash_16(v[1], w[1], mul) + x) & _MASK, mul)


def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK
    v1 = _rotate(v1, 64 - 13) ^ v0
    v0 = _rotate(v0, 64 - 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotate(v3, 64 - 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotate(v3, 64 - 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotate(v1, 64 - 17) ^ v2
    v2 = _rotate(v2, 64 - 32)
    return v0, v1, v2, v3


def siphash64(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the key ``(k0, k1)`` (two unsigned 64-bit words)."""
    k0, k1 = key[0] & _MASK, key[1] & _MASK
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    n = len(data)
    tail = n - n % 8
    blocks = [_fetch64(data, i) for i in range(0, tail, 8)]
    blocks.append(int.from_bytes(data[tail:], "little") | ((n & 0xFF) << 56))
    for m in blocks:
        v3 ^= m
        v0, v1, v2, v3 = _sip_round(*_sip_round(v0, v1, v2, v3))
        v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def as_hash_strings(values: np.ndarray) -> np.ndarray:
    """The strings Keras hashes for ``values``: strings (bytes decoded as UTF-8) as they
    are; integers as decimal strings; floats truncated to integers first (Keras casts
    them to int64)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = values.astype(np.int64)
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    if values.dtype.kind in "iu":
        return values.astype(str)
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind == "O" and all(isinstance(v, (str, bytes)) for v in values.flat):
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in values.flat],
                        dtype=str).reshape(values.shape)
    raise TypeError(f"only strings, integers and floats can be hashed, got an array of "
                    f"dtype {values.dtype}")


def hash_buckets(strings: np.ndarray, num_buckets: int, key=None) -> np.ndarray:
    """int64 bucket of each string of ``strings`` (a numpy str array): its
    :func:`fingerprint64` (or, with ``key``, :func:`siphash64`) modulo ``num_buckets``,
    as ``tf.strings.to_hash_bucket_fast`` (``_strong``) gives."""
    unique, inverse = np.unique(strings, return_inverse=True)
    if key is None:
        hashes = [fingerprint64(s.encode("utf-8")) % num_buckets for s in unique.tolist()]
    else:
        hashes = [siphash64(key, s.encode("utf-8")) % num_buckets for s in unique.tolist()]
    return np.asarray(hashes, dtype=np.int64)[inverse].reshape(strings.shape)
