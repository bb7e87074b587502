"""`Variable`: a named weight of a layer (or a state array of a metric or an optimizer), usable as an array.

Inside a model's forward pass it reads that pass's value, inside an open `execution.binding` the bound one
(see `scanfit.layers.execution`); elsewhere its stored `value`.
"""
import jax.numpy as jnp
import numpy as np

from scanfit.layers import execution


class Variable:
    """A named weight of a layer.

    ``path`` is the layer-qualified name (``'dense/kernel'``) and ``name`` its last part (``'kernel'``), as
    in Keras 3; ``trainable``
    says whether an optimizer may change it (while its layer is trainable);
    ``autocast`` whether its layer's call sees it in the layer's compute dtype;
    ``layer`` the layer that made it.

    In arithmetic (``x @ variable``, ``variable.T``, ``variable[0]``) and in
    ``jnp.asarray(variable)`` it is an array: inside a forward pass, that pass's
    value of it (so a layer may use another layer's weights, as tied weights
    do), elsewhere its stored `value`.
    """

    def __init__(self, value, path, trainable=True, regularizer=None, constraint=None, autocast=True, layer=None):
        self.value = jnp.asarray(value)
        self.path = path
        self.trainable = trainable
        self.autocast = autocast
        self.regularizer = regularizer
        self.constraint = constraint
        self.layer = layer

    def current_value(self):
        """The array a running forward pass (or an open `execution.binding`) uses for this variable, or the
        stored `value` outside one."""
        bound = execution.bound_values(self)
        if bound is not None:
            return bound[id(self)]
        running = execution.current()
        values = None if running is None or self.layer is None else running.values_by_layer.get(id(self.layer))
        return values[self.short_name] if values is not None and self.short_name in values else self.value

    def __jax_array__(self):
        return self.current_value()

    @property
    def T(self):
        return self.current_value().T

    @property
    def ndim(self):
        return self.value.ndim

    def __iter__(self):  # JAX clamps an index past the end, so iterating by __getitem__ would never stop
        return iter(self.current_value())

    def __len__(self):
        return len(self.value)

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]

    @property
    def short_name(self):
        """The name a layer's weight dict keys the variable by (its `name`)."""
        return self.name

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        return np.asarray(self.current_value())

    def assign(self, value):
        """Set the variable to `value` (inside an open `execution.binding`, its value there)."""
        value = jnp.asarray(_as_array(value), dtype=self.value.dtype)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable {self.name!r} "
                f"of shape {self.value.shape}."
            )
        bound = execution.bound_values(self)
        if bound is not None:
            bound[id(self)] = value
            return
        running = execution.current()
        if running is not None and self.layer is not None and id(self.layer) in running.values_by_layer:
            raise RuntimeError(f"Variable {self.name!r} was assigned inside a layer's call(), which scanfit does "
                               "not support: return the new value from the layer, or keep the state in a metric.")
        self.value = value

    def assign_add(self, value):
        self.assign(self.current_value() + _as_array(value))

    def assign_sub(self, value):
        self.assign(self.current_value() - _as_array(value))

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.current_value(), dtype=dtype)

    def __repr__(self):
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype} trainable={self.trainable}>"


def _as_array(value):
    return value.current_value() if isinstance(value, Variable) else value


def _array_operator(name):
    """A `Variable` method applying the array operator `name` to its current value (and to other variables)."""

    def operator(self, *args):
        return getattr(self.current_value(), name)(*(_as_array(arg) for arg in args))

    operator.__name__ = name
    return operator


for _name in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv", "pow",
              "rpow", "matmul", "rmatmul", "neg", "pos", "abs", "getitem", "lt", "le", "gt", "ge"):
    setattr(Variable, f"__{_name}__", _array_operator(f"__{_name}__"))
