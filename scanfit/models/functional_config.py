"""Functional model configs: Keras 3's ``layers`` + ``inbound_nodes`` form, written and read (tf.keras 2's read too).

Each layer's entry lists the calls (nodes) of that layer inside the model;
a node's arguments name their tensors by ``[layer name, node index, tensor
index]``, node indices counted among the calls that belong to this model.
Reading recreates the layers from scanfit's registries (or
``custom_objects``) and replays the calls on new `keras.Input` tensors.
"""
from scanfit.layers import symbolic
from scanfit.saving import config as config_lib


def functional_config(model):
    """``model.get_config()`` of a functional model."""
    graph_nodes = model.graph_nodes
    node_numbers = {}
    per_layer = {}
    for node in graph_nodes:
        count = per_layer.get(id(node.layer), 0)
        node_numbers[id(node)] = count
        per_layer[id(node.layer)] = count + 1

    def tensor_ref(tensor):
        layer, node_index, tensor_index = tensor.history
        node = layer.inbound_nodes[node_index]
        return [layer.name, node_numbers.get(id(node), node_index), tensor_index]

    def tensor_config(tensor):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(tensor.shape), "dtype": tensor.dtype, "keras_history": tensor_ref(tensor)}}

    layers = []
    for layer in model.graph_layers:
        entry = config_lib.serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = []
        for node in graph_nodes:
            if node.layer is layer and not node.is_input:
                if isinstance(node.inputs, dict):
                    raise NotImplementedError(
                        f"Saving a functional model in which layer {layer.name!r} is called on a dict of tensors is "
                        "not supported yet: call it on a tensor or a list of them, or save the weights only.")
                args = tensor_config(node.inputs) if isinstance(node.inputs, symbolic.KerasTensor) else [
                    tensor_config(t) for t in node.inputs]
                kwargs = {name: _map_tensors(value, tensor_config) for name, value in node.arguments.items()}
                if getattr(layer, "is_operation", False):  # Keras lists an operation's values in call order
                    kwargs[layer.input_parameter] = args
                    args, kwargs = [kwargs[name] for name in layer.call_order if name in kwargs], {}
                else:
                    args = [args]
                if node.training is not None:
                    kwargs["training"] = node.training
                entry["inbound_nodes"].append({"args": args, "kwargs": kwargs})
        layers.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": _map(model.input_structure, tensor_ref),
        "output_layers": _map(model.output_structure, tensor_ref),
    }


def _map_tensors(value, function):
    """`value` (a call argument: a tensor, a plain value, or lists and tuples of them) with `function` applied
    to each tensor; tuples become lists, and slices and ``...`` Keras 3's dicts, as in its JSON."""
    if isinstance(value, symbolic.KerasTensor):
        return function(value)
    if isinstance(value, (list, tuple)):
        return [_map_tensors(item, function) for item in value]
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {"start": value.start, "stop": value.stop, "step": value.step}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    return value


def _map(structure, function):
    if isinstance(structure, symbolic.KerasTensor):
        return function(structure)
    if isinstance(structure, dict):
        return {key: function(value) for key, value in structure.items()}
    return [function(value) for value in structure]


