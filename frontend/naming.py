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


def first_free(name: str, taken: set) -> str:
    """``name``, or ``name_1``, ``name_2``, ... : the first not in ``taken``, which it joins."""
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def unique_path(path: str) -> str:
    """A variable path not used before in this session (``_1`` appended if needed)."""
    return first_free(path, _taken_paths)


def key_mismatch(what: str, missing: list, unknown: list, known: list) -> str:
    """The message for dict keys that do not match: ``missing input(s) [...]; unknown
    input name(s) [...]; the model's inputs are [...]`` (``what`` = "input", "output")."""
    parts = []
    if missing:
        parts.append(f"missing {what}(s) {missing}")
    if unknown:
        parts.append(f"unknown {what} name(s) {unknown}")
    return "; ".join(parts + [f"the model's {what}s are {known}"])


def clear_session() -> None:
    """Forget every auto-name and variable path (as ``keras.backend.clear_session``)."""
    _counts.clear()
    _taken_paths.clear()
