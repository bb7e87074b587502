"""`keras.saving.serialize_keras_object` / `deserialize_keras_object`: any Keras object to and from the JSON
shape Keras 3 writes, for a custom layer's `get_config` / `from_config` that hold other objects.

Reading finds classes and functions only by name, in scanfit's registries, the caller's ``custom_objects``
or the registered classes; a config's ``"module"`` only says which registry to look in and is never imported.
"""
import types

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import (activations, constraints, initializers, losses, metrics, mixed_precision, optimizers,
                     regularizers, schedules)
from scanfit.saving.config import deserialize_layer, serialize_layer
from scanfit.serialization import (CustomObjectScope, SafeModeScope, config_name, function_config,
                                   get_registered_object, in_safe_mode, is_custom_object, object_config,
                                   to_config_dict)

# (base class, Keras module, serialize, deserialize) for each kind of object; layers and models come first.
_KINDS = (
    (optimizers.Optimizer, "keras.optimizers", optimizers.serialize, optimizers.deserialize),
    (losses.Loss, "keras.losses", losses.serialize, losses.deserialize),
    (metrics.Metric, "keras.metrics", metrics.serialize, metrics.deserialize),
    (initializers.Initializer, "keras.initializers", initializers.serialize, initializers.deserialize),
    (regularizers.Regularizer, "keras.regularizers", regularizers.serialize, regularizers.deserialize),
    (constraints.Constraint, "keras.constraints", constraints.serialize, constraints.deserialize),
    (schedules.LearningRateSchedule, "keras.optimizers.schedules", schedules.serialize, schedules.deserialize),
)
# Where a plain function saved by name is looked for after the caller's objects, in Keras's order.
_FUNCTION_KINDS = (activations.deserialize, losses.deserialize, metrics.deserialize)


def serialize_keras_object(obj):
    """`obj` in Keras 3's serialized form: plain values as they are (tuples as lists), NumPy and JAX arrays
    and bytes as Keras's ``__numpy__`` / ``__tensor__`` / ``__bytes__`` dicts, layers, models, optimizers,
    losses, metrics, initializers, regularizers, constraints, schedules and dtype policies as their config
    dicts, a named function by its name, and any other object with a ``get_config`` as a custom object."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(item) for item in obj]
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}
    if isinstance(obj, jax.Array):
        return {"class_name": "__tensor__", "config": {"value": np.asarray(obj).tolist(), "dtype": str(obj.dtype)}}
    if _is_layer(obj):
        config = serialize_layer(obj)
        return {**config, "config": serialize_keras_object(config["config"])}  # (objects a get_config returned)
    if isinstance(obj, mixed_precision.DTypePolicy):
        return to_config_dict("keras", "DTypePolicy", obj.get_config())
    for base, _, serialize, _ in _KINDS:
        if isinstance(obj, base):
            return serialize(obj)
    if isinstance(obj, types.FunctionType):
        if obj.__name__ == "<lambda>":
            raise TypeError("Cannot serialize a lambda: Keras saves a function by its name. Write a def (and "
                            "pass it in custom_objects when loading).")
        return function_config(obj)
    if callable(getattr(obj, "get_config", None)):
        return object_config(None, obj, {}, serialize_keras_object(obj.get_config()))
    raise TypeError(f"Cannot serialize {obj!r} (a {type(obj).__name__}): a Keras object, a named function, "
                    "plain data or arrays can be serialized; give your class a get_config method.")


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """Rebuild what `serialize_keras_object` wrote (or Keras 3 did). Classes and functions are found by name
    among scanfit's own, `custom_objects`, those of an enclosing `custom_object_scope` and the classes
    registered with `register_keras_serializable`; a layer saved with its ``build_config`` comes back built.
    A string stays a string, as in Keras. `safe_mode=False` lets a Lambda layer's stored code run."""
    if kwargs:
        raise TypeError(f"deserialize_keras_object got unexpected argument(s) {sorted(kwargs)}.")
    with SafeModeScope(bool(safe_mode) and in_safe_mode()), CustomObjectScope(custom_objects):
        return _deserialize(config, custom_objects)


def _deserialize(config, custom_objects):
    if config is None or isinstance(config, (bool, int, float, str)):
        return config
    if isinstance(config, (list, tuple)):
        return [_deserialize(item, custom_objects) for item in config]
    if not isinstance(config, dict):
        raise TypeError(f"Cannot deserialize {config!r} (a {type(config).__name__}): expected a config dict, "
                        "a list or plain data.")
    if "class_name" not in config or "config" not in config:
        return {key: _deserialize(value, custom_objects) for key, value in config.items()}
    class_name, inner = config["class_name"], config["config"]
    if class_name in ("__numpy__", "__tensor__"):
        value = np.asarray(inner["value"], dtype=inner["dtype"])
        return value if class_name == "__numpy__" else jnp.asarray(value)
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "function":
        return _function(inner, custom_objects)
    module = config.get("module")
    name = config_name(config, custom_objects)
    if is_custom_object(name, custom_objects):
        return _custom(get_registered_object(name, custom_objects), config, custom_objects)
    if module == "keras" and class_name == "DTypePolicy":
        return mixed_precision.DTypePolicy.from_config(inner)
    for _, kind_module, _, deserialize in _KINDS:
        if module == kind_module:
            return deserialize(config, custom_objects)
    return _built(deserialize_layer(config, custom_objects), config)  # a layer or model (or a clear error)


def _function(name, custom_objects):
    if is_custom_object(name, custom_objects):
        return get_registered_object(name, custom_objects)
    for deserialize in _FUNCTION_KINDS:
        try:
            return deserialize(name, custom_objects)
        except ValueError:
            continue
    raise ValueError(f"Unknown function {name!r}: it is not one of Keras's activations, losses or metrics. Pass "
                     f"custom_objects={{{name!r}: your_function}} to rebuild it.")


def _custom(cls, config, custom_objects):
    """The caller's (or a registered) object for `config`: a function as it is, a layer as the layer loader
    builds it (it finds the class by the same name), any other class from its config."""
    if not isinstance(cls, type):
        return cls
    if _is_layer(cls):
        return _built(deserialize_layer(config, custom_objects), config)
    if hasattr(cls, "from_config"):
        return cls.from_config(config["config"])
    return cls(**config["config"])


def _is_layer(obj):
    """Whether `obj` is a layer or model (or such a class): saving knows layers by what they do, not by import."""
    return callable(getattr(obj, "build_for", None)) and hasattr(obj, "weight_layers")


def _built(layer, config):
    """`layer`, built by its `build_from_config` from `config`'s ``build_config`` when it has one (as Keras does)."""
    if isinstance(config.get("build_config"), dict):
        layer.build_from_config(config["build_config"])
    return layer
