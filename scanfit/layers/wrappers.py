"""Layer wrappers: Bidirectional (a recurrent layer both ways), TimeDistributed (a layer per timestep) and the
`Wrapper` base class for your own."""
import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.base import Layer
from scanfit.layers.recurrent import Recurrent, without_implicit_mask
from scanfit.saving.config import deserialize_layer, serialize_layer
from scanfit.saving.objects import deserialize_keras_object, serialize_keras_object

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _not_stateful(layer, wrapper):
    if getattr(layer, "stateful", False):
        raise ValueError(f"{wrapper} cannot wrap the stateful layer {layer.name!r}: scanfit carries the states of "
                         "recurrent layers used directly in a model only. Use stateful=False inside the wrapper.")


def _no_activity_regularizer(layer, wrapper):
    if layer.activity_regularizer is not None:
        raise ValueError(
            f"{wrapper}: the wrapped layer {layer.name!r} has an activity_regularizer, which scanfit does not "
            "apply inside wrappers; set activity_regularizer on the wrapper instead."
        )


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy backwards and merges their outputs.

    The forward layer is a fresh copy of `layer` (named ``forward_<name>``);
    the backward one is `backward_layer` or a copy with ``go_backwards=True``
    (``backward_<name>``). Returned sequences of the backward layer are put
    back in time order before the merge (`merge_mode`: 'concat', 'sum',
    'mul', 'ave', or None for the pair). Weights: forward ones, then backward
    ones, as in Keras; their short names carry a ``forward_``/``backward_`` prefix.
    ``initial_state``: a list of the forward layer's states, then the backward layer's (half each, as in Keras).
    """

    supports_masking = True
    accepts_mask = True
    argument_names = ("initial_state",)

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if not isinstance(layer, Recurrent):
            raise TypeError(f"Bidirectional needs a SimpleRNN, LSTM or GRU layer, got {layer!r}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}")
        if backward_layer is not None and not isinstance(backward_layer, Recurrent):
            raise TypeError(f"Bidirectional backward_layer must be a SimpleRNN, LSTM or GRU layer, got {backward_layer!r}")
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self.forward_layer = _copy(layer, f"forward_{layer.name.removeprefix('forward_')}")
        if backward_layer is None:
            backward_layer = _copy(layer, f"backward_{layer.name.removeprefix('backward_')}", go_backwards=True)
        self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Bidirectional: the forward and backward layers must differ in go_backwards.")
        for attribute in ("return_sequences", "return_state"):
            if getattr(self.forward_layer, attribute) != getattr(self.backward_layer, attribute):
                raise ValueError(f"Bidirectional: the forward and backward layers must have the same {attribute}.")
        for sub in (self.forward_layer, self.backward_layer):
            _no_activity_regularizer(sub, "Bidirectional")
            _not_stateful(sub, "Bidirectional")
            sub.zero_output_for_mask = sub.return_sequences
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state

    def build(self, input_shape):
        for prefix, sub in (("forward", self.forward_layer), ("backward", self.backward_layer)):
            sub.build_for(input_shape)
            for variable in sub.weights:  # (paths as Keras's: "<bidirectional>/forward_<lstm>/lstm_cell/kernel")
                variable.short_name = f"{prefix}_{variable.short_name}"
                self._variables.append(variable)

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = ()
        if self.return_state:
            shape, states = shape[0], tuple(shape[1:])
        if self.merge_mode == "concat":
            shape = tuple(shape[:-1]) + (2 * shape[-1],)
        outputs = (shape, shape) if self.merge_mode is None else (shape,)
        if self.return_state or self.merge_mode is None:
            return outputs + states + states
        return shape

    def compute_mask(self, x, mask=None):
        return mask if self.return_sequences else None

    def weights_in_file(self):
        """Keras 3's ``.weights.h5`` layout: the two layers' groups under forward_layer/ and backward_layer/."""
        return ([("vars", self.name, [])] + _nested_groups("forward_layer", self.forward_layer)
                + _nested_groups("backward_layer", self.backward_layer))

    def call_arguments(self, args, kwargs):
        """As `Layer.call_arguments`; a given ``initial_state`` is split and checked now (see `_split_states`), and
        may cancel the implicit mask (`without_implicit_mask`)."""
        arguments = super().call_arguments(args, kwargs)
        if arguments.get("initial_state") is not None:
            for layer, states in zip((self.forward_layer, self.backward_layer),
                                     self._split_states(arguments["initial_state"])):
                layer.call_arguments((), {"initial_state": states})
        return without_implicit_mask(arguments)

    def _split_states(self, initial_state):
        """The forward layer's initial states and the backward layer's: the two halves of the list."""
        expected = self.forward_layer.state_count + self.backward_layer.state_count
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != expected:
            raise ValueError(f"Bidirectional {self.name!r} takes initial_state as a list of {expected} states: the "
                             f"forward layer's {self.forward_layer.state_count}, then the backward layer's "
                             f"{self.backward_layer.state_count}; got {initial_state!r:.200}.")
        half = self.forward_layer.state_count
        return list(initial_state[:half]), list(initial_state[half:])

    def pure_call(self, weights, x, *, training=False, rng=None, mask=None, initial_state=None):
        forward = {k.removeprefix("forward_"): v for k, v in weights.items() if k.startswith("forward_")}
        backward = {k.removeprefix("backward_"): v for k, v in weights.items() if k.startswith("backward_")}
        keys = (None, None) if rng is None else threefry.split(rng)
        states = (None, None) if initial_state is None else self._split_states(initial_state)
        y, _ = self.forward_layer.pure_call(forward, x, training=training, rng=keys[0], mask=mask,
                                            initial_state=states[0])
        y_rev, _ = self.backward_layer.pure_call(backward, x, training=training, rng=keys[1], mask=mask,
                                                 initial_state=states[1])
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = jnp.flip(y_rev, axis=1)
        if self.merge_mode == "concat":
            outputs = (jnp.concatenate([y, y_rev], axis=-1),)
        elif self.merge_mode == "sum":
            outputs = (y + y_rev,)
        elif self.merge_mode == "ave":
            outputs = ((y + y_rev) / 2,)
        elif self.merge_mode == "mul":
            outputs = (y * y_rev,)
        else:
            outputs = (y, y_rev)
        if self.return_state or self.merge_mode is None:
            return outputs + states, {}
        return outputs[0], {}

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize_layer(self.forward_layer), "backward_layer": serialize_layer(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_layer(config["backward_layer"])
        return cls(**config)


class TimeDistributed(Layer):
    """Applies `layer` to every timestep: inputs (batch, timesteps, ...) become (batch * timesteps, ...).

    The input mask passes through to the output (the wrapped layer does not see it).
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed needs a scanfit layer, got {layer!r}")
        super().__init__(**kwargs)
        _no_activity_regularizer(layer, "TimeDistributed")
        _not_stateful(layer, "TimeDistributed")
        self.layer = layer

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed {self.name!r} needs inputs of at least 3 axes (batch, timesteps, ...), "
                f"got {tuple(input_shape)}."
            )
        self.layer.build_for((None,) + tuple(input_shape[2:]))
        self._variables.extend(self.layer.weights)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return tuple(input_shape[:2]) + tuple(inner[1:])

    def weights_in_file(self):
        """Keras 3's ``.weights.h5`` layout: the wrapped layer's groups under layer/."""
        return [("vars", self.name, [])] + _nested_groups("layer", self.layer)

    def pure_call(self, weights, x, *, training=False, rng=None):
        batch, steps = x.shape[:2]
        y, updates = self.layer.pure_call(weights, x.reshape((batch * steps,) + x.shape[2:]), training=training, rng=rng)
        return y.reshape((batch, steps) + y.shape[1:]), updates

    def get_config(self):
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"])
        return cls(**config)


def _nested_groups(prefix, layer):
    return [(f"{prefix}/{group}", name, variables) for group, name, variables in layer.weights_in_file()]


def _copy(layer, name, **changes):
    """A fresh, unbuilt layer of the same class and config as `layer`; Keras builds the copy of a built (or
    loaded built) layer at once, so its name scope is placed here (see `Layer.settle_name_scope`)."""
    config = {**layer.get_config(), "name": name, **changes}
    copied = type(layer).from_config(config)
    if layer.parent_path is not None:
        copied.settle_name_scope()
    return copied


class Wrapper(Layer):
    """Keras's base class for a layer that wraps another (`self.layer`): subclass it and write `call`
    (``return self.layer(x) * 2``). The wrapped layer is built with the wrapper, trains and saves with it;
    its config is saved inside the wrapper's (``"layer"``), as Keras writes it."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Wrapper needs a Keras layer to wrap, got {layer!r} (a {type(layer).__name__}).")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "layer": serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
