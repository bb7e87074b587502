"""keras.applications' ConvNeXt family and its LayerScale and StochasticDepth layers against Keras 3's own:
ConvNeXtTiny on layer names, types, weights, parameter counts and outputs on Keras's weights (read from a weight
file in the layout of Keras's ImageNet files); the larger ones on their layers and weights; the ImageNet weight
files they ask for; the two layers' configs, weights and maths; ``.keras`` files with them, both ways (and a
Keras-saved ConvNeXtTiny)."""
import json

import h5py
import jax
import keras
import numpy as np
import pytest
from keras.src.applications import convnext as keras_convnext
from keras.src.legacy.saving import legacy_h5_format

import scanfit
from scanfit.applications import convnext
from tests.unit import test_applications_families as families

RNG = np.random.default_rng(7)
keras_draws_with_numpy = families.keras_draws_with_numpy  # the same autouse fixture: Keras draws with NumPy


def _weight_paths(model):
    """(path, shape) of each weight, the path as 'layer/weight': Keras 3 also prefixes the weights of the stem and
    the downsampling steps with the name of the Sequential model holding them; scanfit names no weight after a
    model (in any model), so only those last two parts are compared."""
    return [("/".join(v.path.split("/")[-2:]), tuple(v.shape)) for v in model.weights]


def _as_saved(config):
    """A serialized object as a file holds it (JSON: tuples are lists)."""
    return json.loads(json.dumps(config))


def _assert_same_layers(ours, theirs):
    assert ours.name == theirs.name
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert _weight_paths(ours) == _weight_paths(theirs)
    assert ours.input_shape == theirs.input_shape and ours.output_shape == theirs.output_shape
    assert ours.count_params() == theirs.count_params()


def test_convnext_tiny_is_keras_s_on_keras_s_weight_file_and_keras_file(tmp_path):
    theirs, ours = families._both("ConvNeXtTiny", weights=None, input_shape=(32, 32, 3), classes=10,
                                  classifier_activation=None)
    _assert_same_layers(ours, theirs)
    assert ours.get_layer("convnext_tiny_stage_2_block_8_layer_scale").get_config() == \
        theirs.get_layer("convnext_tiny_stage_2_block_8_layer_scale").get_config()
    path = tmp_path / "convnext_tiny.h5"  # the legacy layout of Keras's ImageNet files (a group per layer)
    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, theirs)
    ours.load_weights(str(path))
    for mine, their in zip(ours.weights, theirs.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(their))
    images = RNG.uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    assert convnext.preprocess_input(images) is images  # Keras's placeholder: the model normalizes
    expected = theirs.predict(images, verbose=0)
    np.testing.assert_allclose(ours.predict(images, verbose=0), expected, rtol=1e-4,
                               atol=1e-4 * float(np.abs(expected).max()))
    theirs.save(tmp_path / "convnext_tiny.keras")  # its stem and downsampling steps are Sequential models in it
    scanfit.utils.clear_session(free_memory=False)
    loaded = scanfit.saving.load_model(tmp_path / "convnext_tiny.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in theirs.layers]
    assert loaded.count_params() == theirs.count_params()
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-4,
                               atol=1e-4 * float(np.abs(expected).max()))


# ConvNeXtLarge stands for XLarge too (the same code and depths, wider stages; XLarge was compared once, outside
# the suite: its 348 million weights take seconds to draw in each library).
@pytest.mark.parametrize("kind, arguments", [
    ("ConvNeXtSmall", {"pooling": "avg"}),
    ("ConvNeXtBase", {"pooling": "max", "include_preprocessing": False, "name": "base"}),
    ("ConvNeXtLarge", {}),  # no pooling: the layer normalization runs on the feature map
])
def test_the_larger_convnexts_have_keras_s_layers(kind, arguments):
    keras.utils.clear_session(free_memory=False)
    theirs = getattr(keras.applications, kind)(weights=None, include_top=False, input_shape=(32, 32, 3), **arguments)
    scanfit.utils.clear_session(free_memory=False)
    ours = getattr(scanfit.applications, kind)(weights=None, include_top=False, input_shape=(32, 32, 3), **arguments)
    _assert_same_layers(ours, theirs)


