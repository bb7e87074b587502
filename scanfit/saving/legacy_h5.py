"""The HDF5 formats of Keras 2 and tf.keras 2 (which Keras 3 still reads and writes).

A whole-model ``.h5`` file has the attributes ``model_config`` (JSON),
``keras_version``, ``backend`` and, when compiled, ``training_config``; its
``model_weights`` group holds the weights and ``optimizer_weights`` the
optimizer's variables. A weights-only ``.h5`` file has the layout of
``model_weights`` at its root: the attribute ``layer_names`` lists the
layers, and each layer's group lists its arrays in the attribute
``weight_names`` (``dense/kernel:0``) and stores them at those paths. Weights
are matched to layers by order, as Keras does (or by layer name, ``by_name``).
"""
import json
import os
import warnings

import h5py
import numpy as np

from scanfit.saving import config as config_lib
from scanfit.saving import files
from scanfit.saving.keras_format import KERAS_FORMAT_VERSION, build_model, compile_state
from scanfit.saving.optimizer_state import expected_variables, restore_optimizer_variables

BACKEND = "jax"
ATTRIBUTE_LIMIT = 64000  # HDF5 keeps attributes in object headers of 64 KiB
# tf.keras 2 slot names -> Keras 3 slot names (Adamax called its "norm" slot "v").
TF2_SLOTS = {
    "m": "momentum", "v": "velocity", "vhat": "velocity_hat", "rms": "velocity", "mg": "average_gradient",
    "momentum": "momentum", "accumulator": "accumulator", "accum_grad": "accumulated_grad",
    "accum_var": "accumulated_delta_var",
}


# --- writing ------------------------------------------------------------------------


def model_h5_bytes(model, include_optimizer=True):
    """The bytes of a whole-model ``.h5`` file for `model`."""
    state = compile_state(model, include_optimizer)

    def write(h5):
        h5.attrs["keras_version"] = KERAS_FORMAT_VERSION
        h5.attrs["backend"] = BACKEND
        h5.attrs["model_config"] = json.dumps(config_lib.serialize_model(model))
        if state is not None:
            h5.attrs["training_config"] = json.dumps(config_lib.training_config(model))
        write_weights(h5.create_group("model_weights"), model)
        if state is not None:
            group = h5.create_group("optimizer_weights")
            variables = state[1]
            _write_names(group, "weight_names", [name for name, _ in variables])
            for name, value in variables:
                group.create_dataset(name, data=value)

    return files.h5_bytes(write)


def weights_h5_bytes(model):
    """The bytes of a weights-only ``.h5`` file (tf.keras 2 layout) for `model`."""
    return files.h5_bytes(lambda h5: write_weights(h5, model))


def write_weights(group, model):
    """The ``model_weights`` layout: ``layer_names``, then a group per layer with its ``weight_names``."""
    _write_names(group, "layer_names", [layer.name for layer in model.layers])
    group.attrs["backend"] = BACKEND
    group.attrs["keras_version"] = KERAS_FORMAT_VERSION
    for layer in model.layers:
        layer_group = group.create_group(layer.name)
        names = [legacy_weight_name(layer, variable) for variable in legacy_order(layer)]
        _write_names(layer_group, "weight_names", names)
        for name, variable in zip(names, legacy_order(layer)):
            layer_group.create_dataset(name, data=variable.numpy())


def legacy_weight_name(layer, variable):
    """tf.keras 2's name of `variable`, a weight of the model's layer `layer`: its path from the layer's own name
    scope on (``dense/kernel:0``, where Keras 3's path is ``sequential/dense/kernel``)."""
    prefix = f"{layer.parent_path}/" if layer.parent_path else ""
    return f"{variable.path.removeprefix(prefix)}:0"


def legacy_order(layer):
    """A layer's weights in the order of Keras's ``.h5`` files: the trainable ones, then the others (for a nested
    model or a SpectralNormalization wrapper not the order of `layer.weights`)."""
    return layer.trainable_weights + layer.non_trainable_weights


def _write_names(node, name, strings):
    """A list of names as Keras stores it: one attribute, split into ``name0``, ``name1``... when too large."""
    data = np.array([s.encode("utf8") for s in strings]) if strings else np.array([])
    chunks = 1
    while data.nbytes / chunks > ATTRIBUTE_LIMIT:
        chunks += 1
    if chunks == 1:
        node.attrs[name] = data
    else:
        for index, chunk in enumerate(np.array_split(data, chunks)):
            node.attrs[f"{name}{index}"] = chunk


# --- reading ------------------------------------------------------------------------


def load_model(path, custom_objects=None, compile=True):
    """The model stored in the whole-model ``.h5`` file at `path`, compiled as saved when `compile`."""
    with files.open_h5(path, path) as h5:
        model_config = files.read_json_attr(h5, "model_config", path)
        if model_config is None:
            raise ValueError(
                f"{path} has no 'model_config' attribute: it holds weights only, not a whole model. "
                f"Build the model in Python, then call model.load_weights({path!r})."
            )
        model = build_model(model_config, path, custom_objects, os.path.getsize(path))
        if not model.built:
            raise ValueError(f"{path}: the saved model config gives no input shape, so its weights cannot be placed.")
        if not files.has_child(h5, "model_weights"):
            raise ValueError(f"{path} has no 'model_weights' group: it is not a complete Keras .h5 model file.")
        read_weights(model, files.child(h5, "model_weights", path, h5py.Group), path)
        settings = files.read_json_attr(h5, "training_config", path) if compile else None
        if settings is not None:
            try:
                config_lib.compile_from_training_config(model, settings, custom_objects)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise ValueError(
                    f"Cannot restore the compile settings stored in {path}: {files.brief(error)}"
                ) from error
            if files.has_child(h5, "optimizer_weights"):
                read_optimizer_weights(model, files.child(h5, "optimizer_weights", path, h5py.Group), path)
    return model


