"""keras.layers.Pipeline and the keras.layers.Wrapper base class, against Keras 3."""
import json

import keras
import numpy as np
import pytest

import scanfit

X = np.random.default_rng(0).uniform(size=(4, 6, 6, 3)).astype("float32")


def pipeline(lib):
    return lib.layers.Pipeline([lib.layers.RandomFlip("horizontal", name="flip"),
                                lib.layers.RandomRotation(0.2, name="rotate")], name="aug")


@pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])
def test_a_pipeline_augments_on_arrays_and_infers_in_predict(lib):
    aug = pipeline(lib)
    assert [type(layer).__name__ for layer in aug.layers] == ["RandomFlip", "RandomRotation"]
    assert sum(not np.allclose(np.asarray(aug(X)), X) for _ in range(4)) >= 3
    np.testing.assert_allclose(np.asarray(aug(X, training=False)), X)
    model = lib.Sequential([lib.Input((6, 6, 3)), aug, lib.layers.Flatten(), lib.layers.Dense(2)])
    np.testing.assert_allclose(model.predict(X, verbose=0), model(X, training=False), rtol=1e-5, atol=1e-6)


def test_pipeline_config_is_keras_s():
    ours, theirs = pipeline(scanfit).get_config(), pipeline(keras).get_config()
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
    rebuilt = scanfit.layers.Pipeline.from_config(theirs)
    assert [layer.get_config() for layer in rebuilt.layers] == [layer.get_config() for layer in pipeline(scanfit).layers]
    with pytest.raises(ValueError, match="'layers'"):
        scanfit.layers.Pipeline.from_config({"name": "p"})
    with pytest.raises(TypeError, match="list of layers"):
        scanfit.layers.Pipeline([lambda x: x])


def scaled(lib):
    class Scaled(lib.layers.Wrapper):
        """A wrapper as Keras's guides write one: the wrapped layer's output times a factor."""

        def __init__(self, layer, factor=2.0, **kwargs):
            super().__init__(layer, **kwargs)
            self.factor = factor

        def call(self, x):
            return self.layer(x) * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}
    return Scaled


def test_a_wrapper_trains_like_keras_and_saves(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 5)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    models = {}
    for lib in (keras, scanfit):
        wrapped = scaled(lib)(lib.layers.Dense(1, name="inner"), factor=0.5, name="scaled")
        models[lib] = lib.Sequential([lib.Input((5,)), wrapped])
    weights = [rng.normal(size=w.shape).astype("float32") for w in models[keras].get_weights()]
    histories = {}
    for lib, model in models.items():
        model.set_weights(weights)
        model.compile(lib.optimizers.SGD(0.1), "mse")
        histories[lib] = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(histories[scanfit], histories[keras], rtol=1e-5)
    ours = models[scanfit]
    inner, keras_inner = ours.layers[0].get_config()["layer"], models[keras].layers[0].get_config()["layer"]
    keras_inner["config"].pop("quantization_config")  # (a Keras feature scanfit does not have)
    assert json.dumps(inner, sort_keys=True) == json.dumps(keras_inner, sort_keys=True)
    ours.save(tmp_path / "m.keras")
    Scaled = scaled(scanfit)
    loaded = scanfit.models.load_model(tmp_path / "m.keras", custom_objects={"Scaled": Scaled})
    assert type(loaded.layers[0]) is Scaled and loaded.layers[0].factor == 0.5
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-6)


def test_a_wrapper_needs_a_layer():
    with pytest.raises(ValueError, match="layer to wrap"):
        scaled(scanfit)("dense")
