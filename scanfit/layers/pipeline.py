"""`keras.layers.Pipeline`: layers applied one after another, as a plain layer (a preprocessing or
augmentation pipeline)."""
from scanfit.layers.base import Layer
from scanfit.saving.objects import deserialize_keras_object, serialize_keras_object


class Pipeline(Layer):
    """Applies `layers` in order. Unlike a `Sequential` it is a layer, not a model; called on arrays without
    `training` it runs its layers in training mode (augmenting), as Keras's does; in `predict`, `evaluate` or
    with ``training=False`` they infer."""

    def __init__(self, layers, name=None):
        super().__init__(name=name)
        self._pipeline_layers = list(layers)
        for layer in self._pipeline_layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Pipeline takes a list of layers, got {layer!r} (a {type(layer).__name__}).")

    @property
    def layers(self):
        return self._pipeline_layers

    def call(self, inputs, training=True):
        for layer in self._pipeline_layers:
            inputs = layer(inputs, training=training)
        return inputs

    def get_config(self):
        return {"layers": serialize_keras_object(self._pipeline_layers), "name": self.name}

    @classmethod
    def from_config(cls, config):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"A Pipeline config needs 'layers', a list of layer configs; got {layers!r:.200}.")
        return cls([deserialize_keras_object(layer) for layer in layers], name=config.get("name"))
