"""`keras.Model`: functional models (a graph of layer calls) and subclassed models (a `call` method).

Both kinds, and `Sequential`, share one pure forward pass, `apply(values,
x, training=, rng=)`, over `weight_layers` (the model's own layers and those
of nested models, each once). The training engine sees nothing else.

    inputs = keras.Input(shape=(28, 28))
    hidden = keras.layers.Dense(100, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))

    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(100, activation="relu")
            self.out = keras.layers.Dense(10, activation="softmax")

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))
"""
import inspect
import json

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import config, metrics as metrics_module, optimizers
from scanfit import seeding as scanfit_random
from scanfit.engine import custom_steps, programs, training
from scanfit.engine.outputs import CompiledOutputs, CompileMetrics
from scanfit.engine.staging import StagingCache
from scanfit.layers import execution, symbolic
from scanfit.layers.base import (
    Layer, assign_all, attribute_layers, attribute_metrics, constructor_config, scratch_metrics,
)
from scanfit.models.functional_config import functional_config, functional_from_config
from scanfit.models import stateless
from scanfit.models.graph import Graph
from scanfit.naming import snake_case, unique_name
from scanfit.saving import api as saving_api
from scanfit.saving import config as saving_config
from scanfit.saving.config import serialize_model
from scanfit.summary import print_summary

NOT_BUILT = (
    "This model has not yet been built. Give the first layer an input shape "
    "(input_shape=... or keras.Input(shape=...)), call model.build(input_shape), "
    "or call the model on a batch of data first."
)


