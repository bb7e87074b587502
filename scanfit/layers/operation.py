"""`keras.ops` applied to symbolic tensors: a node of the functional graph that computes one operation.

In Keras 3, ``x + residual``, ``x[:, 0]``, ``keras.ops.mean(x, axis=1)`` or
``keras.ops.not_equal(tokens, 0)`` on `keras.Input` tensors add an operation
to the model. `scanfit.ops` records such a call as an `Operation`: a layer
without weights whose call arguments (the tensors, and constants in their
places) come from the graph and whose other arguments (``axis``,
``keepdims``, ...) are its config. Files store it as Keras 3 does (the
operation's class, such as ``Add`` or ``NotEqual``, its config and the call's
arguments), so models with operations move between the two libraries.
"""
import jax
import jax.numpy as jnp

from scanfit.layers import symbolic
from scanfit.layers.base import Layer
from scanfit.layers.symbolic import KerasTensor
from scanfit.naming import unique_name


class Operation(Layer):
    """One call of `function` (a `scanfit.ops` function named `operation_name`) in a graph. Its
    `call_parameters` are passed by the graph: the first one holding a symbolic tensor is the node's input,
    the others are its further arguments (tensors or constants); `static` holds the other parameters."""

    autocast = False  # operations compute in their inputs' dtypes, as Keras's do
    is_operation = True

    def __init__(self, function, operation_name, call_parameters, static=None, module="numpy", name=None):
        super().__init__(name=name or unique_name(operation_name))
        self.function = function
        self.operation_name = operation_name
        self.call_order = tuple(call_parameters)  # files list the call's values in this order, as Keras does
        self.input_parameter = self.call_order[0]
        self.static = dict(static or {})
        self.module = module

    @property
    def argument_names(self):
        return tuple(name for name in self.call_order if name != self.input_parameter)

    def __call__(self, *args, training=None, **kwargs):
        if len(args) > len(self.call_order):
            raise TypeError(f"Operation {self.operation_name!r} takes {len(self.call_order)} values, got {len(args)}.")
        values = {**dict(zip(self.call_order, args)), **kwargs}
        unknown = sorted(set(values) - set(self.call_order))
        if unknown:
            raise TypeError(f"Operation {self.operation_name!r} got unexpected argument(s) {unknown}.")
        symbolic_names = [name for name in self.call_order if symbolic.is_symbolic([values.get(name)])]
        if not symbolic_names:
            return self.function(**values, **self.static)
        self.input_parameter = symbolic_names[0]
        x = values.pop(self.input_parameter)
        two, three = self._evaluate(x, values, 2), self._evaluate(x, values, 3)
        outputs = jax.tree.leaves(two)
        shapes = [tuple(a if a == b else None for a, b in zip(p.shape, q.shape))
                  for p, q in zip(outputs, jax.tree.leaves(three))]
        self.built = True
        self.input_shape = symbolic.shapes_of(x)
        self.output_shape = shapes if isinstance(two, (list, tuple)) else shapes[0]
        return symbolic.record_call(self, x, self.output_shape, jnp.dtype(outputs[0].dtype).name, None, values)

    def _evaluate(self, x, arguments, size):
        """The result's shapes and dtypes with `size` for each unknown dimension of the symbolic tensors."""
        leaves, structure = jax.tree.flatten((x, arguments), is_leaf=_is_tensor)
        tensors = [jax.ShapeDtypeStruct(tuple(size if d is None else d for d in leaf.shape), leaf.dtype)
                   for leaf in leaves if _is_tensor(leaf)]

        def compute(arrays):
            given = iter(arrays)
            x, others = jax.tree.unflatten(structure, [next(given) if _is_tensor(leaf) else leaf for leaf in leaves])
            return self.function(**{self.input_parameter: x}, **others, **self.static)

        return jax.eval_shape(compute, tensors)

    def build_for(self, input_shape, arguments=None):
        return self.output_shape

    def compute_mask(self, x, mask=None):
        return None  # Keras's operations drop masks

    def pure_call(self, weights, x, *, training=False, rng=None, **arguments):
        return self.function(**{self.input_parameter: x}, **arguments, **self.static), {}

    def get_config(self):
        return {"name": self.name, **self.static}

    def keras_class(self):
        """``(module, class name)`` of the Keras 3 operation this is (``('keras.src.ops.numpy', 'NotEqual')``)."""
        return f"keras.src.ops.{self.module}", class_name(self.operation_name)


def class_name(operation_name):
    """Keras's class name of an operation: ``not_equal`` -> ``NotEqual``."""
    return "".join(part.capitalize() for part in operation_name.split("_"))


def _is_tensor(value):
    return isinstance(value, KerasTensor)
