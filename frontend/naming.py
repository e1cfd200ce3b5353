"""Names: unique auto-names like Keras (``dense``, ``dense_1``, ...), the session reset,
and the rule between the names users give and the names the IR uses.

User names are kept as given. As in Keras 3, the name of a layer, a model, an
``fg.Input`` or a Variable is any string without ``/`` (``/`` separates the parts of a
weight's path, ``outer/dense/kernel``); :func:`check_name` refuses anything else when it
is constructed. Metric, optimizer and ``fg.function`` names are any string.
``layer.name``, ``metric.name`` (and so the keys of the training logs),
``model.input_names`` and error messages show the names as given.

The IR needs names of ``[A-Za-z0-9_./-]``, not all digits (parameters: inputs and
variable paths; graph names). :func:`ir_name` maps a user name to such a name, part by
part between ``/``: a part that is already valid stays as it is (so ordinary names read
the same in printed IR), any other part becomes its invalid characters replaced by
``_``, then ``_`` and 8 hex digits of a hash of the part itself (``my layer`` ->
``my_layer_<hash>``, ``<lambda>`` -> ``_lambda__<hash>``). The mapping is deterministic
(the same name gives the same IR name in every session) and keeps distinct names
distinct: a changed part carries the hash of its original, so it does not meet the
valid name it resembles (``my_layer``) nor another name sanitized alike (two such
parts meet only if their 32-bit hashes do).
"""
from __future__ import annotations

import hashlib
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


_VALID_PART = re.compile(r"[A-Za-z0-9_.-]+")


def ir_name(name: str) -> str:
    """``name`` as the IR can print it (see the module docstring)."""
    return "/".join(_ir_part(part) for part in name.split("/"))


def _ir_part(part: str) -> str:
    if _VALID_PART.fullmatch(part) and not part.isdigit():
        return part
    digest = hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', part)}_{digest}"


def check_name(owner: str, name) -> None:
    """A layer's, model's, Input's or Variable's ``name=``: None or a string without
    ``/`` (Keras 3's rule; an empty one means an auto-name, as None), else a ValueError
    naming ``owner`` and the name."""
    if name is not None and (not isinstance(name, str) or "/" in name):
        raise ValueError(f"{owner}: `name` must be a string without '/' (it separates the "
                         f"parts of a weight's path), got {name!r}")


def release_path(path: str) -> None:
    """Free ``path`` for reuse (the weight that took it was dropped: a failed build)."""
    _taken_paths.discard(path)


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
