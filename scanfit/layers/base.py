"""The layer protocol: configuration, named weights, and a pure `call`.

A layer keeps its configuration and its `Variable`s. Its computation is the
pure function ``call(weights, x, *, training, rng) -> (y, state_updates)``
where ``weights`` maps each variable's short name ('kernel', 'moving_mean')
to an array and ``state_updates`` holds new values for non-trainable
variables (empty for most layers). The model strings these calls together
inside one compiled program; no layer touches global state while it runs.
"""
import jax
import jax.numpy as jnp
import numpy as np

from scanfit import constraints, initializers, mixed_precision, regularizers
from scanfit import random as scanfit_random
from scanfit.layers import execution, symbolic
from scanfit.naming import snake_case, unique_name

def dtype_policy_config(dtype="float32"):
    """The dtype entry of a Keras 3 layer config."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


class Variable:
    """A named weight of a layer.

    ``name`` is the layer-qualified name (``'dense/kernel'``); ``trainable``
    says whether an optimizer may change it (while its layer is trainable);
    ``autocast`` whether its layer's call sees it in the layer's compute dtype.
    """

    def __init__(self, value, name, trainable=True, regularizer=None, constraint=None, autocast=True):
        self.value = jnp.asarray(value)
        self.name = name
        self.trainable = trainable
        self.autocast = autocast
        self.regularizer = regularizer
        self.constraint = constraint

    @property
    def short_name(self):
        return self.name.rsplit("/", 1)[-1]

    @property
    def path(self):
        return self.name

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        return np.asarray(self.value)

    def assign(self, value):
        value = jnp.asarray(value, dtype=self.value.dtype)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable {self.name!r} "
                f"of shape {self.value.shape}."
            )
        self.value = value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    def __repr__(self):
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype} trainable={self.trainable}>"


class Layer:
    """Base class of every scanfit layer (Keras's constructor keywords included).

    ``dtype`` is a dtype policy (see `scanfit.mixed_precision`): a name such
    as ``'mixed_bfloat16'``, a `DTypePolicy`, or None for the global policy.
    ``layer.dtype`` is the variable dtype, as in Keras 3.

    Masks are boolean arrays of shape (batch, timesteps). A layer with
    ``supports_masking = True`` passes its input mask on unchanged;
    `compute_mask` gives the mask of its output. A layer with
    ``accepts_mask = True`` also takes ``mask=`` in `call`.
    """

    supports_masking = False
    accepts_mask = False
    autocast = True  # cast floating inputs and (autocast) weights to the compute dtype before `call`

    def __init__(
        self,
        *,
        name=None,
        trainable=True,
        dtype=None,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        batch_size=None,
        activity_regularizer=None,
        **unknown,
    ):
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(unknown)}. "
                f"Check the spelling against the Keras documentation of {type(self).__name__}."
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self._dtype_policy = mixed_precision.get(dtype, f"{type(self).__name__} {self.name!r}: dtype")
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._variables = []
        self.inbound_nodes = []  # one symbolic.Node per call on KerasTensors
        self._input_shape_arg = _batch_shape(input_shape, input_dim, batch_input_shape, batch_size)

    # --- building -----------------------------------------------------
    def build(self, input_shape):
        """Create the layer's variables for inputs of `input_shape` (batch first)."""

    def build_for(self, input_shape):
        """Build once for `input_shape` (a list of shapes for a layer of several inputs); return the output shape."""
        input_shape = _as_shape_or_shapes(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_shape = input_shape
        output_shape = _as_shape_or_shapes(self.compute_output_shape(input_shape))
        self.output_shape = output_shape
        return output_shape

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # --- dtypes -----------------------------------------------------------
    @property
    def dtype_policy(self):
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value):
        self._dtype_policy = mixed_precision.get(value, f"{type(self).__name__} {self.name!r}: dtype_policy")

    @property
    def dtype(self):
        """The dtype of the layer's variables (Keras 3's meaning of `layer.dtype`)."""
        return self._dtype_policy.variable_dtype

    @property
    def variable_dtype(self):
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self):
        """The dtype the layer computes in: its floating inputs and weights are cast to it."""
        return self._dtype_policy.compute_dtype

    def in_compute_dtype(self, x, values):
        """``(x, values)`` as `call` sees them: floating inputs and autocast weights in the compute dtype."""
        if not self.autocast:
            return x, values
        dtype = self.compute_dtype
        x = mixed_precision.cast_floating(x, dtype)
        if dtype != self.variable_dtype:
            kept = {v.short_name for v in self._variables if not v.autocast}
            values = {k: (v if k in kept else mixed_precision.cast_floating(v, dtype)) for k, v in values.items()}
        return x, values

    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, regularizer=None, constraint=None,
                   autocast=True):
        """Create, record and return a new `Variable` of this layer (`autocast`: see `Variable`)."""
        init = initializers.get(initializer)
        value = init(tuple(int(d) for d in shape), dtype=self.dtype)
        variable = Variable(
            value,
            f"{self.name}/{name}",
            trainable=trainable,
            regularizer=regularizers.get(regularizer),
            constraint=constraints.get(constraint),
            autocast=autocast,
        )
        self._variables.append(variable)
        return variable

    # --- computation --------------------------------------------------
    def call(self, weights, x, *, training=False, rng=None):
        """Pure forward pass: ``(y, state_updates)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def compute_mask(self, x, mask):
        """The mask of this layer's output for input `x` carrying `mask` (or None)."""
        return mask if self.supports_masking else None

    def weight_values(self):
        """The current values as the dict that `call` takes."""
        return {v.short_name: v.value for v in self.weights}

    def __call__(self, x, training=None, **kwargs):
        """Call the layer: on `keras.Input` tensors it records a graph node and returns symbolic outputs;
        inside a model's forward pass it runs on that pass's weights; on arrays it runs eagerly
        (``training=True`` applies Dropout with fresh randomness and updates BatchNormalization's statistics).
        """
        if kwargs:
            raise TypeError(f"{type(self).__name__} {self.name!r} got unexpected call argument(s) {sorted(kwargs)}.")
        if symbolic.is_symbolic(x):
            return symbolic.record_call(self, x, self.build_for(symbolic.shapes_of(x)), self.compute_dtype)
        running = execution.current()
        if running is not None:
            return running.run(self, x, training)
        return self._call_eagerly(x, bool(training))

    def _call_eagerly(self, x, training):
        x = jax.tree.map(lambda a: jnp.asarray(a, self.dtype) if not hasattr(a, "dtype") else jnp.asarray(a), x)
        self.build_for(jax.tree.map(lambda a: tuple(a.shape), x, is_leaf=lambda a: hasattr(a, "shape")))
        rng = scanfit_random.next_key() if training else None
        with execution.executing(execution.Execution({id(self): self.weight_values()}, training, rng)) as run:
            y = run.run(self, x)
        self.assign_state(run.updates.get(id(self), {}))
        return y

    def assign_state(self, updates):
        """Store new values (``{short_name: array}``) for some of this layer's variables."""
        for variable in self._variables:
            if variable.short_name in updates:
                variable.value = updates[variable.short_name]

    def run_in(self, running, x, mask=None):
        """Run inside the open forward pass `running` (an `execution.Execution`); models override this."""
        return running.run(self, x, mask=mask)

    # --- the functional graph -------------------------------------------
    def _node_attribute(self, what):
        if not self.inbound_nodes:
            raise AttributeError(
                f"Layer {self.name!r} has never been called on a symbolic tensor, so it has no {what}. "
                "Call it on keras.Input(...) tensors, or give its Sequential model an input shape."
            )
        node = self.inbound_nodes[0]
        if what == "input":
            return node.inputs
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    @property
    def input(self):
        """The symbolic input of the layer's first call (a KerasTensor, or a list of them)."""
        return self._node_attribute("input")

    @property
    def output(self):
        """The symbolic output of the layer's first call (a KerasTensor, or a list of them)."""
        return self._node_attribute("output")

    # --- weights --------------------------------------------------------
    @property
    def weights(self):
        """All variables: trainable ones first, then the others (Keras's order)."""
        return [v for v in self._variables if v.trainable] + [v for v in self._variables if not v.trainable]

    variables = weights

    @property
    def trainable_weights(self):
        return [v for v in self._variables if v.trainable] if self.trainable else []

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [v for v in self._variables if not v.trainable]

    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        assign_all(self.weights, weights, f"layer {self.name!r}")

    def weights_in_file(self):
        """``(group, name, variables)`` for each group of the weights in a Keras 3 ``.weights.h5`` file: one
        ``vars`` group for most layers (wrappers and recurrent layers nest their inner layers' groups)."""
        return [("vars", self.name, self.weights)]

    def count_params(self):
        return int(sum(np.prod(v.shape) for v in self.weights))

    # --- configuration --------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy_config(self.dtype_policy.name)}
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = list(self._input_shape_arg)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def assign_all(variables, values, owner):
    """Assign `values` to `variables` one by one, checking count and shapes first."""
    values = list(values)
    if len(values) != len(variables):
        raise ValueError(
            f"set_weights for {owner} expects {len(variables)} arrays "
            f"({[v.name for v in variables]}), got {len(values)}."
        )
    arrays = [np.asarray(a) for a in values]
    for variable, array in zip(variables, arrays):
        if tuple(array.shape) != variable.shape:
            raise ValueError(
                f"set_weights for {owner}: {variable.name!r} has shape {variable.shape}, "
                f"the given array has shape {tuple(array.shape)}."
            )
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def _as_shape_or_shapes(shape):
    """A shape as a tuple, or a list of shapes as a list of tuples."""
    if symbolic.is_shape_list(shape):
        return [tuple(item) for item in shape]
    return tuple(shape)


def _batch_shape(input_shape, input_dim, batch_input_shape, batch_size):
    """The batch-first input shape given by the legacy constructor keywords, or None."""
    if batch_input_shape is not None:
        return tuple(None if d is None else int(d) for d in batch_input_shape)
    if input_shape is not None:
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        return (batch_size,) + tuple(None if d is None else int(d) for d in input_shape)
    if input_dim is not None:
        return (batch_size, int(input_dim))
    return None
