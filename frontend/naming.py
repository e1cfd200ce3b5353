"""Unique auto-names like Keras (``dense``, ``dense_1``, ...) and the session reset."""
from __future__ import annotations

import re

_counts: dict[str, int] = {}
_taken_paths: set[str] = set()


def to_snake_case(name: str) -> str:
    """``MultiHeadAttention`` -> ``multi_head_attention``; ``GlobalAveragePooling1D`` ->
    ``global_average_pooling1d``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(prefix: str) -> str:
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2``, ..."""
    n = _counts.get(prefix, 0)
    _counts[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def unique_path(path: str) -> str:
    """A variable path not used before in this session (``_1`` appended if needed)."""
    candidate, n = path, 0
    while candidate in _taken_paths:
        n += 1
        candidate = f"{path}_{n}"
    _taken_paths.add(candidate)
    return candidate


def clear_session() -> None:
    """Forget every auto-name and variable path (as ``keras.backend.clear_session``)."""
    _counts.clear()
    _taken_paths.clear()
