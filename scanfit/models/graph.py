"""The graph of a functional model: the layer calls between its input and output tensors.

`Graph(inputs, outputs)` walks back from the outputs through each tensor's
`history`, checks that everything is computable from the given inputs, and
orders the layers as Keras 3 does (by depth from the outputs, deepest
first, ties in the order the walk first met them), so `model.layers` and
the weight order agree with Keras.
"""
from scanfit.layers import execution
from scanfit.layers.symbolic import KerasTensor, flatten


class Graph:
    """The nodes, in an order that computes every tensor before its use, and the layers in Keras's order."""

    def __init__(self, inputs, outputs):
        self.inputs = _tensors(inputs, "inputs")
        self.outputs = _tensors(outputs, "outputs")
        if not self.outputs:
            raise ValueError("A functional model needs at least one output tensor.")
        seen = set()
        for tensor in self.inputs:
            if id(tensor) in seen:
                raise ValueError(f"The input {tensor!r} is listed twice in the model's inputs; list each input once.")
            seen.add(id(tensor))
        self.nodes, self.layers = self._walk()
        names = [layer.name for layer in self.layers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"The name {name!r} is used by {names.count(name)} layers of the model; "
                                 "every layer of a model needs a unique name.")

    def _walk(self):
        input_ids = {id(tensor) for tensor in self.inputs}
        done, in_progress, order, first_seen = set(), set(), [], {}

        def visit(tensor, consumer):
            layer, node_index, _ = tensor.history
            node = layer.inbound_nodes[node_index]
            if id(node) in done:
                return
            if id(tensor) in input_ids and not node.is_input:
                return  # an intermediate tensor given as an input: what made it is outside this graph
            if node.is_input and id(tensor) not in input_ids:
                raise ValueError(
                    f"Graph disconnected: the output needs the input {layer.name!r} {tensor.shape}"
                    f"{f' (through layer {consumer!r})' if consumer else ''}, which is not among the model's inputs "
                    f"{[t.history.layer.name for t in self.inputs]}. Add it to inputs=."
                )
            if id(node) in in_progress:
                raise ValueError(f"The graph has a cycle through layer {layer.name!r}.")
            first_seen.setdefault(id(layer), (len(first_seen), layer))
            in_progress.add(id(node))
            for source in node.input_tensors:
                visit(source, layer.name)
            in_progress.discard(id(node))
            done.add(id(node))
            order.append(node)

        for tensor in self.outputs:
            visit(tensor, None)
        for tensor in self.inputs:  # inputs no output depends on still belong to the model
            layer = tensor.history.layer
            if layer.inbound_nodes[tensor.history.node_index].is_input and id(layer) not in first_seen:
                first_seen[id(layer)] = (-1, layer)
        depth = {id(node): 0 for node in order}
        layer_depth = {}
        for node in reversed(order):
            node_depth = max(depth[id(node)], layer_depth.get(id(node.layer), 0))
            depth[id(node)] = layer_depth[id(node.layer)] = node_depth
            for source in node.input_tensors:
                parent = source.history.layer.inbound_nodes[source.history.node_index]
                if id(parent) in depth:
                    depth[id(parent)] = max(depth[id(parent)], node_depth + 1)
        layers = sorted((index, layer) for index, layer in first_seen.values())
        layers = sorted(layers, key=lambda item: (-layer_depth.get(id(item[1]), 0), item[0]))
        return order, [layer for _, layer in layers]

    def run(self, running, inputs):
        """The output arrays for `inputs` (arrays in the order of `self.inputs`) in the open forward pass, and
        the outputs' masks (None where an output has none)."""
        values = {id(tensor): value for tensor, value in zip(self.inputs, inputs)}
        masks = {}
        for node in self.nodes:
            if node.is_input or all(id(t) in values for t in node.outputs):
                continue
            args = _substitute(node.inputs, values)
            mask = _substitute(node.inputs, masks)
            if isinstance(mask, dict) or not isinstance(node.inputs, KerasTensor) and all(m is None for m in mask):
                mask = None  # (a dict of inputs carries no masks)
            listed = isinstance(mask, list)  # a list of masks goes only to a layer that takes them (Attention)
            training = None if running.training_given else node.training  # the caller's mode wins, as in Keras 3
            arguments = _call_arguments(node, values, masks)
            result = node.layer.run_in(running, args, mask=None if listed and not node.layer.accepts_mask else mask,
                                       training=training, **({"arguments": arguments} if arguments else {}))
            results = result if len(node.outputs) > 1 else [result]
            out_mask = node.layer.compute_mask_of_call(args, mask, arguments) if len(node.outputs) == 1 else None
            for tensor, value in zip(node.outputs, results):
                values[id(tensor)] = value
                if out_mask is not None:
                    masks[id(tensor)] = out_mask
        return [values[id(tensor)] for tensor in self.outputs], [masks.get(id(tensor)) for tensor in self.outputs]

    def inputs_of(self, layer):
        """The tensors `layer` is called on in this graph (every call of a shared layer, in order)."""
        return [tensor for node in self.nodes if node.layer is layer for tensor in node.input_tensors]

    def connections(self):
        """``(layer, [inbound layers])`` for every layer, in `self.layers` order (first call of shared layers)."""
        inbound = {}
        for node in self.nodes:
            inbound.setdefault(id(node.layer), [])
            for tensor in node.input_tensors:
                source = tensor.history.layer
                if all(source is not known for known in inbound[id(node.layer)]):
                    inbound[id(node.layer)].append(source)
        return [(layer, inbound.get(id(layer), [])) for layer in self.layers]


def _tensors(structure, what):
    tensors = flatten(structure)
    for tensor in tensors:
        if not isinstance(tensor, KerasTensor):
            raise TypeError(
                f"A functional model's {what} must be KerasTensors (from keras.Input(...) and layer calls on them), "
                f"got {tensor!r} ({type(tensor).__name__})."
            )
    return tensors


def _call_arguments(node, values, masks):
    """The values of a node's further call arguments. A tensor argument's mask goes to the layer's argument
    named after it (``value`` -> ``value_mask``) when the call left that one empty, as Keras does."""
    arguments = {name: _substitute_nested(value, values) for name, value in node.arguments.items()}
    tensor_masks = {name: masks.get(id(value)) for name, value in node.arguments.items()
                    if isinstance(value, KerasTensor)}
    return execution.with_argument_masks(node.layer, arguments, tensor_masks)


def _substitute_nested(value, values):
    """`value` (a tensor, a plain value, or lists and tuples of them) with each tensor replaced by its value."""
    if isinstance(value, KerasTensor):
        return values.get(id(value))
    if isinstance(value, (list, tuple)):
        return type(value)(_substitute_nested(item, values) for item in value)
    return value


def _substitute(structure, values):
    """`structure` (a KerasTensor, a list of them, or a dict of them, nested too) with each tensor replaced by its
    value (or None)."""
    if isinstance(structure, KerasTensor):
        return values.get(id(structure))
    if isinstance(structure, dict):
        return {key: None if value is None else _substitute(value, values) for key, value in structure.items()}
    return [values.get(id(tensor)) for tensor in structure]
