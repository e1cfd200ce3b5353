"""Creating ops: ``emit`` checks attributes, runs the shape rule and records the source.

The frontend, the VJP rules and the passes all create ops through :func:`emit`, so every
Value is typed at birth and every op knows where it came from: the user's ``file:line``
(the innermost stack frame outside fusegraph) and the layer path (set with
:func:`layer_scope`).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys

from .core import Op, SourceLoc, Value
from .errors import ShapeError
from .opdef import get_opdef

_LAYER_PATH: contextvars.ContextVar[tuple] = contextvars.ContextVar("fusegraph_layer_path", default=())
_LOC_OVERRIDE: contextvars.ContextVar = contextvars.ContextVar("fusegraph_loc_override", default=None)
_INTERNAL_DIRS: set[str] = set()
_INTERNAL_FILES: set[str] = set()


def register_internal_dir(module_file: str) -> None:
    """Mark the folder of ``module_file`` as fusegraph's own: its frames are not the user's."""
    _INTERNAL_DIRS.add(os.path.dirname(os.path.abspath(module_file)) + os.sep)
    _is_internal.cache_clear()


def register_internal_file(path: str) -> None:
    """Mark one file as not the user's (the ``fusegraph`` command's launcher script)."""
    _INTERNAL_FILES.add(os.path.abspath(path))
    _is_internal.cache_clear()


@functools.lru_cache(maxsize=4096)
def _is_internal(filename: str) -> bool:
    """Whether frames of ``filename`` are fusegraph's or Python's own (cached: every op
    emitted walks the stack, an eager op included)."""
    if filename.startswith("<frozen "):      # runpy, importlib: Python's own machinery
        return True
    path = os.path.abspath(filename)
    return path in _INTERNAL_FILES or any(path.startswith(d) for d in _INTERNAL_DIRS)


register_internal_dir(__file__)


def user_frame(depth: int = 1):
    """The innermost stack frame outside fusegraph's own folders and files and Python's
    frozen modules (or None: ops made by the ``fusegraph`` command itself, such as a
    step's loss and optimizer update, have no user line)."""
    frame = sys._getframe(depth)
    while frame is not None:
        if not _is_internal(frame.f_code.co_filename):
            return frame
        frame = frame.f_back
    return None


def user_location(with_layer: bool = True) -> SourceLoc:
    """The current SourceLoc: the user's file (base name) and line, and the layer path;
    or the location set by :func:`source_location`."""
    override = _LOC_OVERRIDE.get()
    if override is not None:
        return override
    frame = user_frame(2)
    layer = "/".join(_LAYER_PATH.get()) or None if with_layer else None
    if frame is None:
        return SourceLoc(None, None, layer)
    return SourceLoc(_base_name(frame.f_code.co_filename), frame.f_lineno, layer)


@functools.lru_cache(maxsize=1024)
def _base_name(filename: str) -> str:
    return os.path.basename(filename)     # asked for every op emitted, eager ones included


def user_site() -> str:
    """``path:line`` of the user's innermost frame, full path, for error messages."""
    frame = user_frame(2)
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def current_layer_path() -> str | None:
    return "/".join(_LAYER_PATH.get()) or None


@contextlib.contextmanager
def layer_scope(name: str):
    """Ops emitted inside are attributed to layer ``name`` (nested scopes join with '/')."""
    token = _LAYER_PATH.set(_LAYER_PATH.get() + (name,))
    try:
        yield
    finally:
        _LAYER_PATH.reset(token)


@contextlib.contextmanager
def source_location(loc: SourceLoc):
    """Ops emitted inside get ``loc`` (passes use it: backward ops point at their forward op)."""
    token = _LOC_OVERRIDE.set(loc)
    try:
        yield
    finally:
        _LOC_OVERRIDE.reset(token)


def emit_op(kind: str, operands, attrs: dict | None = None, region=None,
            loc: SourceLoc | None = None) -> Op:
    """Create an op of ``kind``: check arity and attributes, infer its result types.

    Raises ShapeError naming the op, the layer and the user's line when the operand
    types break the op's rule.
    """
    opdef = get_opdef(kind)
    operands = tuple(operands)
    if loc is None:
        loc = user_location()
    if opdef.arity is not None and len(operands) != opdef.arity:
        raise TypeError(f"op {kind} takes {opdef.arity} operands, got {len(operands)}")
    if opdef.arity is None and not operands:
        raise TypeError(f"op {kind} takes at least one operand")
    attrs = opdef.normalize_attrs(dict(attrs or {}))
    types = tuple(v.type for v in operands)
    key = _inference_key(kind, types, attrs) if region is None and operands else None
    out = _INFERRED.get(key) if key is not None else None
    if out is None:
        try:
            out = opdef.infer(types, attrs) if region is None else opdef.infer(types, attrs,
                                                                               region)
        except ShapeError as e:
            raise ShapeError(f"{_where(loc)}: {kind}: {e}") from None
        out = out if isinstance(out, tuple) else (out,)
        if key is not None:
            if len(_INFERRED) >= _INFERRED_MAX:
                _INFERRED.clear()
            _INFERRED[key] = out
    return Op(kind, operands, attrs, out, loc, region)


# Result types by (kind, operand types, attributes): shape rules are pure functions of
# these, and the same ops recur (every step of an eager loop, every layer of a trace).
_INFERRED: dict = {}
_INFERRED_MAX = 1 << 14


def _inference_key(kind: str, types: tuple, attrs: dict):
    """The cache key of an op's shape rule, or None when an attribute holds more than a
    few numbers (hashing and keeping it would cost more than the rule). Ops without
    operands (constants, iotas) are not cached at all: their rules are trivial and a
    constant's attribute is its whole array."""
    items = []
    for name, value in attrs.items():
        value = _hashable(value)
        if isinstance(value, tuple) and _leaves(value) > 16:
            return None
        items.append((name, value))
    key = (kind, types, tuple(items))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _hashable(value):
    return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple)) else value


def _leaves(value: tuple) -> int:
    return sum(_leaves(v) if isinstance(v, tuple) else 1 for v in value)


def emit(kind: str, *operands: Value, region=None, **attrs) -> Value | tuple:
    """Create an op and return its result (a tuple for multi-result ops)."""
    op = emit_op(kind, operands, attrs, region)
    return op.results[0] if len(op.results) == 1 else op.results


def _where(loc: SourceLoc) -> str:
    parts = []
    if loc.layer:
        parts.append(f"layer '{loc.layer}'")
    if loc.file:
        parts.append(f"at {loc.file}:{loc.line}")
    return " ".join(parts) or "op"
