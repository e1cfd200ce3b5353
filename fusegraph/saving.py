"""``fg.saving``: whole models in Keras 3's ``.keras`` format and Keras's serialization
helpers (see :mod:`fusegraph.runtime.keras_archive` and
:mod:`fusegraph.frontend.serialization`)."""
from .frontend.serialization import (CustomObjectScope, custom_object_scope,
                                     deserialize_keras_object, get_custom_objects,
                                     get_registered_name, get_registered_object,
                                     register_keras_serializable, safe_mode_scope,
                                     serialize_keras_object)
from .runtime.keras_archive import load_model, save_model

__all__ = ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object",
           "get_custom_objects", "get_registered_name", "get_registered_object", "load_model",
           "register_keras_serializable", "safe_mode_scope", "save_model",
           "serialize_keras_object"]
