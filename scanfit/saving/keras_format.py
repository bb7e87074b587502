"""Keras 3's formats: the ``.keras`` zip and the ``.weights.h5`` file.

A ``.keras`` file is a zip holding ``config.json`` (the model and its compile
settings), ``metadata.json`` and ``model.weights.h5``, which has the layout of
a ``.weights.h5`` file: ``layers/<name>/vars/<i>`` for the i-th weight of each
layer (``<name>`` is the snake-cased class name, numbered ``_1``, ``_2``, ...
among layers of the same class), ``optimizer/vars/<i>`` for the optimizer's
variables (see `optimizer_state`), and an empty ``vars`` group for the model.
"""
import collections
import datetime
import io
import json
import os
import tempfile
import warnings
import zipfile

import h5py
import numpy as np

from scanfit.naming import snake_case
from scanfit.version import __version__
from scanfit.saving import config as config_lib
from scanfit.saving import files
from scanfit.saving.objects import serialize_keras_object
from scanfit.saving.optimizer_state import expected_variables, optimizer_variables, restore_optimizer_variables

CONFIG_ENTRY = "config.json"
METADATA_ENTRY = "metadata.json"
WEIGHTS_ENTRY = "model.weights.h5"
ASSETS_ENTRY = "assets"
KERAS_FORMAT_VERSION = "3.0.0"
MIN_WEIGHT_LIMIT_BYTES = 16 * 2**20
# Loading takes time linear in the layers (a few ms each), so this bounds what a hostile config can cost to
# tens of seconds; real Sequential models have at most a few hundred layers. Keras sets no limit.
MAX_LAYERS = 10_000


def layer_paths(model):
    """``(layer, path)`` for each layer below `model` whose weights a file stores, at the path Keras 3 gives it.

    As Keras walks a model: a Sequential's or functional model's ``layers`` first, as
    ``layers/<class in snake case>`` (``_1``, ``_2``, ... for more of a class); below a user's layer or
    subclassed model, each attribute that holds a layer as ``<attribute>``, and a list, tuple or dict of them
    as ``<attribute>/<class in snake case>`` (a nested one as ``container``), the attributes in sorted order
    with private ones last (a subclassed model's ``layers`` among them); each layer once, where first met.
    scanfit's own layers keep their inner layers' groups themselves (`Layer.weights_in_file`).
    """
    paths, visited, seen_containers = [], {id(model)}, set()

    def visit(layer, path):
        if id(layer) not in visited:
            visited.add(id(layer))
            paths.append((layer, path))
            walk(layer, path)

    def walk(owner, path):
        for attribute, value in _children(owner):
            child = f"{path}/{attribute}" if path else attribute
            if _is_layer(value):
                visit(value, child)
            else:
                container(value, child)

    def container(items, path):
        if id(items) in seen_containers:
            return
        seen_containers.add(id(items))
        counts = collections.Counter()
        for item in list(items.values()) if isinstance(items, dict) else items:
            if not (_is_layer(item) or isinstance(item, (list, tuple, dict))):
                continue
            base = _class_name(item) if _is_layer(item) else "container"
            name = base if counts[base] == 0 else f"{base}_{counts[base]}"
            counts[base] += 1
            (visit if _is_layer(item) else container)(item, f"{path}/{name}")

    walk(model, "")
    return paths


def _children(owner):
    """``(attribute, value)`` pairs that Keras's saving walks below `owner` (see `layer_paths`)."""
    children = [("layers", owner.layers)] if owner.is_model and not owner.is_subclassed else []
    if walks_attributes(owner):
        attributes = {name: value for name, value in vars(owner).items() if name not in owner.structure_skip}
        if owner.is_model and owner.is_subclassed:
            attributes["layers"] = owner.layers
        for name in sorted(attributes, key=_private_last):
            if _is_layer(attributes[name]) or isinstance(attributes[name], (list, tuple, dict)):
                children.append((name, attributes[name]))
    return children


def _private_last(name):
    """Keras's order of attributes in a file: by name, the private ones (``_x``) after the others."""
    return "~" + name if name.startswith("_") else name


def walks_attributes(layer):
    """Whether the file keeps the layers held by `layer`'s attributes apart (a user's class, as Keras does)."""
    return not type(layer).__module__.startswith("scanfit.")


def _is_layer(value):
    return callable(getattr(value, "weights_in_file", None))


