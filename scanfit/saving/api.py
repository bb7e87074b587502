"""`save_model`, `load_model`, `save_weights`, `load_weights`: the format follows the file name.

Whole models: ``.keras`` (Keras 3 zip) or ``.h5``/``.hdf5`` (legacy HDF5).
Weights: ``.weights.h5`` (Keras 3 layout) or any other ``.h5``/``.hdf5``
(tf.keras 2 layout). Loading checks that the content is what the name says.
"""
import os

from scanfit.saving import files, keras_format, legacy_h5
from scanfit.serialization import CustomObjectScope, SafeModeScope

H5_SUFFIXES = (".h5", ".hdf5")


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None):
    """Save `model` (config, weights, compile settings and optimizer state) to `filepath`, atomically."""
    path = files.check_path(filepath, writing=True)
    kind = _whole_model_format(path, save_format)
    _check_overwrite(path, overwrite)
    if kind == "keras":
        data = keras_format.keras_bytes(model, include_optimizer)
    else:
        data = legacy_h5.model_h5_bytes(model, include_optimizer)
    files.write_atomically(path, data)


def save_weights(model, filepath, overwrite=True):
    """Save `model`'s weights (and optimizer state in the ``.weights.h5`` layout) to `filepath`, atomically."""
    path = files.check_path(filepath, writing=True)
    _check_overwrite(path, overwrite)
    if path.endswith(".weights.h5"):
        state = keras_format.compile_state(model)
        data = keras_format.weights_h5_bytes(model, state[1] if state else None)
    elif path.lower().endswith(H5_SUFFIXES):
        data = legacy_h5.weights_h5_bytes(model)
    else:
        raise ValueError(
            f"Cannot save weights to {path}: use a name ending in '.weights.h5' (Keras 3) or '.h5'/'.hdf5' "
            "(tf.keras 2 layout). TensorFlow checkpoint files are not supported."
        )
    files.write_atomically(path, data)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a whole model from a ``.keras`` or ``.h5`` file.

    Classes and functions come only from scanfit's registries or
    `custom_objects`; nothing in the file is executed while `safe_mode` is
    True (the default). With ``safe_mode=False`` a `Lambda` layer is rebuilt,
    running the Python bytecode stored for it: only for files you trust.
    `custom_objects` reaches every depth of the stored config (a custom
    activation or regularizer inside a Dense layer, a custom loss), as do
    the objects of an enclosing `scanfit.saving.custom_object_scope`.
    """
    with CustomObjectScope(custom_objects), SafeModeScope(safe_mode):
        return _load_model(filepath, custom_objects, compile)


def _load_model(filepath, custom_objects, compile):
    path = files.check_path(filepath)
    kind = files.content_kind(path)
    name = os.path.basename(path).lower()
    named = "zip" if name.endswith(".keras") else "hdf5" if name.endswith(H5_SUFFIXES) else None
    if named is not None and kind != named:
        raise ValueError(f"Cannot load {path}: its name says {files.describe(named)}, but it is {files.describe(kind)}.")
    if kind not in ("zip", "hdf5"):
        raise ValueError(f"Cannot load {path}: it is {files.describe(kind)}, not a .keras or .h5 model file.")
    if kind == "zip":
        return keras_format.load_keras(path, custom_objects, compile)
    return legacy_h5.load_model(path, custom_objects, compile)


def load_weights(model, filepath, skip_mismatch=False, by_name=False):
    """Load weights into a built `model` from a ``.weights.h5``, legacy ``.h5`` or ``.keras`` file."""
    path = files.check_path(filepath)
    if not model.built:
        raise ValueError(
            f"Cannot load weights from {path} into model {model.name!r}: it is not built yet, so it has no "
            "weights. Give the first layer an input shape or call model.build(input_shape) first."
        )
    kind = files.content_kind(path)
    name = os.path.basename(path).lower()
    if kind == "zip" and name.endswith(".keras"):
        entries = files.read_zip_entries(path, [keras_format.WEIGHTS_ENTRY])
        where = f"{path} ({keras_format.WEIGHTS_ENTRY})"
        with files.open_h5(entries[keras_format.WEIGHTS_ENTRY], where) as h5:
            keras_format.load_weights(model, h5, where, skip_mismatch)
        return
    if kind != "hdf5" or not name.endswith(H5_SUFFIXES):
        raise ValueError(
            f"Cannot load weights from {path}: it is {files.describe(kind)}; expected an HDF5 file named "
            "'.weights.h5', '.h5' or '.hdf5', or a '.keras' file."
        )
    with files.open_h5(path, path) as h5:
        if legacy_h5.is_legacy_weights(h5):
            legacy_h5.load_weights(model, h5, path, skip_mismatch, by_name)
        elif files.has_child(h5, "layers") or files.has_child(h5, "vars"):  # (a subclassed model's may have no layers)
            keras_format.load_weights(model, h5, path, skip_mismatch)
        else:
            raise ValueError(f"{path} is an HDF5 file, but holds no model weights in a layout scanfit knows.")


def _whole_model_format(path, save_format):
    """'keras' or 'h5', from the file name (a `save_format` must agree with it)."""
    named = "keras" if path.endswith(".keras") else "h5" if path.lower().endswith(H5_SUFFIXES) else None
    if save_format is not None and save_format not in ("keras", "h5"):
        raise ValueError(
            f"save_format={save_format!r} is not supported: use 'keras' or 'h5' "
            "(TensorFlow SavedModel folders cannot be written)."
        )
    if save_format is not None and named is not None and save_format != named:
        raise ValueError(f"save_format={save_format!r} contradicts the name {path}; drop one of them.")
    if save_format is None and named is None:
        raise ValueError(
            f"Cannot save a model to {path}: use a name ending in '.keras' (recommended) or '.h5'/'.hdf5'."
        )
    return save_format or named


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False.")
