"""Keras 3's object serialization: objects as JSON-able dicts and back.

``serialize_keras_object(obj)`` writes what Keras 3 writes in a ``.keras`` file's
``config.json``: ``None``, numbers, strings, lists and dicts as they are (tuples become
lists); a built-in activation by its name (``"relu"``); any object with ``get_config``
as ``{"module", "class_name", "config", "registered_name"}`` (``module`` is Keras's
public module of the kind, ``keras.layers``, ``keras.initializers``, ..., for our
built-ins, so that Keras 3 reads our files); a registered function as Keras's
``{"module": "builtins", "class_name": "function", "config": name, ...}``; a numpy array
as Keras's ``__numpy__`` record.

``deserialize_keras_object(config)`` is the inverse. Classes are found, in order, in the
``custom_objects`` given, the active :func:`custom_object_scope`\\ s, the
:func:`register_keras_serializable` registry (by ``registered_name``,
``"package>Name"``), then fusegraph's built-ins of the kind ``module`` names. Nothing is
ever imported or executed from a file: a class name not found is a ValueError naming it
and how to provide it (``custom_objects=`` or registration); Python bytecode (Lambda's
``__lambda__`` record) is refused unless safe mode is off (:func:`safe_mode_scope`).
"""
from __future__ import annotations

import builtins
import codecs
import contextlib
import contextvars
import inspect
import marshal
import re
import types

import numpy as np

from ..ir.builder import user_site

# Keras's public module per kind of object, as Keras 3 writes it in configs.
KIND_MODULES = {
    "layers": "keras.layers", "initializers": "keras.initializers",
    "regularizers": "keras.regularizers", "constraints": "keras.constraints",
    "losses": "keras.losses", "metrics": "keras.metrics", "optimizers": "keras.optimizers",
    "schedules": "keras.optimizers.schedules", "models": "keras",
}

_REGISTERED: dict[str, object] = {}          # "package>Name" -> class or function
_REGISTERED_NAMES: dict[int, str] = {}       # id(class or function) -> "package>Name"
_SCOPES: contextvars.ContextVar = contextvars.ContextVar("fusegraph_custom_objects",
                                                         default=())
_SAFE_MODE: contextvars.ContextVar = contextvars.ContextVar("fusegraph_safe_mode",
                                                            default=True)
_BUILTINS: dict[str, dict[str, object]] = {}  # kind -> class name -> class


# --- registration -------------------------------------------------------------------------
def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator registering a class or function under ``"package>name"`` (``name``
    defaults to its ``__name__``), so that files naming it load without
    ``custom_objects`` (Keras's ``keras.saving.register_keras_serializable``)."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"{user_site()}: register_keras_serializable: `package` must be a "
                         f"string without '>', got {package!r}")

    def register(obj):
        key = f"{package}>{name or obj.__name__}"
        if not (inspect.isclass(obj) or callable(obj)):
            raise TypeError(f"register_keras_serializable: {key} must be a class or a "
                            f"function, got {obj!r}")
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: class {obj.__name__} has no "
                             f"get_config(); define one returning its constructor's "
                             f"arguments")
        _REGISTERED[key] = obj
        _REGISTERED_NAMES[id(obj)] = key
        return obj
    return register


def get_registered_name(obj) -> str:
    """``"package>Name"`` for a registered class or function, else its ``__name__``."""
    return _REGISTERED_NAMES.get(id(obj), getattr(obj, "__name__", type(obj).__name__))


