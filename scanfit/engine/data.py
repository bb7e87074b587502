"""Checking and preparing the arrays given to fit/evaluate/predict, before any compile."""
import math
import warnings

import numpy as np

from scanfit import losses


def as_batch_size(batch_size, default=32, name="batch_size"):
    """`batch_size` as a positive int (None means Keras's default of 32)."""
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {batch_size!r} ({type(batch_size).__name__})")
    if batch_size < 1:
        raise ValueError(f"{name} must be a positive int, got {batch_size}")
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
    """Convert x (and y, unless None is allowed) and check they agree with each other.

    For a model of several inputs (outputs), x (y) is a list, tuple or dict by
    name and comes back as a tuple in the model's order; one array otherwise.
    """
    if model is not None and model.is_subclassed and not model.built and isinstance(x, dict):
        model.ensure_built({name: np.shape(part) for name, part in x.items()})  # its call() takes the dict
    x = _inputs(model, x, allow_nonfinite)
    if model is not None and model.is_subclassed and not model.built:
        model.ensure_built(data_shapes(x))  # its outputs, and so the targets it takes, come from its call()
    check_input_layers(model, x)
    count = data_size(x)
    if y is not None:
        y = _targets(model, y, allow_nonfinite, count)
        for name, part in _named(y, "y"):
            if len(part) != count:
                raise ValueError(
                    f"x and {name} must have the same number of samples, got {count} samples in x "
                    f"and {len(part)} in {name} (shape {part.shape})."
                )
    return x, y


def _inputs(model, x, allow_nonfinite):
    names = _input_names(model, x)
    if len(names) > 1 or isinstance(x, dict):
        parts = model.flatten_inputs(x) if hasattr(model, "flatten_inputs") else x
        arrays = []
        for name, part in zip(names, parts):
            array = numeric_array(part, f"x[{name!r}]")
            check_finite(array, f"x[{name!r}]", allow_nonfinite)
            arrays.append(compact(array))
        counts = {len(a) for a in arrays}
        if len(counts) > 1:
            raise ValueError(f"All inputs must have the same number of samples, got {[len(a) for a in arrays]} "
                             f"for inputs {names}.")
        return tuple(arrays) if len(arrays) > 1 else arrays[0]
    _refuse_several_inputs(model, x)
    x = numeric_array(x, "x")
    check_finite(x, "x", allow_nonfinite)
    return compact(x)


def _several_arrays(x):
    """Whether `x` is a list or tuple of at least two arrays (several inputs, not one array given as rows)."""
    return (isinstance(x, (list, tuple)) and len(x) > 1
            and all(hasattr(part, "shape") and len(part.shape) > 0 for part in x))


def _refuse_several_inputs(model, x):
    """A clear error for arrays of different shapes given to a model of one input."""
    if not _several_arrays(x):
        return
    shapes = [tuple(part.shape) for part in x]
    if len(set(shapes)) == 1:
        return  # one array given as a list of equal rows
    who = "The model" if model is None else f"Model {model.name!r}"
    raise ValueError(f"{who} takes one input, but x is a {type(x).__name__} of {len(x)} arrays of shapes "
                     f"{shapes}. Give one array, or build a model of several inputs (a functional model with "
                     "one keras.Input(...) per input, or a subclass whose call() takes them).")


CHUNK_ELEMENTS = 1 << 22  # what one pass of a conversion or check holds at a time (16 MiB of float32)


