"""`keras.utils`: data helpers (`pad_sequences` and `image_dataset_from_directory` among them), the
global random seed, `clear_session` and model plots."""
from scanfit.backend import clear_session
from scanfit.data_utils import normalize, split_validation, to_categorical, train_test_split
from scanfit.seeding import set_seed as set_random_seed
from scanfit.serialization import CustomObjectScope, custom_object_scope
from scanfit.utils.image_dataset import image_dataset_from_directory
from scanfit.utils.model_plot import model_to_dot, plot_model
from scanfit.utils.py_dataset import PyDataset, Sequence
from scanfit.utils.sequence import pad_sequences

__all__ = [
    "CustomObjectScope", "clear_session", "custom_object_scope", "image_dataset_from_directory", "model_to_dot", "normalize", "pad_sequences",
    "plot_model", "PyDataset", "Sequence", "set_random_seed", "split_validation", "to_categorical", "train_test_split",
]
