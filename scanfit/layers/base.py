"""The layer protocol: configuration, named weights, and a pure computation.

A layer keeps its configuration and its `Variable`s. scanfit's layers compute
with the pure function ``pure_call(weights, x, *, training, rng) -> (y,
state_updates)`` where ``weights`` maps each variable's short name ('kernel',
'moving_mean') to an array and ``state_updates`` holds new values for
non-trainable variables (empty for most layers). The model strings these calls
together inside one compiled program; no layer touches global state while it
runs.

A user's layer is written as in Keras instead: `build` creates weights with
`add_weight`, and ``call(self, inputs, training=None, mask=None)`` computes with
them as ``self.kernel``. While such a `call` runs inside a forward pass, the
layer's attributes that hold its trainable variables hold that pass's arrays
instead, so any JAX or NumPy-style operation works on them; its non-trainable
variables read the pass's values, and may be assigned (a counter, a moving
average), which the pass carries out as state updates. ``super().call(inputs, ...)``
runs the parent layer's own computation (Hands-on ML's ``MCDropout``).
"""
import functools
import inspect
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import constraints, initializers, mixed_precision, name_scopes, regularizers
from scanfit import seeding as scanfit_random
from scanfit.layers import execution, symbolic
from scanfit.layers.input_spec import check_inputs
from scanfit.naming import snake_case, unique_name
from scanfit.variables import Variable, free_name

