"""`keras.utils`: data helpers (`pad_sequences`, `image_dataset_from_directory`, `text_dataset_from_directory`,
`load_img` among them), `get_file`, the global random seed, `clear_session` and model plots."""
from scanfit.backend import clear_session, standardize_dtype
from scanfit.data_utils import (
    normalize, pack_x_y_sample_weight, split_validation, to_categorical, train_test_split, unpack_x_y_sample_weight,
)
from scanfit.interactive_logging import (
    disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled,
)
from scanfit.layers.symbolic import get_source_inputs, is_keras_tensor
from scanfit.saving.objects import deserialize_keras_object, serialize_keras_object
from scanfit.seeding import set_seed as set_random_seed
from scanfit.serialization import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from scanfit.utils.config_dict import Config
from scanfit.utils.dataset_split import split_dataset
from scanfit.utils.file_cache import get_file
from scanfit.utils.image_dataset import image_dataset_from_directory
from scanfit.utils.image_files import array_to_img, img_to_array, load_img, save_img
from scanfit.utils.model_plot import model_to_dot, plot_model
from scanfit.utils.progress import Progbar
from scanfit.utils.py_dataset import PyDataset, Sequence
from scanfit.utils.sequence import pad_sequences
from scanfit.utils.text_dataset import text_dataset_from_directory
from scanfit.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "array_to_img", "clear_session", "custom_object_scope", "CustomObjectScope", "deserialize_keras_object",
    "get_custom_objects", "get_file", "get_registered_name", "get_registered_object", "get_source_inputs",
    "image_dataset_from_directory", "img_to_array", "is_keras_tensor", "load_img", "model_to_dot", "normalize",
    "pack_x_y_sample_weight", "pad_sequences", "plot_model", "Progbar", "PyDataset",
    "register_keras_serializable", "save_img", "Sequence", "serialize_keras_object", "set_random_seed",
    "split_validation", "text_dataset_from_directory", "timeseries_dataset_from_array", "to_categorical",
    "train_test_split", "unpack_x_y_sample_weight",
    "Config", "disable_interactive_logging", "enable_interactive_logging", "is_interactive_logging_enabled",
    "split_dataset", "standardize_dtype",
]
