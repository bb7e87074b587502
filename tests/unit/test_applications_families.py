"""keras.applications' ResNetV2, MobileNet, EfficientNet, EfficientNetV2 and MobileNetV3 families against Keras
3's own: the smallest of each (and odd sizes, widths and options) on layer names, weight paths and shapes,
parameter counts and outputs on Keras's weights; the larger ones on their layers and weights; the ImageNet weight
files each asks for (name, URL and MD5) against those Keras asks for, with no network; preprocess_input; Keras's
refusals."""
import warnings

import keras
import numpy as np
import pytest

import scanfit
from scanfit.applications import imagenet_utils

RNG = np.random.default_rng(5)
MODULES = {"ResNet50V2": "resnet_v2", "MobileNet": "mobilenet", "EfficientNetB0": "efficientnet",
           "EfficientNetV2B0": "efficientnet_v2", "MobileNetV3Small": "mobilenet_v3"}


@pytest.fixture(autouse=True)
def keras_draws_with_numpy(monkeypatch):
    """Keras's initializers draw each new weight shape with a newly compiled JAX program (most of the time Keras
    takes to build these models); here they draw with NumPy. The values are only starting points: the tests
    compare the models' structure, or their outputs on the weights copied from Keras's model."""
    rng = np.random.default_rng(0)

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return (mean + stddev * rng.normal(size=shape)).astype(dtype or "float32")

    def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return (mean + stddev * np.clip(rng.normal(size=shape), -2, 2)).astype(dtype or "float32")

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return rng.uniform(minval, maxval, size=shape).astype(dtype or "float32")

    for draw in (normal, truncated_normal, uniform):
        monkeypatch.setattr(keras.src.backend.random, draw.__name__, draw)


def _both(kind, **arguments):
    """Keras's model `kind` (its weights moved off their starting values, the normalizations' statistics too) and
    scanfit's, built alike, their layer names counted from zero in both."""
    keras.utils.clear_session(free_memory=False)
    theirs = getattr(keras.applications, kind)(**arguments)
    rng = np.random.default_rng(1)
    theirs.set_weights([rng.uniform(0.5, 1.5, v.shape) if v.path.endswith("variance")
                        else np.asarray(v) + rng.normal(0, 0.02, v.shape) for v in theirs.weights])
    scanfit.utils.clear_session(free_memory=False)
    return theirs, getattr(scanfit.applications, kind)(**arguments)


def _assert_same_layers(ours, theirs):
    assert ours.name == theirs.name
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert [(v.path, tuple(v.shape)) for v in ours.weights] == [(v.path, tuple(v.shape)) for v in theirs.weights]
    assert ours.input_shape == theirs.input_shape and ours.output_shape == theirs.output_shape
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("kind, arguments", [
    ("ResNet50V2", {"input_shape": (32, 32, 3), "classes": 5, "classifier_activation": None}),
    ("MobileNet", {"input_shape": (32, 32, 3), "alpha": 0.5, "depth_multiplier": 2, "dropout": 0.3, "classes": 4,
                   "classifier_activation": None}),
    ("EfficientNetB0", {"input_shape": (32, 32, 3), "classes": 5, "classifier_activation": None}),
    ("EfficientNetV2B0", {"input_shape": (32, 32, 3), "classes": 5, "classifier_activation": None}),
    ("MobileNetV3Small", {"input_shape": (32, 32, 3), "classes": 5, "classifier_activation": None,
                          "dropout_rate": 0.1}),
    ("MobileNetV3Small", {"input_shape": (33, 45, 3), "alpha": 0.75, "minimalistic": True, "include_top": False,
                          "pooling": "avg", "include_preprocessing": False}),
])
def test_the_smallest_models_are_keras_s(kind, arguments):
    theirs, ours = _both(kind, weights=None, **arguments)
    _assert_same_layers(ours, theirs)
    ours.set_weights(theirs.get_weights())
    module = getattr(scanfit.applications, MODULES[kind])
    images = module.preprocess_input(RNG.uniform(0, 255, size=(2,) + arguments["input_shape"]).astype("float32"))
    expected = theirs.predict(images, verbose=0)
    np.testing.assert_allclose(ours.predict(images, verbose=0), expected, rtol=1e-4,
                               atol=1e-4 * float(np.abs(expected).max()))


# EfficientNetB3 stands for B1 to B7 and EfficientNetV2S for V2S, V2M and V2L (the same code, other widths and
# depths; each of them was compared once, outside the suite: building the larger ones takes seconds per model in
# each library).
@pytest.mark.parametrize("kind, arguments", [
    ("ResNet101V2", {"include_top": False, "pooling": "max"}), ("EfficientNetB3", {"include_top": False}),
    ("EfficientNetV2S", {"include_top": False}),
    ("EfficientNetV2B0", {"include_top": False, "input_shape": (32, 32, 1)}),  # not 3 channels: rescaled to [-1, 1]
    ("MobileNetV3Large", {"alpha": 1.25}),  # its top on images of any size, as in Keras
])
def test_the_larger_models_have_keras_s_layers(kind, arguments):
    keras.utils.clear_session(free_memory=False)
    theirs = getattr(keras.applications, kind)(weights=None, **arguments)
    scanfit.utils.clear_session(free_memory=False)
    _assert_same_layers(getattr(scanfit.applications, kind)(weights=None, **arguments), theirs)


