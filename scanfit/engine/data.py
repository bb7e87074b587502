"""Checking and preparing the arrays given to fit/evaluate/predict, before any compile."""
import math

import numpy as np


def as_batch_size(batch_size, default=32):
    """`batch_size` as a positive int (None means Keras's default of 32)."""
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive int, got {batch_size!r} ({type(batch_size).__name__})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    return int(batch_size)


def numeric_array(value, name):
    """`value` as a NumPy array of numbers with at least one sample, or a clear error."""
    if value is None:
        raise ValueError(f"{name} is required, got None.")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{name} must be an array of numbers; converting it failed: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (int, float or bool), got an array of dtype {array.dtype}.")
    if array.ndim == 0:
        raise ValueError(f"{name} must have a batch axis (one entry per sample), got a scalar.")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}): give at least one sample.")
    return array


def as_labels(y):
    """Targets as int32 (integer labels) or float32 (everything else)."""
    if y.dtype.kind in "iu":
        return y.astype(np.int32)
    return y.astype(np.float32)


def check_inputs(model, x, y, allow_nonfinite=False):
    """Convert x (and y, unless None is allowed) and check they agree with each other."""
    x = numeric_array(x, "x")
    check_finite(x, "x", allow_nonfinite)
    if y is not None:
        y = numeric_array(y, "y")
        check_finite(y, "y", allow_nonfinite)
        y = as_labels(y)
        if len(y) != len(x):
            raise ValueError(
                f"x and y must have the same number of samples, got {len(x)} samples in x "
                f"(shape {x.shape}) and {len(y)} in y (shape {y.shape})."
            )
    return x.astype(np.float32, copy=False), y


def as_sample_weights(y, sample_weight, class_weight, num_samples):
    """Per-sample weights from `sample_weight` and/or `class_weight` (ones by default)."""
    weights = np.ones(num_samples, np.float32)
    if sample_weight is not None:
        sample_weight = numeric_array(sample_weight, "sample_weight").astype(np.float32)
        if sample_weight.shape != (num_samples,):
            raise ValueError(
                f"sample_weight must have one weight per sample, shape ({num_samples},), got {sample_weight.shape}."
            )
        weights = weights * sample_weight
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class_index: weight}}, got {type(class_weight).__name__}")
        if y.ndim == 1 or y.shape[-1] == 1:
            labels = np.asarray(y).reshape(len(y)).astype(np.int64)
        else:
            labels = np.argmax(y, axis=-1)
        lookup = np.ones(int(max(labels.max(), max(class_weight, default=0))) + 1, np.float32)
        for label, weight in class_weight.items():
            lookup[int(label)] = weight
        weights = weights * lookup[labels]
    return weights


def split_validation(arrays, validation_split):
    """Hold out the LAST `validation_split` fraction of samples, as Keras does (before shuffling)."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be a float in [0, 1), got {validation_split!r}")
    num_samples = len(arrays[0])
    split_at = int(math.floor(num_samples * (1.0 - validation_split)))
    if split_at in (0, num_samples):
        raise ValueError(
            f"validation_split={validation_split} leaves no samples for training or for validation "
            f"out of {num_samples}: give more data or another fraction."
        )
    return tuple(a[:split_at] for a in arrays), tuple(a[split_at:] for a in arrays)


def unpack_validation_data(model, validation_data, allow_nonfinite=False):
    """(x, y) or (x, y, sample_weight) given as validation_data, checked and converted."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val), "
            f"got {type(validation_data).__name__}"
            + (f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else "")
        )
    x, y = check_inputs(model, validation_data[0], validation_data[1], allow_nonfinite)
    sample_weight = validation_data[2] if len(validation_data) == 3 else None
    return x, y, as_sample_weights(y, sample_weight, None, len(x))


def check_epochs(epochs, initial_epoch):
    """Refuse an `epochs` or `initial_epoch` that is not a non-negative int."""
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def training_data(model, x, y, sample_weight, class_weight, validation_split, validation_data, allow_nonfinite):
    """`fit`'s arrays, checked: ``(x, y, sample_weights, validation)``, validation an ``(x, y, weights)``
    tuple (the last `validation_split` of the data, or `validation_data`) or None."""
    x, y = check_inputs(model, x, y, allow_nonfinite)
    weights = as_sample_weights(y, sample_weight, class_weight, len(x))
    if validation_split:
        if validation_data is not None:
            raise ValueError("Give either validation_data or validation_split, not both.")
        (x, y, weights), validation = split_validation((x, y, weights), validation_split)
        return x, y, weights, validation
    if validation_data is not None:
        return x, y, weights, unpack_validation_data(model, validation_data, allow_nonfinite)
    return x, y, weights, None


def check_finite(array, name, allow_nonfinite):
    """Refuse NaN or inf in `array` unless the caller allows them."""
    if allow_nonfinite or array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN or infinite value(s), the first at index {tuple(bad)} "
            f"({array[tuple(bad)]}). Clean the data, or pass allow_nonfinite=True to train on it anyway."
        )


def _crossentropy_kind(loss_object):
    """'sparse', 'categorical', 'binary' or None, from the loss's underlying function."""
    from scanfit import losses

    function = getattr(loss_object, "fn", None)
    function = getattr(function, "func", function)
    return {
        losses.sparse_categorical_crossentropy: "sparse",
        losses.categorical_crossentropy: "categorical",
        losses.binary_crossentropy: "binary",
    }.get(function)


def check_targets(loss_object, y, y_pred_shape):
    """Check that targets `y` suit the loss and the model's output shape (before any compile)."""
    kind = _crossentropy_kind(loss_object)
    classes = y_pred_shape[-1]
    sample_shape = tuple(y_pred_shape[1:])
    if kind == "sparse":
        if y.ndim == len(y_pred_shape) and y.shape[-1] == classes and classes > 1:
            raise ValueError(
                f"sparse_categorical_crossentropy expects integer class labels of shape (n,), but y has shape "
                f"{y.shape}, like one-hot vectors. Use loss='categorical_crossentropy', or pass np.argmax(y, axis=-1)."
            )
        if y.ndim > len(y_pred_shape) or (y.ndim == len(y_pred_shape) and y.shape[-1] != 1):
            raise ValueError(
                f"sparse_categorical_crossentropy expects labels of shape (n,) for outputs of shape {y_pred_shape}, "
                f"got y of shape {y.shape}."
            )
        if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            raise ValueError("sparse_categorical_crossentropy expects whole-number class labels; y has fractional values.")
        low, high = y.min(), y.max()
        if low < 0 or high >= classes:
            raise ValueError(
                f"Labels must be class indices in [0, {classes - 1}] for a model with {classes} outputs, "
                f"but y holds values from {low} to {high}. Check the labels, or the number of units of the last layer."
            )
    elif kind == "categorical":
        if y.ndim < len(y_pred_shape) or (classes > 1 and y.shape[-1] == 1):
            raise ValueError(
                f"categorical_crossentropy expects one-hot targets of shape (n, {classes}), but y has shape {y.shape}, "
                f"like integer labels. Use loss='sparse_categorical_crossentropy', or keras.utils.to_categorical(y, {classes})."
            )
        if tuple(y.shape[1:]) != sample_shape:
            raise ValueError(f"categorical_crossentropy: targets of shape {y.shape} do not match outputs of shape {y_pred_shape}.")
    elif kind == "binary" and (y.min() < 0 or y.max() > 1):
        raise ValueError(
            f"binary_crossentropy expects targets between 0 and 1, but y holds values from {y.min()} to {y.max()}."
        )
