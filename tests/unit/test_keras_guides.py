"""Snippets of Keras 3's developer guides (functional API, Sequential, subclassing, training, serialization,
transfer learning, masking) that scanfit got wrong, each run in both libraries."""
import json

import keras
import numpy as np
import pytest

import scanfit

LIBS = pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])


@LIBS
def test_a_sequential_starting_with_a_built_model_is_built(lib):
    base = lib.Sequential([lib.Input((8,)), lib.layers.Dense(4), lib.layers.Dense(4)])
    model = lib.Sequential([base, lib.layers.Dense(3)])
    assert model.built and tuple(model.output_shape) == (None, 3)
    assert len(model.trainable_weights) == 6
    base.trainable = False
    assert len(model.trainable_weights) == 2


@LIBS
def test_freezing_a_model_freezes_the_models_and_layers_inside(lib):
    inner = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2), lib.layers.Dense(2)])
    inputs = lib.Input((3,))
    outer = lib.Model(inputs, lib.layers.Dense(1)(inner(inputs)))
    outer.trainable = False
    assert inner.trainable is False and inner.layers[0].trainable is False
    assert len(inner.trainable_weights) == len(outer.trainable_weights) == 0
    outer.trainable = True
    assert inner.layers[1].trainable is True and len(outer.trainable_weights) == 6


@LIBS
def test_compute_mask_takes_the_inputs_alone(lib):
    mask = lib.layers.Embedding(10, 3, mask_zero=True).compute_mask(np.array([[1, 0, 2]]))
    np.testing.assert_array_equal(np.asarray(mask), [[True, False, True]])


def test_sequential_from_config():
    for config in (keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")], name="s").get_config(),
                   scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(2, name="d")], name="s").get_config()):
        model = scanfit.Sequential.from_config(config)
        assert type(model) is scanfit.Sequential and model.name == "s" and model.built
        assert [layer.name for layer in model.layers] == ["d"] and model.output_shape == (None, 2)


def test_a_registered_function_is_saved_by_its_registered_name(tmp_path):
    configs = []
    for lib in (keras, scanfit):
        @lib.saving.register_keras_serializable(package="guide_package", name="doubled")
        def doubled(x):
            return 2.0 * x
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, activation=doubled)])
        configs.append(model.layers[0].get_config()["activation"])
    assert configs[0] == configs[1] == {"module": "builtins", "class_name": "function",
                                        "config": "guide_package>doubled", "registered_name": "function"}
    model.save(tmp_path / "m.keras")
    loaded = scanfit.models.load_model(tmp_path / "m.keras")  # found without custom_objects, as in Keras
    assert loaded.layers[0].activation is doubled


def test_a_nested_layer_in_a_config_is_serialized():
    for lib in (keras, scanfit):
        class Holder(lib.layers.Layer):
            def __init__(self, inner=None, **kwargs):
                super().__init__(**kwargs)
                self.inner = inner or lib.layers.Dense(2, name="inner")

            def call(self, x):
                return self.inner(x)

            def get_config(self):
                return {**super().get_config(), "inner": self.inner}
        config = lib.layers.serialize(Holder(name="holder"))
        json.dumps(config)
        assert config["config"]["inner"]["class_name"] == "Dense"
        assert config["config"]["inner"]["config"]["name"] == "inner"


@LIBS
def test_a_custom_layer_drawing_with_a_seed_generator_runs_on_arrays(lib):
    class MyDropout(lib.layers.Layer):  # the subclassing guide's
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = lib.random.SeedGenerator(1337)

        def call(self, inputs):
            return lib.random.dropout(inputs, self.rate, seed=self.seed_generator)
    layer = MyDropout(0.5)
    first, second = np.asarray(layer(lib.ops.ones((4, 50)))), np.asarray(layer(lib.ops.ones((4, 50))))
    assert set(np.unique(first)) == {0.0, 2.0} and 0.3 < np.mean(first == 0) < 0.7
    assert not np.array_equal(first, second)


