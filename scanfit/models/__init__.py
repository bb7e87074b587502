"""`keras.models`: Model, Sequential, cloning, and loading whole models."""
from scanfit.models.model import Model
from scanfit.models.sequential import Sequential
from scanfit.saving.api import load_model, save_model
from scanfit.saving.config import model_from_config


def clone_model(model):
    """A new model with the same architecture and fresh weights (no layer is shared)."""
    return model_from_config(model.get_config())


__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_config", "save_model"]
