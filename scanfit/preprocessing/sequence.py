"""tf.keras 2's `keras.preprocessing.sequence`: `pad_sequences` (the same function as `keras.utils.pad_sequences`)."""
from scanfit.utils.sequence import pad_sequences

__all__ = ["pad_sequences"]
