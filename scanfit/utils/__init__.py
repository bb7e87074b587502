"""`keras.utils`: data helpers and the global random seed."""
from scanfit.data_utils import normalize, split_validation, to_categorical, train_test_split
from scanfit.random import set_seed as set_random_seed

__all__ = ["normalize", "set_random_seed", "split_validation", "to_categorical", "train_test_split"]