class Model(Layer):
    """A model: ``keras.Model(inputs, outputs, name=...)``, or a subclass that defines ``call``.

    Inputs and outputs may be a tensor, a list, a tuple or a dict of tensors;
    `predict` and calls return outputs in the same structure.
    """

    is_model = True
    loss = None  # compile()'s loss (None before, as in Keras)

    def __init__(self, *args, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if args:
            if len(args) > 2 or inputs is not None or (len(args) == 2 and outputs is not None):
                raise TypeError("Model takes inputs and outputs, as keras.Model(inputs, outputs, name=...).")
            inputs, outputs = (args + (outputs,))[:2] if len(args) == 1 else args
        functional = inputs is not None or outputs is not None
        default = "functional" if functional else snake_case(type(self).__name__)
        super().__init__(name=name or unique_name(default), trainable=trainable, **kwargs)
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.compiled = False
        self.compile_settings = None  # what compile() recorded (a CompileSettings)
        self.trainer = None  # the compiled training state and programs, made by the first fit/evaluate
        self.predict_function = None  # the compiled prediction program (make_predict_function)
        self.staging = StagingCache()  # the data of the last fit/evaluate/predict call, checked and placed
        self._graph = None
        if functional:
            if inputs is None or outputs is None:
                raise ValueError("A functional model needs both inputs= and outputs=.")
            self._graph = Graph(inputs, outputs)
            self._input_structure = inputs
            self._output_structure = outputs
            self.input_shape = _single(self._graph.inputs, lambda t: t.shape)
            self.output_shape = _single(self._graph.outputs, lambda t: t.shape)
            self.built = True

    # --- structure -------------------------------------------------------------
    @property
    def is_functional(self):
        return self._graph is not None

    @property
    def layers(self):
        """The model's layers: the graph's (input layers included, as Keras 3; not its `keras.ops`
        operations, which Keras 3 does not list either) or a subclass's attributes."""
        return [layer for layer in self.graph_layers if not getattr(layer, "is_operation", False)]

    @property
    def graph_layers(self):
        """The graph's layers and operations, in Keras's order (what its config lists), or a subclass's layers."""
        if self._graph is not None:
            return list(self._graph.layers)
        return attribute_layers(self)

    @property
    def weight_layers(self):
        """Every layer that computes, once each: nested models are replaced by their own weight layers, and a
        Keras-style layer is followed by those it holds."""
        found, seen = [], set()
        for layer in self.layers:
            for leaf in layer.weight_layers:
                if id(leaf) not in seen and not getattr(leaf, "is_input_layer", False):
                    seen.add(id(leaf))
                    found.append(leaf)
        return found

    def nested_models(self):
        """The models among this model's layers and, in turn, theirs (each once)."""
        found = []
        for layer in self.layers:
            if isinstance(layer, Model):
                found.extend(m for m in (layer, *layer.nested_models()) if all(m is not f for f in found))
        return found

    def draws_at_inference(self):
        """Whether a forward pass at inference may draw random numbers, so that predict and evaluate give it
        a key: a subclass's call, a Keras-style layer or a graph node may run a layer with training=True
        (Monte Carlo dropout, as Hands-on ML's MCDropout does)."""
        if self.is_subclassed and type(self).call is not Model.call:
            return True
        if any(node.training for node in self.graph_nodes):
            return True
        return any(layer.draws_at_inference() if isinstance(layer, Model) else layer.calls_keras_style
                   for layer in self.layers)

    def updates_state_at_inference(self):
        """Whether a forward pass at inference (evaluate, predict) changes the model's state, which those must
        then carry from batch to batch and store: a stateful recurrent layer's states, or a non-trainable
        variable that a Keras-style layer's call() assigns (a counter of calls). Only a model that has such a
        layer with non-trainable variables is traced (abstractly, once for its layers and input shape) to see
        whether its pass at inference assigns any; one taking inputs of open sizes is taken to."""
        layers = self.weight_layers
        if any(layer.state_variables for layer in layers):
            return True
        if not any(layer.calls_keras_style and any(not v.trainable for v in layer.own_weights) for layer in layers):
            return False
        key = (tuple(id(layer) for layer in layers), repr(self.input_shape))
        known = self.__dict__.get("_inference_updates")
        if known is None or known[0] != key:
            self._inference_updates = (key, self._assigns_at_inference())
        return self._inference_updates[1]

    def _assigns_at_inference(self):
        """Whether the forward pass at inference, traced on a batch of 2 samples, gives any state update."""
        shapes = self.input_shape
        if any(d is None for shape in jax.tree.leaves(shapes, is_leaf=_is_shape) for d in shape[1:]):
            return True
        spec = jax.tree.map(lambda s: jax.ShapeDtypeStruct((2,) + tuple(s[1:]), jnp.float32), shapes, is_leaf=_is_shape)
        spec = tuple(spec) if isinstance(spec, list) else spec
        key = np.zeros(2, np.uint32)  # (a stand-in: nothing is computed)
        with scratch_metrics(self.metrics):
            updates = jax.eval_shape(lambda x: self.apply(self.weight_values(), x, training=False, rng=key)[1], spec)
        return any(updates)

    def trainable_flags(self, outer=True):
        """``{id(layer): bool}`` for `weight_layers`: trainable only when it and every layer around it is."""
        flags = {}
        for layer in self.layers:
            for key, flag in layer.trainable_flags(outer and self.trainable).items():
                flags.setdefault(key, flag)
        return flags

    def trainable_mask(self):
        """Per weight layer, ``{short_name: bool}``: which weights the optimizer updates (flags frozen at compile)."""
        flags = self.compile_settings.trainable
        return [
            {v.short_name: bool(flags.get(id(layer), layer.trainable) and v.trainable) for v in layer.carried_variables}
            for layer in self.weight_layers
        ]

    def get_layer(self, name=None, index=None):
        """A layer by name or by index (exactly one of the two, as in Keras)."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError("get_layer needs exactly one of name= or index=.")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Model {self.name!r} has {len(layers)} layers; index {index} is out of range.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r} in model {self.name!r}. Layers: {[l.name for l in layers]}")

    def layer_graph(self):
        """``(layer, [inbound layers])`` pairs in `layers` order (a chain for Sequential and subclassed models)."""
        if self._graph is not None:
            return self._graph.connections()
        layers = self.layers
        return [(layer, layers[i - 1:i]) for i, layer in enumerate(layers)]

    @property
    def graph_nodes(self):
        """The functional graph's nodes (layer calls), inputs first; empty for other models."""
        return list(self._graph.nodes) if self._graph is not None else []

    @property
    def input_structure(self):
        """The inputs as given to ``Model(inputs, ...)``: a tensor, a list or a dict of tensors."""
        return self._input_structure

    @property
    def output_structure(self):
        """The outputs as given to ``Model(..., outputs)``: a tensor, a list or a dict of tensors."""
        return self._output_structure

    def layer_inputs(self, layer):
        """The symbolic tensors `layer` takes in this functional model (empty for an input layer)."""
        return self._graph.inputs_of(layer) if self._graph is not None else []

    # --- inputs and outputs ---------------------------------------------------
    def _symbolic(self, what):
        if self._graph is None:
            raise AttributeError(
                f"Model {self.name!r} has no symbolic {what}: it is a subclassed model (or a Sequential model "
                "without an input shape). Build it with keras.Input, or give its first layer input_shape=."
            )
        return self._graph.inputs if what == "inputs" else self._graph.outputs

    @property
    def inputs(self):
        return list(self._symbolic("inputs"))

    @property
    def outputs(self):
        return list(self._symbolic("outputs"))

    @property
    def input(self):
        return _as_given(_single(self.inputs, lambda t: t), self.__dict__.get("_input_structure"))

    @property
    def output(self):
        return _as_given(_single(self.outputs, lambda t: t), self.__dict__.get("_output_structure"))

    @property
    def is_subclassed(self):
        """Whether the model computes with a subclass's own `call` (not a functional graph or a Sequential chain)."""
        return self._graph is None

    @property
    def structure_skip(self):
        """The attributes that never hold the model's own layers: its training machinery's."""
        return _NOT_STRUCTURE | Layer.structure_skip

    @property
    def input_names(self):
        """The inputs' names: their layers' for a functional model, ``input_1, ...`` for a subclass of several."""
        if self._graph is None and isinstance(self.input_shape, list):
            return [f"input_{index}" for index in range(1, len(self.input_shape) + 1)]
        if self._graph is None and isinstance(self.input_shape, dict):
            return sorted(self.input_shape)  # a subclass built on a dict: its keys, in Keras's (sorted) order
        return [t.history.layer.name for t in self.inputs]

    @property
    def output_names(self):
        """Keras 3's names of the outputs: the layers that make them (unique, in order); a subclass's are
        ``output_1, output_2, ...`` (tf.keras 2's names: Keras 3 names a subclass's output losses by loss,
        and two outputs with the same loss then share one key)."""
        if self._graph is None:
            if not self.built:
                return []
            count = len(self.output_shape) if isinstance(self.output_shape, list) else 1
            return [f"output_{index}" for index in range(1, count + 1)]
        return output_names(self._graph.outputs)

    @property
    def output_keys(self):
        """The names that `compile`'s dicts and `fit`'s target dicts give the outputs, in their order: a model
        whose outputs are a dict is addressed by its keys, as in Keras 3 (``{"priority": ..., "department":
        ...}``); any other by `output_names`."""
        structure = getattr(self, "_output_structure", None)
        if isinstance(structure, dict) and all(isinstance(v, symbolic.KerasTensor) for v in structure.values()):
            return sorted(structure)  # the order the outputs are flattened in
        return self.output_names

    # --- building -------------------------------------------------------------
    def build(self, input_shape=None):
        """Build a subclassed model for `input_shape` by tracing one call (nothing is computed)."""
        if self.built:
            return
        if input_shape is None:
            raise ValueError(NOT_BUILT)
        shapes = _as_batch_shapes(input_shape)
        if isinstance(shapes, (list, tuple)) and not _is_shape(shapes):
            shapes = list(shapes)  # several inputs: a list of shapes, as the engine and functional models give them
        spec = jax.tree.map(lambda s: jax.ShapeDtypeStruct((1,) + tuple(s[1:]), jnp.float32), shapes, is_leaf=_is_shape)
        if isinstance(spec, list):
            spec = tuple(spec)  # call() sees several inputs as a tuple, as fit, evaluate and predict pass them
        building = execution.Execution({}, False, None, building=True)

        def trace(x):
            with execution.executing(building), scratch_metrics(self.metrics):
                return self.run_in(building, x)

        out = jax.eval_shape(trace, spec)
        self.input_shape = shapes
        if isinstance(out, (list, tuple)):
            self.output_shape = [(None,) + tuple(a.shape[1:]) for a in out]
        else:
            self.output_shape = jax.tree.map(lambda a: (None,) + tuple(a.shape[1:]), out)
        self.built = True

    def build_completely(self, input_shape):
        """`build` for `input_shape`, then, where a subclass's own build() made its layers without calling
        ``super().build()``, the trace that builds them (Keras builds them on the model's first call)."""
        self.build(input_shape)
        if not self.built:
            Model.build(self, input_shape)

    def build_for(self, input_shape, arguments=None):
        if arguments:
            raise TypeError(f"Model {self.name!r} takes no call arguments besides its inputs and training=.")
        if not self.built:
            self.build_completely(input_shape)
        if self._graph is not None and _knows_more(input_shape, self.input_shape):
            return self.output_shape_for(input_shape)
        return self.output_shape

    def output_shape_for(self, input_shape):
        """The output shape(s) for inputs of `input_shape`, which may know sizes the model's inputs leave open (a
        VGG16 base built for any image size, called on 180 x 180 images): found by tracing the forward pass
        with 2 and then 3 for each unknown size; a size that differs between the two is None."""
        def traced(size):
            spec = jax.tree.map(lambda s: jax.ShapeDtypeStruct(tuple(size if d is None else d for d in s), jnp.float32),
                                input_shape, is_leaf=_is_shape)
            spec = tuple(spec) if isinstance(spec, list) else spec
            with scratch_metrics(self.metrics):
                return jax.tree.leaves(jax.eval_shape(lambda x: self.apply(self.weight_values(), x)[0], spec))

        shapes = [(None,) + tuple(a if a == b else None for a, b in zip(two.shape[1:], three.shape[1:]))
                  for two, three in zip(traced(2), traced(3))]
        return shapes[0] if len(shapes) == 1 else shapes

    def ensure_built(self, data_shape):
        """Build from the shapes of real data when the model does not know its input shape yet."""
        if not self.built:
            self.build_completely(jax.tree.map(lambda s: (None,) + tuple(s[1:]), data_shape, is_leaf=_is_shape))
            return
        if isinstance(data_shape, dict) and (self._graph is not None or isinstance(self.input_shape, dict)):
            data_shape = self.flatten_inputs(data_shape)  # by input name, in the order of `inputs`
        expected = self.input_shape
        if isinstance(expected, dict):
            expected = [expected[name] for name in self.input_names]
        shapes = [data_shape] if _is_shape(data_shape) else list(data_shape)
        wants = expected if isinstance(expected, list) else [expected]
        if len(shapes) != len(wants):
            raise ValueError(f"Model {self.name!r} takes {len(wants)} inputs, but the data has {len(shapes)}.")
        for index, (shape, want) in enumerate(zip(shapes, wants)):
            sample, want = tuple(shape[1:]), tuple(want[1:])
            if len(want) != len(sample) or any(w is not None and w != s for w, s in zip(want, sample)):
                where = f" input {index} ({self.input_names[index]!r})" if len(wants) > 1 else ""
                raise ValueError(
                    f"Model {self.name!r}{where} expects samples of shape {want} (input shape {(None,) + want}), "
                    f"but the data has samples of shape {sample} (array shape {tuple(shape)})."
                )

    # --- the pure forward pass --------------------------------------------------
    def apply(self, values, x, *, training=False, rng=None):
        """Pure forward pass: `values` holds one ``{short_name: array}`` dict per layer of `weight_layers`.

        `x` is an array, or a tuple of arrays in the order of `inputs`.
        ``training=None`` is a call without ``training=``: a layer called
        with its own ``training=`` in the graph then keeps it (Keras 3).
        Returns ``(y, state_updates, extra_loss, masks)``: `y` an array, or
        a tuple in the order of `outputs`; one dict of new non-trainable
        values per weight layer; the activity penalties and `add_loss` terms;
        each output's mask (None for most), which the loss and metrics use.
        """
        y, masks, running = self.run_pass(values, x, training=training, rng=rng)
        return y, [running.updates.get(id(layer), {}) for layer in self.weight_layers], running.extra_loss, masks

    def run_pass(self, values, x, *, training=False, rng=None):
        """`apply`'s outputs and masks, and the finished `execution.Execution` (its updates and loss terms)."""
        layers = self.weight_layers
        running = execution.Execution({id(layer): v for layer, v in zip(layers, values)}, training, rng)
        with execution.executing(running):
            y, masks = self.run_with_masks(running, x)
        flat = symbolic.flatten(y)
        y = flat[0] if len(flat) == 1 else tuple(flat)
        return y, tuple(masks) if masks is not None else (None,) * len(flat), running

    def run_in(self, running, x, mask=None, training=None):
        """The model's outputs for `x` inside the open forward pass `running` (also when nested in another
        model); `training`, when given, is the mode of every layer inside."""
        return self.run_with_masks(running, x, mask, training)[0]

    def run_with_masks(self, running, x, mask=None, training=None):
        """`run_in`'s outputs and the masks they carry, in the order of `outputs` (None for a subclass)."""
        with running.mode(training):
            if self._graph is not None:
                outputs, masks = self._graph.run(running, self.flatten_inputs(x))
                return _restructure(self._output_structure, outputs), masks
            kwargs = {}
            parameters = inspect.signature(self.call).parameters
            if "training" in parameters:
                kwargs["training"] = running.training if running.training_given else None
            if isinstance(self.input_shape, dict) and not isinstance(x, dict):  # the engine's arrays, in the order
                x = dict(zip(self.input_names, x if isinstance(x, (list, tuple)) else [x]))  # of `input_names`
            return self.call(x, **kwargs), None

    def call(self, inputs, training=None, mask=None):
        """The forward computation; subclasses override this with layer calls on `inputs`."""
        if self._graph is None:
            raise NotImplementedError(
                f"Model {self.name!r} is a subclass of keras.Model without a call() method: define "
                "call(self, inputs, training=None), or build a functional model with keras.Model(inputs, outputs)."
            )
        return self(inputs, training=training)

    def flatten_inputs(self, x):
        """`x` as a list in the order of the graph's inputs (from an array, a list/tuple, or a dict by name)."""
        if self._graph is None and not isinstance(self.__dict__.get("input_shape"), dict):
            if isinstance(x, dict):
                raise ValueError(f"Model {self.name!r} was not built on a dict of inputs: give its inputs as an "
                                 "array, or several as a list or tuple (a subclass's call() gets a tuple).")
            return list(x) if isinstance(x, (list, tuple)) else [x]
        count = len(self.input_names)
        if isinstance(x, dict):
            names = self.input_names
            unknown = sorted(set(x) - set(names))
            missing = [name for name in names if name not in x]
            if unknown or missing:
                raise ValueError(f"Model {self.name!r} takes inputs named {names}; got keys {sorted(x)}"
                                 + (f" (unknown: {unknown})" if unknown else "") + (f" (missing: {missing})" if missing else ""))
            return [x[name] for name in names]
        if isinstance(x, (list, tuple)):
            if len(x) != count:
                raise ValueError(f"Model {self.name!r} takes {count} input(s), got a {type(x).__name__} of {len(x)}.")
            return list(x)
        if count != 1:
            raise ValueError(f"Model {self.name!r} takes {count} inputs {self.input_names}; pass a list or a dict of arrays.")
        return [x]

    def weight_values(self):
        return [layer.weight_values() for layer in self.weight_layers]

    def __call__(self, x, training=None, **kwargs):
        """Call the model: symbolically (a node in another model), inside a forward pass, or on arrays.

        On arrays ``training=True`` applies Dropout with fresh randomness on
        every call (Monte Carlo dropout) and BatchNormalization with batch
        statistics, updating its moving statistics as Keras does.
        """
        if kwargs.pop("mask", None) is not None or kwargs:
            raise TypeError(f"Model {self.name!r} got unexpected call argument(s) {sorted(kwargs) or ['mask']}.")
        if symbolic.is_symbolic(x):
            return super().__call__(x, training=training)
        running = execution.current()
        if running is not None:
            if not self.built:  # first called inside another model's call(): built there, as in Keras
                with jax.ensure_compile_time_eval():  # real weights, even while the outer pass is traced
                    self.ensure_built(jax.tree.map(lambda a: tuple(a.shape), x))
            return self.run_in(running, x, training=training)
        x = jax.tree.map(_as_input_array, x)
        self.ensure_built(jax.tree.map(lambda a: tuple(a.shape), x))
        flat = x
        if self._graph is not None:
            parts = self.flatten_inputs(x)
            flat = parts[0] if len(parts) == 1 else tuple(parts)
        drawing = training is None and any(layer.default_training for layer in self.weight_layers)
        rng = scanfit_random.next_key() if training or drawing or self.draws_at_inference() else None
        y, _, running = self.run_pass(self.weight_values(), flat, training=training, rng=rng)
        for layer in self.weight_layers:  # at inference, only from layers called with training=True
            layer.assign_state(running.updates.get(id(layer), {}))
            layer.call_losses = running.losses_within(layer.weight_layers)
        for model in self.nested_models():  # an inner model's `losses` are its layers' (Hands-On ML's encoders)
            model.call_losses = running.losses_within(model.weight_layers)
        self.call_losses = [running.extra_loss] if running.loss_count else []  # (also on traced inputs: jax.grad)
        return self.structure_outputs(y)

    def structure_outputs(self, y):
        """Flat outputs (an array, or a tuple in the order of `outputs`) in the structure the model was built with;
        the one array of ``outputs=[x]`` comes back alone, as Keras 3 unpacks a one-element list or tuple."""
        if self._graph is None or isinstance(self._output_structure, symbolic.KerasTensor):
            return y
        if isinstance(self._output_structure, (list, tuple)) and len(self._output_structure) == 1:
            return y
        return _restructure(self._output_structure, list(y) if isinstance(y, tuple) else [y])

    # --- weights (`weights` and the trainable split come from Layer, over `weight_layers`) -----------------
    def set_weights(self, weights):
        assign_all(self.weights, weights, f"model {self.name!r}")

    def count_params(self):
        if not self.built:
            raise ValueError(NOT_BUILT)
        return super().count_params()

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print the tf.keras-style table of layers, output shapes and parameter counts (`show_trainable`: a
        Trainable column; `layer_range`: two names or patterns bounding the rows). `expand_nested` is refused."""
        if expand_nested:
            raise NotImplementedError("summary(expand_nested=True) is not supported yet: call summary() on the "
                                      "nested model itself.")
        if not self.built:
            raise ValueError(NOT_BUILT)
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      show_trainable=show_trainable, layer_range=layer_range)

    # --- training API --------------------------------------------------------
    @property
    def jit_compile(self):
        """Always True: scanfit compiles every step with XLA. Setting False is refused, as in `compile`."""
        return True

    @jit_compile.setter
    def jit_compile(self, value):
        training.check_compile_options(False, 1, value, True)

    @property
    def run_eagerly(self):
        """Always False: scanfit never runs fit, evaluate or predict eagerly. Setting True is refused."""
        return False

    @run_eagerly.setter
    def run_eagerly(self, value):
        training.check_compile_options(value, 1, True, True)

    def get_compile_config(self):
        """Keras's saving hook: the compile settings a ``.keras`` file keeps (None before `compile`)."""
        return saving_config.compile_config(self) if self.compiled else None

    def compile_from_config(self, config):
        """Keras's saving hook: `compile` with the settings of a `get_compile_config` result."""
        saving_config.compile_from_config(self, config)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configure training: optimizer, loss(es) and metrics (names, functions or objects; per output too).

        `steps_per_execution` (any positive int) and `jit_compile` (True or
        "auto") are accepted for Keras code and change nothing: every epoch
        already runs as one compiled program. ``run_eagerly=True`` and
        ``jit_compile=False`` are refused, since scanfit always compiles.
        Under the 'mixed_float16' policy the optimizer is wrapped in a
        `LossScaleOptimizer` unless ``auto_scale_loss=False``, as in Keras 3.
        """
        training.check_compile_options(run_eagerly, steps_per_execution, jit_compile, auto_scale_loss)
        training.refuse_step_overrides(self, Model)
        self.optimizer, self.compile_settings = training.compile_model(self, optimizer, loss, metrics,
                                                                       weighted_metrics, loss_weights)
        if loss is not None:  # as Keras, which leaves a `self.loss` the model set itself (DLWP's DiffusionModel)
            self.loss = loss
        self.compiled = True
        self.trainer = None
        self.step_programs = {}  # custom_steps' compiled steps, by "train" / "test"
        self.compiled_loss_tracker = metrics_module.Mean(name="loss")
        self.compile_metrics = None if metrics is None and weighted_metrics is None else CompileMetrics(self)
        self.output_loss_trackers = []  # with several losses, one Mean per output's loss (track_output_losses)
        self.output_losses = []  # each output's loss in the last compute_loss (before its weight)
        if auto_scale_loss and self.dtype_policy.name == "mixed_float16" and not isinstance(
                self.optimizer, optimizers.LossScaleOptimizer):
            self.optimizer = optimizers.LossScaleOptimizer(self.optimizer, name="loss_scale_optimizer")

    # --- Keras 3's stateless API and its steps (see scanfit.models.stateless) ------------------------------
    def stateless_call(self, trainable_variables, non_trainable_variables, *args, return_losses=False, **kwargs):
        """The model's outputs for the inputs in `args`, computed with the given values of its variables (in
        the order of `trainable_variables` and `non_trainable_variables`), and the new non-trainable values;
        with ``return_losses=True`` also the penalties and add_loss terms. Nothing stored changes."""
        outputs, new_values, losses, masks = stateless.stateless_call(self, trainable_variables,
                                                                      non_trainable_variables, args, dict(kwargs))
        self.stateless_losses = losses  # compute_loss adds them, as Keras adds the call's losses
        self.stateless_masks = masks  # {id(output array): (array, its Keras mask)}: see `output_mask`
        return (outputs, new_values, losses) if return_losses else (outputs, new_values)

    def output_mask(self, output):
        """The Keras mask that `output`, an output array of the last `stateless_call`, carries (an
        ``Embedding(mask_zero=True)``'s), or None: the loss and metrics of the default steps take it, as
        Keras's take the mask an output tensor carries."""
        entry = getattr(self, "stateless_masks", {}).get(id(output))
        return entry[1] if entry is not None and entry[0] is output else None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss compile() was given on (y, y_pred), plus the weight penalties and add_loss terms of the
        last `stateless_call`: what the default train_step differentiates. Override it to change the loss."""
        terms = list(getattr(self, "stateless_losses", []))
        loss, self.output_losses = stateless.compiled_loss(self, y, y_pred, sample_weight)
        if loss is None and not terms:
            raise ValueError(f"Model {self.name!r} has no loss to compute: pass loss= to compile(), or compute "
                             "the loss in your own train_step.")
        return sum(terms, jnp.zeros((), jnp.float32) if loss is None else loss)

    def stateless_compute_loss(self, trainable_variables, non_trainable_variables, metrics_variables, x=None,
                               y=None, y_pred=None, sample_weight=None, training=True):
        """Keras 3's ``stateless_compute_loss``: `compute_loss` (an override of it too) for the given values,
        ``(loss, (trainable_variables, non_trainable_variables, metrics_variables))``. The weight penalties are
        those of the last `stateless_call` (made with these trainable values in Keras's guide); layers that an
        override calls compute with the given values, and metrics it updates come back updated."""
        return stateless.loss_in_pass(self, trainable_variables, non_trainable_variables, metrics_variables, x, y,
                                      y_pred, sample_weight, training)

    def train_step(self, state, data):
        """Keras 3's training step on one batch (JAX form): ``(logs, new state)``; see `scanfit.engine.custom_steps`."""
        return stateless.default_train_step(self, state, data)

    def test_step(self, state, data):
        """Keras 3's evaluation step on one batch (JAX form): ``(logs, new state)``."""
        return stateless.default_test_step(self, state, data)

    def track_output_losses(self, y_shapes):
        """With several losses, make the ``<output>_loss`` trackers that Keras 3's ``model.metrics`` ends with
        (the default steps give them each output's loss before its weight)."""
        if not self.output_loss_trackers:
            outputs = CompiledOutputs(self, y_shapes, loss_required=False, with_metrics=False)
            if len(outputs.losses) > 1:
                self.output_loss_trackers = [metrics_module.Mean(name=name)
                                             for name in outputs.log_names()[:len(outputs.losses)]]

    def has_own_steps(self):
        """Whether the model runs Keras's train_step and test_step (`custom_steps`): its class overrides
        train_step, test_step or compute_loss, or it was compiled without a loss (its `add_loss` terms are the
        loss, and targets are optional, as in Keras)."""
        overridden = any(getattr(type(self), name) is not getattr(Model, name)
                         for name in ("train_step", "test_step", "compute_loss"))
        settings = self.compile_settings
        return overridden or settings is not None and settings.loss is None

    @property
    def metrics(self):
        """Keras 3's ``model.metrics``: once compiled, the loss tracker (``loss``), compile()'s metrics as
        one ``compile_metrics`` metric (when it was given any) and, with several losses, each output's loss
        tracker (once a custom-step fit made them); then the metrics the model holds as attributes, in the
        order they were set, and those its layers hold (`held_metrics`)."""
        found = []
        if getattr(self, "compiled", False):
            found.append(self.compiled_loss_tracker)
            if self.compile_metrics is not None:
                found.append(self.compile_metrics)
            found += self.output_loss_trackers
        return found + self.held_metrics()

    def held_metrics(self):
        """The metrics the model (not compile()'s) and its layers hold as attributes, each once: the model's
        own, then each layer's, as Keras 3 lists them. A layer's call() may update them (Keras's endpoint-layer
        pattern; Hands-On ML's ReconstructingRegressor); fit and evaluate carry their state and log them."""
        own = [self.__dict__.get("compiled_loss_tracker"), self.__dict__.get("compile_metrics"),
               *self.__dict__.get("output_loss_trackers", ())]
        found = [metric for metric in attribute_metrics(self) if all(metric is not o for o in own)]
        for layer in self.weight_layers:
            found += [metric for metric in attribute_metrics(layer) if all(metric is not f for f in found)]
        return found

    def get_metrics_result(self):
        """Keras's ``get_metrics_result``: ``{name: value}`` of every metric in `metrics` (compile_metrics by
        each of its metrics), the last fit's validation, evaluate or train_on_batch results after those ran."""
        results = {}
        for metric in self.metrics:
            value = metric.result()
            results.update(value if isinstance(value, dict) else {metric.name: value})
        return {name: float(value) if np.ndim(value) == 0 else np.asarray(value) for name, value in results.items()}

    def reset_metrics(self):
        """Reset every metric of `metrics` (Keras does so at the start of each epoch)."""
        for metric in self.metrics:
            metric.reset_state()

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            allow_nonfinite=False):
        """Train for `epochs` epochs; returns a `History`. Each epoch runs as one compiled program.

        Inputs holding NaN or inf are refused unless `allow_nonfinite=True`.
        """
        run = custom_steps.fit if self.has_own_steps() else training.fit
        epochs, steps_per_epoch = config.capped_epochs(epochs), config.capped_steps(steps_per_epoch)
        if validation_data is not None or isinstance(validation_split, float) and validation_split > 0:
            validation_steps = config.capped_steps(validation_steps)
        return run(
            self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
            validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
            class_weight=class_weight, sample_weight=sample_weight, initial_epoch=initial_epoch,
            validation_batch_size=validation_batch_size, validation_freq=validation_freq,
            allow_nonfinite=allow_nonfinite, steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
        )

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, allow_nonfinite=False):
        """Loss and metrics on (x, y): a scalar, a list, or a dict with return_dict=True."""
        run = custom_steps.evaluate if self.has_own_steps() else training.evaluate
        return run(self, x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                   callbacks=callbacks, return_dict=return_dict, allow_nonfinite=allow_nonfinite,
                   steps=config.capped_steps(steps))

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False, reset_metrics=True):
        """One training step on all of (x, y) as one batch; that batch's loss and metrics, as `evaluate` returns
        them. tf.keras 2's ``reset_metrics=True`` is accepted (Keras 3 always resets)."""
        return training.train_on_batch(
            self, x, y, sample_weight=sample_weight, class_weight=class_weight, return_dict=return_dict,
            reset_metrics=reset_metrics,
            fit_function=custom_steps.fit if self.has_own_steps() else training.fit)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False, reset_metrics=True):
        """Loss and metrics of all of (x, y) as one batch, as `evaluate` returns them."""
        return self.evaluate(x, y, batch_size=training.batch_samples(x, "test_on_batch", reset_metrics),
                             sample_weight=sample_weight, verbose=0, return_dict=return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, allow_nonfinite=False):
        """Model outputs for `x` as NumPy (a list or dict of arrays for several outputs)."""
        return training.predict(self, x, batch_size=batch_size, verbose=verbose, callbacks=callbacks,
                                allow_nonfinite=allow_nonfinite, steps=config.capped_steps(steps))

    def reset_states(self):
        """Set the states of every stateful layer (``stateful=True``) back to zeros (tf.keras 2's method; Keras 3
        resets each layer with ``layer.reset_state()``)."""
        for layer in self.weight_layers:
            if layer.state_variables:
                layer.reset_state()

    def make_predict_function(self):
        """The compiled program `predict` runs (made on first use, kept until the layers change), as Keras names it."""
        if self.predict_function is None:
            held = self.held_metrics()

            def leaving_metrics(values, x, **kwargs):  # a metric a layer's call() updates stays as it is, as
                with scratch_metrics(held):           # Keras 3's predict on JAX leaves it
                    return self.apply(values, x, **kwargs)

            apply = leaving_metrics if held else self.apply
            self.predict_function = programs.make_predict_program(apply, training.computes_per_sample(self),
                                                                  training.carries_layer_state(self))
        return self.predict_function

    def predict_on_batch(self, x):
        return jax.tree.map(np.asarray, self(x))

    @property
    def metrics_names(self):
        return training.metrics_names(self)

    # --- files ----------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None):
        """Save the whole model as ``.keras`` (Keras 3 zip) or ``.h5``/``.hdf5`` (legacy HDF5), atomically."""
        saving_api.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, save_format=save_format)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Keras's export to a serving format (TF SavedModel, ONNX, OpenVINO), which scanfit cannot write."""
        raise NotImplementedError(
            f"model.export(format={format!r}) is not supported: scanfit has no TensorFlow, ONNX or OpenVINO "
            "exporter. Save the model with model.save('name.keras'), load it in Keras "
            "(keras.saving.load_model) and export it there.")

    def save_weights(self, filepath, overwrite=True):
        """Save the weights as ``.weights.h5`` (Keras 3, with optimizer state) or ``.h5`` (tf.keras 2 layout)."""
        saving_api.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False):
        """Load weights from a ``.weights.h5``, ``.h5``/``.hdf5`` or ``.keras`` file (counts and shapes checked)."""
        saving_api.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    # --- configuration ------------------------------------------------------
    def get_config(self):
        """Keras 3's functional config. A subclassed model without get_config of its own gets the plain
        values its constructor was called with, as in Keras 3 (a clear error when there are others)."""
        if self._graph is None:
            base = {"name": self.name, "trainable": self.trainable}
            return constructor_config(self, base) if type(self).get_config is Model.get_config else base
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from `get_config()` output: a functional model of this class from a functional config (a
        subclass of a functional model keeps its own steps and methods, as in Keras 3), else ``cls(**config)``."""
        if "layers" in config and "input_layers" in config:
            return functional_from_config(cls, config, custom_objects)
        return cls(**config)

    @staticmethod
    def from_functional_config(config, custom_objects=None, layers=None):
        """A functional `Model` rebuilt from its config (fresh weights); `layers`, when given, are its layers
        already rebuilt, in the config's order. A config that is not a functional one is a clear ValueError."""
        return functional_from_config(Model, config, custom_objects, layers)

    def to_json(self, **kwargs):
        """The model's architecture as Keras's JSON (``keras.models.model_from_json`` reads it back)."""
        return json.dumps(serialize_model(self), **kwargs)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def output_names(tensors):
    """Names of output tensors as Keras 3 gives them: the making layer's name, made unique with a suffix."""
    names = []
    for tensor in tensors:
        base = name = tensor.history.layer.name
        count = 1
        while name in names:
            name, count = f"{base}_{count}", count + 1
        names.append(name)
    return names