def functional_from_config(model_class, config, custom_objects=None, layers=None):
    """A functional model of `model_class` rebuilt from its config (fresh weights). `layers`: already
    deserialized ones, in the config's order."""
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise ValueError("A functional model config must have a 'layers' list.")
    if layers is None:
        layers = [config_lib.deserialize_layer(entry, custom_objects) for entry in entries]
    by_name = {}
    pending = []
    for entry, layer in zip(entries, layers):
        name = entry.get("name", layer.name) if isinstance(entry, dict) else layer.name
        if name in by_name:
            raise ValueError(f"The model config lists two layers named {name!r}.")
        by_name[name] = layer
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"The inbound_nodes of layer {name!r} must be a list, got {nodes!r:.200}")
        pending.extend((layer, name, node) for node in nodes)
    made = {}  # (layer name, node index) -> list of output tensors
    counts = {}
    for name, layer in by_name.items():
        if getattr(layer, "is_input_layer", False):
            made[(name, 0)] = [layer.output]
            counts[name] = 1
    while pending:
        waiting = []
        for layer, name, node in pending:
            args, more, kwargs, training = _node_arguments(node, name)
            if not getattr(layer, "is_operation", False) and (not _refs(args) or _plain_inside(args)):
                raise ValueError(f"A layer's saved input must be a tensor or a list of tensors; layer {name!r} has "
                                 f"{node!r:.200}")
            if not all(_key(ref) in made for ref in _refs([args, more, list(kwargs.values())])):
                waiting.append((layer, name, node))
                continue
            try:
                result = layer(_resolve(args, made), *_resolve(more, made), training=training,
                               **{key: _resolve(value, made) for key, value in kwargs.items()})
            except TypeError as error:
                raise ValueError(f"The saved model calls layer {name!r} with arguments it does not take: {error}") from None
            index = counts.get(name, 0)
            counts[name] = index + 1
            made[(name, index)] = result if isinstance(result, list) else [result]
        if len(waiting) == len(pending):
            missing = sorted({ref[0] for _, _, node in waiting for ref in _refs(list(_node_arguments(node, "")[:3]))
                              if _key(ref) not in made})
            raise ValueError(f"The model config's layers cannot all be connected: missing inputs from {missing}.")
        pending = waiting

    def tensor(ref):
        if not isinstance(ref, (list, tuple)) or len(ref) < 3:
            raise ValueError(f"A model input or output must be [layer name, node index, tensor index], got {ref!r:.200}")
        outputs = made.get(_key(ref))
        if outputs is None or not 0 <= int(ref[2]) < len(outputs):
            raise ValueError(f"The model config names the tensor {list(ref)!r}, which no layer makes.")
        return outputs[int(ref[2])]

    inputs = _read_structure(config.get("input_layers"), tensor, "input_layers")
    outputs = _read_structure(config.get("output_layers"), tensor, "output_layers")
    return model_class(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _read_structure(value, tensor, what):
    if isinstance(value, dict):
        return {key: tensor(ref) for key, ref in value.items()}
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        return tensor(value)
    if isinstance(value, (list, tuple)) and value:
        items = [tensor(ref) for ref in value]
        return items[0] if len(items) == 1 else items  # tf.keras 2 listed even a single input
    raise ValueError(f"A functional model config needs a non-empty {what!r}, got {value!r:.200}")


def _node_arguments(node, name):
    """A node's input references (one ``[layer, node, tensor]`` or a list of them), its further positional
    arguments, its keyword arguments (tensors as references, besides ``training``) and its ``training=``."""
    if isinstance(node, dict):  # Keras 3: {"args": [tensor or [tensors], ...], "kwargs": {...}}
        args = node.get("args") or []
        if not args:
            raise ValueError(f"A call of layer {name!r} must have at least one argument (its input), got none.")
        kwargs = node.get("kwargs")
        kwargs = {key: _keras3_value(value) for key, value in (kwargs if isinstance(kwargs, dict) else {}).items()
                  if value is not None}
        training = kwargs.pop("training", None)
        if not isinstance(training, (bool, type(None))):
            raise ValueError(f"Layer {name!r} is called with training={training!r} in the saved model; "
                             "it must be true, false or null.")
        return _keras3_value(args[0]), [_keras3_value(arg) for arg in args[1:]], kwargs, training
    if isinstance(node, list):  # tf.keras 2: [[name, node_index, tensor_index, kwargs], ...]
        refs, training = [], None
        for item in node:
            if not isinstance(item, list) or len(item) < 3:
                raise ValueError(f"A tf.keras 2 inbound node entry must be [layer, node, tensor, kwargs], got {item!r:.200}")
            training = _training_of(item[3] if len(item) > 3 else None, name)
            refs.append(item[:3])
        return (refs[0] if len(refs) == 1 else refs), [], {}, training
    raise ValueError(f"Cannot read an inbound node of layer {name!r}: {node!r:.200}")


def _training_of(kwargs, name):
    """The ``training=`` of a tf.keras 2 layer call (None when not fixed); other call arguments are refused."""
    used = {key: value for key, value in (kwargs if isinstance(kwargs, dict) else {}).items() if value is not None}
    training = used.pop("training", None)
    if used or not isinstance(training, (bool, type(None))):
        raise ValueError(f"Layer {name!r} is called with {sorted(kwargs)} in the saved tf.keras 2 model; scanfit "
                         "reads only training=True or False there.")
    return training


def _keras3_value(value):
    """A saved call argument: a tensor (as its reference), a slice, ``...``, a plain value, or lists of them."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return _keras3_refs(value)
    if isinstance(value, dict) and value.get("class_name") == "__slice__":
        config = value.get("config") or {}
        return slice(config.get("start"), config.get("stop"), config.get("step"))
    if isinstance(value, dict) and value.get("class_name") == "__ellipsis__":
        return Ellipsis
    if isinstance(value, list):
        return [_keras3_value(item) for item in value]
    return value


def _keras3_refs(arg):
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        history = (arg.get("config") or {}).get("keras_history")
        if not isinstance(history, list) or len(history) != 3:
            raise ValueError(f"A saved tensor needs a keras_history of 3 entries, got {history!r:.200}")
        return history
    if isinstance(arg, list):
        return [_keras3_refs(item) for item in arg]
    raise ValueError(f"A layer's saved input must be a tensor or a list of tensors, got {arg!r:.200}")


def _plain_inside(args):
    """Whether a layer's saved input (a reference or a list of them) holds anything but references."""
    return not _is_ref(args) and (not isinstance(args, list) or any(_plain_inside(item) for item in args))


def _is_ref(value):
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _refs(args):
    if _is_ref(args):
        return [args]
    return [ref for item in args for ref in _refs(item)] if isinstance(args, list) else []


def _key(ref):
    return (ref[0], int(ref[1]))


def _resolve(args, made):
    if _is_ref(args):
        return made[_key(args)][int(args[2])]
    return [_resolve(item, made) for item in args] if isinstance(args, list) else args
