"""Model, layer and compile configs in Keras's JSON shapes, rebuilt only from scanfit's registries.

Reading reads Keras 3 configs and the tf.keras 2 forms found in legacy .h5
files. A class or function is found only by name in a scanfit registry or in
the caller's ``custom_objects``; a config's ``"module"`` is never imported and
no code stored in a file (a Lambda layer, a ``__lambda__``) is ever run, unless the caller
turns safe mode off (``load_model(..., safe_mode=False)``: then a Lambda is rebuilt).
"""
import contextvars
import copy

import jax
import jax.numpy as jnp

from scanfit import initializers, losses, metrics as metrics_module, optimizers
from scanfit.serialization import (CustomObjectScope, built_in, config_name, in_safe_mode, is_custom_object, lookup,
                                   object_config)

# Keys Keras 3 writes for features scanfit lacks, with the value that means "not used".
_UNUSED_FEATURES = {"quantization_config": None, "lora_rank": None, "optional": False, "renorm": False}
# Keys that only matter while one of those features is used.
_FEATURE_DETAILS = {"lora_alpha": "lora_rank", "renorm_clipping": "renorm", "renorm_momentum": "renorm"}
# tf.keras 2 optimizer config keys that Keras 3 dropped (values carry no state).
_TF2_OPTIMIZER_KEYS = ("jit_compile", "is_legacy_optimizer")
_AUTO_METRICS = ("accuracy", "acc", "crossentropy", "ce")


# The size limits of the model being read, for the models nested in it.
_limits = contextvars.ContextVar("model_limits", default=(None, None))
MODEL_CLASSES = ("Sequential", "Functional", "Model")


def serialize_model(model):
    """A whole model as Keras 3 writes it: ``Sequential``, ``Functional``, or a subclass (its registered name)."""
    models = built_in("model")
    cls = type(model)
    if cls in (models["Sequential"], models["Functional"]):
        class_name, module = ("Sequential", "keras") if cls is models["Sequential"] else (
            "Functional", "keras.src.models.functional")
        config = {"module": module, "class_name": class_name, "config": model.get_config(), "registered_name": None}
    else:
        config = object_config("keras.models", model, {}, model.get_config())
    if model.built and model.input_shape is not None:
        config["build_config"] = {"input_shape": _listed(model.input_shape)}
    return config


def _listed(shape):
    return [list(s) for s in shape] if isinstance(shape, list) else list(shape)


def serialize_layer(layer):
    """A layer as Keras 3 writes it in config.json (a custom layer class with its ``registered_name``)."""
    if layer.is_model:  # a model nested in a model
        return serialize_model(layer)
    if getattr(layer, "is_operation", False):  # a keras.ops call in a graph, as Keras 3 writes one
        module, class_name = layer.keras_class()
        return {"module": module, "class_name": class_name, "config": layer.get_config(), "registered_name": class_name}
    config = object_config("keras.layers", layer, built_in("layer"), layer.get_config())
    if layer.built and (layer.input_shape is not None or layer.customizes("get_build_config")):
        config["build_config"] = layer.get_build_config()
    return config


def deserialize_layer(config, custom_objects=None):
    """Rebuild a layer from its config; only classes scanfit knows (or `custom_objects`) are used.

    `custom_objects` (and those of any enclosing `CustomObjectScope`) also
    supply the objects named inside the layer's config: its activation,
    initializers, regularizers and constraints.
    """
    with CustomObjectScope(custom_objects):
        return _deserialize_layer(config, custom_objects)


def _deserialize_layer(config, custom_objects):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A layer config must be a dict with a 'class_name', got {config!r:.200}")
    class_name = config["class_name"]
    if class_name == "__lambda__" or (class_name == "Lambda" and in_safe_mode()):
        if not is_custom_object(class_name, custom_objects):
            raise ValueError(
                f"The model contains a {class_name} layer, whose computation is Python code stored in the "
                "file; scanfit never runs code from a file in safe mode. Pass safe_mode=False to load_model "
                "if you trust the file, or rebuild that part of the model in Python."
            )
    if class_name in MODEL_CLASSES:
        max_weight_bytes, max_layers = _limits.get()
        build_config = config.get("build_config")
        input_shape = build_config.get("input_shape") if isinstance(build_config, dict) else None
        return _model_from_config(config, custom_objects, input_shape, max_weight_bytes, max_layers)
    operations = built_in("operation")
    if class_name in operations and str(config.get("module") or "").startswith("keras.src.ops"):
        return operations[class_name](config.get("config") or {})
    cls = lookup("layer", built_in("layer"), config_name(config, custom_objects), custom_objects)
    layer_config = config.get("config") or {}
    if not isinstance(layer_config, dict):
        raise ValueError(f"The config of layer {class_name!r} must be a dict, got {layer_config!r:.200}")
    layer = cls.from_config(_without_unused_features(class_name, layer_config))
    if isinstance(config.get("build_config"), dict):
        layer.settle_name_scope()  # Keras builds it here, outside the model's name scope: so are its weights' paths
        if layer.customizes("build_from_config"):
            layer.build_from_config(config["build_config"])  # a user's build, which the graph could not call
    return layer