@pytest.mark.parametrize("kind, arguments", [
    ("ConvNeXtTiny", {}),
    ("ConvNeXtSmall", {"include_top": False, "input_shape": (64, 48, 3)}),
    ("ConvNeXtSmall", {"include_top": False, "name": "my_convnext_small", "pooling": "avg"}),
])
def test_imagenet_weights_are_keras_s_files(monkeypatch, kind, arguments):
    asked = families._record_weight_files(monkeypatch)
    keras.utils.clear_session(free_memory=False)
    theirs = getattr(keras.applications, kind)(weights="imagenet", **arguments)
    scanfit.utils.clear_session(free_memory=False)
    ours = getattr(scanfit.applications, kind)(weights="imagenet", **arguments)
    if "name" in arguments:  # Keras names the file after the model (a 404 when renamed); scanfit, the kind
        file_name, url, file_hash = asked["keras"][0]
        assert file_name == "my_convnext_small_notop.h5"
        asked["keras"][0] = ("convnext_small_notop.h5", url.replace("/my_", "/"), file_hash)
    assert asked["scanfit"] == asked["keras"] and len(asked["keras"]) == 1
    assert len(asked["keras"][0][2]) == 64  # a SHA-256, which get_file recognises by its length, as Keras's does
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]


@pytest.mark.parametrize("kind, arguments, message", [
    ("ConvNeXtTiny", {"name": "tiny"}, "must contain 'convnext_tiny'"),
    ("ConvNeXtBase", {"classes": 10}, "classes must be 1000"),
    ("ConvNeXtTiny", {"classifier_activation": "relu"}, "classifier_activation"),
    ("ConvNeXtSmall", {"include_top": False, "input_shape": (31, 64, 3)}, "at least 32 x 32"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(monkeypatch, kind, arguments, message):
    families._record_weight_files(monkeypatch)  # no download, should Keras get that far
    keras.utils.clear_session(free_memory=False)
    with pytest.raises(ValueError):
        getattr(keras.applications, kind)(**{"weights": "imagenet", **arguments})
    with pytest.raises(ValueError, match=message):
        getattr(scanfit.applications, kind)(**{"weights": "imagenet", **arguments})


def test_preprocess_input_is_keras_s():
    images = RNG.uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(convnext.preprocess_input(images.copy()),
                                  keras.applications.convnext.preprocess_input(images.copy()))


def test_layer_scale_is_keras_s():
    x = RNG.normal(size=(3, 5, 4)).astype("float32")
    keras.utils.clear_session(free_memory=False)  # 'variable': the session's first unnamed weight
    scanfit.utils.clear_session(free_memory=False)
    theirs, ours = keras_convnext.LayerScale(0.25, 4, name="scale"), convnext.LayerScale(0.25, 4, name="scale")
    their_y, our_y = theirs(x), ours(x)
    assert [(v.path, tuple(v.shape), v.trainable) for v in ours.weights] == \
        [(v.path, tuple(v.shape), v.trainable) for v in theirs.weights]
    np.testing.assert_array_equal(np.asarray(ours.weights[0]), np.full(4, 0.25, "float32"))
    np.testing.assert_allclose(np.asarray(our_y), np.asarray(their_y), rtol=1e-6)
    assert _as_saved(scanfit.saving.serialize_keras_object(ours)) == \
        _as_saved(keras.saving.serialize_keras_object(theirs))
    gamma = RNG.normal(size=4).astype("float32")
    ours.set_weights([gamma])
    np.testing.assert_allclose(np.asarray(ours(x)), x * gamma, rtol=1e-6)


def test_stochastic_depth_is_the_identity_at_inference_and_without_a_key():
    layer = convnext.StochasticDepth(0.5)
    x = RNG.normal(size=(8, 3, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(np.asarray(layer.pure_call({}, x, training=False, rng=key)[0]), x)
    np.testing.assert_array_equal(np.asarray(layer.pure_call({}, x, training=True, rng=None)[0]), x)


def test_stochastic_depth_drops_whole_samples_while_training_as_keras_computes_it():
    rate, key = 0.3, jax.random.PRNGKey(3)
    x = RNG.uniform(1, 2, size=(4000, 3, 2)).astype("float32")
    y = np.asarray(convnext.StochasticDepth(rate).pure_call({}, x, training=True, rng=key)[0])
    # Keras's formula, on the uniform draws JAX makes from the call's key (one per sample)
    kept = np.floor(1 - rate + np.asarray(jax.random.uniform(key, (4000, 1, 1))))
    np.testing.assert_allclose(y, x / (1 - rate) * kept, rtol=1e-6)
    per_sample = (y != 0).reshape(4000, -1)
    assert np.all(per_sample.all(axis=1) | ~per_sample.any(axis=1))  # a sample is dropped whole, or kept whole
    assert abs(per_sample[:, 0].mean() - (1 - rate)) < 0.03  # about 1 - rate kept (3 sigma is 0.022)
    np.testing.assert_allclose(y[per_sample[:, 0]], x[per_sample[:, 0]] / (1 - rate), rtol=1e-6)


def test_stochastic_depth_draws_from_the_call_s_key():
    layer = convnext.StochasticDepth(0.5)
    x = np.ones((64, 2), "float32")
    scanfit.utils.set_random_seed(4)
    first, second = np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))
    scanfit.utils.set_random_seed(4)
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), first)  # the seed's keys, in order
    assert not np.array_equal(first, second) and set(np.unique(first)) == {0.0, 2.0}
    inputs = scanfit.Input((2,))  # two of them in one model: each its own key
    model = scanfit.Model(inputs, [convnext.StochasticDepth(0.5)(inputs), convnext.StochasticDepth(0.5)(inputs)])
    one, other = (np.asarray(y) for y in model(x, training=True))
    assert not np.array_equal(one, other) and set(np.unique(one)) == set(np.unique(other)) == {0.0, 2.0}


def test_stochastic_depth_config_is_keras_s_and_bad_rates_are_refused():
    ours, theirs = convnext.StochasticDepth(0.1, name="drop"), keras_convnext.StochasticDepth(0.1, name="drop")
    assert _as_saved(scanfit.saving.serialize_keras_object(ours)) == \
        _as_saved(keras.saving.serialize_keras_object(theirs))
    for rate in (1.0, -0.1, "0.1"):
        with pytest.raises(ValueError, match="drop_path_rate must be a number in"):
            convnext.StochasticDepth(rate)


def _two_layer_model(library, layer_module):
    inputs = library.Input((6, 4))
    x = library.layers.Dense(4, name="dense")(inputs)
    x = layer_module.LayerScale(0.5, 4, name="scale")(x)
    outputs = inputs + layer_module.StochasticDepth(0.2, name="drop")(x)
    return library.Model(inputs, outputs)


def test_keras_files_with_the_layers_load_both_ways(tmp_path):
    x = RNG.normal(size=(3, 6, 4)).astype("float32")
    theirs = _two_layer_model(keras, keras_convnext)
    theirs.set_weights([RNG.normal(size=v.shape).astype("float32") for v in theirs.weights])
    theirs.save(tmp_path / "keras.keras")
    loaded = scanfit.saving.load_model(tmp_path / "keras.keras")
    assert [type(layer) for layer in loaded.layers[2:4]] == [convnext.LayerScale, convnext.StochasticDepth]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    ours = _two_layer_model(scanfit, convnext)
    ours.set_weights([RNG.normal(size=v.shape).astype("float32") for v in ours.weights])
    ours.save(tmp_path / "scanfit.keras")
    read_by_keras = keras.saving.load_model(tmp_path / "scanfit.keras")
    assert [type(layer) for layer in read_by_keras.layers[2:4]] == [keras_convnext.LayerScale,
                                                                     keras_convnext.StochasticDepth]
    np.testing.assert_allclose(read_by_keras.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)

