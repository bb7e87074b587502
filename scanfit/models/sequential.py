"""The Sequential model: a `Model` whose graph is a chain of layers."""
from scanfit.layers import symbolic
from scanfit.layers.base import Layer
from scanfit.layers.core import Input, InputLayer
from scanfit.models.model import NOT_BUILT, Model
from scanfit.naming import unique_name
from scanfit.saving.config import model_from_config, serialize_layer


class Sequential(Model):
    """A linear stack of layers: ``keras.Sequential([...], name=...)``.

    The seeds' forms all work: a list, a single layer, ``add()`` one by one,
    and ``keras.Input``/``input_shape=`` to fix the input shape up front.
    Without an input shape the model is built on first use.
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._layers = []
        self._input_batch_shape = None
        self._input_tensor = None  # the keras.Input given as the first element, if any
        self._chain = None  # (input tensor, output tensor) of the symbolic chain, once built
        if layers is not None:
            if isinstance(layers, (Layer, symbolic.KerasTensor)):
                layers = [layers]
            self._extend(layers)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A Sequential model (fresh weights) from `get_config()` output, Keras's or scanfit's."""
        return model_from_config({"class_name": "Sequential", "config": config}, custom_objects)

    # --- structure ----------------------------------------------------
    def add(self, layer):
        """Append a layer (or set the input shape with `keras.Input`/`InputLayer`)."""
        self._extend([layer])

    def _extend(self, layers):
        """Append `layers` (an Input/InputLayer may come first), checking them all, then build once.

        Building costs one shape inference per layer, so the model is built
        after the whole list is in place: building it after each layer would
        make a list (or a loaded config) of n layers take n**2/2 inferences.
        A model that is already built (for a declared input shape or for the
        data it first saw) stays built for the same input shape, as in Keras,
        and only the new layers are built, starting from its output shape, so
        ``add()`` in a loop is linear too.
        """
        declared = self._input_batch_shape
        names = {existing.name for existing in self._layers}
        seen = {id(existing) for existing in self._layers}
        new = []
        for layer in layers:
            if isinstance(layer, symbolic.KerasTensor):
                if layer.input_layer is None:
                    raise TypeError(f"A Sequential model takes layers and keras.Input tensors, got {layer!r}, "
                                    "the output of a layer call: build a keras.Model(inputs, outputs) instead.")
                layer = layer.input_layer
            if isinstance(layer, InputLayer):
                if self._layers or new or declared is not None:
                    raise ValueError("An Input/InputLayer can only be the first element of a Sequential model.")
                declared = layer.batch_shape
                self._input_tensor = layer.output
                continue
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Only scanfit layers can be added to a Sequential model, got {layer!r} "
                    f"(a {type(layer).__name__})."
                )
            if layer is self:
                raise ValueError(f"Model {self.name!r} cannot be a layer of itself.")
            if layer.name in names and id(layer) not in seen:  # the same layer may come again (shared weights)
                raise ValueError(
                    f"All layers in a model must have unique names; {layer.name!r} is already used in {self.name!r}."
                )
            if not self._layers and not new and declared is None:
                declared = layer._input_shape_arg
                if declared is None and layer.is_model and layer.built and _is_one_shape(layer.input_shape):
                    declared = tuple(layer.input_shape)  # a built model first (a pretrained base): its input
            names.add(layer.name)
            seen.add(id(layer))
            new.append(layer)
        grows = self.built and bool(self._layers)
        previous_output, previous_chain = self.output_shape, self._chain
        self._input_batch_shape = declared
        self._layers.extend(new)
        if new:
            self._invalidate()
        if grows and new:
            with self.name_scope():  # (the new layers' weights under the model's name, as `build` makes them)
                self.output_shape, output = _build_chain(new, previous_output, previous_chain[1])
            self.built = True
            self._chain = (previous_chain[0], output)
        elif not self.built:
            self._build_layers()

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise IndexError(f"Model {self.name!r} has no layers to pop.")
        layer = self._layers.pop()
        self._invalidate()
        return layer

    @property
    def layers(self):
        """The layers in order (without the input layer, as Keras 3)."""
        return list(self._layers)

    def _invalidate(self):
        self.built = False
        self.output_shape = None
        self._chain = None
        self.trainer = None
        self.predict_function = None

    def _symbolic(self, what):
        if self._chain is None:
            raise AttributeError(
                f"Sequential model {self.name!r} has no symbolic {what} yet: it is not built. Give it an input "
                "shape (keras.Input(...) first, or input_shape= on the first layer), or call it on data first."
            )
        return [self._chain[0] if what == "inputs" else self._chain[1]]

    @property
    def is_subclassed(self):
        return False

    @property
    def input_names(self):
        return [self._symbolic("inputs")[0].history.layer.name]

    # --- building -------------------------------------------------------
    def _build_layers(self):
        if self._input_batch_shape is not None and self._layers:
            self.build(self._input_batch_shape)

    def build(self, input_shape=None):
        """Build every layer for batch-first `input_shape`."""
        if input_shape is None:
            input_shape = self._input_batch_shape
        if input_shape is None:
            raise ValueError(NOT_BUILT)
        self.input_shape = tuple(input_shape)
        tensor = self._input_tensor
        if tensor is None or tuple(tensor.shape[1:]) != tuple(self.input_shape[1:]):
            tensor = Input(batch_shape=self.input_shape)
        self.output_shape, output = _build_chain(self._layers, self.input_shape, tensor)
        self.built = True
        self._chain = (tensor, output)

    def ensure_built(self, data_shape):
        """Build from the shape of real data when no input shape was declared."""
        expected = self.input_shape if self.built else self._input_batch_shape
        sample_shape = tuple(data_shape[1:])
        if expected is not None:
            want = tuple(expected[1:])
            if len(want) != len(sample_shape) or any(w is not None and w != s for w, s in zip(want, sample_shape)):
                if self._input_batch_shape is None and len(want) == len(sample_shape):
                    self.build((None,) + sample_shape)  # built from data, as Keras's: other lengths of the same rank
                    return
                raise ValueError(
                    f"Model {self.name!r} expects samples of shape {want} (input shape {tuple(expected)}), "
                    f"but the data has samples of shape {sample_shape} (array shape {tuple(data_shape)})."
                )
        if not self.built:
            if not self._layers:
                raise ValueError(f"Model {self.name!r} has no layers: add layers before using it.")
            self.build((None,) + sample_shape)

    # --- the pure forward pass -------------------------------------------
    def run_with_masks(self, running, x, mask=None, training=None):
        """The chain: each layer on the previous one's output (and its mask) in the open forward pass
        (`training`, when given, is the mode of every layer); the output and its mask."""
        with running.mode(training):
            for layer in self._layers:
                y = layer.run_in(running, x, mask=mask)
                mask = layer.compute_mask(x, mask)
                x = y
        return x, [mask]

    # --- configuration ------------------------------------------------------
    def get_config(self):
        layers = []
        if self._input_batch_shape is not None:
            layers.append(serialize_layer(InputLayer(batch_shape=self._input_batch_shape, name=f"input_layer_{self.name}")))
        layers.extend(serialize_layer(layer) for layer in self._layers)
        config = {"name": self.name, "trainable": self.trainable, "dtype": None, "layers": layers}
        if self.built:
            config["build_input_shape"] = list(self.input_shape)
        return config

    def __repr__(self):
        return f"<Sequential name={self.name!r} layers={len(self._layers)} built={self.built}>"


def _is_one_shape(shape):
    return isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape)


def _build_chain(layers, shape, tensor):
    """Build `layers` one after another from `shape`, recording each call on the symbolic `tensor`.

    Returns the output shape and the chain's symbolic output. Each layer's
    shape is inferred once (building it), not again for the graph.
    """
    for layer in layers:
        shape = layer.build_for(shape)
        tensor = symbolic.record_call(layer, tensor, shape, layer.compute_dtype)
    return shape, tensor