def _without_unused_features(class_name, config):
    """`config` without Keras-only keys left at their "not used" values (a used one is an error)."""
    config = dict(config)
    for key, unused in _UNUSED_FEATURES.items():
        if key in config:
            value = config.pop(key)
            if value != unused:
                raise ValueError(
                    f"Layer {config.get('name', class_name)!r} ({class_name}) uses {key}={value!r}, "
                    "a Keras feature scanfit does not support."
                )
    for key in _FEATURE_DETAILS:
        config.pop(key, None)
    if class_name == "InputLayer" and "batch_input_shape" in config:  # tf.keras 2 spelling
        config.setdefault("batch_shape", config.pop("batch_input_shape"))
    return config


def model_from_config(config, custom_objects=None, input_shape=None, max_weight_bytes=None, max_layers=None):
    """Rebuild a model (fresh weights) from `model.get_config()` output or a serialized model: Sequential,
    functional, or a subclass found in `custom_objects` (rebuilt by its ``from_config``).

    `custom_objects` supplies classes and functions by name at every depth of
    the config (a custom layer, or a custom activation inside a Dense layer).
    `input_shape` builds it when the config declares no input shape. A model
    with more than `max_layers` layers is refused (a ValueError). With
    `max_weight_bytes`, the model is first built and run on one sample with
    shapes only (nothing allocated): one whose weights would take more bytes,
    or whose layers do not fit together, is refused before it is built.
    """
    with CustomObjectScope(custom_objects):
        return _model_from_config(config, custom_objects, input_shape, max_weight_bytes, max_layers)


def _model_from_config(config, custom_objects, input_shape, max_weight_bytes, max_layers):
    token = _limits.set((max_weight_bytes, max_layers))
    try:
        return _read_model(config, custom_objects, input_shape, max_weight_bytes, max_layers)
    finally:
        _limits.reset(token)


def _read_model(config, custom_objects, input_shape, max_weight_bytes, max_layers):
    models = built_in("model")
    class_name = "Sequential"
    if isinstance(config, dict) and "class_name" in config:
        class_name = config["class_name"]
        if class_name not in MODEL_CLASSES:  # a subclassed model: only a class the caller supplies
            cls = lookup("model", {}, config_name(config, custom_objects), custom_objects)
            model = cls.from_config(config.get("config") or {})
            if not model.built and input_shape is not None:
                model.build(_as_shapes(input_shape))
            return model
        config = config.get("config") or {}
    if isinstance(config, dict) and "input_layers" in config:
        class_name = "Functional"
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"A {class_name} config must be a dict with a 'layers' list.")
    if max_layers is not None and len(config["layers"]) > max_layers:
        raise ValueError(f"The model config lists {len(config['layers'])} layers, more than the {max_layers} allowed.")
    layer_configs = config["layers"] if class_name != "Sequential" else _input_shape_on_first_layer(config["layers"])
    layers = _deserialize_layers(layer_configs, custom_objects)
    if class_name != "Sequential":
        functional = models["Functional"]
        if max_weight_bytes is not None:
            shapes = jax.eval_shape(lambda: [v.value for v in functional.from_functional_config(
                config, custom_objects, _drawing_nothing(layers)).weights])
            _check_size(shapes, max_weight_bytes)
        return functional.from_functional_config(config, custom_objects, layers)
    build_shape = config.get("build_input_shape") or input_shape

    def build(layers, name):
        model = models["Sequential"](layers, name=name, trainable=config.get("trainable", True))  # built once, not per layer
        if not model.built and build_shape is not None and model.layers:
            model.build(tuple(build_shape))
        return model

    if max_weight_bytes is not None:
        _check_size(jax.eval_shape(lambda: _probe(build(_drawing_nothing(layers), "probe"))), max_weight_bytes)
    return build(layers, config.get("name"))


