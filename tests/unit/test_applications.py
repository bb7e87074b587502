"""keras.applications: VGG16 and VGG19 against Keras 3's own (layer names, shapes, parameter counts, outputs on
the same weights), ImageNet weights in Keras's legacy .h5 layout fetched through get_file from a local server,
preprocess_input in every mode and on every kind of input, decode_predictions, Chollet's frozen-base model."""
import json

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import scanfit
from local_server import serving
from scanfit.applications import imagenet_utils, mobilenet_v2, resnet, vgg

SHAPE = (32, 32, 3)
RNG = np.random.default_rng(8)
IMAGES = RNG.uniform(0, 255, size=(2,) + SHAPE).astype("float32")
MODULES = {"VGG16": "vgg16", "VGG19": "vgg19", "ResNet50": "resnet50", "Xception": "xception",
           "InceptionV3": "inception_v3", "DenseNet121": "densenet"}


def _theirs(kind, shape=SHAPE, **arguments):
    """Keras's model, its weights moved off their starting values (BatchNormalization's statistics too)."""
    keras.utils.clear_session(free_memory=False)  # automatic names (Xception's) count from zero, as scanfit's
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, kind)(weights=None, **{"input_shape": shape, **arguments})
    rng = np.random.default_rng(1)
    model.set_weights([rng.uniform(0.5, 1.5, v.shape) if v.path.endswith("moving_variance")
                       else np.asarray(v) + rng.normal(0, 0.02, v.shape) for v in model.weights])
    return model


@pytest.mark.parametrize("kind, arguments", [
    ("VGG16", {"include_top": False}), ("VGG19", {"include_top": False, "pooling": "avg"}),
    ("VGG16", {"include_top": True, "classes": 7, "classifier_activation": None}),
    ("ResNet50", {"include_top": True, "classes": 5}), ("Xception", {"include_top": False, "pooling": "max"}),
    ("InceptionV3", {"include_top": True, "classes": 3}), ("DenseNet121", {"include_top": False, "pooling": "avg"}),
])
def test_the_models_are_keras_s(kind, arguments):
    shape = {"Xception": (71, 71, 3), "InceptionV3": (75, 75, 3)}.get(kind, SHAPE)  # their smallest inputs
    theirs = _theirs(kind, shape, **arguments)
    scanfit.utils.clear_session(free_memory=False)
    ours = getattr(scanfit.applications, kind)(weights=None, input_shape=shape, **arguments)
    assert ours.name == theirs.name
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [v.path for v in ours.weights] == [v.path for v in theirs.weights]
    assert ours.output_shape == theirs.output_shape and ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    images = RNG.uniform(0, 255, size=(2,) + shape).astype("float32")
    images = getattr(scanfit.applications, MODULES[kind]).preprocess_input(images)
    expected = theirs.predict(images, verbose=0)
    np.testing.assert_allclose(ours.predict(images, verbose=0), expected, rtol=1e-4,
                               atol=1e-4 * float(np.abs(expected).max()))


@pytest.mark.parametrize("arguments", [
    {"alpha": 0.35, "input_shape": (33, 45, 3), "include_top": False, "pooling": "avg"},
    {"alpha": 1.4, "input_shape": (32, 32, 3), "include_top": True, "classes": 4},
])
def test_mobilenet_v2_is_keras_s(arguments):
    theirs = _theirs("MobileNetV2", **arguments)
    scanfit.utils.clear_session(free_memory=False)
    ours = scanfit.applications.MobileNetV2(weights=None, **arguments)
    assert ours.name == theirs.name  # mobilenetv2_<alpha>_<rows>
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [v.path for v in ours.weights] == [v.path for v in theirs.weights]
    assert ours.output_shape == theirs.output_shape and ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    images = scanfit.applications.mobilenet_v2.preprocess_input(
        RNG.uniform(0, 255, size=(2,) + arguments["input_shape"]).astype("float32"))
    expected = theirs.predict(images, verbose=0)
    np.testing.assert_allclose(ours.predict(images, verbose=0), expected, rtol=1e-4,
                               atol=1e-4 * float(np.abs(expected).max()))


