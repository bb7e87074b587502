"""tf.keras 2's `keras.layers.experimental` namespace: its `preprocessing` layers under their older path."""
from scanfit.layers.experimental import preprocessing

__all__ = ["preprocessing"]
