"""`keras.models`: Model, Sequential, cloning, and loading whole models."""
from scanfit.models.model import Model
from scanfit.models.sequential import Sequential
from scanfit.saving.api import load_model, save_model
from scanfit.saving.config import model_from_config
from scanfit.serialization import register_built_in

register_built_in("model", {"Sequential": Sequential, "Functional": Model})


def clone_model(model):
    """A new model with the same architecture and fresh weights (no layer is shared).

    Sequential and functional models are rebuilt from their configs; a
    subclassed model from ``type(model).from_config(model.get_config())``.
    """
    if type(model) not in (Model, Sequential):
        return type(model).from_config(model.get_config())
    return model_from_config(model.get_config())


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from `model.to_json()` output, Keras's or scanfit's."""
    import json

    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model_from_json needs a JSON string from model.to_json(): {error}") from None
    return model_from_config(config, custom_objects)


__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_config", "model_from_json", "save_model"]
