"""`keras.models`: Model, Sequential, cloning, and loading whole models."""
from scanfit.models.model import Model
from scanfit.models.sequential import Sequential
from scanfit.saving.api import load_model, save_model
from scanfit.layers.core import Input
from scanfit.saving.config import compile_config, compile_from_config, deserialize_layer, model_from_config
from scanfit.serialization import register_built_in

register_built_in("model", {"Sequential": Sequential, "Functional": Model})


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with the same architecture and fresh weights (no layer is shared).

    Sequential and functional models are rebuilt from their configs; a subclassed model from
    ``type(model).from_config(model.get_config())``. `clone_function(layer)` gives the new layer for each
    layer of a Sequential or functional model (not its inputs), as in Keras (``layer.__class__.from_config(
    layer.get_config())`` by default). As in Keras 3, the clone of a compiled Sequential or functional model comes
    back compiled with the same settings (a new optimizer, its state fresh). `input_tensors`, `call_function`
    and `recursive` are not supported yet.
    """
    unsupported = {"input_tensors": input_tensors, "call_function": call_function, "recursive": recursive or None,
                   **kwargs}
    given = sorted(name for name, value in unsupported.items() if value is not None)
    if given:
        raise NotImplementedError(f"clone_model does not support {given} yet; pass the model and, if you need "
                                  "it, clone_function.")
    if type(model) not in (Model, Sequential):
        if clone_function is not None:
            raise ValueError("clone_model(clone_function=...) takes Sequential and functional models; a subclassed "
                             "model is cloned with its own from_config (leave clone_function out).")
        return type(model).from_config(model.get_config())
    clone = _cloned_graph(model, clone_function)
    if model.compiled:
        compile_from_config(clone, compile_config(model))
    return clone


def _cloned_graph(model, clone_function):
    """A Sequential or functional model like `model`, its layers from `clone_function` (or their configs)."""
    if clone_function is None:  # each layer from its own config, as Keras's default clone_function makes it: not
        config = model.get_config()  # built until the clone builds it (its weights' paths then under the clone's)
        config["layers"] = [{key: value for key, value in entry.items() if key != "build_config"}
                            for entry in config["layers"]]
        return model_from_config(config)
    if type(model) is Sequential:
        layers = [clone_function(layer) for layer in model.layers]
        head = [Input(batch_shape=model.input_shape)] if model.built else []
        return Sequential(head + layers, name=model.name)
    config = model.get_config()
    originals = {layer.name: layer for layer in model.layers}
    layers = [clone_function(originals[entry["name"]])
              if entry["name"] in originals and not getattr(originals[entry["name"]], "is_input_layer", False)
              else deserialize_layer(entry) for entry in config["layers"]]
    return Model.from_functional_config(config, layers=layers)


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from `model.to_json()` output, Keras's or scanfit's."""
    import json

    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model_from_json needs a JSON string from model.to_json(): {error}") from None
    return model_from_config(config, custom_objects)


__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_config", "model_from_json", "save_model"]