def _class_name(layer):
    return snake_case(getattr(layer, "keras_python_class", type(layer).__name__))  # Keras names by its class


def own_weights(layer):
    """The weights stored under a layer's own path (in its groups); not those of the layers stored apart."""
    return [variable for _, _, variables in stored_groups(layer) for variable in variables]


def stored_groups(layer):
    """``(group, name, variables)`` for each group of weights stored under `layer`'s path: for a model its own
    ``vars`` (a subclass's own weights; its layers have paths of their own), for a layer its `weights_in_file`
    (for a user's layer, only the weights it made itself)."""
    if layer.is_model:
        return [("vars", layer.name, layer.own_weights if walks_attributes(layer) else [])]
    groups = layer.weights_in_file()
    if not walks_attributes(layer):
        return groups
    own = {id(variable) for variable in layer.own_weights}
    return [(group, name, [v for v in variables if id(v) in own]) for group, name, variables in groups]


# --- writing ------------------------------------------------------------------------


def compile_state(model, include_optimizer=True):
    """``(compile_config, optimizer variables)`` of a compiled model, or None.

    None also when the optimizer or loss cannot be stored (a raw optax
    transform, say); the model is then saved without them, with a warning.
    """
    if not include_optimizer or not getattr(model, "compiled", False):
        return None
    try:
        if model.customizes("get_compile_config"):  # a user's hook: its settings, serialized as Keras does
            return serialize_keras_object(model.get_compile_config()), optimizer_variables(model)
        return config_lib.compile_config(model), optimizer_variables(model)
    except TypeError as error:
        warnings.warn(f"Saving {model.name!r} without its optimizer and compile settings: {error}", stacklevel=4)
        return None


def weights_h5_bytes(model, optimizer_state=None):
    """The bytes of a ``.weights.h5`` file for `model`, with `optimizer_state` ((name, array) pairs) if given.
    A layer whose class defines Keras's `save_own_variables` fills its ``vars`` group itself."""

    def write(h5):
        if not model.is_subclassed:
            h5.create_group("layers")
        for layer, path in [(model, "")] + layer_paths(model):
            for sub, name, variables in stored_groups(layer):
                group = h5.create_group(_vars_path(path, sub))
                group.attrs["name"] = name
                store = {str(index): variable.numpy() for index, variable in enumerate(variables)}
                if sub == "vars" and layer.customizes("save_own_variables"):
                    store = {}
                    layer.save_own_variables(store)
                for key, value in store.items():
                    group.create_dataset(str(key), data=np.asarray(value))
        if optimizer_state is not None:
            group = h5.create_group("optimizer/vars")
            group.attrs["name"] = model.optimizer.name
            for index, (_, value) in enumerate(optimizer_state):
                group.create_dataset(str(index), data=value)

    return files.h5_bytes(write)


