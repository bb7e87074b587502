"""tf.keras 2's `keras.preprocessing` namespace: `sequence.pad_sequences`, `image.load_img` and friends, and
`image_dataset_from_directory`, `text_dataset_from_directory` and `timeseries_dataset_from_array`."""
from scanfit.preprocessing import image, sequence
from scanfit.utils.image_dataset import image_dataset_from_directory
from scanfit.utils.text_dataset import text_dataset_from_directory
from scanfit.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "image", "image_dataset_from_directory", "sequence", "text_dataset_from_directory", "timeseries_dataset_from_array",
]