def get_registered_object(name: str, custom_objects=None, module_objects=None):
    """The class or function registered (or in scope, or in ``custom_objects`` /
    ``module_objects``) under ``name``; None when there is none."""
    for table in (custom_objects or {}, *reversed(_SCOPES.get())):
        if name in table:
            return table[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    return (module_objects or {}).get(name)


def get_custom_objects() -> dict:
    """The registry (``"package>Name"`` -> object); registering through it works as in
    Keras (``get_custom_objects()["Custom>f"] = f``)."""
    return _REGISTERED


@contextlib.contextmanager
def custom_object_scope(*scopes):
    """Within the block, the names of each dict in ``scopes`` resolve to its objects
    when configs are deserialized (Keras's ``keras.saving.custom_object_scope``)."""
    token = _SCOPES.set(_SCOPES.get() + tuple(dict(s or {}) for s in scopes))
    try:
        yield
    finally:
        _SCOPES.reset(token)


CustomObjectScope = custom_object_scope


@contextlib.contextmanager
def safe_mode_scope(safe_mode: bool):
    """Whether deserializing within the block refuses Python bytecode (Lambda)."""
    token = _SAFE_MODE.set(bool(safe_mode))
    try:
        yield
    finally:
        _SAFE_MODE.reset(token)


def in_safe_mode() -> bool:
    return _SAFE_MODE.get()


def register_builtins(kind: str, classes: dict) -> None:
    """Make fusegraph's classes of ``kind`` (a key of :data:`KIND_MODULES`) findable by
    class name when a config names Keras's module of that kind."""
    _BUILTINS.setdefault(kind, {}).update(classes)


def builtin_kind(obj) -> str | None:
    """The kind under which ``type(obj)`` is a fusegraph built-in, else None."""
    cls = obj if inspect.isclass(obj) else type(obj)
    for kind, classes in _builtins().items():
        if classes.get(cls.__name__) is cls:
            return kind
    return None


def _builtins() -> dict:
    if "layers" not in _BUILTINS:            # import on first use: no import cycles
        from . import (constraints, initializers, layers, losses, metrics, optimizers,
                       regularizers, schedules)
        for kind, module in (("layers", layers), ("initializers", initializers),
                             ("regularizers", regularizers), ("constraints", constraints),
                             ("losses", losses), ("metrics", metrics),
                             ("optimizers", optimizers), ("schedules", schedules)):
            register_builtins(kind, {name: obj for name, obj in vars(module).items()
                                     if inspect.isclass(obj) and not name.startswith("_")
                                     and (hasattr(obj, "get_config")
                                          or kind == "initializers")})
    return _BUILTINS


def arguments_config(obj) -> dict:
    """A config of ``obj``'s constructor arguments, read from the attributes of the same
    names (the config of a class that keeps each argument as such an attribute)."""
    parameters = inspect.signature(type(obj).__init__).parameters.values()
    return {p.name: getattr(obj, p.name) for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


# --- serialization ------------------------------------------------------------------------
def serialize_keras_object(obj):
    """``obj`` as Keras 3 writes it in a config (see the module docstring). A lambda or
    an unregistered object without ``get_config`` is a ValueError naming it."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(x) for x in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"class_name": "__numpy__",
                "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, slice):
        return {"class_name": "__slice__",
                "config": {"start": obj.start, "stop": obj.stop, "step": obj.step}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if hasattr(obj, "get_config") and not inspect.isclass(obj):
        return _serialize_instance(obj)
    if callable(obj):
        return _serialize_function(obj)
    raise ValueError(f"cannot serialize {obj!r}: it is not a number, string, list, dict, "
                     f"array, an object with get_config() or a registered function")


def _serialize_instance(obj) -> dict:
    kind = builtin_kind(obj)
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"{type(obj).__name__}.get_config() must return a dict, got "
                        f"{type(config).__name__}")
    registered = _REGISTERED_NAMES.get(id(type(obj)))
    class_name = getattr(obj, "_keras_class_name", type(obj).__name__)
    if getattr(obj, "_keras_module", None):         # a Keras op node (.keras_op_layer)
        return {"module": obj._keras_module, "class_name": class_name,
                "config": serialize_keras_object(config), "registered_name": class_name}
    if kind and class_name == "Functional":   # where Keras 3 keeps it, as it writes it
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": serialize_keras_object(config), "registered_name": "Functional"}
    return {"module": KIND_MODULES[kind] if kind else type(obj).__module__,
            "class_name": class_name,
            "config": serialize_keras_object(config),
            "registered_name": None if kind else registered or type(obj).__name__}


def _serialize_function(fn):
    from . import activations
    name = activations.name_of(fn)
    if name is not None:
        return name
    registered = _REGISTERED_NAMES.get(id(fn))
    if registered is None and (getattr(fn, "__name__", "<lambda>") == "<lambda>"
                               or not hasattr(fn, "__module__")):
        raise ValueError(f"cannot serialize the function {fn!r}: a lambda or a callable "
                         f"object has no name to load it by; use a def function registered "
                         f"with fg.saving.register_keras_serializable()")
    return {"module": "builtins", "class_name": "function",
            "config": registered or fn.__name__, "registered_name": "function"}


# --- deserialization ----------------------------------------------------------------------
def deserialize_keras_object(config, custom_objects=None, kind: str | None = None):
    """The object ``config`` describes (the inverse of :func:`serialize_keras_object`).
    ``kind``: where to look up a bare string (``"relu"`` as an activation is the caller's
    business: strings are returned as they are unless ``kind`` names a lookup)."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        return config
    if isinstance(config, list):
        return [deserialize_keras_object(x, custom_objects) for x in config]
    if not isinstance(config, dict):
        raise TypeError(f"a serialized object must be a dict, list, string or number, got "
                        f"{config!r}")
    if "class_name" not in config:
        return {k: deserialize_keras_object(v, custom_objects) for k, v in config.items()}
    class_name = config["class_name"]
    inner = config.get("config")
    if class_name == "__numpy__":
        return np.asarray(inner["value"], dtype=inner["dtype"])
    if class_name == "__tuple__":
        return tuple(deserialize_keras_object(x, custom_objects) for x in inner["value"])
    if class_name == "__slice__":
        return slice(inner.get("start"), inner.get("stop"), inner.get("step"))
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__lambda__":
        return _load_lambda(inner)
    if class_name == "function":
        return _find(inner, config, custom_objects, "function")
    from .keras_op_layer import KerasOp, is_keras_op
    if is_keras_op(config.get("module")):
        return KerasOp.from_record(config)
    cls = _find(class_name, config, custom_objects, "class")
    if not inspect.isclass(cls):
        raise TypeError(f"{class_name!r} names {cls!r}, not a class")
    inner = inner or {}
    if hasattr(cls, "from_config"):
        with custom_object_scope(custom_objects or {}):
            return cls.from_config(inner)
    return cls(**inner)


def _find(name: str, config: dict, custom_objects, what: str):
    registered = config.get("registered_name")
    for key in (registered, name) if registered not in (None, "function") else (name,):
        found = get_registered_object(key, custom_objects)
        if found is not None:
            return found
    module = config.get("module") or ""
    for kind, public in KIND_MODULES.items():
        if _is_keras_module(module, public, kind):
            found = _builtins().get(kind, {}).get(name)
            if found is not None:
                return found
    if what == "function" and registered == "function":
        from . import activations
        if activations.get_or_none(name) is not None:
            return activations.get_or_none(name)
    raise ValueError(
        f"could not find the {what} {name!r} (module {module!r}) to deserialize: pass it "
        f"as custom_objects={{{name!r}: ...}}, use fg.saving.custom_object_scope, or "
        f"register it with @fg.saving.register_keras_serializable()")


def _is_keras_module(module: str, public: str, kind: str) -> bool:
    """Whether a config's ``module`` names Keras's (or our) module of ``kind``: the
    public one (``keras.layers``), an internal one (``keras.src.layers.core.dense``,
    ``keras.src.models.functional``), or fusegraph's."""
    if module == public or module.startswith(public + "."):
        return True
    parts = re.split(r"[.]", module)
    if kind == "models":
        return module == "keras" or "models" in parts
    return kind in parts and (parts[0] in ("keras", "fusegraph"))


def dump_function(fn) -> dict:
    """Keras's ``__lambda__`` record of a Python function: its marshalled bytecode
    (base64), defaults and closure values. Only the same Python version loads it."""
    closure = fn.__closure__
    return {"class_name": "__lambda__", "config": {
        "code": codecs.encode(marshal.dumps(fn.__code__), "base64").decode("ascii"),
        "defaults": serialize_keras_object(fn.__defaults__),
        "closure": None if closure is None else serialize_keras_object(
            [c.cell_contents for c in closure])}}


def _load_lambda(inner):
    """The function a ``__lambda__`` record holds, only outside safe mode. Its globals:
    ``fg`` and ``ops`` (fusegraph and fusegraph.ops), ``keras`` (fusegraph too, so that
    ``keras.ops.x`` resolves), and the custom objects in scope."""
    if in_safe_mode():
        raise ValueError(
            "refusing to load a Lambda layer's Python bytecode: loading it runs code from "
            "the file. Load only files you trust, with safe_mode=False "
            "(fg.models.load_model(path, safe_mode=False) or "
            "fg.saving.safe_mode_scope(False)), or use a registered function")
    import fusegraph
    try:
        code = marshal.loads(codecs.decode(inner["code"].encode("ascii"), "base64"))
    except (ValueError, EOFError, TypeError) as e:
        raise ValueError(f"a Lambda's bytecode could not be read ({e}): it was written by "
                         f"another Python version; register the function instead") from None
    names = {"fg": fusegraph, "keras": fusegraph, "ops": fusegraph.ops,
             "__builtins__": builtins}
    for scope in _SCOPES.get():
        names.update(scope)
    closure = inner.get("closure")
    cells = None if closure is None else tuple(
        types.CellType(deserialize_keras_object(v)) for v in closure)
    defaults = inner.get("defaults")
    return types.FunctionType(code, names, code.co_name,
                              None if defaults is None else tuple(defaults), cells)
