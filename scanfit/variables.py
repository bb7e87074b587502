"""`Variable`: a named weight of a layer (or a state array of a metric or an optimizer), usable as an array.

Inside a model's forward pass it reads that pass's value, inside an open `execution.binding` the bound one
(see `scanfit.layers.execution`); elsewhere its stored `value`.
"""
import jax
import jax.numpy as jnp
import numpy as np

from scanfit import initializers, naming
from scanfit.layers import execution

FLOATX = "float32"  # scanfit's floatx is always float32 (see scanfit.config)


class Variable:
    """A variable: a named, assignable array, as ``keras.Variable``; also what a layer's `add_weight` makes.

    ``Variable(initializer, shape=None, dtype=None, trainable=True, autocast=True, name=None)`` takes Keras 3's
    arguments: `initializer` an array or number (its dtype, a float64 one as floatx), or an initializer (or its
    name) called with `shape` and `dtype` (default floatx). `name` defaults to ``variable``, ``variable_1``, ...
    Assigned to an attribute of a layer, a variable becomes one of the layer's weights (see `Layer.__setattr__`).

    ``path`` is the layer-qualified name (``'dense/kernel'``) and ``name`` its last part (``'kernel'``), as
    in Keras 3; ``trainable``
    says whether an optimizer may change it (while its layer is trainable);
    ``autocast`` whether its layer's call sees it in the layer's compute dtype;
    ``layer`` the layer that owns it (None for a standalone variable).

    In arithmetic (``x @ variable``, ``variable.T``, ``variable[0]``) and in
    ``jnp.asarray(variable)`` it is an array: inside a forward pass, that pass's
    value of it (so a layer may use another layer's weights, as tied weights
    do), elsewhere its stored `value`.
    """

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True, aggregation="none",
                 synchronization="auto", name=None, layout=None, *, path=None, regularizer=None, constraint=None,
                 layer=None):
        _check_distribution_arguments(aggregation, synchronization, layout)
        if path is None:
            path = naming.unique_name("variable") if name is None else name
            if not isinstance(path, str) or "/" in path:
                raise ValueError(f"A variable's name must be a string without '/'; got name={name!r}.")
        self.value = _initial_value(initializer, shape, dtype)
        self.path = path
        self.trainable = bool(trainable)
        self.autocast = bool(autocast)
        self.regularizer = regularizer
        self.constraint = constraint
        self.layer = layer

    def adopt(self, layer, taken):
        """Make this standalone variable a weight of `layer`, named after its own name (with a ``_1`` suffix
        if one of `taken`, the names the layer's variables already have)."""
        self.path, self.layer = f"{layer.name}/{free_name(self.name, taken)}", layer

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
        if isinstance(value, jax.core.Tracer):  # stored, it would leak out of the trace that made it
            raise RuntimeError(
                f"Variable {self.path!r} was assigned a value traced inside a compiled function: a metric updated "
                "inside a layer's call() (Keras's endpoint-layer pattern), or an assign inside a function you "
                "compiled. scanfit does not carry such updates out: update metrics in train_step/test_step, or "
                "return the value from the compiled function and assign it afterwards.")
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
              "rpow", "matmul", "rmatmul", "neg", "pos", "abs", "getitem", "lt", "le", "gt", "ge", "mod", "rmod",
              "and", "rand", "or", "ror", "xor", "rxor", "invert", "float", "int", "bool", "round"):
    setattr(Variable, f"__{_name}__", _array_operator(f"__{_name}__"))


def free_name(base, taken):
    """`base`, or ``base_1``, ``base_2``, ... whichever is first not among `taken` (a layer's variable names)."""
    name, count = base, 1
    while name.rsplit("/", 1)[-1] in taken:
        name, count = f"{base}_{count}", count + 1
    return name


def _initial_value(initializer, shape, dtype):
    """A new variable's array: `initializer` called with `shape` and `dtype`, or `initializer` itself as an array
    (a float64 or Python float one in floatx, as Keras 3 makes it)."""
    if isinstance(initializer, str) or callable(initializer) and not isinstance(initializer, Variable):
        if shape is None:
            raise ValueError(f"A variable made from the initializer {initializer!r} needs its shape: pass shape=.")
        return jnp.asarray(initializers.get(initializer)(tuple(int(d) for d in shape),
                                                         dtype=jnp.dtype(dtype or FLOATX)))
    value = _as_array(initializer)
    if not isinstance(value, jax.Array):  # a JAX array (traced too, as a model's loader sizes it) keeps its dtype
        value = np.asarray(value)
        if dtype is None and value.dtype in (np.float64, np.int64):
            dtype = FLOATX if value.dtype == np.float64 else "int32"
    value = jnp.asarray(value, dtype=dtype)
    if shape is not None and tuple(shape) != value.shape:
        raise ValueError(f"A variable's initial value has shape {value.shape}, but shape={tuple(shape)} was given.")
    return value


def _check_distribution_arguments(aggregation, synchronization, layout):
    """Refuse the distribution arguments scanfit does not honour (its replicas always average gradients)."""
    if aggregation not in ("none", None):
        raise ValueError(f"Variable(aggregation={aggregation!r}) is not supported by scanfit (its replicas always "
                         "average gradients); leave aggregation at 'none'.")
    if synchronization not in ("auto", "none", "on_write", None):
        raise ValueError(f"Variable(synchronization={synchronization!r}) is not supported by scanfit; leave it at "
                         "'auto' (variables are written on every update).")
    if layout is not None:
        raise ValueError("Variable(layout=...) is not supported: scanfit lays out a model's variables with "
                         "scanfit.distribution (see the README's section on devices).")