def load_weights(model, h5, path, skip_mismatch=False, by_name=False):
    """Load a legacy ``.h5`` file's weights (whole-model or weights-only) into a built `model`."""
    group = files.child(h5, "model_weights", path, h5py.Group) if files.has_child(h5, "model_weights") else h5
    read_weights(model, group, path, skip_mismatch, by_name)


def is_legacy_weights(h5):
    """Whether an open HDF5 file has the legacy layout (rather than Keras 3's ``layers/...``)."""
    return files.has_child(h5, "model_weights") or any(name.startswith("layer_names") for name in h5.attrs)


def read_weights(model, group, path, skip_mismatch=False, by_name=False):
    """Assign the weights of ``model_weights``-style `group` to `model`'s layers (all checked first)."""
    stored = []
    for name in files.read_string_list_attr(group, "layer_names", path):
        layer_group = files.child(group, name, path, h5py.Group)
        weight_names = files.read_string_list_attr(layer_group, "weight_names", path)
        if weight_names:
            stored.append((name, layer_group, weight_names))
    if by_name:
        layers = {layer.name: layer for layer in model.layers}
        pairs = [(layers[name], entry) for name, *entry in stored if name in layers]
    else:
        with_weights = [layer for layer in model.layers if layer.weights]
        if len(stored) != len(with_weights):
            raise ValueError(
                f"{path} holds weights for {len(stored)} layers "
                f"({files.listing(name for name, *_ in stored) or 'none'}), "
                f"but model {model.name!r} has {len(with_weights)} layers with weights "
                f"({files.listing(layer.name for layer in with_weights) or 'none'})."
            )
        pairs = [(layer, entry) for layer, (_, *entry) in zip(with_weights, stored)]
    assignments = []
    for layer, (layer_group, weight_names) in pairs:
        variables = legacy_order(layer)
        try:
            if len(weight_names) != len(variables):
                raise files.ShapeMismatch(
                    f"{path}: layer {layer.name!r} has {len(variables)} weights in the model, but the file "
                    f"holds {len(weight_names)} for it ({files.listing(weight_names)})."
                )
            values = [
                files.read_array(layer_group, weight_name, path, variable.shape,
                                 f"weight {weight_name!r} of layer {layer_group.name.rsplit('/', 1)[-1]!r}")
                for weight_name, variable in zip(weight_names, variables)
            ]
        except files.ShapeMismatch as error:
            if not skip_mismatch:
                raise
            warnings.warn(f"{error} Skipped.", stacklevel=3)
            continue
        assignments.extend(zip(variables, values))
    for variable, value in assignments:
        variable.assign(value)


def read_optimizer_weights(model, group, path):
    """Restore ``optimizer_weights``: Keras 3 files by order; tf.keras 2 files (``...:0`` names) by name.

    tf.keras 2 optimizers that cannot be matched start fresh, with a warning (as in Keras 3).
    """
    names = files.read_string_list_attr(group, "weight_names", path)
    if names and all(name.endswith(":0") for name in names):
        try:
            values = _tf2_optimizer_values(model, group, names, path)
        except ValueError as error:
            warnings.warn(f"{error} The optimizer starts fresh.", stacklevel=3)
            return
    else:
        layout = expected_variables(model, len(names))
        if len(names) != len(layout):
            raise ValueError(
                f"{path} holds {len(names)} optimizer variables, but {type(model.optimizer).__name__} "
                f"{model.optimizer.name!r} for this model has {len(layout)}."
            )
        values = [
            files.read_array(group, name, path, entry.shape, f"optimizer variable {name!r}")
            for name, entry in zip(names, layout)
        ]
    restore_optimizer_variables(model, values, path)


def _tf2_optimizer_values(model, group, names, path):
    """The optimizer variables in Keras 3's order, found by tf.keras 2 names (``Adam/dense/kernel/m:0``)."""
    slots = dict(TF2_SLOTS, v="norm") if type(model.optimizer).__name__ == "Adamax" else TF2_SLOTS
    found = {}
    for name in names:
        parts = name[: -len(":0")].split("/")
        if len(parts) == 2 and parts[1] in ("iter", "iterations", "iteration"):
            found[("iteration",)] = name
        elif len(parts) == 2 and parts[1] in ("learning_rate", "lr"):
            found[("learning_rate",)] = name
        elif len(parts) >= 4 and parts[-1] in slots:
            found[("slot", "/".join(parts[1:-1]), slots[parts[-1]])] = name
    layout = expected_variables(model, None)
    tf2_names = {variable.path: legacy_weight_name(layer, variable)[:-len(":0")]  # 'dense/kernel'
                 for layer in model.layers for variable in layer.weights}
    values = []
    for entry in layout:
        key = (entry.kind,) if entry.kind in ("iteration", "learning_rate") else (
            entry.kind, tf2_names.get(entry.weight, entry.weight), entry.slot)
        if key in found:
            values.append(files.read_array(group, found[key], path, entry.shape, f"optimizer variable {found[key]!r}"))
        elif entry.kind == "learning_rate":
            values.append(np.asarray(model.optimizer.learning_rate, dtype=np.float32))
        else:
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise ValueError(
                f"{path}: the tf.keras 2 optimizer state has no {entry.slot or entry.kind} for "
                f"{entry.weight or 'the optimizer'} (it holds {shown})."
            )
    return values