def keras_bytes(model, include_optimizer=True):
    """The bytes of a ``.keras`` file for `model`."""
    model_config = config_lib.serialize_model(model)
    state = compile_state(model, include_optimizer)
    if state is not None:
        model_config["compile_config"] = state[0]
    metadata = {
        "keras_version": KERAS_FORMAT_VERSION,
        "saved_by": _saved_by(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA_ENTRY, json.dumps(metadata))
        archive.writestr(CONFIG_ENTRY, json.dumps(model_config))
        archive.writestr(WEIGHTS_ENTRY, weights_h5_bytes(model, None if state is None else state[1]))
        for entry, data in assets(model):
            archive.writestr(entry, data)
    return buffer.getvalue()


def assets(model):
    """``(zip entry, bytes)`` of the files each layer's `save_assets(folder)` writes (a user's hook), under
    ``assets/<layer path>/`` as Keras stores them."""
    entries = []
    for layer, path in [(model, "")] + layer_paths(model):
        if not callable(getattr(layer, "save_assets", None)):
            continue
        with tempfile.TemporaryDirectory() as folder:
            layer.save_assets(folder)
            for root, _, names in os.walk(folder):
                for name in sorted(names):
                    relative = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
                    with open(os.path.join(root, name), "rb") as file:
                        entries.append(("/".join(p for p in (ASSETS_ENTRY, path, relative) if p), file.read()))
    return entries


def _saved_by():
    return f"scanfit {__version__}"


# --- reading ------------------------------------------------------------------------


def load_keras(path, custom_objects=None, compile=True):
    """The model stored in the ``.keras`` file at `path`, compiled as saved when `compile`."""
    entries = files.read_zip_entries(path, [CONFIG_ENTRY, WEIGHTS_ENTRY])
    config = files.parse_json(entries[CONFIG_ENTRY], path, CONFIG_ENTRY)
    model = build_model(config, path, custom_objects, len(entries[WEIGHTS_ENTRY]))
    where = f"{path} ({WEIGHTS_ENTRY})"
    with files.open_h5(entries[WEIGHTS_ENTRY], where) as h5:
        read_layer_weights(model, h5, where)
        load_assets(model, path)
        compile_settings = config.get("compile_config")
        if compile and compile_settings:  # Keras writes {} for a model never compiled
            try:
                if model.customizes("compile_from_config"):
                    model.compile_from_config(compile_settings)
                else:
                    config_lib.compile_from_config(model, compile_settings, custom_objects)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise ValueError(
                    f"Cannot restore the compile settings stored in {path}: {files.brief(error)}"
                ) from error
            if files.has_child(h5, "optimizer"):
                restore_optimizer_variables(model, read_optimizer_values(model, h5, where), where)
    return model


def load_assets(model, path):
    """Give each layer that defines Keras's `load_assets(folder)` (a user's hook) a folder holding the files
    stored under its ``assets/<layer path>/``."""
    names = None
    for layer, layer_path in [(model, "")] + layer_paths(model):
        if not callable(getattr(layer, "load_assets", None)):
            continue
        names = files.zip_entry_names(path) if names is None else names
        prefix = "/".join(p for p in (ASSETS_ENTRY, layer_path) if p) + "/"
        own = [name for name in names if name.startswith(prefix) and not name.endswith("/")]
        with tempfile.TemporaryDirectory() as folder:
            for name, data in files.read_zip_entries(path, own).items():
                target = os.path.join(folder, *name[len(prefix):].split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as file:
                    file.write(data)
            layer.load_assets(folder)


def build_model(config, path, custom_objects, stored_bytes):
    """A Sequential model from a serialized model config, built for its saved input shape.

    A model with more than MAX_LAYERS layers, or whose weights would take more
    than `weight_limit(stored_bytes)` (`stored_bytes`: the size of the
    weights in the file), is refused before it is built.
    """
    try:
        build_config = config.get("build_config")
        input_shape = build_config.get("input_shape") if isinstance(build_config, dict) else None
        return config_lib.model_from_config(config, custom_objects, input_shape=input_shape,
                                            max_weight_bytes=weight_limit(stored_bytes), max_layers=MAX_LAYERS)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"Cannot rebuild the model stored in {path}: {files.brief(error)}") from error


def weight_limit(stored_bytes):
    """The most weight bytes a model rebuilt from a file with `stored_bytes` of weights may have.

    A genuine file stores every weight, so this is generous; it stops a
    config from asking for far more memory than the file holds.
    """
    return 2 * stored_bytes + MIN_WEIGHT_LIMIT_BYTES


def load_weights(model, h5, path, skip_mismatch=False):
    """Load a Keras 3 layout (``.weights.h5`` or a ``.keras``'s weights) into a built `model`.

    Optimizer variables are loaded too when `model` is compiled; if they do
    not fit its optimizer they are skipped with a warning, as Keras does.
    """
    read_layer_weights(model, h5, path, skip_mismatch)
    if getattr(model, "compiled", False) and files.has_child(h5, "optimizer"):
        try:
            restore_optimizer_variables(model, read_optimizer_values(model, h5, path), path)
        except (ValueError, TypeError) as error:
            warnings.warn(f"Skipping the optimizer state in {path}: {error}", stacklevel=3)


def read_layer_weights(model, h5, path, skip_mismatch=False):
    """Assign every layer's weights from its groups (``layers/<name>/vars``, ...), checking counts and shapes
    first."""
    if not model.is_subclassed and not files.has_child(h5, "layers"):
        raise ValueError(f"{path} has no 'layers' group: it is not a Keras 3 weights file.")
    paths = layer_paths(model)
    expected = {_vars_path(layer_path, sub) for layer, layer_path in paths for sub, _, _ in stored_groups(layer)}
    stored_with_weights = sorted(name.removesuffix("/vars") for name in _stored_groups(h5, path)
                                 if name not in expected)
    if stored_with_weights and not skip_mismatch:
        raise ValueError(
            f"{path} holds weights for layers the model does not have ({files.listing(stored_with_weights)}). "
            f"The model's layers are {files.listing(sorted(layer_path for _, layer_path in paths))}."
        )
    assignments, hooks = [], []
    for layer, layer_path in ([(model, "")] if own_weights(model) else []) + paths:  # a subclass's own weights
        custom = layer.customizes("load_own_variables")
        try:
            values = _read_layer(h5, layer, layer_path, path, skip_own=custom)
        except files.ShapeMismatch as error:
            if not skip_mismatch:
                raise
            warnings.warn(f"{error} Skipped.", stacklevel=3)
            continue
        if custom:  # a user's hook reads the layer's own group, as a dict of its arrays
            hooks.append((layer, _stored_arrays(h5, layer_path, path)))
        assignments.extend((v, value) for v, value in zip(own_weights(layer), values) if value is not None)
    for variable, value in assignments:
        variable.assign(value)
    for layer, store in hooks:
        layer.load_own_variables(store)


def _vars_path(layer_path, sub):
    """The path of the group of arrays `sub` (``vars``, ``cell/vars``, ...) of the layer at `layer_path` (the
    file's root for the model itself)."""
    return f"{layer_path}/{sub}" if layer_path else sub


def _stored_arrays(h5, layer_path, path):
    """``{key: array}`` of every dataset in the layer's own ``vars`` group (empty without that group)."""
    where = _vars_path(layer_path, "vars")
    if not files.has_child(h5, where):
        return {}
    variables = files.child(h5, where, path, h5py.Group)
    return {key: files.read_array(variables, key, path) for key in variables}


def _read_layer(h5, layer, layer_path, path, skip_own=False):
    """The arrays stored for `layer` (in `own_weights` order), checked against its weights' count and shapes;
    with `skip_own`, None for the weights of its own ``vars`` group (which a user's hook reads)."""
    by_variable = {}
    for sub, _, variables in stored_groups(layer):
        if skip_own and sub == "vars":
            by_variable.update((id(variable), None) for variable in variables)
            continue
        group, count = _vars(h5, _vars_path(layer_path, sub), path)
        if count != len(variables):
            raise files.ShapeMismatch(
                f"{path}: layer {layer.name!r} ({type(layer).__name__}, stored as {layer_path!r}) has "
                f"{len(variables)} weights{'' if sub == 'vars' else f' in {sub!r}'} in the model but {count} in the file."
            )
        for index, variable in enumerate(variables):
            by_variable[id(variable)] = files.read_array(group, str(index), path, variable.shape,
                                                         f"weight {variable.path!r}")
    return [by_variable[id(variable)] for variable in own_weights(layer)]


def _stored_groups(h5, path):
    """The path of every ``vars`` group below the file's root that holds arrays (the optimizer's aside)."""
    names = []

    def visit(name, item):
        if isinstance(item, h5py.Group) and name.endswith("/vars") and len(item) and not name.startswith("optimizer/"):
            names.append(name)

    with files.reading(path):
        h5.visititems(visit)
    return names


def _vars(h5, vars_path, path):
    """``(group, count)`` of the arrays in the group at `vars_path`; ``(None, 0)`` when there is no such group."""
    if not files.has_child(h5, vars_path):
        return None, 0
    variables = files.child(h5, vars_path, path, h5py.Group)
    names = set(variables)
    count = len(names)
    if names != {str(i) for i in range(count)}:
        raise ValueError(
            f"{path}: {variables.name!r} should hold datasets named 0..{count - 1}, "
            f"found {files.listing(sorted(names))}."
        )
    return variables, count


def read_optimizer_values(model, h5, path):
    """The arrays in ``optimizer/vars``, in order, checked against `model.optimizer`'s variables."""
    group = files.child(h5, "optimizer/vars", path, h5py.Group)
    names = set(group)
    layout = expected_variables(model, len(names))
    if names != {str(i) for i in range(len(names))} or len(names) != len(layout):
        raise ValueError(
            f"{path} holds {len(names)} optimizer variables, but {type(model.optimizer).__name__} "
            f"{model.optimizer.name!r} for this model has {len(layout)}."
        )
    return [
        files.read_array(group, str(i), path, entry.shape, f"optimizer variable {entry.name!r}")
        for i, entry in enumerate(layout)
    ]
