"""The running forward pass: which weight values each layer uses, and what the layers return besides outputs.

A model's pure forward pass opens an `Execution` holding one ``{short_name:
array}`` dict per layer. While it is open, calling a layer (from a graph, a
Sequential chain, or a subclassed model's ``call``) runs the layer's
`pure_call` (or its Keras-style `call`) on those values instead of the
layer's variables, takes a random key of its own (one per layer call, in call
order), and records the layer's state updates (also the values its `call`
assigns to non-trainable variables), activity penalty and `add_loss` terms
here. Inside a Keras-style layer's or a subclassed model's ``call``, masks
travel with the arrays as in Keras 3: a layer called on an
array that carries a mask gets it, and its output carries the mask the layer
computes. Nothing global is changed: the execution is a stack
entry for the length of one trace. A `binding` likewise lends a metric's
variables the values of a compiled step's state.
"""
import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import threefry
from scanfit.layers.symbolic import KerasTensor

_stack = []


class Execution:
    """Values in, updates and penalties out, for one forward pass."""

    def __init__(self, values_by_layer, training, rng, building=False):
        self.values_by_layer = values_by_layer  # id(layer) -> {short_name: array}
        self.building = building  # build each layer on its first call (a subclassed model's first pass)
        self.training = bool(training)
        self.training_given = training is not None  # if not, a graph node's own training= applies (Keras 3)
        self.rng = np.zeros(2, np.uint32) if building and rng is None else rng  # building traces shapes only
        self.calls = 0
        self.updates = {}  # id(layer) -> {short_name: new value}
        self.extra_loss = jnp.zeros((), jnp.float32)  # activity penalties and add_loss() terms
        self.loss_count = 0  # how many terms extra_loss sums
        self.layer_losses = {}  # id(layer) -> the sum of the terms that layer added (its `losses` after the call)
        self.carried_masks = {}  # id(array) -> (array, mask): the Keras mask an array carries in this pass
        self.calling = []  # the layers whose Keras-style call() runs now, innermost last

    @contextlib.contextmanager
    def mode(self, training):
        """While open, layers run with `training` (None keeps the pass's own): a model called with training=."""
        saved = self.training, self.training_given
        if training is not None:
            self.training, self.training_given = bool(training), True
        try:
            yield
        finally:
            self.training, self.training_given = saved

    def mode_of(self, layer, training=None):
        """Whether `layer` runs in training mode: its call's explicit `training`, else the pass's when given,
        else the layer's own default (as in Keras 3: an augmentation layer called on arrays augments, a Dropout
        does not)."""
        if training is not None:
            return bool(training)
        return self.training if self.training_given else layer.default_training

    def next_rng(self):
        """A key for the next layer call (None at inference without a key; a `MissingKey` passed on as is)."""
        index, self.calls = self.calls, self.calls + 1
        if self.rng is None or isinstance(self.rng, MissingKey):
            return self.rng
        return threefry.fold_in(self.rng, index)

    def values_for(self, layer, x, arguments=None):
        """`layer`'s values in this pass. A layer without weights made inside a subclass's call() (such as
        ``keras.layers.concatenate([a, b])``) needs none, as in Keras; one with weights must be the model's."""
        if id(layer) in self.values_by_layer:
            return self.values_by_layer[id(layer)]
        if self.building or not layer.built:
            with jax.ensure_compile_time_eval():  # real weights, even while the first pass is traced
                batchless = jax.tree.map(lambda a: _batchless(a) if hasattr(a, "shape") else a, arguments)
                layer.build_for(jax.tree.map(lambda a: (None,) + tuple(a.shape[1:]), x), batchless)
        if self.building or not layer.own_weights:
            self.values_by_layer[id(layer)] = layer.weight_values()
            return self.values_by_layer[id(layer)]
        raise ValueError(
            f"Layer {layer.name!r} was called inside a model's forward pass but is not one of the model's "
            "layers. Assign it as an attribute of the model (self.name = layer) in __init__, or use it in "
            "the model's graph."
        )

    def mask_of(self, value):
        """The mask `value` carries in this pass (a list of them for a list of arrays), or None."""
        if isinstance(value, (list, tuple)):
            masks = [self.mask_of(item) for item in value]
            return None if all(m is None for m in masks) else masks
        entry = self.carried_masks.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else None

    def carry_mask(self, value, mask):
        """Let `value` (an array, or a list of them with a list of masks) carry `mask` in this pass."""
        if isinstance(value, (list, tuple)) and isinstance(mask, list):
            for item, item_mask in zip(value, mask):
                self.carry_mask(item, item_mask)
        elif mask is not None and hasattr(value, "shape"):
            self.carried_masks[id(value)] = (value, mask)

    def run_call(self, layer, x, training=None, arguments=None):
        """`layer` called from Python code inside this pass (a Keras-style `call`): it gets the masks its
        arrays carry (``value``'s as ``value_mask`` where the layer takes that, as Keras does), and its
        output carries the mask it computes."""
        mask = self.mask_of(x)
        arguments = arguments or {}
        carried = {name: self.mask_of(value) for name, value in arguments.items()}
        arguments = with_argument_masks(layer, arguments, carried)
        y = self.run(layer, x, training, mask, arguments)
        if not isinstance(y, (list, tuple)):
            self.carry_mask(y, layer.compute_mask_of_call(x, mask, arguments))
        return y

    def run(self, layer, x, training=None, mask=None, arguments=None):
        """`layer` on `x` (and the call's further `arguments`, by name) with this pass's values (its
        Keras-style `call`, or its `pure_call`); records its updates and activity penalty. An explicit
        ``mask`` among the arguments is the mask."""
        training = self.mode_of(layer, training)
        if arguments and "mask" in arguments:
            arguments = dict(arguments)
            mask = arguments.pop("mask")
        if layer.calls_keras_style:
            x, values = layer.in_compute_dtype(x, self.values_for(layer, x, arguments))
            self.carry_mask(x, mask)
            self.calling.append(layer)
            try:
                y = layer.call_on(values, x, training, mask, arguments)
            finally:
                self.calling.pop()
        else:
            y = self.run_pure(layer, x, training, mask, arguments)
        if layer.activity_regularizer is not None:
            for output in jax.tree.leaves(y):
                self.add_loss(layer.activity_regularizer(output) / output.shape[0], layer)
        return y

    def add_loss(self, loss, layer=None):
        """Add `loss` (summed to a scalar, in float32) to this pass's total loss (and to `layer`'s terms)."""
        term = jnp.sum(jnp.asarray(loss, jnp.float32))
        self.extra_loss = self.extra_loss + term
        self.loss_count += 1
        if layer is not None:
            self.layer_losses[id(layer)] = self.layer_losses.get(id(layer), 0.0) + term

    def losses_within(self, layers):
        """The terms that `layers` added in this pass, summed, as a list of that one scalar (empty for none):
        the `losses` of a layer holding them after an eager call, as Keras tracks each layer's."""
        terms = [self.layer_losses[id(layer)] for layer in layers if id(layer) in self.layer_losses]
        return [sum(terms[1:], terms[0])] if terms else []

    def value_of(self, layer, name):
        """The value of `layer`'s variable `name` in this pass (None when the pass does not hold it), and
        whether `layer`'s own call() is the one running now."""
        values = self.values_by_layer.get(id(layer))
        if values is None or name not in values:
            return None, False
        return values[name], bool(self.calling) and self.calling[-1] is layer

    def assign(self, layer, name, value):
        """Give `layer`'s variable `name` the new `value` in this pass (a variable assigned inside a layer's
        call()): later reads in the pass see it, and the pass's `updates` carry it out, as a layer's state
        updates."""
        self.updates.setdefault(id(layer), {})[name] = value
        self.values_by_layer[id(layer)] = {**self.values_by_layer[id(layer)], name: value}  # (the dict given stays)

    def run_pure(self, layer, x, training=None, mask=None, arguments=None):
        """`layer`'s `pure_call` on `x` (and `arguments`, by name) with this pass's values and a key of its
        own; records its updates."""
        training = self.mode_of(layer, training)
        kwargs = {"mask": mask} if getattr(layer, "accepts_mask", False) else {}
        x, values = layer.in_compute_dtype(x, self.values_for(layer, x, arguments))
        y, updates = layer.pure_call(values, x, training=training, rng=self.next_rng(), **kwargs, **(arguments or {}))
        if updates:
            self.updates.setdefault(id(layer), {}).update(updates)
            values = self.values_by_layer[id(layer)]
            self.values_by_layer[id(layer)] = {**values, **updates}  # a later call of a shared layer sees them
        return y