def _row_chunks(array):
    """Slices of `array`'s rows holding about CHUNK_ELEMENTS elements each."""
    rows = max(1, CHUNK_ELEMENTS // max(1, array[:1].size))
    return [slice(start, start + rows) for start in range(0, len(array), rows)]


def compact(array):
    """An input array as the device keeps it; the programs cast each batch to float32.

    bool, integers of up to 32 bits and floats of up to 32 bits stay as they
    are (uint8 images take a quarter of the memory of float32 ones), so the
    result equals passing ``array.astype('float32')``. Wider integers become
    int32 when their values fit (JAX computes in 32 bits), float64 and wider
    ints become float32, row chunk by row chunk into one new array.
    """
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b" or (kind in "iuf" and size <= 4):
        return array
    if kind in "iu":
        info = np.iinfo(np.int32)
        if all(info.min <= part.min() and part.max() <= info.max for part in (array[c] for c in _row_chunks(array))):
            return _converted(array, np.int32)
    return _converted(array, np.float32)


def _converted(array, dtype):
    out = np.empty(array.shape, dtype)
    for rows in _row_chunks(array):
        out[rows] = array[rows]
    return out


def check_input_layers(model, x):
    """Let each layer that reads a model input directly check it (an Embedding checks its indices)."""
    if model is None:
        return
    parts = x if isinstance(x, tuple) else (x,)
    readers = []
    if getattr(model, "is_functional", False):
        inputs = {id(tensor): index for index, tensor in enumerate(model.inputs)}
        # (not a ReversibleEmbedding's reverse call: it reads vectors, not indices)
        readers = [(inputs[id(node.inputs)], node.layer) for node in model.graph_nodes
                   if not node.is_input and id(node.inputs) in inputs and not node.arguments.get("reverse")]
    elif type(model).__name__ == "Sequential" and model.layers:
        readers = [(0, model.layers[0])]
    for index, layer in readers:
        check = getattr(layer, "check_indices", None)
        if check is not None:
            check(parts[index], "x" if len(parts) == 1 else f"x[{index}]")


def _input_names(model, x=None):
    if model is None:  # arrays checked before any model exists (Sweep): one input
        return ["x"]
    try:
        return model.input_names
    except AttributeError:  # a model that has no symbolic inputs
        if model.is_subclassed and not model.built and _several_arrays(x):
            # a subclass not yet built takes what it is given, as in Keras: several arrays are several inputs
            return [f"input_{index}" for index in range(1, len(x) + 1)]
        return ["x"]


def _targets(model, y, allow_nonfinite, count):
    names = _output_names(model)
    if len(names) <= 1 and not isinstance(y, dict):
        y = numeric_array(y, "y")
        check_finite(y, "y", allow_nonfinite)
        return as_labels(y)
    if isinstance(y, dict):
        unknown = sorted(set(y) - set(names))
        if unknown:
            raise ValueError(f"y names {unknown}, which are not outputs of the model; its outputs are {names}.")
        parts = [y.get(name) for name in names]
    elif isinstance(y, (list, tuple)):
        if len(y) != len(names):
            raise ValueError(f"y is a {type(y).__name__} of {len(y)} arrays, but the model has {len(names)} outputs "
                             f"{names}: give one target array per output, or a dict by output name.")
        parts = list(y)
    else:
        raise ValueError(f"The model has {len(names)} outputs {names}: give y as a list of arrays (one per output) "
                         "or a dict by output name.")
    arrays = []
    for name, part in zip(names, parts):
        if part is None:  # an output without a loss needs no targets
            arrays.append(np.zeros((count,), np.float32))
            continue
        array = numeric_array(part, f"y[{name!r}]")
        check_finite(array, f"y[{name!r}]", allow_nonfinite)
        arrays.append(as_labels(array))
    return tuple(arrays)


def _output_names(model):
    shapes = model.output_shape if model is not None and model.built else None
    if isinstance(shapes, list) and len(shapes) > 1:
        return list(model.output_keys)
    return ["y"]


def _named(y, what):
    if isinstance(y, tuple):
        return [(f"{what}[{i}]", part) for i, part in enumerate(y)]
    return [(what, y)]


def data_size(data):
    """The number of samples in an array, or a tuple (nested) of arrays."""
    if isinstance(data, tuple):
        return data_size(data[0])
    return len(data)


def data_shapes(x):
    """The shape of `x`, or a list of shapes for a tuple of input arrays."""
    return [tuple(a.shape) for a in x] if isinstance(x, tuple) else tuple(x.shape)


def as_sample_weights(y, sample_weight, class_weight, num_samples):
    """Per-sample weights from `sample_weight` and/or `class_weight` (ones by default); a `sample_weight` of
    more axes (``(samples, steps)``) weighs each value of the loss and the weighted metrics, as in Keras."""
    weights = np.ones(num_samples, np.float32)
    if isinstance(sample_weight, (list, tuple, dict)) and isinstance(y, tuple):
        raise ValueError("Per-output sample weights are not supported: give one sample_weight array of shape "
                         f"({num_samples},), which weighs every output's loss.")
    if sample_weight is not None:
        sample_weight = numeric_array(sample_weight, "sample_weight").astype(np.float32)
        if sample_weight.shape[0] != num_samples:
            raise ValueError(
                f"sample_weight must have one weight per sample, shape ({num_samples},), or one per value of the "
                f"loss ({num_samples}, steps, ...), got {sample_weight.shape}."
            )
        if sample_weight.ndim > 1 and sample_weight[0].size == 1:
            sample_weight = sample_weight.reshape(num_samples)  # (samples, 1): one per sample, as Keras squeezes it
        if sample_weight.ndim > 1 and class_weight is not None:
            raise ValueError("class_weight cannot be combined with a sample_weight of several weights per sample "
                             f"(shape {sample_weight.shape}): fold the class weights into sample_weight.")
        if not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
            bad = int(np.argmax(~np.isfinite(sample_weight) | (sample_weight < 0)))
            raise ValueError(f"sample_weight must hold finite weights >= 0; sample {bad} has weight "
                             f"{sample_weight[bad]}.")
        weights = weights * sample_weight if sample_weight.ndim == 1 else sample_weight
    if class_weight is not None:
        if isinstance(y, tuple):
            raise ValueError("class_weight is not supported for a model of several outputs (as in Keras): "
                             "pass sample_weight instead.")
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class_index: weight}}, got {type(class_weight).__name__}")
        if y.ndim == 1 or y.shape[-1] == 1:
            labels = np.asarray(y).reshape(len(y)).astype(np.int64)
        else:
            labels = np.argmax(y, axis=-1)
        for label, weight in class_weight.items():
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
                raise ValueError(f"class_weight keys must be class indices (ints >= 0), got {label!r}.")
            if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)) \
                    or not np.isfinite(weight) or weight < 0:
                raise ValueError(f"class_weight values must be finite weights >= 0, got {weight!r} for class {label}.")
        lookup = np.ones(int(max(labels.max(), max(class_weight, default=0))) + 1, np.float32)
        for label, weight in class_weight.items():
            lookup[int(label)] = weight
        weights = weights * lookup[labels]
    return weights


