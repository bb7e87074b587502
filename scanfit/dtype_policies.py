"""`keras.dtype_policies`: the dtype policy class of `scanfit.mixed_precision` under Keras 3's module name.

    policy = keras.dtype_policies.get("mixed_bfloat16")
    keras.dtype_policies.serialize(policy)   # {'module': 'keras', 'class_name': 'DTypePolicy', 'config': {...}, ...}

`FloatDTypePolicy`, Keras 3's earlier name for a policy of float dtypes, is the same class as `DTypePolicy`.
scanfit has no quantized policies (``'int8_from_float32'`` and the like are refused by `get`).
"""
from scanfit import mixed_precision
from scanfit.mixed_precision import DTypePolicy
from scanfit.saving.objects import deserialize_keras_object, serialize_keras_object

FloatDTypePolicy = DTypePolicy


def get(identifier):
    """The policy meant by `identifier`: None (the global policy), a `DTypePolicy`, a name (``'float32'``,
    ``'mixed_float16'``), a dtype, or a serialized policy (a dict, as `serialize` writes it)."""
    return mixed_precision.get(identifier, argument="identifier")


def serialize(dtype_policy):
    """`dtype_policy` as Keras 3 saves it: ``{'module', 'class_name', 'config', 'registered_name'}``."""
    if not isinstance(dtype_policy, DTypePolicy):
        raise TypeError(f"serialize() takes a DTypePolicy, got {dtype_policy!r}.")
    return serialize_keras_object(dtype_policy)


def deserialize(config, custom_objects=None):
    """The policy `serialize` (or Keras 3) wrote as `config`; a policy class of your own is looked up in
    `custom_objects` (and the registered classes)."""
    if not isinstance(config, dict):
        raise TypeError(f"deserialize() takes the dict serialize() wrote, got {config!r}.")
    if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy", "Policy"):
        return mixed_precision.get(config, argument="config")
    return deserialize_keras_object(config, custom_objects=custom_objects)


__all__ = ["DTypePolicy", "FloatDTypePolicy", "deserialize", "get", "serialize"]
