"""`keras.utils.split_dataset`: split samples into a left part and a right part (train / test).

    (x_train, y_train), (x_test, y_test) = keras.utils.split_dataset((x, y), left_size=0.8, shuffle=True, seed=1)

Keras 3 returns two `tf.data.Dataset`s; scanfit has no TensorFlow, so each part comes back in the structure it
was given, as NumPy arrays: a tuple or list of arrays as a tuple (as Keras's datasets yield them), a dict of
arrays as a dict, one array as one array. `fit` takes these as they are. The samples are the ones Keras puts in
each part: the first `left_size` and the last `right_size` (the middle is left out when the two add up to less
than the whole), after a shuffle with Python's ``random`` seeded by `seed`, as Keras shuffles them.
"""
import numbers
import random

import numpy as np


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """``(left, right)``: the samples of `dataset` (an array, a tuple or list of arrays, or a dict of arrays, all
    of one length) split in two. A size is a fraction in (0, 1) of the samples, or a count in [1, samples); a
    missing one is the rest of the samples."""
    arrays, rebuild = _flattened(dataset)
    total = len(arrays[0])
    if left_size is None and right_size is None:
        raise ValueError("split_dataset() needs left_size, right_size or both (a fraction or a number of samples).")
    left, right = _sizes(left_size, right_size, total)
    order = np.arange(total)
    if shuffle:
        rng = random.Random(seed if seed is not None else random.randrange(10**6))
        order = list(order)
        rng.shuffle(order)
        order = np.asarray(order)
    return rebuild([a[order[:left]] for a in arrays]), rebuild([a[order[total - right:]] for a in arrays])


def _flattened(dataset):
    """The arrays of `dataset` and a function that puts arrays back into its structure."""
    if isinstance(dataset, dict):
        keys = list(dataset)
        arrays = [np.asarray(dataset[key]) for key in keys]
        rebuild = lambda parts: dict(zip(keys, parts))  # noqa: E731
    elif isinstance(dataset, (tuple, list)):
        arrays = [np.asarray(part) for part in dataset]
        rebuild = tuple
    else:
        arrays = [np.asarray(dataset)]
        rebuild = lambda parts: parts[0]  # noqa: E731
    if not arrays:
        raise ValueError("split_dataset() got an empty dataset; give an array, or arrays of one length.")
    for array in arrays:
        if array.ndim == 0:
            raise ValueError(f"split_dataset() needs arrays of samples, got a scalar {array!r}.")
    lengths = {len(array) for array in arrays}
    if len(lengths) > 1:
        raise ValueError(f"split_dataset() needs arrays of one length (samples), got lengths {sorted(lengths)}.")
    if not lengths.pop():
        raise ValueError("split_dataset() got a dataset without samples.")
    return arrays, rebuild


def _sizes(left_size, right_size, total):
    """`left_size` and `right_size` as numbers of samples, as Keras reads them."""
    left = _size(left_size, "left_size", total)
    right = _size(right_size, "right_size", total)
    if isinstance(left_size, float) and isinstance(right_size, float) and left_size + right_size > 1:
        raise ValueError(f"left_size={left_size} and right_size={right_size} add up to more than 1.")
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"left_size and right_size make {left} + {right} samples, more than the {total} there are.")
    if left == 0 or right == 0:
        raise ValueError(f"With {total} samples, left_size={left_size} and right_size={right_size} leave the "
                         f"{'left' if left == 0 else 'right'} part empty; change either.")
    return left, right


def _size(size, name, total):
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (numbers.Integral, float)):
        raise TypeError(f"{name} must be an int, a float or None, got {size!r}.")
    if isinstance(size, float):
        if not 0 < size < 1:
            raise ValueError(f"{name}={size}: a fraction must be in (0, 1).")
        return round(size * total)
    if not 0 < size < total:
        raise ValueError(f"{name}={size}: a number of samples must be in [1, {total}).")
    return int(size)
