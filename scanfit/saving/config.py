"""Layer and model configs in Keras 3's JSON shape, rebuilt only from scanfit's registry."""
from scanfit.serialization import lookup


def serialize_layer(layer):
    """A layer as Keras 3 writes it in config.json."""
    config = {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "registered_name": None,
    }
    if layer.built and layer.input_shape is not None:
        config["build_config"] = {"input_shape": list(layer.input_shape)}
    return config


def deserialize_layer(config, custom_objects=None):
    """Rebuild a layer from its config; only classes scanfit knows (or `custom_objects`) are used."""
    from scanfit.layers import LAYER_CLASSES

    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A layer config must be a dict with a 'class_name', got {config!r:.200}")
    cls = lookup("layer", LAYER_CLASSES, config["class_name"], custom_objects)
    layer_config = dict(config.get("config") or {})
    return cls.from_config(layer_config)


def model_from_config(config, custom_objects=None):
    """Rebuild a Sequential model (fresh weights) from `model.get_config()` output."""
    from scanfit.models.sequential import Sequential

    if isinstance(config, dict) and config.get("class_name") == "Sequential":
        config = config.get("config") or {}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("A Sequential config must be a dict with a 'layers' list.")
    model = Sequential(name=config.get("name"))
    for layer_config in config["layers"]:
        model.add(deserialize_layer(layer_config, custom_objects))
    build_shape = config.get("build_input_shape")
    if not model.built and build_shape is not None and model.layers:
        model.build(tuple(build_shape))
    return model