def logistic_endpoint_model(lib):
    """The training guide's LogisticEndpoint: the loss comes from add_loss; compile names no loss."""
    class LogisticEndpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = lib.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            self.add_loss(self.loss_fn(targets, logits, sample_weights))
            return lib.ops.softmax(logits)
    inputs, targets = lib.Input((3,), name="inputs"), lib.Input((10,), name="targets")
    logits = lib.layers.Dense(10, name="dense")(inputs)
    model = lib.Model([inputs, targets], LogisticEndpoint(name="predictions")(targets, logits))
    model.set_weights([np.full((3, 10), 0.1, "float32"), np.zeros(10, "float32")])
    model.compile(optimizer=lib.optimizers.SGD(0.1))
    return model


def test_a_model_compiled_without_a_loss_trains_on_its_add_loss_terms():
    data = {"inputs": np.linspace(0, 1, 60, dtype="float32").reshape(20, 3),
            "targets": (np.arange(200).reshape(20, 10) % 3 == 0).astype("float32")}
    histories = [logistic_endpoint_model(lib).fit(data, epochs=2, batch_size=5, verbose=0, shuffle=False).history
                 for lib in (keras, scanfit)]
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-5)


def test_a_sequential_built_from_data_takes_other_lengths():
    """The masking guide's Sequential([Embedding(mask_zero=True), LSTM]) without an Input, called on
    sequences of several lengths; a Dense after Flatten still refuses another size, with Keras's message."""
    for lib in (keras, scanfit):
        model = lib.Sequential([lib.layers.Embedding(50, 4, mask_zero=True), lib.layers.LSTM(3), lib.layers.Dense(1)])
        assert np.asarray(model(np.ones((2, 5), "int32"))).shape == np.asarray(model(np.ones((2, 7), "int32"))).shape
        flat = lib.Sequential([lib.layers.Flatten(), lib.layers.Dense(2)])
        flat(np.ones((1, 4, 3), "float32"))
        with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 12"):
            flat(np.ones((1, 5, 3), "float32"))


def test_clone_model_with_a_clone_function_as_keras():
    results = []
    for lib in (keras, scanfit):
        seen = []

        def relu_everywhere(layer):
            seen.append(layer.name)
            config = layer.get_config()
            if "activation" in config:
                config["activation"] = "relu"
            return layer.__class__.from_config(config)
        inputs = lib.Input((4,), name="x")
        hidden = lib.layers.Dense(3, activation="tanh", name="h")(inputs)
        model = lib.Model(inputs, lib.layers.Dense(2, name="o")(hidden))
        sequential = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation="tanh", name="sh")])
        clones = [lib.models.clone_model(m, clone_function=relu_everywhere) for m in (model, sequential)]
        assert clones[0].layers[1] is not model.layers[1] and clones[1].built
        results.append((seen, [[layer.get_config().get("activation") for layer in c.layers] for c in clones],
                        [tuple(c.output_shape) for c in clones]))
    assert results[0] == results[1]
    with pytest.raises(NotImplementedError, match="input_tensors"):
        scanfit.models.clone_model(model, input_tensors=[scanfit.Input((4,))])


@LIBS
def test_a_clone_of_a_compiled_model_comes_back_compiled_with_its_settings(lib):
    """Keras 3 compiles the clone of a compiled Sequential or functional model from its compile config: a new
    optimizer with the same settings, the same loss and metrics; the weights are new."""
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    y = x.sum(axis=1, keepdims=True)
    inputs = lib.Input((3,))
    functional = lib.Model(inputs, lib.layers.Dense(1)(inputs))
    sequential = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
    for model in (functional, sequential):
        model.compile(lib.optimizers.SGD(0.05, momentum=0.5), "mae", metrics=["mse"])
        clone = lib.models.clone_model(model)
        assert clone.compiled and clone.optimizer is not model.optimizer
        assert float(clone.optimizer.learning_rate) == pytest.approx(0.05) and clone.optimizer.momentum == 0.5
        clone.set_weights([np.full((3, 1), 0.1, "float32"), np.zeros(1, "float32")])
        history = clone.fit(x, y, batch_size=8, epochs=2, verbose=0)
        # Hand-computed first loss: the prediction 0.1 * sum(x) misses sum(x) by 0.9 * |sum(x)|.
        assert sorted(history.history) == ["loss", "mse"]
        assert history.history["loss"][0] == pytest.approx(0.9 * np.abs(y).mean(), rel=1e-5)
    uncompiled = lib.models.clone_model(lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)]))
    assert not uncompiled.compiled