def dtype_policy_config(dtype="float32"):
    """The dtype entry of a Keras 3 layer config."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


NOT_GIVEN = object()  # a call's `training` left out (not the same as an explicit None)


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
    argument_names = ()  # the call arguments after the input that one of scanfit's own layers takes
    autocast = True  # cast floating inputs and (autocast) weights to the compute dtype before `call`
    is_model = False  # True for models (their layers hold the weights)
    calls_keras_style = True  # computes with a Keras-style `call` (False for a class that defines `pure_call`)
    state_variables = ()  # what a stateful layer carries from call to call (not weights: never saved)
    input_spec = None  # a user's layer may set an InputSpec (or a list of them): checked on each call and build
    default_training = False  # the mode of a call that nothing sets (Keras: the default of call's `training`)
    stored_weight_names = None  # what `save_own_variables` stores: None for all the layer's own weights
    structure_skip = frozenset({"inbound_nodes"})  # attributes that never hold the layer's own layers

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in vars(cls):
            cls.build = _in_name_scope(cls.build) if cls.is_model else _marking_built(cls.build)
        if "pure_call" in vars(cls):
            cls.calls_keras_style = False
        elif "call" in vars(cls):
            cls.calls_keras_style = True
            parameters = _call_parameters(cls)
            cls.accepts_mask = "mask" in parameters
            if "training" in parameters and parameters["training"].default is not inspect.Parameter.empty:
                cls.default_training = bool(parameters["training"].default)

    def __new__(cls, *args, **kwargs):
        layer = super().__new__(cls)
        layer._constructor_arguments = (args, kwargs)  # for the config of a user's layer without get_config
        layer._made_at = next(_TICKS)  # when it was made, for `attribute_layers`
        return layer

    def __getattr__(self, name):
        """A weight of the layer's own by its name, as Keras's layers have them: ``dense.kernel``, ``dense.bias``,
        ``batch_norm.moving_mean``, ``embedding.embeddings``."""
        for variable in self.__dict__.get("_variables", ()):
            if variable.short_name == name:
                return variable
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        """A standalone `Variable` (``keras.Variable(...)``) assigned to an attribute, alone or in a list, tuple
        or dict, becomes one of this layer's weights, as in Keras."""
        standalone = [v for v in _variables_in(value) if v.layer is None]
        if standalone:
            if "_variables" not in self.__dict__:
                raise RuntimeError(f"{type(self).__name__}: call super().__init__(...) before assigning variables "
                                   f"to attributes (self.{name}).")
            for variable in standalone:
                variable.adopt(self, {v.short_name for v in self._variables})
                self._variables.append(variable)
        self.__dict__.setdefault("_assigned_at", {})[name] = next(_TICKS)  # for `attribute_layers`
        super().__setattr__(name, value)

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
        if name is not None and "/" in name:  # (it names a scope of its weights' paths, as in Keras)
            raise ValueError(f"A layer's name cannot contain '/', got name={name!r}; use another character.")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self._dtype_policy = mixed_precision.get(dtype, f"{type(self).__name__} {self.name!r}: dtype")
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._variables = []
        self.inbound_nodes = []  # one symbolic.Node per call on KerasTensors
        self.call_losses = []  # the add_loss and activity terms of the last call on arrays (see `losses`)
        self._input_shape_arg = _batch_shape(input_shape, input_dim, batch_input_shape, batch_size)
        self.parent_path = None  # the path of the name scopes open where the layer first opened its own

    # --- building -----------------------------------------------------
    def name_scope(self, remember=True):
        """The `keras.name_scope` the layer builds in (its weights' paths and those of the layers it builds), as
        Keras's: the layer's name, under the scopes open where it was first built or called (it keeps that
        place, `parent_path`, unless not `remember`: `add_weight` reads it only). Entered inside itself, it adds
        no second level."""
        if remember:
            self.settle_name_scope()
        return name_scopes.name_scope(self.name, caller=self, override_parent=self.parent_path)

    def settle_name_scope(self):
        """Make the name scopes open now the place of the layer's own (`parent_path`), unless it has one: where
        the layer is first built or called, or where Keras would build it (a layer loaded from a config with a
        ``build_config``, a built layer's copies in a Bidirectional wrapper)."""
        if self.parent_path is None:
            self.parent_path = name_scopes.current_path()

    def build(self, input_shape):
        """Create the layer's variables for inputs of `input_shape` (batch first)."""

    def build_for(self, input_shape, arguments=None):
        """Build once for `input_shape` (a list of shapes for a layer of several inputs); return the output
        shape. `arguments`: the call's further arguments (see `call_arguments`), which a Keras-style
        layer's traced output shape takes into account."""
        input_shape = _as_shape_or_shapes(input_shape)
        check_inputs(self.input_spec, input_shape, self.name)
        with self.name_scope():  # (tracing a Keras-style call builds the layers it calls: inside it)
            if not self.built:
                self.build(input_shape)
                self.built = True
                self.input_shape = input_shape
            if arguments and self.calls_keras_style:
                output_shape = _traced_output_shape(self, input_shape, arguments)
            else:
                output_shape = self.compute_output_shape(input_shape)
        output_shape = _as_shape_or_shapes(output_shape)
        self.output_shape = output_shape
        return output_shape

    def get_build_config(self):
        """Keras's saving hook: what a file keeps as the layer's ``build_config`` (the shape it was built for)."""
        shape = self.input_shape
        return {"input_shape": [list(s) for s in shape] if isinstance(shape, list) else list(shape)}

    def build_from_config(self, config):
        """Keras's saving hook: build as a `get_build_config` result says (for its ``input_shape``)."""
        if config.get("input_shape") is not None and not self.built:
            self.build_for(config["input_shape"])

    def save_own_variables(self, store):
        """Keras's saving hook: this layer's own weights into `store` (a dict) as ``'0'``, ``'1'``, ..."""
        for index, variable in enumerate(self.stored_own_weights()):
            store[str(index)] = variable.numpy()

    def load_own_variables(self, store):
        """Keras's saving hook: this layer's own weights from `store` (``'0'``, ``'1'``, ...), counts and shapes
        checked first."""
        variables = self.stored_own_weights()
        if len(store) != len(variables):
            raise ValueError(f"Layer {self.name!r} has {len(variables)} weights ({[v.name for v in variables]}), "
                             f"but {len(store)} were stored for it.")
        for index, variable in enumerate(variables):
            if tuple(np.shape(store[str(index)])) != variable.shape:
                raise ValueError(f"Layer {self.name!r}: weight {variable.name!r} has shape {variable.shape}, but "
                                 f"the value stored for it has shape {tuple(np.shape(store[str(index)]))}.")
        for index, variable in enumerate(variables):
            variable.assign(store[str(index)])

    def stored_own_weights(self):
        """The weights the saving hooks store: the layer's own, or those named in `stored_weight_names` (Keras's
        Dense, convolutions, Embedding and EinsumDense store only the weights their class makes)."""
        names = self.stored_weight_names
        return self.own_weights if names is None else [v for v in self.own_weights if v.short_name in names]

    @classmethod
    def customizes(cls, hook):
        """Whether the class (a user's) defines Keras's method `hook` (a saving hook, say) itself rather than
        inheriting scanfit's."""
        for klass in cls.__mro__:
            if hook in vars(klass):
                return not klass.__module__.startswith("scanfit.")
        return False

    def compute_output_shape(self, input_shape):
        """The output shape for `input_shape`; a Keras-style layer's comes from tracing its `call` (no computing)."""
        if self.calls_keras_style:
            return _traced_output_shape(self, input_shape)
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

    @property
    def output_dtype(self):
        """The dtype of the layer's outputs on symbolic tensors (its compute dtype unless it says otherwise)."""
        return self.compute_dtype

    def in_compute_dtype(self, x, values):
        """``(x, values)`` as `call` sees them: floating inputs and autocast weights in the compute dtype."""
        if not self.autocast:
            return x, values
        return mixed_precision.cast_floating(x, self.compute_dtype), self.weights_in_compute_dtype(values)

    def weights_in_compute_dtype(self, values):
        """`values` ({short_name: array}) as `call` sees them: the floating autocast weights in the compute
        dtype (under a mixed policy)."""
        dtype = self.compute_dtype
        if not self.autocast or dtype == self.variable_dtype:
            return values
        kept = {v.short_name for v in self._variables if not v.autocast}
        return {k: (v if k in kept else mixed_precision.cast_floating(v, dtype)) for k, v in values.items()}

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True, regularizer=None,
                   constraint=None, aggregation="none", overwrite_with_gradient=False, name=None):
        """Create, record and return a new `Variable` of this layer (Keras 3's arguments, `autocast`: see `Variable`).

        `initializer` defaults to 'glorot_uniform' for a floating `dtype` and
        'zeros' otherwise; `dtype` to the layer's variable dtype; `name` to
        'variable'. A name already taken in this layer gets a suffix (``_1``).
        """
        if isinstance(shape, str):
            raise TypeError(f"{type(self).__name__}.add_weight takes the shape first, as in Keras 3; give the name "
                            f"as name={shape!r} (got shape={shape!r}).")
        if aggregation not in ("none", None) or overwrite_with_gradient:
            raise ValueError(f"{type(self).__name__}.add_weight: aggregation={aggregation!r} and "
                             f"overwrite_with_gradient={overwrite_with_gradient!r} are not supported by scanfit "
                             "(its replicas always average gradients); leave them at their defaults.")
        if self.built:  # Keras locks a built layer's state: a second build() would double its weights
            raise ValueError(f"Layer {self.name!r} is already built, so it cannot add the weight {name!r}: create "
                             "weights in __init__() or build(), and call build() once (check layer.built first).")
        dtype = jnp.dtype(self.dtype if dtype is None else dtype)
        if initializer is None:
            initializer = "glorot_uniform" if jnp.issubdtype(dtype, jnp.floating) else "zeros"
        init = initializers.get(initializer)
        value = init(tuple(int(d) for d in (() if shape is None else shape)), dtype=dtype)
        name = free_name("variable" if name is None else str(name), {v.short_name for v in self._variables})
        with self.name_scope(remember=False):  # its path: "<the scopes around the layer>/<layer name>/<name>"
            variable = Variable(
                value,
                path=name,
                trainable=True if trainable is None else bool(trainable),
                regularizer=regularizers.get(regularizer),
                constraint=constraints.get(constraint),
                autocast=autocast,
                layer=self,
            )
        self._variables.append(variable)
        return variable

    # --- computation --------------------------------------------------
    def pure_call(self, weights, x, *, training=False, rng=None):
        """scanfit's pure forward pass: ``(y, state_updates)`` from the weight arrays `weights` ({short_name: array})."""
        raise NotImplementedError(
            f"{type(self).__name__} has no computation: define call(self, inputs) (as in Keras), reading the "
            "weights that build() made with add_weight as attributes such as self.kernel."
        )

    def call(self, inputs, training=None, mask=None):
        """Keras's forward computation of the layer on `inputs`.

        A Keras-style layer overrides it. From an override,
        ``super().call(inputs, training=...)`` runs the parent layer's own
        computation inside the same forward pass; called on arrays outside
        any model, it runs the layer eagerly, as calling the layer does.
        """
        running = execution.current()
        if running is None:
            return self(inputs, training=NOT_GIVEN if training is None else training)
        return running.run_pure(self, inputs, training, mask)

    def add_loss(self, loss):
        """Add `loss` (summed to a scalar) to the total loss of the forward pass that runs this `call`, as
        Keras's ``self.add_loss`` inside `call` (Hands-on ML's reconstruction loss). `fit` minimizes it and
        `evaluate` reports it inside ``loss``."""
        running = execution.current()
        if running is None:
            raise RuntimeError(f"{type(self).__name__}.add_loss works inside call() while a model runs (fit, "
                               "evaluate, predict or a call on data); for a penalty on weights, give the layer a "
                               "regularizer instead.")
        running.add_loss(loss, self)

    def call_on(self, weights, x, training, mask=None, arguments=None):
        """Run the Keras-style `call` on `x` while the attributes holding this layer's trainable variables
        (directly, or in a list, tuple or dict) hold the arrays of `weights` ({short_name: array}); they are put
        back after. The non-trainable variables stay: they read the pass's values, and their `assign` gives the
        pass new ones (see `Variable.assign`); a variable `call` returns comes back as its value.
        `arguments`: the call's further arguments by name (an explicit ``mask=`` among them wins)."""
        parameters = _call_parameters(type(self))
        kwargs = {"training": training} if "training" in parameters else {}
        if "mask" in parameters:
            kwargs["mask"] = mask
        arrays = {id(v): weights[v.short_name] for v in self._variables if v.trainable and v.short_name in weights}
        attributes = vars(self)
        saved = {}
        for name, value in list(attributes.items()):
            swapped = value if name == "_variables" else _as_arrays(value, arrays)
            if swapped is not value:
                saved[name], attributes[name] = value, swapped
        try:
            with self.name_scope():  # a layer it builds on its first call is built inside it, as in Keras
                y = self.call(x, **{**kwargs, **(arguments or {})})
            return jax.tree.map(lambda item: item.current_value() if isinstance(item, Variable) else item, y)
        except AttributeError as error:
            if "attribute 'assign" not in str(error):
                raise
            raise NotImplementedError(
                f"Layer {self.name!r} assigns to one of its trainable variables inside call() ({error}). Only "
                f"non-trainable variables (add_weight(..., trainable=False)) may be assigned there, as Keras's "
                "trainers keep only their updates; make the variable non-trainable.") from None
        finally:
            attributes.update(saved)

    def compute_mask(self, x, mask=None):
        """The mask of this layer's output for input `x` carrying `mask` (or None; a list of them for a list
        of inputs, which a layer of several inputs combines by overriding this)."""
        return mask if self.supports_masking and not isinstance(mask, list) else None

    def compute_mask_of_call(self, x, mask, arguments):
        """The output mask of a call with further `arguments` (by name): `compute_mask`'s, unless an argument
        changes it (ReversibleEmbedding's ``reverse=True`` gives none)."""
        return self.compute_mask(x, mask)

    def weight_values(self):
        """The current values as the dict that `call` takes: the weights, and a stateful layer's states."""
        return {v.short_name: v.value for v in self.carried_variables}

    @property
    def carried_variables(self):
        """The variables whose values a forward pass takes and may update: `own_weights`, then
        `state_variables` (a stateful recurrent layer's states, carried from batch to batch)."""
        return self.own_weights + list(self.state_variables)

    def __call__(self, *args, training=NOT_GIVEN, **kwargs):
        """Call the layer: on `keras.Input` tensors it records a graph node and returns symbolic outputs;
        inside a model's forward pass it runs on that pass's weights; on arrays it runs eagerly
        (``training=True`` applies Dropout with fresh randomness and updates BatchNormalization's statistics).
        Without `training`, the mode is the model's around it, else the layer's own default (augmentation
        layers augment); an explicit ``training=None`` means inference, as Keras passes it on to `call`.

        Arguments after the input (MultiHeadAttention's ``value``, a Keras-style `call`'s own parameters)
        are passed on by name; they may be tensors too.
        """
        x, args = self.split_input(args, kwargs)
        arguments = self.call_arguments(args, kwargs)
        check_inputs(self.input_spec, x, self.name)
        if symbolic.is_symbolic(x) or symbolic.is_symbolic(list(arguments.values())):
            shape = self.build_for(symbolic.shapes_of(x), arguments)
            training = None if training is NOT_GIVEN else training
            return symbolic.record_call(self, x, shape, self.output_dtype, training, arguments)
        training = None if training is NOT_GIVEN else bool(training)
        running = execution.current()
        if running is not None:
            return running.run_call(self, x, training, arguments)
        return self._call_eagerly(x, training, arguments)

    def split_input(self, args, kwargs):
        """The call's input and its further positional arguments: the first positional argument or, as Keras
        allows, the input by the name of `call`'s first parameter (``layer(logits=x)`` for ``call(self, logits)``;
        ``inputs=`` for scanfit's own layers), taken out of `kwargs`."""
        if args:
            return args[0], args[1:]
        name = list(_call_parameters(type(self)))[1] if self.calls_keras_style else "inputs"
        if name not in kwargs:
            raise TypeError(f"{type(self).__name__} {self.name!r} was called without its input: pass it as the "
                            f"first argument, or as {name}=.")
        return kwargs.pop(name), ()

    def call_arguments(self, args, kwargs):
        """The call's arguments after the input, by name (``{}`` for none); a TypeError names any this layer
        does not take. A Keras-style layer takes its `call`'s parameters; scanfit's own, its `argument_names`."""
        if not args and not kwargs:
            return {}
        any_name = False
        if self.calls_keras_style:
            parameters = list(_call_parameters(type(self)).values())[2:]  # after self and the input
            names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                     and p.name != "training"]
            any_name = any(p.kind == p.VAR_KEYWORD for p in parameters)
        else:
            names = list(self.argument_names) + (["mask"] if self.accepts_mask else [])
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} {self.name!r} takes {len(names)} argument(s) after its input "
                            f"{names}, got {len(args)} more positional argument(s).")
        arguments = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names and not any_name:
                raise TypeError(f"{type(self).__name__} {self.name!r} got unexpected call argument {name!r}"
                                f"{f'; it takes {names}' if names else ''}.")
            if name in arguments:
                raise TypeError(f"{type(self).__name__} {self.name!r} got {name!r} twice (by position and by name).")
            arguments[name] = value
        return arguments

    def _call_eagerly(self, x, training, arguments=None):
        mask = None if arguments and "mask" in arguments else _carried_mask(x)
        x = jax.tree.map(lambda a: jnp.asarray(a, self.dtype) if not hasattr(a, "dtype") else jnp.asarray(a), x)
        self.build_for(jax.tree.map(lambda a: tuple(a.shape), x, is_leaf=lambda a: hasattr(a, "shape")), arguments)
        layers = self.weight_layers  # this layer and the layers it holds
        drawing = (training or any(layer.calls_keras_style for layer in layers)  # (its call may draw: keras.random)
                   or training is None and any(layer.default_training for layer in layers))
        rng = scanfit_random.next_key() if drawing else None
        values = {id(layer): layer.weight_values() for layer in layers}
        with execution.executing(execution.Execution(values, training, rng)) as run:
            y = run.run(self, x, mask=mask, arguments=arguments)
        for layer in layers:
            layer.assign_state(run.updates.get(id(layer), {}))
            layer.call_losses = run.losses_within(layer.weight_layers)  # each layer's own and its layers' terms
        self.call_losses = [run.extra_loss] if run.loss_count else []
        if isinstance(y, jax.Array):  # the output carries its mask to the next layer called on it, as in Keras
            y._keras_mask = self.compute_mask(x, mask)
        return y

    def assign_state(self, updates):
        """Store new values (``{short_name: array}``) for some of this layer's variables (from an eager call)."""
        traced = sorted(name for name, value in updates.items() if isinstance(value, jax.core.Tracer))
        if traced:  # stored, they would leak out of the trace that made them
            raise RuntimeError(
                f"Layer {self.name!r} updated its variables {traced} (assigned in its call(), or moving statistics) "
                "in a call traced inside a function you compiled or differentiate (jax.jit, jax.grad), where scanfit "
                "cannot store them. Use model.stateless_call, which returns the new non-trainable values, or call "
                "the model outside that function.")
        for variable in self._variables + list(self.state_variables):
            if variable.short_name in updates:
                variable.value = updates[variable.short_name]

    def run_in(self, running, x, mask=None, training=None, arguments=None):
        """Run inside the open forward pass `running` (an `execution.Execution`); models override this."""
        return running.run(self, x, training=training, mask=mask, arguments=arguments)

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
    def sublayers(self):
        """The layers a Keras-style layer holds as attributes (also in lists, tuples and dicts), in assignment
        order; none for scanfit's own layers (a wrapper's inner layer computes inside the wrapper)."""
        return attribute_layers(self) if self.calls_keras_style else []

    @property
    def weight_layers(self):
        """This layer and, for a Keras-style layer, those it holds, each once: the layers whose `own_weights`
        a forward pass takes."""
        found = [self]
        for sublayer in self.sublayers:
            found.extend(layer for layer in sublayer.weight_layers if all(layer is not f for f in found))
        return found

    @property
    def penalizes_activity(self):
        """Whether a call adds activity penalties (they see the whole batch, so evaluation must not pad it)."""
        return self.activity_regularizer is not None

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freeze (or unfreeze) this layer and every layer it holds, as Keras sets them all (a frozen model's
        inner layers report ``trainable=False`` too)."""
        self._trainable = bool(value)
        for layer in self.layers if self.is_model else attribute_layers(self):
            layer.trainable = value

    def trainable_flags(self, outer=True):
        """``{id(layer): bool}`` over `weight_layers`: trainable only when it and every layer around it is."""
        flags = {id(self): outer and self.trainable}
        for sublayer in self.sublayers:
            for key, flag in sublayer.trainable_flags(outer and self.trainable).items():
                flags.setdefault(key, flag)
        return flags

    @property
    def own_weights(self):
        """The variables this layer made itself: trainable ones first, then the others (Keras's order)."""
        return [v for v in self._variables if v.trainable] + [v for v in self._variables if not v.trainable]

    @property
    def weights(self):
        """All variables: those of each of `weight_layers` in turn (its own first, trainable ones first)."""
        return [v for layer in self.weight_layers for v in layer.own_weights]

    variables = weights

    @property
    def trainable_weights(self):
        flags = self.trainable_flags()
        return [v for layer in self.weight_layers if flags[id(layer)] for v in layer.own_weights if v.trainable]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        assign_all(self.weights, weights, f"layer {self.name!r}")

    def weights_in_file(self):
        """``(group, name, variables)`` for each group of the weights in a Keras 3 ``.weights.h5`` file: one
        ``vars`` group for most layers (wrappers and recurrent layers nest their inner layers' groups)."""
        return [("vars", self.name, self.weights)]

    @property
    def losses(self):
        """Keras's ``layer.losses``: the `add_loss` and activity-regularization terms of the layer's last call on
        arrays (summed into one), then the penalty of each regularized trainable weight (its own and its
        layers'; a frozen weight's is left out, as in Keras 3), as scalars; `fit` adds the same penalties to the
        loss."""
        penalties = [v.regularizer(v.current_value()) for v in self.trainable_weights if v.regularizer is not None]
        return list(self.call_losses) + penalties

    @property
    def metrics(self):
        """Keras's ``layer.metrics``: the metrics this layer and the layers it holds keep as attributes, each
        once. A layer's call() may update them (Keras's endpoint-layer pattern); fit and evaluate log them."""
        found = []
        for layer in self.weight_layers:
            found += [metric for metric in attribute_metrics(layer) if all(metric is not f for f in found)]
        return found

    def count_params(self):
        return int(sum(np.prod(v.shape) for v in self.weights))

    # --- configuration --------------------------------------------------
    def get_config(self):
        """The layer's config. A user's layer whose ``__init__`` takes arguments and that defines no
        get_config gets them from its constructor call, when they are plain values (as in Keras 3)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy_config(self.dtype_policy.name)}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        cls = type(self)
        if cls.get_config is Layer.get_config and not cls.__init__.__module__.startswith("scanfit."):
            return constructor_config(self, config)
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
            f"({[v.path for v in variables]}), got {len(values)}."
        )
    arrays = [np.asarray(a) for a in values]
    for variable, array in zip(variables, arrays):
        if tuple(array.shape) != variable.shape:
            raise ValueError(
                f"set_weights for {owner}: {variable.path!r} has shape {variable.shape}, "
                f"the given array has shape {tuple(array.shape)}."
            )
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def _carried_mask(x):
    """The Keras mask an array given to an eager call carries (``_keras_mask``, set on a layer's output), or
    for a list of arrays their masks (None when none carries one)."""
    if isinstance(x, (list, tuple)):
        masks = [getattr(item, "_keras_mask", None) for item in x]
        return None if all(m is None for m in masks) else masks
    return getattr(x, "_keras_mask", None)


def _marking_built(build):
    """`build`, run inside the layer's name scope and marking the layer built for that shape when it returns (as
    Keras does): a layer built by hand is not built again, with a second set of weights, when it is first called."""
    if getattr(build, "marks_built", False):
        return build

    @functools.wraps(build)
    def build_and_mark(self, input_shape, *more_shapes, **named_shapes):  # attention's value_shape, key_shape
        depth = self.__dict__.get("_build_depth", 0)  # a subclass's build may add weights after super().build()
        self._build_depth = depth + 1
        try:
            with self.name_scope():
                build(self, input_shape, *more_shapes, **named_shapes)
        finally:
            self._build_depth = depth
        if not self.built and depth == 0:
            self.built = True
            self.input_shape = _as_shape_or_shapes(input_shape)
    build_and_mark.marks_built = True
    return build_and_mark


def _in_name_scope(build):
    """A model's `build`, run inside the model's name scope (see `Layer.name_scope`), as Keras builds."""
    @functools.wraps(build)
    def build_in_scope(self, *args, **kwargs):
        with self.name_scope():
            return build(self, *args, **kwargs)
    return build_in_scope


def _as_shape_or_shapes(shape):
    """A shape as a tuple, or a list of shapes as a list of tuples (a dict of shapes, nested too, as a dict)."""
    if isinstance(shape, dict):
        return {key: None if value is None else _as_shape_or_shapes(value) for key, value in shape.items()}
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


_TICKS = itertools.count()  # one clock for when layers are made and when attributes are assigned


def attribute_metrics(owner):
    """The metrics `owner` holds as attributes (also inside lists, tuples and dicts), each once, in the order
    their attributes were first set, as Keras tracks them."""
    from scanfit.metrics import Metric  # (here: scanfit.metrics imports scanfit.layers, whose package loads this)
    found = []

    def collect(value):
        if isinstance(value, Metric):
            if all(value is not f for f in found):
                found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)

    for name, value in vars(owner).items():
        if name not in owner.structure_skip:
            collect(value)
    return found


def scratch_metrics(metrics):
    """A binding of `metrics`' variables to their values whose changes are dropped: a call() updating them in
    a trace that finds shapes (or in predict) leaves them unchanged."""
    return execution.binding({id(v): v.value for metric in metrics for v in metric.variables})


def attribute_layers(owner, skip=()):
    """The layers `owner` holds as attributes (also inside lists, tuples and dicts), each once, in the order
    Keras tracks them: when they reached the owner, i.e. when their attribute was assigned or, for a layer
    appended to a list (or put in a dict) that was assigned before the layer was made, when it was made.
    So layers appended to two lists in turn interleave, as in Keras's weights. Attributes named in `skip`
    are not searched."""
    found, seen = [], set()
    assigned = vars(owner).get("_assigned_at", {})

    def collect(value, assigned_at):
        if isinstance(value, Layer):
            if value is not owner and id(value) not in seen:
                seen.add(id(value))
                found.append((max(assigned_at, value.__dict__.get("_made_at", 0)), len(found), value))
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item, assigned_at)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item, assigned_at)

    for name, value in vars(owner).items():
        if name not in skip and name not in owner.structure_skip:
            collect(value, assigned.get(name, 0))
    return [layer for _, _, layer in sorted(found, key=lambda entry: entry[:2])]


def _call_parameters(cls):
    """The parameter names of a class's Keras-style `call`."""
    return inspect.signature(cls.call).parameters


def _variables_in(value):
    """The `Variable` objects `value` is or holds in its lists, tuples and dicts."""
    if isinstance(value, Variable):
        return [value]
    if type(value) in (list, tuple):
        return [v for item in value for v in _variables_in(item)]
    if type(value) is dict:
        return [v for item in value.values() for v in _variables_in(item)]
    return []


def _as_arrays(value, arrays):
    """`value` with each `Variable` in `arrays` ({id: array}) replaced, also inside lists, tuples and dicts."""
    if isinstance(value, Variable):
        return arrays.get(id(value), value)
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [_as_arrays(item, arrays) for item in value]
        return type(value)(items) if any(a is not b for a, b in zip(items, value)) else value
    if isinstance(value, dict) and type(value) is dict:
        items = {key: _as_arrays(item, arrays) for key, item in value.items()}
        return items if any(items[key] is not value[key] for key in value) else value
    return value


def _traced_output_shape(layer, input_shape, arguments=None):
    """`layer`'s output shape found by tracing its forward pass twice, with 2 and then 3 wherever the input
    shape (or an array among the call's `arguments`) has None; a dimension that differs between the two is
    None (so is the batch dimension). Several outputs, nested too, give lists of shapes."""
    leaves, structure = jax.tree.flatten(arguments or {})
    is_array = [hasattr(leaf, "shape") for leaf in leaves]

    def output_shapes(size, masked):
        def spec_of(shape, dtype=jnp.float32):
            return jax.ShapeDtypeStruct(tuple(size if d is None else d for d in shape), dtype)

        shapes = _as_shape_or_shapes(input_shape)
        if isinstance(shapes, dict):  # a dict of inputs, nested too
            spec = jax.tree.map(spec_of, shapes, is_leaf=lambda item: isinstance(item, tuple))
        else:
            specs = [spec_of(s) for s in (shapes if isinstance(shapes, list) else [shapes])]
            spec = specs if isinstance(shapes, list) else specs[0]
        arrays = [spec_of(leaf.shape, leaf.dtype) for leaf, array in zip(leaves, is_array) if array]
        running = execution.Execution({id(layer): layer.weight_values()}, False, None, building=True)

        def forward(x, arrays):
            given = iter(arrays)
            values = [next(given) if array else leaf for leaf, array in zip(leaves, is_array)]
            mask = jnp.ones(x.shape[:-1], bool) if masked else None
            with execution.executing(running), scratch_metrics(layer.metrics):
                return running.run(layer, x, mask=mask, arguments=jax.tree.unflatten(structure, values))

        return jax.eval_shape(forward, spec, arrays)

    def merged(a, b):
        if isinstance(a, (list, tuple)):
            return [merged(x, y) for x, y in zip(a, b)]
        return (None,) + tuple(x if x == y else None for x, y in zip(a.shape[1:], b.shape[1:]))

    try:
        return merged(output_shapes(2, False), output_shapes(3, False))
    except Exception:  # a call that needs its mask (the masking guide's `assert mask is not None`): trace with one
        if not (layer.accepts_mask and isinstance(input_shape, tuple) and len(input_shape) >= 2):
            raise
        return merged(output_shapes(2, True), output_shapes(3, True))


def constructor_config(layer, base):
    """The config of a user's layer or model without get_config (as Keras 3 makes it): the arguments its
    constructor was called with, by name, with the defaults of those not given, and the entries of `base`
    (name, trainable, ...) when the constructor takes ``**kwargs``; a clear NotImplementedError when an
    argument (or a default) is not a plain value."""
    cls = type(layer)
    args, kwargs = layer._constructor_arguments
    parameters = inspect.signature(cls.__init__).parameters
    bound = inspect.signature(cls.__init__).bind(layer, *args, **kwargs)
    bound.apply_defaults()
    takes_keywords = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    config = dict(base) if takes_keywords else {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = parameters[name].kind
        if kind == inspect.Parameter.VAR_KEYWORD:
            config.update({key: item for key, item in value.items() if key not in base})
        elif name in base:
            continue  # the layer's own record of it (its name, ...) wins
        elif kind == inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise NotImplementedError(f"{cls.__name__} takes *{name} in __init__, which a config "
                                          "cannot hold: define get_config() (and from_config) to save it.")
        else:
            config[name] = value
    unsaveable = sorted(name for name, value in config.items() if name not in base and not _plain(value))
    if unsaveable:
        raise NotImplementedError(
            f"{cls.__name__} has arguments {unsaveable} in __init__ that are not plain values (numbers, "
            "strings, None, lists and dicts of them), so it must define get_config() to be saved or cloned."
        )
    return config


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return False
