"""`Variable`: a named weight of a layer (or a state array of a metric or an optimizer), usable as an array.

Inside a model's forward pass it reads that pass's value, inside an open `execution.binding` the bound one
(see `scanfit.layers.execution`); elsewhere its stored `value`.
"""
import jax
import jax.numpy as jnp
import numpy as np

from scanfit import initializers, name_scopes, naming
from scanfit.layers import execution

FLOATX = "float32"  # scanfit's floatx is always float32 (see scanfit.config)


class Variable:
    """A variable: a named, assignable array, as ``keras.Variable``; also what a layer's `add_weight` makes.

    ``Variable(initializer, shape=None, dtype=None, trainable=True, autocast=True, name=None)`` takes Keras 3's
    arguments: `initializer` an array or number (its dtype, a float64 one as floatx), or an initializer (or its
    name) called with `shape` and `dtype` (default floatx). `name` defaults to ``variable``, ``variable_1``, ...
    Assigned to an attribute of a layer, a variable becomes one of the layer's weights (see `Layer.__setattr__`).

    ``path`` is the name under the name scopes open when it was made (``'sequential/dense/kernel'``: a layer's
    weights are made in its scope, inside the scopes of the layers and models building it), and ``name`` its
    last part (``'kernel'``), as in Keras 3; ``short_name`` the key of its layer's weight dicts (unique within
    the layer: ``'kernel'``, or ``'query_kernel'`` where Keras nests sublayers); ``trainable``
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
        self.path = name_scopes.scoped(path)  # under the open keras.name_scope()s
        self.short_name = self.name  # the key of its layer's weight dicts (see `adopt`; wrappers prefix it)
        self.trainable = bool(trainable)
        self.autocast = bool(autocast)
        self.regularizer = regularizer
        self.constraint = constraint
        self.layer = layer

    def adopt(self, layer, taken):
        """Make this standalone variable a weight of `layer`. Its path stays the one it was made with, as in
        Keras (``'v'`` made in the layer's __init__, ``'layer/v'`` in its build); its `short_name` gets a
        ``_1`` suffix if one of `taken`, the short names the layer's variables already have."""
        self.short_name, self.layer = free_name(self.short_name, taken), layer

    @property
    def value(self):
        """The variable's array: inside a forward pass that holds it, that pass's value (see `pass_value`), as
        Keras's ``variable.value`` reads inside a layer's call(); elsewhere the stored one."""
        value = self.pass_value()
        return self.stored if value is None else value

    @value.setter
    def value(self, array):
        self.stored = array

    def pass_value(self):
        """The running forward pass's value of this layer variable, or None outside a pass that holds it.
        Read inside its own layer's call(), an autocast variable is in the layer's compute dtype, as the
        layer's other weights are there (Keras's autocast scope)."""
        running = execution.current()
        if running is None or self.layer is None:
            return None
        value, in_own_call = running.value_of(self.layer, self.short_name)
        if value is not None and in_own_call and self.autocast:
            value = self.layer.weights_in_compute_dtype({self.short_name: value})[self.short_name]
        return value

    def current_value(self):
        """The array a running forward pass (or an open `execution.binding`) uses for this variable, or the
        stored value outside one."""
        bound = execution.bound_values(self)
        if bound is not None:
            return bound[id(self)]
        return self.value

    def __jax_array__(self):
        return self.current_value()

    @property
    def T(self):
        return self.current_value().T

    @property
    def ndim(self):
        return self.stored.ndim

    def __iter__(self):  # JAX clamps an index past the end, so iterating by __getitem__ would never stop
        return iter(self.current_value())

    def __len__(self):
        return len(self.stored)

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]

    @property
    def shape(self):
        return tuple(self.stored.shape)

    @property
    def dtype(self):
        return self.stored.dtype

    def numpy(self):
        return np.asarray(self.current_value())

    def assign(self, value):
        """Set the variable to `value` (in its dtype). Inside an open `execution.binding`, its value there
        changes; inside a forward pass that holds it (a layer's call()), the pass's value, which the pass
        carries out as a state update (fit, evaluate, predict and calls store it), as Keras does for a
        non-trainable variable; a trainable one is refused there."""
        value = jnp.asarray(_as_array(value), dtype=self.stored.dtype)
        if value.shape != self.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable {self.name!r} "
                f"of shape {self.shape}."
            )
        bound = execution.bound_values(self)
        if bound is not None:
            bound[id(self)] = value
            return
        if self.pass_value() is not None:
            if self.trainable:
                raise NotImplementedError(
                    f"Variable {self.path!r} is trainable and was assigned inside a layer's call(). Only "
                    "non-trainable variables (add_weight(..., trainable=False)) may be assigned there, as Keras's "
                    "trainers keep only their updates; make the variable non-trainable.")
            execution.current().assign(self.layer, self.short_name, value)
            return
        if isinstance(value, jax.core.Tracer):  # stored, it would leak out of the trace that made it
            raise RuntimeError(
                f"Variable {self.path!r} was assigned a value traced inside a compiled function that does not carry "
                "it out: an assign inside a function you compiled, or a metric updated inside a layer's call() "
                "run by a train_step of your own (fit and evaluate, Keras's default steps among them, carry such "
                "updates). Update such a metric in your train_step with metric.stateless_update_state instead, or "
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