def _record_weight_files(monkeypatch):
    """What each library's models ask `get_file` for, as (name, URL, MD5); their `load_weights` then does nothing."""
    asked = {"keras": [], "scanfit": []}

    def recorder(library):
        def get_file(fname=None, origin=None, file_hash=None, cache_subdir=None, **unused):
            assert cache_subdir == "models"
            asked[library].append((fname, origin, file_hash))
            return "weights.h5"
        return get_file

    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", recorder("keras"))
    monkeypatch.setattr(keras.src.models.Model, "load_weights", lambda model, path, **unused: None)
    monkeypatch.setattr(imagenet_utils, "get_file", recorder("scanfit"))
    monkeypatch.setattr(scanfit.Model, "load_weights", lambda model, path: None)
    return asked


@pytest.mark.parametrize("kind, arguments", [
    ("ResNet50V2", {"include_top": False}),
    ("MobileNet", {"include_top": False, "alpha": 0.25, "input_shape": (128, 128, 3)}),
    ("MobileNet", {"include_top": False, "alpha": 0.75, "input_shape": (192, 160, 3)}),  # non-square: 224's
    ("EfficientNetB1", {"include_top": False, "name": "b1"}),
    ("EfficientNetV2B0", {"include_top": False}),
    ("MobileNetV3Small", {"include_top": False, "minimalistic": True}),
    ("MobileNetV3Large", {"include_top": True, "alpha": 0.75, "input_shape": (224, 224, 3)}),
])
def test_imagenet_weights_are_keras_s_files(monkeypatch, kind, arguments):
    asked = _record_weight_files(monkeypatch)
    keras.utils.clear_session(free_memory=False)
    with warnings.catch_warnings(record=True) as their_warnings:
        warnings.simplefilter("always")
        theirs = getattr(keras.applications, kind)(weights="imagenet", **arguments)
    scanfit.utils.clear_session(free_memory=False)
    with warnings.catch_warnings(record=True) as our_warnings:
        warnings.simplefilter("always")
        ours = getattr(scanfit.applications, kind)(weights="imagenet", **arguments)
    # Both warn, or neither, that the 224 x 224 weights are loaded for another image size.
    assert any("(224, 224)" in str(w.message) for w in their_warnings) == \
           any("224 x 224" in str(w.message) for w in our_warnings)
    if kind == "EfficientNetB1":  # Keras names the file after the model (a 404 when renamed); scanfit, the kind
        file_name, url, file_hash = asked["keras"][0]
        assert file_name == "b1_notop.h5"
        asked["keras"][0] = ("efficientnetb1_notop.h5", url.replace("/b1_", "/efficientnetb1_"), file_hash)
    assert asked["scanfit"] == asked["keras"] and len(asked["keras"]) == 1
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    if kind == "EfficientNetB1":  # ImageNet's weights add a per-channel Rescaling after the Normalization
        assert ours.layers[3].get_config() == theirs.layers[3].get_config()


@pytest.mark.parametrize("module", ["resnet_v2", "mobilenet", "efficientnet", "efficientnet_v2", "mobilenet_v3"])
def test_preprocess_input_is_keras_s(module):
    images = RNG.uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    expected = getattr(keras.applications, module).preprocess_input(images.copy())
    np.testing.assert_allclose(getattr(scanfit.applications, module).preprocess_input(images.copy()), expected,
                               rtol=1e-6)


@pytest.mark.parametrize("kind, arguments, message", [
    ("MobileNet", {"alpha": 0.6}, "alpha in"),
    ("MobileNet", {"depth_multiplier": 2, "include_top": False}, "depth_multiplier=1"),
    ("MobileNetV3Small", {"alpha": 0.5}, "alpha 0.75 or 1.0"),
    ("MobileNetV3Large", {"alpha": 0.75, "minimalistic": True}, "1.0 only when minimalistic"),
    ("ResNet50V2", {"classes": 10}, "classes must be 1000"),
    ("EfficientNetB0", {"weights": None, "include_top": False, "input_shape": (16, 40, 3)}, "at least 32 x 32"),
    ("MobileNetV3Small", {"weights": None, "input_shape": (40, 31, 3)}, "at least 32 x 32"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(kind, arguments, message):
    with pytest.raises(ValueError):
        getattr(keras.applications, kind)(**{"weights": "imagenet", **arguments})
    with pytest.raises(ValueError, match=message):
        getattr(scanfit.applications, kind)(**{"weights": "imagenet", **arguments})
