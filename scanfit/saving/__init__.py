"""Model files and configs (`keras.saving`)."""
from scanfit.saving.api import load_model, load_weights, save_model, save_weights

__all__ = ["load_model", "load_weights", "save_model", "save_weights"]