def _input_shape_on_first_layer(configs):
    """A Sequential's layer configs, the InputLayer's shape also given to the first layer as tf.keras 2 wrote it
    (``batch_input_shape``; Keras 3 layer configs leave it out): the loaded layer keeps it, so that
    ``Sequential(model_A.layers[:-1])`` of a loaded model is built at once, as in tf.keras 2 (seed 003)."""
    if len(configs) < 2 or not all(isinstance(c, dict) and isinstance(c.get("config"), dict) for c in configs[:2]):
        return configs
    source, first = configs[0], configs[1]
    shape = source["config"].get("batch_shape") or source["config"].get("batch_input_shape")
    users = first.get("registered_name") is not None or first.get("class_name") not in built_in("layer")
    if (source.get("class_name") != "InputLayer" or shape is None or users  # (a user's may not take the argument)
            or "batch_input_shape" in first["config"]):
        return configs
    return [source, {**first, "config": {**first["config"], "batch_input_shape": shape}}, *configs[2:]]


def _deserialize_layers(configs, custom_objects):
    """The layers of a model's config; a name listed again (a Sequential that runs one layer several times, as
    Hands-on ML's repeated ResidualBlock) is that same layer again, with the same weights."""
    by_name, layers = {}, []
    for layer_config in configs:
        inner = layer_config.get("config") if isinstance(layer_config, dict) else None
        name = inner.get("name") if isinstance(inner, dict) else None
        if name is not None and name in by_name:
            layers.append(by_name[name])
            continue
        layers.append(_deserialize_layer(layer_config, custom_objects))
        if name is not None:
            by_name[name] = layers[-1]
    return layers


def _as_shapes(shape):
    """A saved input shape (lists from JSON) as a tuple, or a list of tuples for several inputs."""
    if shape and isinstance(shape[0], list):
        return [tuple(item) for item in shape]
    return tuple(shape)


def _check_size(shapes, max_weight_bytes):
    size = sum(shape.size * shape.dtype.itemsize for shape in shapes)
    if size > max_weight_bytes:
        raise ValueError(
            f"The model config describes weights of {size} bytes, over the limit of {max_weight_bytes} bytes "
            "that its source allows; refusing to allocate them."
        )


class _ShapeOnly(initializers.Initializer):
    """Zeros, which are abstract values inside `jax.eval_shape`: nothing is drawn or allocated."""

    def __call__(self, shape, dtype="float32", key=None):
        return jnp.zeros(tuple(int(d) for d in shape), jnp.dtype("float32" if dtype is None else dtype))


def _drawing_nothing(layers):
    """Deep copies of `layers` whose initializers are `_ShapeOnly`, for the probe.

    Initializers draw their values on the host with NumPy, which
    `jax.eval_shape` does not make abstract: a config asking for a huge
    kernel would be allocated by the very probe meant to refuse it.
    """
    copies = copy.deepcopy(layers)
    for layer in copies:
        for attribute, value in list(vars(layer).items()):
            if isinstance(value, initializers.Initializer):
                setattr(layer, attribute, _ShapeOnly())
    return copies


def _probe(model):
    """`model`'s weights, after a forward pass on one sample when its input shape is fixed (traced, never run)."""
    sample_shape = tuple(model.input_shape[1:]) if model.built else (None,)
    if None not in sample_shape:
        model.apply(model.weight_values(), jnp.zeros((1,) + sample_shape, jnp.float32))
    return [variable.value for variable in model.weights]


# --- compile settings ---------------------------------------------------------------


def compile_config(model):
    """Keras 3's ``compile_config`` for a compiled model."""
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _serialize(model.compile_settings.loss, losses.serialize),
        "loss_weights": model.compile_settings.loss_weights,
        "metrics": _serialize(model.compile_settings.metrics, metrics_module.serialize) or None,
        "weighted_metrics": _serialize(model.compile_settings.weighted_metrics, metrics_module.serialize) or None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": True,
    }


def training_config(model):
    """The ``training_config`` attribute of a legacy .h5 file, as Keras 3 writes it."""
    config = compile_config(model)
    optimizer = config.pop("optimizer")
    config["optimizer_config"] = {"class_name": optimizer["class_name"], "config": optimizer["config"]}
    return config


def compile_from_config(model, config, custom_objects=None):
    """``model.compile(...)`` with the settings of a Keras 3 ``compile_config``."""
    if not isinstance(config, dict) or "optimizer" not in config:
        raise ValueError("A compile_config must be a dict with an 'optimizer' entry.")
    _compile(model, config["optimizer"], config, custom_objects)