_NOT_STRUCTURE = {"optimizer", "history", "inbound_nodes", "compile_settings", "trainer", "predict_function", "staging",
                  "_graph",
                  "_input_structure", "_output_structure", "loss"}


def _is_shape(value):
    return isinstance(value, tuple) and all(d is None or isinstance(d, (int, np.integer)) for d in value)


def _knows_more(shapes, known):
    """Whether `shapes` (one input's shape or a list of them) give a size that `known`, the model's own input
    shapes, leave open (None)."""
    given = shapes if isinstance(shapes, list) else [shapes]
    own = known if isinstance(known, list) else [known]
    return any(a is None and b is not None for g, k in zip(given, own) for a, b in zip(k[1:], g[1:]))


def _as_batch_shapes(shapes):
    return jax.tree.map(lambda s: (None,) + tuple(s[1:]), shapes, is_leaf=_is_shape)


def _as_input_array(value):
    """Concrete input data as a float32 JAX array (what the compiled programs take too)."""
    array = value if isinstance(value, jax.Array) else np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"A model input must hold numbers, got an array of dtype {array.dtype}.")
    return jnp.asarray(array, dtype=jnp.float32)


def _single(items, get):
    items = list(items)
    return get(items[0]) if len(items) == 1 else [get(item) for item in items]


def _as_given(tensors, structure):
    """Several tensors as a tuple where the model was given a tuple of them (as Keras's `input` and `output`)."""
    return tuple(tensors) if isinstance(structure, tuple) and isinstance(tensors, list) else tensors


def _restructure(structure, flat):
    """`flat` values arranged like `structure` (a tensor, a list/tuple, or a dict of tensors)."""
    if isinstance(structure, symbolic.KerasTensor):
        return flat[0]
    if isinstance(structure, dict):  # `flat` is in the order dicts flatten in (sorted keys), as the outputs are
        by_key = dict(zip(sorted(structure), flat))
        return {key: by_key[key] for key in structure}
    return tuple(flat) if isinstance(structure, tuple) else list(flat)  # a tuple of outputs gives a tuple, as Keras
