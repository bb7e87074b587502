"""Small array helpers of tutorials: one-hot labels, normalizing, train/test splits, packing a batch."""
import math
import numbers

import numpy as np


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels ``y``; the class axis is added last.

    As ``keras.utils.to_categorical``: a trailing axis of size 1, as in
    labels of shape (n, 1), is dropped first, and ``num_classes`` defaults to
    ``max(y) + 1``. The result is float32 (as in tf.keras; Keras 3 returns
    float64 for NumPy input) unless ``dtype`` says otherwise. Labels must be
    whole numbers in ``[0, num_classes)``; anything else raises ValueError.
    """
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical needs numeric class labels, got dtype {labels.dtype}.")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
        raise ValueError("to_categorical needs whole-number class labels; y holds fractions, NaN or inf.")
    labels = labels.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical needs labels >= 0, got {int(labels.min())}.")
    if not num_classes:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"Label {int(labels.max())} does not fit num_classes={num_classes}; labels must be "
            f"below num_classes (pass num_classes={int(labels.max()) + 1} or more)."
        )
    categorical = np.zeros((labels.size, int(num_classes)), dtype=dtype)
    categorical[np.arange(labels.size), labels] = 1
    return categorical.reshape(shape + (int(num_classes),))


def normalize(x, axis=-1, order=2):
    """Divide ``x`` by its L-``order`` norm along ``axis``, as ``keras.utils.normalize`` does.

    Like Keras with NumPy input there is no epsilon: slices whose norm is 0
    are left as they are (all zeros). The dtype follows NumPy's division
    (float32 stays float32, integers become float64). Unlike Keras,
    ``axis=0`` normalizes along axis 0 (Keras 3 treats it as -1).
    """
    x = np.asarray(x)
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"normalize needs an integer axis, got {axis!r}.")
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm


def train_test_split(*arrays, test_size=0.25, shuffle=True, seed=None):
    """Split arrays into random train and test parts, like scikit-learn's function.

    Returns ``[a_train, a_test, b_train, b_test, ...]``. ``test_size`` is a
    fraction in (0, 1) (rounded up to whole samples, as scikit-learn does)
    or a sample count. With ``shuffle=False`` the test part is the last
    ``test_size`` samples; otherwise ``seed`` makes the shuffle repeatable.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array.")
    arrays = [np.asarray(array) for array in arrays]
    count = _common_length(arrays, "train_test_split")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1) or an int count, got {test_size!r}.")
    if isinstance(test_size, numbers.Integral):
        test_count = int(test_size)
    elif 0 < test_size < 1:
        test_count = math.ceil(test_size * count)
    else:
        raise ValueError(f"test_size={test_size} must be in (0, 1) as a fraction, or an int count.")
    if not 0 < test_count < count:
        raise ValueError(
            f"test_size={test_size} leaves {count - test_count} training and {test_count} test "
            f"samples out of {count}; both parts need at least one."
        )
    order = np.random.default_rng(seed).permutation(count) if shuffle else np.arange(count)
    train, test = order[: count - test_count], order[count - test_count :]
    return [part for array in arrays for part in (array[train], array[test])]


def split_validation(x, y, validation_split):
    """Split off the last ``validation_split`` fraction, as ``fit(validation_split=)`` does.

    Returns ``(x_train, y_train), (x_val, y_val)``. As in Keras 3 the
    training part has ``floor(n * (1 - validation_split))`` samples, taken
    before any shuffling; ``y`` may be None.
    """
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real):
        raise TypeError(f"validation_split must be a float in (0, 1), got {validation_split!r}.")
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split={validation_split} must be strictly between 0 and 1.")
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    count = _common_length([x] if y is None else [x, y], "split_validation")
    split_at = math.floor(count * (1.0 - validation_split))
    if split_at in (0, count):
        raise ValueError(
            f"{count} samples are too few to split into training and validation data with "
            f"validation_split={validation_split}; use more data or another validation_split."
        )
    y_train, y_val = (None, None) if y is None else (y[:split_at], y[split_at:])
    return (x[:split_at], y_train), (x[split_at:], y_val)


def _common_length(arrays, caller):
    lengths = [len(array) if array.ndim else None for array in arrays]
    if None in lengths:
        raise ValueError(f"{caller} needs arrays with a first (sample) axis, not scalars.")
    if len(set(lengths)) != 1:
        raise ValueError(f"{caller} needs arrays of the same length, got lengths {lengths}.")
    return lengths[0]


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(f"A batch is x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(data)}.")
    return data + (None,) * (3 - len(data))


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch `unpack_x_y_sample_weight` takes apart: ``x`` alone (as a 1-tuple when it is a tuple or a
    list), ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)
