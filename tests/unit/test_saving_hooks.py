"""Keras 3's hooks for customizing saving (the customizing-saving guide's examples, ported from tf.* to keras.ops),
run in both libraries, and files moving between them."""
import os

import keras
import numpy as np
import pytest

import scanfit

LIBS = {"keras": keras, "scanfit": scanfit}
RNG = np.random.default_rng(3)


def _classes(lib):
    """The guide's classes, written for `lib` (registered under a package of its own per library)."""
    package = f"hooks_test_{lib.__name__}"

    @lib.saving.register_keras_serializable(package=package)
    class LayerWithCustomVariables(lib.layers.Dense):
        """Stores an extra variable under its own key; loads the kernel and bias by index. (The guide loops over
        `self.weights`, which in Keras 3 also holds the extra variable, so its own code fails there.)"""

        def __init__(self, units, **kwargs):
            super().__init__(units, **kwargs)
            self.stored_variables = lib.Variable(np.linspace(0.5, 1.5, units), name="special_arr", dtype="float32")

        def save_own_variables(self, store):
            super().save_own_variables(store)
            store["variables"] = self.stored_variables.numpy()

        def load_own_variables(self, store):
            self.stored_variables.assign(store["variables"])
            self.kernel.assign(store["0"])
            self.bias.assign(store["1"])

        def call(self, inputs):
            return super().call(inputs) * self.stored_variables

    @lib.saving.register_keras_serializable(package=package)
    class LayerWithCustomAssets(lib.layers.Dense):
        def __init__(self, vocab=None, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.vocab = vocab

        def save_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocabulary.txt"), "w") as f:
                f.write(self.vocab)

        def load_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocabulary.txt")) as f:
                text = f.read()
            self.vocab = text.replace("<unk>", "little")

    @lib.saving.register_keras_serializable(package=package)
    class LayerWithCustomBuild(lib.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return dict(units=self.units, **super().get_config())

        def build(self, input_shape, layer_init):
            super().build(input_shape)
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init, trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer=layer_init, trainable=True)
            self.layer_init = layer_init

        def get_build_config(self):
            build_config = super().get_build_config()
            build_config.update({"layer_init": self.layer_init})
            return build_config

        def build_from_config(self, config):
            self.build(config["input_shape"], config["layer_init"])

    @lib.saving.register_keras_serializable(package=package)
    def small_square_sum_loss(y_true, y_pred):
        return lib.ops.sum(lib.ops.square(y_pred - y_true) / 10.0, axis=1)

    @lib.saving.register_keras_serializable(package=package)
    def mean_pred(y_true, y_pred):
        return lib.ops.mean(y_pred)

    @lib.saving.register_keras_serializable(package=package)
    class ModelWithCustomCompile(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense1 = lib.layers.Dense(8, activation="relu")
            self.dense2 = lib.layers.Dense(4, activation="softmax")

        def call(self, inputs):
            return self.dense2(self.dense1(inputs))

        def compile(self, optimizer, loss_fn, metrics):
            super().compile(optimizer=optimizer, loss=loss_fn, metrics=metrics)
            self.model_optimizer = optimizer
            self.loss_fn = loss_fn
            self.loss_metrics = metrics

        def get_compile_config(self):
            return {"model_optimizer": self.model_optimizer, "loss_fn": self.loss_fn, "metric": self.loss_metrics}

        def compile_from_config(self, config):
            optimizer = lib.utils.deserialize_keras_object(config["model_optimizer"])
            loss_fn = lib.utils.deserialize_keras_object(config["loss_fn"])
            metrics = lib.utils.deserialize_keras_object(config["metric"])
            self.compile(optimizer=optimizer, loss_fn=loss_fn, metrics=metrics)

    return dict(LayerWithCustomVariables=LayerWithCustomVariables, LayerWithCustomAssets=LayerWithCustomAssets,
                LayerWithCustomBuild=LayerWithCustomBuild, ModelWithCustomCompile=ModelWithCustomCompile,
                small_square_sum_loss=small_square_sum_loss, mean_pred=mean_pred)


CLASSES = {name: _classes(lib) for name, lib in LIBS.items()}


def _custom_objects(reader):
    """The reader's classes under the names the other library's file gives them."""
    mine = CLASSES[reader]
    other = "scanfit" if reader == "keras" else "keras"
    return {f"hooks_test_{LIBS[other].__name__}>{name}": value for name, value in mine.items()}


PAIRS = pytest.mark.parametrize("writer,reader", [("keras", "keras"), ("scanfit", "scanfit"), ("keras", "scanfit"),
                                                  ("scanfit", "keras")])


@PAIRS
def test_save_own_variables_and_load_own_variables(tmp_path, writer, reader):
    lib = LIBS[writer]
    model = lib.Sequential([lib.Input((10,)), CLASSES[writer]["LayerWithCustomVariables"](3, name="custom")])
    model.layers[0].kernel.assign(RNG.normal(size=(10, 3)).astype("float32"))
    model.layers[0].stored_variables.assign(np.array([2.0, -1.0, 0.25], "float32"))
    x = RNG.random((8, 10)).astype("float32")
    expected = np.asarray(model.predict(x, verbose=0))
    model.save(tmp_path / "custom_vars_model.keras")
    restored = LIBS[reader].models.load_model(tmp_path / "custom_vars_model.keras",
                                              custom_objects=_custom_objects(reader))
    np.testing.assert_allclose(restored.layers[0].stored_variables.numpy(), [2.0, -1.0, 0.25])
    np.testing.assert_allclose(np.asarray(restored.predict(x, verbose=0)), expected, rtol=1e-5, atol=1e-6)


@PAIRS
def test_save_assets_and_load_assets(tmp_path, writer, reader):
    lib = LIBS[writer]
    model = lib.Sequential([lib.Input((10,)), CLASSES[writer]["LayerWithCustomAssets"](
        vocab="Mary had a <unk> lamb.", units=5, name="assets")])
    model.save(tmp_path / "custom_assets_model.keras")
    restored = LIBS[reader].models.load_model(tmp_path / "custom_assets_model.keras",
                                              custom_objects=_custom_objects(reader))
    assert restored.layers[0].vocab == "Mary had a little lamb."


@pytest.mark.parametrize("reader", ["scanfit", "keras"])
def test_get_build_config_and_build_from_config(tmp_path, reader):
    """scanfit writes the guide's build config (the shape the layer was built for, and its initializer), which
    both libraries rebuild the layer from. (Keras 3.15 itself writes no input_shape for a layer built by hand
    with a `build` of extra arguments, so the guide's example fails to load in Keras.)"""
    writer = "scanfit"
    lib = LIBS[writer]
    custom_layer = CLASSES[writer]["LayerWithCustomBuild"](units=16, name="custom_build")
    custom_layer.build(input_shape=(8,), layer_init="random_normal")
    model = lib.Sequential([custom_layer, lib.layers.Dense(1, activation="sigmoid", name="head")])
    x = RNG.random((16, 8)).astype("float32")
    expected = np.asarray(model(x))
    model.save(tmp_path / "custom_build_model.keras")
    restored = LIBS[reader].models.load_model(tmp_path / "custom_build_model.keras",
                                              custom_objects=_custom_objects(reader))
    assert restored.layers[0].layer_init == "random_normal" and restored.built
    np.testing.assert_allclose(np.asarray(restored(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lib_name", ["keras", "scanfit"])
def test_get_compile_config_and_compile_from_config(tmp_path, lib_name):
    lib, classes = LIBS[lib_name], CLASSES[lib_name]
    model = classes["ModelWithCustomCompile"](name="custom_compile")
    model.compile(optimizer="SGD", loss_fn=classes["small_square_sum_loss"],
                  metrics=["accuracy", classes["mean_pred"]])
    x, y = RNG.random((4, 8)).astype("float32"), RNG.random((4,)).astype("float32")
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "custom_compile_model.keras")
    restored = lib.models.load_model(tmp_path / "custom_compile_model.keras")
    assert restored.model_optimizer == model.model_optimizer == "SGD"
    assert restored.loss_fn is classes["small_square_sum_loss"]
    assert restored.loss_metrics == model.loss_metrics
    np.testing.assert_allclose(np.asarray(restored.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)),
                               rtol=1e-6)
    assert restored.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)


def test_a_default_load_own_variables_checks_counts_and_shapes():
    layer = scanfit.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="has 2 weights"):
        layer.load_own_variables({"0": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="shape"):
        layer.load_own_variables({"0": np.zeros((2, 2)), "1": np.zeros(2)})
    store = {}
    layer.save_own_variables(store)
    layer.load_own_variables({"0": store["0"] + 1, "1": store["1"]})
    np.testing.assert_allclose(layer.kernel.numpy(), store["0"] + 1)