def test_mobilenet_v2_fetches_keras_s_file_for_its_width_and_size(monkeypatch):
    fetched = []
    monkeypatch.setattr(imagenet_utils, "get_file", lambda name, url, **kw: fetched.append((name, url)) or "x")
    monkeypatch.setattr(scanfit.Model, "load_weights", lambda model, path: None)
    scanfit.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False, alpha=0.5)
    with pytest.warns(UserWarning, match="weights for 224 x 224 images"):
        scanfit.applications.MobileNetV2(input_shape=(100, 100, 3), include_top=False)
    assert fetched == [(name, mobilenet_v2.WEIGHTS_URL + name) for name in (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_160_no_top.h5",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")]
    with pytest.raises(ValueError, match="alpha in"):
        scanfit.applications.MobileNetV2(alpha=0.6)


@pytest.mark.parametrize("kind, pooling", [("ResNet101", "max"), ("ResNet152", "avg"), ("DenseNet169", "avg"),
                                           ("DenseNet201", "max")])
def test_the_deeper_models_have_keras_s_layers(kind, pooling):
    keras.utils.clear_session(free_memory=False)
    theirs = getattr(keras.applications, kind)(weights=None, include_top=False, pooling=pooling)
    scanfit.utils.clear_session(free_memory=False)
    ours = getattr(scanfit.applications, kind)(weights=None, include_top=False, pooling=pooling)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [v.path for v in ours.weights] == [v.path for v in theirs.weights]
    assert ours.output_shape == theirs.output_shape and ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("kind, module", [("VGG16", "vgg16"), ("ResNet50", "resnet50")])
def test_imagenet_weights_come_from_keras_s_file_once(tmp_path, monkeypatch, kind, module):
    theirs = _theirs(kind, include_top=False)
    site = tmp_path / "site"
    site.mkdir()
    name = f"{kind.lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(site / name, "w") as file:  # the layout of Keras's published weight files
        legacy_h5_format.save_weights_to_hdf5_group(file, theirs)
    digest = scanfit.downloads.file_digest(site / name, "md5")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    application = getattr(getattr(scanfit.applications, module), kind)
    with serving(site) as url:
        _serve_weights(monkeypatch, kind, url + name, digest)
        ours = application(include_top=False, input_shape=SHAPE)
        assert len(list((tmp_path / "home" / "models").iterdir())) == 1
    again = application(include_top=False, weights="imagenet")  # from the cache: the site is gone
    assert again.input_shape == (None, None, None, 3)
    images = getattr(scanfit.applications, module).preprocess_input(IMAGES.copy())
    expected = theirs.predict(images, verbose=0)
    for model in (ours, again):
        np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-4,
                                   atol=1e-4 * float(np.abs(expected).max()))
    from_file = application(include_top=False, weights=str(site / name), input_shape=SHAPE)
    np.testing.assert_array_equal(from_file.get_weights()[-1], ours.get_weights()[-1])
    _serve_weights(monkeypatch, kind, url + name, "0" * 32)
    with pytest.raises(OSError, match="fetching"):  # the cached copy fails the hash; the site is gone
        application(include_top=False, input_shape=SHAPE)


def _serve_weights(monkeypatch, kind, url, digest):
    """Point the `kind` model's ImageNet weights without the top at `url`, a file of MD5 `digest`."""
    if kind == "VGG16":
        monkeypatch.setitem(vgg.WEIGHT_FILES, "vgg16", (None, (url.rsplit("/", 1)[1], url, digest)))
    else:
        monkeypatch.setattr(resnet, "WEIGHTS_URL", url.rsplit("/", 1)[0] + "/")
        monkeypatch.setitem(resnet.WEIGHT_HASHES, "resnet50", (None, digest))


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_is_keras_s_on_arrays_tensors_and_in_models(mode):
    ours, theirs = IMAGES.copy(), IMAGES.copy()
    result = imagenet_utils.preprocess_input(ours, mode=mode)
    expected = keras.applications.imagenet_utils.preprocess_input(theirs, mode=mode)
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)  # both written over their input, alike
    as_int = IMAGES.astype("uint8")
    np.testing.assert_allclose(imagenet_utils.preprocess_input(as_int, mode=mode),
                               keras.applications.imagenet_utils.preprocess_input(as_int.copy(), mode=mode), rtol=1e-6)
    assert as_int.dtype == np.uint8 and np.array_equal(as_int, IMAGES.astype("uint8"))  # converted, not written
    on_tensor = imagenet_utils.preprocess_input(scanfit.ops.convert_to_tensor(IMAGES), mode=mode)
    np.testing.assert_allclose(on_tensor, expected, rtol=1e-6, atol=1e-5)
    inputs = scanfit.Input(SHAPE)
    model = scanfit.Model(inputs, imagenet_utils.preprocess_input(inputs, mode=mode))
    np.testing.assert_allclose(model.predict(IMAGES, verbose=0), expected, rtol=1e-6, atol=1e-5)


