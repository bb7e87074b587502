"""`keras.callbacks`."""
from scanfit.callbacks.base import Callback, CallbackList, History

__all__ = ["Callback", "CallbackList", "History"]