def with_argument_masks(layer, arguments, masks):
    """`arguments` with each argument's mask (`masks`: {argument name: mask or None}) given to the layer's
    argument named after it (``value`` -> ``value_mask``) where the layer takes that and the call left it
    empty, as Keras does."""
    arguments = dict(arguments)
    for name, mask in masks.items():
        mask_name = f"{name}_mask"
        if mask is not None and mask_name in layer.argument_names and arguments.get(mask_name) is None:
            arguments[mask_name] = mask
    return arguments


def _batchless(array):
    """A stand-in for `array` whose batch (first) dimension is unknown, as a layer is built for its input."""
    return KerasTensor((None,) + tuple(array.shape[1:]), jnp.dtype(array.dtype).name)


_bindings = []


@contextlib.contextmanager
def binding(values):
    """While open, the variables whose ids `values` holds ({id(variable): array}) read those arrays, and their
    `assign` replaces them there instead of changing the variables: a metric's state inside a compiled step."""
    _bindings.append(values)
    try:
        yield values
    finally:
        _bindings.pop()


def bound_values(variable):
    """The innermost open `binding` that holds `variable`, or None."""
    for values in reversed(_bindings):
        if id(variable) in values:
            return values
    return None


def current():
    """The innermost open execution, or None."""
    return _stack[-1] if _stack else None


@contextlib.contextmanager
def executing(execution):
    _stack.append(execution)
    try:
        yield execution
    finally:
        _stack.pop()


class MissingKey:
    """The key of a forward pass that has none to give: a layer that draws random numbers with it raises
    `message` (a layer that draws nothing never looks at its key)."""

    def __init__(self, message):
        self.message = message

    def __jax_array__(self):
        raise ValueError(self.message)

    def __array__(self, dtype=None, copy=None):
        raise ValueError(self.message)


_step_keys = []


@contextlib.contextmanager
def step_keys(key):
    """While open, `next_step_key` derives keys from `key`: the random key of one step of a training loop
    that calls `Model.stateless_call` (a custom ``train_step`` run by `fit`)."""
    _step_keys.append([key, 0])
    try:
        yield
    finally:
        _step_keys.pop()


def next_step_key():
    """A new key for a forward pass in the open `step_keys` (one per call, in call order), or None."""
    if not _step_keys:
        return None
    entry = _step_keys[-1]
    index, entry[1] = entry[1], entry[1] + 1
    return threefry.fold_in(entry[0], index)
