"""tf.keras 2's `keras.preprocessing` namespace: `sequence.pad_sequences`."""
from scanfit.preprocessing import sequence

__all__ = ["sequence"]
