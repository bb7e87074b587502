"""The Sequential model: a stack of layers with Keras's training API."""
import jax
import jax.numpy as jnp
import numpy as np

from scanfit.engine import training
from scanfit.layers.base import Layer, assign_all, unique_name
from scanfit.layers.core import InputLayer, KerasTensor
from scanfit.summary import print_summary


class Sequential(Layer):
    """A linear stack of layers: ``keras.Sequential([...], name=...)``.

    The seeds' forms all work: a list, a single layer, ``add()`` one by one,
    and ``keras.Input``/``input_shape=`` to fix the input shape up front.
    Without an input shape the model is built on first use.
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._layers = []
        self._input_batch_shape = None
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.compiled = False
        self._trainer = None
        self._predict_program = None
        if layers is not None:
            if isinstance(layers, (Layer, KerasTensor)):
                layers = [layers]
            self._extend(layers)

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
            if isinstance(layer, KerasTensor):
                layer = layer.input_layer
            if isinstance(layer, InputLayer):
                if self._layers or new or declared is not None:
                    raise ValueError("An Input/InputLayer can only be the first element of a Sequential model.")
                declared = layer.batch_shape
                continue
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Only scanfit layers can be added to a Sequential model, got {layer!r} "
                    f"(a {type(layer).__name__})."
                )
            if layer is self or id(layer) in seen:
                raise ValueError(f"Layer {layer.name!r} is already in model {self.name!r}.")
            if layer.name in names:
                raise ValueError(
                    f"All layers in a model must have unique names; {layer.name!r} is already used in {self.name!r}."
                )
            if not self._layers and not new and declared is None and layer._input_shape_arg is not None:
                declared = layer._input_shape_arg
            names.add(layer.name)
            seen.add(id(layer))
            new.append(layer)
        grows = self.built and bool(self._layers)
        previous_output = self.output_shape
        self._input_batch_shape = declared
        self._layers.extend(new)
        if new:
            self._invalidate()
        if grows and new:
            shape = previous_output
            for layer in new:
                shape = layer.build_for(shape)
            self.output_shape = shape
            self.built = True
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
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        """A layer by name or by index (as in Keras, exactly one of the two)."""
        if (name is None) == (index is None):
            raise ValueError("get_layer needs exactly one of name= or index=.")
        if index is not None:
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(f"Model {self.name!r} has {len(self._layers)} layers; index {index} is out of range.")
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r} in model {self.name!r}. Layers: {[l.name for l in self._layers]}")

    def _invalidate(self):
        self.built = False
        self.output_shape = None
        self._trainer = None
        self._predict_program = None

    # --- building -------------------------------------------------------
    def _build_layers(self):
        if self._input_batch_shape is not None and self._layers:
            self.build(self._input_batch_shape)

    def build(self, input_shape=None):
        """Build every layer for batch-first `input_shape`."""
        if input_shape is None:
            input_shape = self._input_batch_shape
        if input_shape is None:
            raise ValueError(_NOT_BUILT)
        shape = tuple(input_shape)
        self.input_shape = shape
        for layer in self._layers:
            shape = layer.build_for(shape)
        self.output_shape = shape
        self.built = True

    def build_for(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return self.output_shape

    def _ensure_built(self, data_shape):
        """Build from the shape of real data when no input shape was declared."""
        expected = self.input_shape if self.built else self._input_batch_shape
        sample_shape = tuple(data_shape[1:])
        if expected is not None:
            want = tuple(expected[1:])
            if len(want) != len(sample_shape) or any(w is not None and w != s for w, s in zip(want, sample_shape)):
                raise ValueError(
                    f"Model {self.name!r} expects samples of shape {want} (input shape {tuple(expected)}), "
                    f"but the data has samples of shape {sample_shape} (array shape {tuple(data_shape)})."
                )
        if not self.built:
            if not self._layers:
                raise ValueError(f"Model {self.name!r} has no layers: add layers before using it.")
            self.build((None,) + sample_shape)

    # --- the pure forward pass -------------------------------------------
    def apply(self, values, x, *, training=False, rng=None):
        """Pure forward pass over all layers.

        `values` is a list with one ``{short_name: array}`` dict per layer.
        Returns ``(y, state_updates, activity_loss)``.
        """
        updates = []
        activity_loss = jnp.zeros((), jnp.float32)
        mask = None
        for index, (layer, weights) in enumerate(zip(self._layers, values)):
            layer_rng = None if rng is None else jax.random.fold_in(rng, index)
            masking = {"mask": mask} if layer.accepts_mask else {}
            next_mask = layer.compute_mask(x, mask)
            x, layer_updates = layer.call(weights, x, training=training, rng=layer_rng, **masking)
            mask = next_mask
            updates.append(layer_updates)
            if layer.activity_regularizer is not None:
                activity_loss = activity_loss + layer.activity_regularizer(x) / x.shape[0]
        return x, updates, activity_loss

    def call(self, weights, x, *, training=False, rng=None):
        raise NotImplementedError("Nested models are not supported yet: add the layers of the inner model instead.")

    def weight_values(self):
        return [layer.weight_values() for layer in self._layers]

    def __call__(self, x, training=False):
        """Run the model eagerly on concrete data and return a JAX array."""
        x = training_input(x)
        self._ensure_built(x.shape)
        y, _, _ = self.apply(self.weight_values(), x, training=training, rng=None)
        return y

    # --- weights -----------------------------------------------------------
    @property
    def weights(self):
        return [v for layer in self._layers for v in layer.weights]

    variables = weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [v for layer in self._layers for v in layer.trainable_weights]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [v for layer in self._layers for v in layer.non_trainable_weights]

    non_trainable_variables = non_trainable_weights

    def set_weights(self, weights):
        assign_all(self.weights, weights, f"model {self.name!r}")

    def count_params(self):
        if not self.built:
            raise ValueError(_NOT_BUILT)
        return sum(layer.count_params() for layer in self._layers)

    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        """Print the tf.keras-style table of layers, output shapes and parameter counts."""
        if not self.built:
            raise ValueError(_NOT_BUILT)
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    # --- training API --------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configure training: optimizer, loss and metrics (names, functions or objects)."""
        training.compile_model(self, optimizer, loss, metrics, weighted_metrics)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            allow_nonfinite=False):
        """Train for `epochs` epochs; returns a `History`. Each epoch runs as one compiled program.

        Inputs holding NaN or inf are refused unless `allow_nonfinite=True`.
        """
        return training.fit(
            self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
            validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
            class_weight=class_weight, sample_weight=sample_weight, initial_epoch=initial_epoch,
            validation_batch_size=validation_batch_size, validation_freq=validation_freq,
            allow_nonfinite=allow_nonfinite,
        )

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, allow_nonfinite=False):
        """Loss and metrics on (x, y): a scalar, a list, or a dict with return_dict=True."""
        return training.evaluate(self, x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                                 callbacks=callbacks, return_dict=return_dict, allow_nonfinite=allow_nonfinite)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, allow_nonfinite=False):
        """Model outputs for `x` as a NumPy array."""
        return training.predict(self, x, batch_size=batch_size, verbose=verbose, callbacks=callbacks,
                                allow_nonfinite=allow_nonfinite)

    def predict_on_batch(self, x):
        return np.asarray(self(x))

    @property
    def metrics_names(self):
        return training.metrics_names(self)

    # --- files ----------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None):
        """Save the whole model as ``.keras`` (Keras 3 zip) or ``.h5``/``.hdf5`` (legacy HDF5), atomically."""
        from scanfit.saving.api import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, save_format=save_format)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights as ``.weights.h5`` (Keras 3, with optimizer state) or ``.h5`` (tf.keras 2 layout)."""
        from scanfit.saving.api import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False):
        """Load weights from a ``.weights.h5``, ``.h5``/``.hdf5`` or ``.keras`` file (counts and shapes checked)."""
        from scanfit.saving.api import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    # --- configuration ------------------------------------------------------
    def get_config(self):
        from scanfit.saving.config import serialize_layer

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


def training_input(x):
    """Concrete input data as a float32 JAX array."""
    array = np.asarray(x)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"x must hold numbers, got an array of dtype {array.dtype}.")
    return jnp.asarray(array, dtype=jnp.float32)


_NOT_BUILT = (
    "This model has not yet been built. Give the first layer an input shape "
    "(input_shape=... or keras.Input(shape=...)), call model.build(input_shape), "
    "or call the model on a batch of data first."
)