@LIBS
def test_masks_travel_between_layers_called_one_by_one(lib):
    """The masking guide, eagerly: Embedding(mask_zero=True) and Masking outputs carry ``_keras_mask``, and an
    LSTM called on such an output skips the padding."""
    padded = lib.utils.pad_sequences([[711, 632, 71], [73, 8, 3215, 55, 927]], padding="post")
    embedded = lib.layers.Embedding(5000, 16, mask_zero=True)(padded)
    np.testing.assert_array_equal(np.asarray(embedded._keras_mask), [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    masked = lib.layers.Masking()(np.repeat(padded[..., None], 3, axis=-1).astype("float32"))
    np.testing.assert_array_equal(np.asarray(masked._keras_mask), [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    embedding, lstm = lib.layers.Embedding(50, 4, mask_zero=True), lib.layers.LSTM(3)
    np.testing.assert_allclose(np.asarray(lstm(embedding(np.array([[5, 6, 0, 0]])))),
                               np.asarray(lstm(embedding(np.array([[5, 6]])))), rtol=1e-6)


@LIBS
def test_a_layer_that_needs_its_mask_builds_in_a_functional_model(lib):
    """The masking guide's TemporalSoftmax asserts that its call gets a mask; building the model traces it."""
    class TemporalSoftmax(lib.layers.Layer):
        def call(self, inputs, mask=None):
            assert mask is not None
            kept = lib.ops.expand_dims(lib.ops.cast(mask, "float32"), -1)
            exp = lib.ops.exp(inputs) * kept
            return exp / lib.ops.sum(exp, axis=1, keepdims=True)
    inputs = lib.Input(shape=(None,), dtype="int32")
    hidden = lib.layers.Dense(2)(lib.layers.Embedding(10, 4, mask_zero=True)(inputs))
    model = lib.Model(inputs, TemporalSoftmax()(hidden))
    assert tuple(model.output_shape) == (None, None, 2)
    y = np.asarray(model(np.array([[1, 2, 0], [3, 0, 0]])))
    np.testing.assert_allclose(y.sum(axis=1), np.ones((2, 2)), rtol=1e-5)
    assert y[1, 1:].max() == 0.0


def test_summary_shows_trainable_and_a_layer_range_as_keras():
    """The transfer guide's ``model.summary(show_trainable=True)`` and Keras's `layer_range`; the rest of
    summary's arguments are honoured or refused, never ignored."""
    printed = {}
    for lib in (keras, scanfit):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="frozen"), lib.layers.Dense(2, name="top"),
                                lib.layers.Dense(1, name="out")], name="stack")
        model.layers[0].trainable = False
        lines = []
        model.summary(show_trainable=True, print_fn=lambda line, *args, **kwargs: lines.append(line))
        text = "\n".join(lines)
        rows = [line for line in text.splitlines() if any(name in line for name in ("frozen", "top", "out"))]
        printed[lib] = [("N" if " N " in f"{row} " else "Y") for row in rows]
        lines = []
        model.summary(layer_range=["top", "out"], print_fn=lambda line, *args, **kwargs: lines.append(line))
        assert "frozen" not in "\n".join(lines) and "top" in "\n".join(lines)
    assert printed[scanfit] == printed[keras] == ["N", "Y", "Y"]
    with pytest.raises(NotImplementedError, match="expand_nested"):
        model.summary(expand_nested=True)
    with pytest.raises(TypeError, match="show_dtype"):
        model.summary(show_dtype=True)
    with pytest.raises(ValueError, match="matches no range"):
        model.summary(layer_range=["nothing", "out"])
