"""tf.keras 2's `keras.preprocessing` namespace: `sequence.pad_sequences` and `image_dataset_from_directory`."""
from scanfit.preprocessing import sequence
from scanfit.utils.image_dataset import image_dataset_from_directory

__all__ = ["image_dataset_from_directory", "sequence"]
