"""Model files and configs (`keras.saving`)."""
from scanfit.saving.api import load_model, load_weights, save_model, save_weights
from scanfit.saving.objects import deserialize_keras_object, serialize_keras_object
from scanfit.serialization import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)

__all__ = ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "load_model", "load_weights", "register_keras_serializable",
           "save_model", "save_weights", "serialize_keras_object"]