def compile_from_training_config(model, config, custom_objects=None):
    """``model.compile(...)`` from a legacy .h5 ``training_config`` (Keras 3 or tf.keras 2)."""
    if not isinstance(config, dict) or not isinstance(config.get("optimizer_config"), dict):
        raise ValueError("A training_config must be a dict with an 'optimizer_config' entry.")
    optimizer = dict(config["optimizer_config"])
    class_name = optimizer.get("class_name")
    if isinstance(class_name, str) and class_name.startswith("Custom>"):  # how tf.keras 2.11+ names its optimizers
        optimizer["class_name"] = class_name[len("Custom>"):]
    if isinstance(optimizer.get("config"), dict):
        optimizer["config"] = {k: v for k, v in optimizer["config"].items() if k not in _TF2_OPTIMIZER_KEYS}
    _compile(model, optimizer, config, custom_objects)


def _compile(model, optimizer_config, config, custom_objects):
    with CustomObjectScope(custom_objects):
        _compile_in_scope(model, optimizer_config, config, custom_objects)


def _compile_in_scope(model, optimizer_config, config, custom_objects):
    optimizer = optimizers.deserialize(optimizer_config, custom_objects)
    model.compile(
        optimizer=optimizer,
        loss=_per_output(config.get("loss"), lambda loss: losses.deserialize(_legacy_loss(loss), custom_objects)),
        loss_weights=config.get("loss_weights"),
        metrics=_metrics(config.get("metrics"), custom_objects),
        weighted_metrics=_metrics(config.get("weighted_metrics"), custom_objects),
    )
    model.optimizer.build_transform().init({"probe": jnp.zeros((1,), jnp.float32)})  # a bad setting fails now


def _serialize(identifier, serialize):
    """A loss or metrics setting for the file: names kept, objects serialized, lists and per-output dicts kept."""
    if isinstance(identifier, dict) and "class_name" not in identifier:
        return {key: _serialize(value, serialize) for key, value in identifier.items()}
    if isinstance(identifier, (list, tuple)):
        return [_serialize(item, serialize) for item in identifier]
    return identifier if isinstance(identifier, str) or identifier is None else serialize(identifier)


def _per_output(value, read):
    """A saved loss setting read back: a name, a config (`read`), or a list or per-output dict of those."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and "class_name" not in value:
        return {key: _per_output(item, read) for key, item in value.items()}
    if isinstance(value, list):
        return [_per_output(item, read) for item in value]
    return read(value)


def _legacy_loss(config):
    """tf.keras 2 wrote ``"reduction": "auto"``, which means Keras 3's default."""
    if isinstance(config, dict) and isinstance(config.get("config"), dict) and config["config"].get("reduction") == "auto":
        config = {**config, "config": {**config["config"], "reduction": "sum_over_batch_size"}}
    return config


def _metrics(config, custom_objects):
    """Metric identifiers from a saved list; tf.keras 2 nested them per output: ``[[...]]``."""
    if config is None:
        return None
    if isinstance(config, dict) and "class_name" not in config:  # per output
        return {key: _metrics(value if isinstance(value, list) else [value], custom_objects)
                for key, value in config.items()}
    if not isinstance(config, list):
        raise ValueError(f"Saved metrics must be a list, got {config!r:.200}")
    if len(config) == 1 and isinstance(config[0], list):
        config = config[0]
    if config and all(isinstance(item, list) for item in config):  # one list per output
        return [[_metric(item, custom_objects) for item in items] for items in config]
    return [_metric(item, custom_objects) for item in config]


def _metric(config, custom_objects):
    if isinstance(config, str):
        return config
    if not isinstance(config, dict):
        raise ValueError(f"A saved metric must be a name or a config dict, got {config!r:.200}")
    inner = config.get("config")
    if config.get("class_name") == "MeanMetricWrapper" and isinstance(inner, dict) and isinstance(inner.get("fn"), str):
        # tf.keras 2 stored compile(metrics=["accuracy"]) as the function it picked from the shapes.
        name = inner.get("name")
        if name in _AUTO_METRICS:
            return name
        function = lookup("metric function", metrics_module.FUNCTIONS, inner["fn"], custom_objects)
        return metrics_module.MeanMetricWrapper(function, name=name)
    return metrics_module.deserialize(config, custom_objects)