def check_fraction(validation_split):
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
            or not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be a float in [0, 1), got {validation_split!r}")


def split_validation(arrays, validation_split):
    """Hold out the LAST `validation_split` fraction of samples, as Keras does (before shuffling)."""
    check_fraction(validation_split)
    num_samples = data_size(arrays[0])
    split_at = int(math.floor(num_samples * (1.0 - validation_split)))
    if split_at in (0, num_samples):
        raise ValueError(
            f"validation_split={validation_split} leaves no samples for training or for validation "
            f"out of {num_samples}: give more data or another fraction."
        )
    def part(array, piece):
        return tuple(a[piece] for a in array) if isinstance(array, tuple) else array[piece]

    return (tuple(part(a, slice(None, split_at)) for a in arrays),
            tuple(part(a, slice(split_at, None)) for a in arrays))


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
    return x, y, as_sample_weights(y, sample_weight, None, data_size(x))


def check_epochs(epochs, initial_epoch):
    """Refuse an `epochs` or `initial_epoch` that is not a non-negative int; warn when nothing would train.

    ``initial_epoch >= epochs`` trains nothing, as in Keras (where it passes
    silently): a warning says so, since a loop that resumes training may mean it.
    """
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if initial_epoch >= epochs:
        warnings.warn(f"initial_epoch={initial_epoch} is not below epochs={epochs}, so fit trains nothing: epochs is "
                      "the index of the last epoch to reach, not a count of more epochs.", UserWarning, stacklevel=4)


def training_data(model, x, y, sample_weight, class_weight, validation_split, validation_data, allow_nonfinite):
    """`fit`'s arrays, checked: ``(x, y, sample_weights, validation)``, validation an ``(x, y, weights)``
    tuple (the last `validation_split` of the data, or `validation_data`) or None."""
    check_fraction(validation_split)
    x, y = check_inputs(model, x, y, allow_nonfinite)
    weights = as_sample_weights(y, sample_weight, class_weight, data_size(x))
    if validation_split:
        if validation_data is not None:
            raise ValueError("Give either validation_data or validation_split, not both.")
        (x, y, weights), validation = split_validation((x, y, weights), validation_split)
        return x, y, weights, validation
    if validation_data is not None:
        return x, y, weights, unpack_validation_data(model, validation_data, allow_nonfinite)
    return x, y, weights, None


def check_finite(array, name, allow_nonfinite):
    """Refuse NaN or inf in `array` unless the caller allows them (checked chunk by chunk, no full-size copy)."""
    if allow_nonfinite or array.dtype.kind != "f":
        return
    bad_chunks = [rows for rows in _row_chunks(array) if not np.isfinite(array[rows]).all()]
    if bad_chunks:
        count = sum(int((~np.isfinite(array[rows])).sum()) for rows in bad_chunks)
        first = bad_chunks[0]
        bad = np.argwhere(~np.isfinite(array[first]))[0]
        bad = (int(bad[0]) + first.start,) + tuple(int(i) for i in bad[1:])
        raise ValueError(
            f"{name} contains {count} NaN or infinite value(s), the first at index {bad} "
            f"({array[bad]}). Clean the data, or pass allow_nonfinite=True to train on it anyway."
        )


def _crossentropy_kind(loss_object):
    """'sparse', 'categorical', 'binary' or None, from the loss's underlying function."""
    function = getattr(loss_object, "fn", None)
    function = getattr(function, "func", function)
    return {
        losses.sparse_categorical_crossentropy: "sparse",
        losses.categorical_crossentropy: "categorical",
        losses.binary_crossentropy: "binary",
    }.get(function)


def _is_elementwise_builtin(loss_object):
    """Whether the loss is one of Keras's that compare targets and outputs element by element (mse, mae, ...)."""
    function = getattr(loss_object, "fn", None)
    function = getattr(function, "func", function)
    return function in set(losses.FUNCTIONS.values()) - {losses.sparse_categorical_crossentropy, losses.ctc,
                                                          losses.circle}


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
    if kind in ("categorical", "binary") or _is_elementwise_builtin(loss_object):
        target, output = tuple(y.shape[1:]), tuple(d for d in sample_shape)
        squeezed = lambda shape: shape[:-1] if shape and shape[-1] == 1 else shape  # noqa: E731
        if all(d is not None for d in output) and squeezed(target) != squeezed(output):
            raise ValueError(
                f"Targets of shape {y.shape} do not match the model's outputs of shape {tuple(y_pred_shape)}: "
                f"each sample's target must have the shape {output} (or drop a last axis of 1)."
            )
