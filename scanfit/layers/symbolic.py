"""Symbolic tensors and the nodes that record layer calls on them (the functional API's graph).

Calling a layer on a `KerasTensor` computes nothing: it records a `Node`
(the layer, its input tensors, its output tensors) and returns new
`KerasTensor`s whose ``history`` points back at that node. A functional
model is the set of nodes between its input and output tensors.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp


class History(NamedTuple):
    """Where a symbolic tensor comes from: output `tensor_index` of node `node_index` of `layer`."""

    layer: object
    node_index: int
    tensor_index: int


OPERATIONS = {}  # operation name -> the `scanfit.ops` function; filled by `use_operations` when scanfit.ops loads


def use_operations(functions):
    """Let KerasTensor's operators (``+``, ``[...]``, ``<``, ...) record these `scanfit.ops` functions."""
    OPERATIONS.update(functions)


def _operator(name, reflected=False):
    def method(self, *other):
        operands = (other[0], self) if reflected else (self, *other)
        return OPERATIONS[name](*operands)

    method.__name__ = name
    return method


class KerasTensor:
    """A symbolic tensor: a batch-first shape, a dtype, and the layer call that made it.

    Python's operators on it (``a + b``, ``x[:, 0]``, ``x > 0``, ``-x``) add the matching `keras.ops`
    operation to the graph, as in Keras 3.
    """

    __add__, __radd__ = _operator("add"), _operator("add", reflected=True)
    __sub__, __rsub__ = _operator("subtract"), _operator("subtract", reflected=True)
    __mul__, __rmul__ = _operator("multiply"), _operator("multiply", reflected=True)
    __matmul__, __rmatmul__ = _operator("matmul"), _operator("matmul", reflected=True)
    __truediv__, __rtruediv__ = _operator("true_divide"), _operator("true_divide", reflected=True)
    __floordiv__, __rfloordiv__ = _operator("floor_divide"), _operator("floor_divide", reflected=True)
    __mod__, __rmod__ = _operator("mod"), _operator("mod", reflected=True)
    __pow__, __rpow__ = _operator("power"), _operator("power", reflected=True)
    __neg__, __abs__, __invert__ = _operator("negative"), _operator("absolute"), _operator("logical_not")
    __lt__, __le__ = _operator("less"), _operator("less_equal")
    __gt__, __ge__ = _operator("greater"), _operator("greater_equal")
    __ne__ = _operator("not_equal")  # as in Keras 3 (``source != 0``); ``==`` stays identity, keeping tensors hashable
    __and__, __rand__ = _operator("logical_and"), _operator("logical_and", reflected=True)
    __or__, __ror__ = _operator("logical_or"), _operator("logical_or", reflected=True)
    __getitem__ = _operator("get_item")

    def __init__(self, shape, dtype="float32", history=None, name=None):
        self.shape = tuple(shape)
        self.dtype = jnp.dtype(dtype).name if dtype is not None else "float32"
        self.history = history
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def input_layer(self):
        """The `InputLayer` that made this tensor, or None if a later layer made it."""
        layer = self.history.layer if self.history else None
        return layer if getattr(layer, "is_input_layer", False) else None

    def __repr__(self):
        source = f", made by {self.history.layer.name!r}" if self.history else ""
        return f"<KerasTensor shape={self.shape} dtype={self.dtype}{source}>"

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"{self!r} is symbolic: it holds no values. Build a model with keras.Model(inputs, outputs) "
            "and call it (or predict) on arrays."
        )


class Node:
    """One call of `layer` on symbolic `inputs` (a tensor or a list of them), giving `outputs`; `training`
    is the call's ``training=`` (None: the forward pass's own mode); `arguments` the call's further
    arguments by name (tensors or plain values)."""

    def __init__(self, layer, inputs, outputs, training=None, arguments=None):
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs  # a list of KerasTensors
        self.training = training
        self.arguments = arguments or {}

    @property
    def input_tensors(self):
        """The tensors the call reads: its inputs, then the tensors among its arguments."""
        return [t for t in flatten([self.inputs, list(self.arguments.values())]) if isinstance(t, KerasTensor)]

    @property
    def is_input(self):
        return getattr(self.layer, "is_input_layer", False)


def is_keras_tensor(x):
    """Whether `x` is a symbolic tensor (made by `keras.Input` or a layer called on one)."""
    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """The `keras.Input` tensors that `tensor` is computed from, in the order the graph reads them."""
    if not isinstance(tensor, KerasTensor):
        raise TypeError(f"get_source_inputs takes a symbolic tensor (keras.Input or a layer's output), got "
                        f"{type(tensor).__name__}.")
    if tensor.history is None:
        return [tensor]
    node = tensor.history.layer.inbound_nodes[tensor.history.node_index]
    if node.is_input or not node.input_tensors:
        return [tensor]
    found = []
    for source in (s for t in node.input_tensors for s in get_source_inputs(t)):
        if all(source is not f for f in found):
            found.append(source)
    return found


def flatten(structure):
    """The KerasTensors (or arrays) of a tensor, list, tuple or dict, in order."""
    return jax.tree.leaves(structure, is_leaf=lambda value: isinstance(value, KerasTensor))


def is_symbolic(structure):
    """Whether `structure` holds a KerasTensor anywhere."""
    return any(isinstance(leaf, KerasTensor) for leaf in flatten(structure))


def shapes_of(structure):
    """The shapes of the KerasTensors in `structure`, in the same nesting (a tensor gives a tuple; a dict, nested
    too, a dict of them, as a Keras-style layer called on a dict of inputs is built for)."""
    if isinstance(structure, KerasTensor):
        return structure.shape
    if isinstance(structure, (list, tuple)):
        return [shapes_of(item) for item in structure]
    if isinstance(structure, dict):
        return {key: None if value is None else shapes_of(value) for key, value in structure.items()}
    raise TypeError(f"A layer can be called on a KerasTensor or a list of them, got {structure!r}")


def is_shape_list(shape):
    """Whether `shape` is a list of shapes (several tensors) rather than one shape."""
    return isinstance(shape, (list, tuple)) and len(shape) > 0 and isinstance(shape[0], (list, tuple))


def record_call(layer, inputs, output_shape, dtype="float32", training=None, arguments=None):
    """Record `layer` called on symbolic `inputs` (with ``training=``, None unless fixed, and the call's
    further `arguments`); return its output tensor (or list, for several outputs)."""
    node_index = len(layer.inbound_nodes)
    shapes = output_shape if is_shape_list(output_shape) else [output_shape]
    outputs = [KerasTensor(shape, dtype, History(layer, node_index, i)) for i, shape in enumerate(shapes)]
    layer.inbound_nodes.append(Node(layer, inputs, outputs, None if training is None else bool(training), arguments))
    return outputs if is_shape_list(output_shape) else outputs[0]
