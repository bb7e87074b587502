"""`keras.utils`: data helpers (`pad_sequences` among them) and the global random seed."""
from scanfit.data_utils import normalize, split_validation, to_categorical, train_test_split
from scanfit.random import set_seed as set_random_seed
from scanfit.serialization import CustomObjectScope, custom_object_scope
from scanfit.utils.sequence import pad_sequences

__all__ = [
    "CustomObjectScope", "custom_object_scope", "normalize", "pad_sequences", "set_random_seed", "split_validation",
    "to_categorical", "train_test_split",
]