def test_decode_predictions_names_the_best_classes(tmp_path, monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.json").write_text(json.dumps(index))
    digest = scanfit.downloads.file_digest(site / "index.json", "md5")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(imagenet_utils, "_class_index", {})
    monkeypatch.setattr(keras.src.applications.imagenet_utils, "CLASS_INDEX", index)
    predictions = RNG.dirichlet(np.ones(1000), size=3).astype("float32")
    with serving(site) as url:
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_FILE", ("index.json", url + "index.json", digest))
        decoded = scanfit.applications.vgg16.decode_predictions(predictions, top=3)
    assert decoded == keras.applications.vgg16.decode_predictions(predictions, top=3)
    assert decoded[0][0][:2] == tuple(index[str(int(np.argmax(predictions[0])))])
    with pytest.raises(ValueError, match="shape \\(samples, 1000\\)"):
        imagenet_utils.decode_predictions(predictions[:, :10])


def test_a_frozen_vgg16_base_under_a_new_classifier_trains_only_the_classifier():
    """Chollet's feature extraction with data augmentation, at 32 x 32."""
    conv_base = scanfit.applications.vgg16.VGG16(weights=None, include_top=False)
    conv_base.trainable = False
    inputs = scanfit.Input(SHAPE)
    x = scanfit.layers.RandomFlip("horizontal")(inputs)
    x = scanfit.applications.vgg16.preprocess_input(x)
    x = conv_base(x)
    assert x.shape == (None, 1, 1, 512) and conv_base.output_shape == (None, None, None, 512)  # as in Keras
    x = scanfit.layers.Flatten()(x)
    outputs = scanfit.layers.Dense(1, activation="sigmoid")(x)
    model = scanfit.Model(inputs, outputs)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    before = [w.copy() for w in conv_base.get_weights()]
    dense_before = model.layers[-1].get_weights()[0].copy()
    model.fit(IMAGES, np.array([0.0, 1.0]), epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, conv_base.get_weights()))
    assert not np.array_equal(dense_before, model.layers[-1].get_weights()[0])


def test_bad_arguments_are_refused_as_keras_refuses_them():
    vgg16 = scanfit.applications.VGG16
    with pytest.raises(ValueError, match="input_shape must be \\(224, 224, 3\\)"):
        vgg16(input_shape=SHAPE)
    with pytest.raises(ValueError, match="classes must be 1000"):
        vgg16(classes=10)
    with pytest.raises(ValueError, match="classifier_activation must be 'softmax' or None"):
        vgg16(weights="imagenet", classifier_activation="relu")
    with pytest.raises(ValueError, match="weights must be 'imagenet', None or the path"):
        vgg16(weights=3)
    with pytest.raises(ValueError, match="pooling must be None, 'avg' or 'max'"):
        vgg16(weights=None, include_top=False, pooling="sum")
    with pytest.raises(ValueError, match="at least 32 x 32"):
        vgg16(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="must be fully known"):
        vgg16(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="take 3 channels"):
        vgg16(include_top=False, input_shape=(64, 64, 1))
    inputs = scanfit.Input(SHAPE)
    assert vgg16(weights=None, include_top=False, input_tensor=inputs).inputs[0] is inputs
    with pytest.raises(ValueError, match="input_tensor must be a keras.Input"):
        vgg16(weights=None, include_top=False, input_tensor=scanfit.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match="'channels_last'"):
        imagenet_utils.preprocess_input(IMAGES, data_format="channels_first")
    with pytest.raises(ValueError, match="mode must be one of"):
        imagenet_utils.preprocess_input(IMAGES, mode="inception")
