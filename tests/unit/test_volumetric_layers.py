"""The 3D (volumetric) layers against Keras 3: Conv3D, Conv3DTranspose, Max/AveragePooling3D, their global forms,
UpSampling3D, ZeroPadding3D, Cropping3D and SpatialDropout3D (outputs, gradients, shapes, configs, training, files).

The file round trip here also carries the adaptive pooling layers (test_adaptive_pooling.py), which, like the 3D
layers, do not fit the (8, 8, 2) images of test_saving_keras_interchange's every_layer_model.
"""
import inspect

import jax
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import LOWERINGS, compare_with_keras
from scanfit.layers import lowering

SHAPE = (2, 4, 5, 6, 2)
KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("options", [
    dict(kernel_size=2),
    dict(kernel_size=(2, 3, 1), strides=(1, 2, 2), padding="same", activation="relu"),
    dict(kernel_size=3, strides=2, padding="same", use_bias=False),
    dict(kernel_size=2, dilation_rate=(1, 2, 2), groups=2),
    dict(kernel_size=(1, 2, 3), dilation_rate=2, padding="same"),
    dict(kernel_size=2, strides=(2, 1, 2), data_format="channels_first", padding="same"),
], ids=["plain", "strided_same_relu", "strided_no_bias", "dilated_grouped", "dilated_same", "channels_first"])
def test_conv3d_matches_keras(options, monkeypatch):
    compare_with_keras(lambda L: L.Conv3D(4, **options), SHAPE, monkeypatch)


@pytest.mark.parametrize("options", [
    dict(kernel_size=2),
    dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=(2, 3, 2), strides=(1, 2, 3), output_padding=(0, 1, 2), activation="tanh"),
    dict(kernel_size=2, dilation_rate=(2, 1, 1), padding="same", use_bias=False),
    dict(kernel_size=2, strides=2, data_format="channels_first"),
], ids=["plain", "strided_same", "output_padding", "dilated", "channels_first"])
def test_conv3d_transpose_matches_keras(options, monkeypatch):
    compare_with_keras(lambda L: L.Conv3DTranspose(3, **options), (2, 3, 4, 2, 2), monkeypatch)


@pytest.mark.parametrize("mode", ["MaxPooling3D", "AveragePooling3D"])
@pytest.mark.parametrize("options", [
    dict(pool_size=2),
    dict(pool_size=(2, 3, 2), padding="same"),
    dict(pool_size=3, strides=(1, 2, 2)),
    dict(pool_size=2, strides=1, padding="same", data_format="channels_first"),
], ids=["default", "same", "overlapping", "channels_first"])
def test_pooling3d_matches_keras(mode, options, monkeypatch):
    """Non-overlapping (reshape) and overlapping (strided slices) windows, 'same' windows cut by the border."""
    compare_with_keras(lambda L: getattr(L, mode)(**options), SHAPE, monkeypatch)


@pytest.mark.parametrize("make", [
    lambda L: L.GlobalMaxPooling3D(),
    lambda L: L.GlobalAveragePooling3D(),
    lambda L: L.GlobalMaxPooling3D(keepdims=True, data_format="channels_first"),
    lambda L: L.GlobalAveragePooling3D(keepdims=True),
], ids=["max", "average", "max_keepdims_cf", "average_keepdims"])
def test_global_pooling3d_matches_keras(make, monkeypatch):
    compare_with_keras(make, SHAPE, monkeypatch)


@pytest.mark.parametrize("make", [
    lambda L: L.UpSampling3D(),
    lambda L: L.UpSampling3D((1, 3, 2), data_format="channels_first"),
    lambda L: L.ZeroPadding3D(),
    lambda L: L.ZeroPadding3D((2, 0, 1)),
    lambda L: L.ZeroPadding3D(((1, 0), (0, 2), (3, 1)), data_format="channels_first"),
    lambda L: L.Cropping3D(),
    lambda L: L.Cropping3D(((0, 2), (1, 0), (2, 1))),
    lambda L: L.Cropping3D((1, 2, 0), data_format="channels_first"),
], ids=["up", "up_cf", "pad", "pad_symmetric", "pad_pairs_cf", "crop", "crop_pairs", "crop_symmetric_cf"])
def test_reshaping3d_matches_keras(make, monkeypatch):
    compare_with_keras(make, (2, 3, 4, 5, 2), monkeypatch)


@pytest.mark.parametrize("make", [
    lambda L: L.Conv3D(4, 3, strides=(1, 2, 2), padding="same", activation="relu"),
    lambda L: L.Conv3D(6, (2, 1, 3), dilation_rate=2, groups=3, use_bias=False, kernel_regularizer="l2",
                       bias_constraint="non_neg", data_format="channels_first", name="c"),
    lambda L: L.Conv3DTranspose(4, 3, strides=2, padding="same", output_padding=1, activation="relu"),
    lambda L: L.Conv3DTranspose(2, (1, 2, 3), dilation_rate=(2, 1, 1), use_bias=False, kernel_initializer="he_normal"),
    lambda L: L.MaxPooling3D(),
    lambda L: L.MaxPooling3D((1, 2, 3), strides=(1, 1, 2), padding="same", data_format="channels_first"),
    lambda L: L.AveragePooling3D(3, strides=1),
    lambda L: L.GlobalMaxPooling3D(),
    lambda L: L.GlobalAveragePooling3D(keepdims=True, data_format="channels_first"),
    lambda L: L.UpSampling3D(),
    lambda L: L.UpSampling3D(3, data_format="channels_first"),
    lambda L: L.ZeroPadding3D(),
    lambda L: L.ZeroPadding3D((1, 2, 3)),
    lambda L: L.ZeroPadding3D(((1, 0), (0, 2), (3, 1)), data_format="channels_first"),
    lambda L: L.Cropping3D(),
    lambda L: L.Cropping3D(2),
    lambda L: L.Cropping3D(((1, 0), (0, 2), (3, 1)), data_format="channels_first"),
    lambda L: L.SpatialDropout3D(0.3),
    lambda L: L.SpatialDropout3D(0.25, "channels_first", 2),  # Keras 3's positional order: rate, data_format, seed
])
def test_config_equals_keras_and_round_trips(make):
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config
    clone = type(s_layer).from_config(s_layer.get_config())
    assert clone.get_config() == s_layer.get_config()


@pytest.mark.parametrize("name", [
    "Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D",
    "UpSampling3D", "ZeroPadding3D", "Cropping3D", "SpatialDropout3D", "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D"])
def test_constructor_arguments_are_keras_in_keras_order(name):
    def arguments(cls):
        return [p for p in inspect.signature(cls).parameters if p not in ("name", "dtype", "kwargs")]

    assert arguments(getattr(scanfit.layers, name)) == arguments(getattr(keras.layers, name))


def test_conv3d_transpose_takes_keras_positional_order():
    """Keras 3's Conv3DTranspose takes data_format before output_padding (Conv2DTranspose the other way round)."""
    layer = scanfit.layers.Conv3DTranspose(2, 3, 2, "same", "channels_first", 1)
    assert layer.data_format == "channels_first" and layer.output_padding == (1, 1, 1)


@pytest.mark.parametrize("make", [
    lambda L: L.Conv3D(3, 2, strides=2, padding="same"),
    lambda L: L.Conv3DTranspose(3, 3, strides=(1, 2, 3)),
    lambda L: L.MaxPooling3D(2),
    lambda L: L.GlobalAveragePooling3D(),
    lambda L: L.UpSampling3D((2, 1, 3)),
    lambda L: L.ZeroPadding3D(((1, 0), (2, 2), (0, 3))),
    lambda L: L.Cropping3D(1),
    lambda L: L.SpatialDropout3D(0.5),
], ids=["conv", "transpose", "pool", "global", "up", "pad", "crop", "dropout"])
def test_output_shapes_with_unknown_axes_equal_keras(make):
    for shape in [(None, None, 6, 7, 2), (None, 5, None, 7, 2)]:
        assert make(scanfit.layers).compute_output_shape(shape) == tuple(make(keras.layers).compute_output_shape(shape))


@pytest.mark.parametrize("data_format,channel_axis", [("channels_last", 4), ("channels_first", 1)])
def test_spatial_dropout3d_drops_whole_feature_maps(data_format, channel_axis):
    shape = (60, 3, 4, 5, 3) if channel_axis == 4 else (60, 3, 3, 4, 5)
    x = np.random.default_rng(4).uniform(1, 2, size=shape).astype("float32")
    layer = scanfit.layers.SpatialDropout3D(0.3, data_format=data_format)
    layer.build_for(x.shape)
    y = np.asarray(layer.pure_call({}, x, training=True, rng=KEY)[0])
    moved = np.moveaxis(y, channel_axis, 1).reshape(shape[0], shape[channel_axis], -1)
    source = np.moveaxis(x, channel_axis, 1).reshape(shape[0], shape[channel_axis], -1)
    dropped = (moved == 0).all(axis=-1)
    np.testing.assert_allclose(moved[~dropped], source[~dropped] / 0.7, rtol=1e-6)  # kept maps scaled by 1/(1-rate)
    assert ((moved == 0).any(axis=-1) == dropped).all()  # a map is dropped whole or not at all
    assert 0.2 < dropped.mean() < 0.4  # 180 draws of rate 0.3
    assert len({tuple(row) for row in dropped}) > 1  # each sample its own draw


def test_spatial_dropout3d_is_the_identity_at_inference_like_keras():
    x = np.random.default_rng(5).normal(size=SHAPE).astype("float32")
    layer = scanfit.layers.SpatialDropout3D(0.5)
    layer.build_for(x.shape)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer.pure_call({}, x, training=False, rng=KEY)[0]), x)
    np.testing.assert_array_equal(np.asarray(keras.layers.SpatialDropout3D(0.5)(x, training=False)), x)
    assert layer.compute_output_shape(x.shape) == x.shape


@pytest.mark.parametrize("make,error,match", [
    (lambda: scanfit.layers.Conv3D(4, (3, 3)), ValueError, "kernel_size"),
    (lambda: scanfit.layers.Conv3D(4, 3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (lambda: scanfit.layers.Conv3D(4, 3, padding="causal"), ValueError, "padding"),
    (lambda: scanfit.layers.Conv3DTranspose(4, 3, strides=2, output_padding=2), ValueError, "output_padding"),
    (lambda: scanfit.layers.MaxPooling3D((2, 2)), ValueError, "pool_size"),
    (lambda: scanfit.layers.AveragePooling3D(2, data_format="NDHWC"), ValueError, "data_format"),
    (lambda: scanfit.layers.UpSampling3D((2, 2)), ValueError, "size"),
    (lambda: scanfit.layers.ZeroPadding3D(((1, 1), (1, 1))), ValueError, "padding"),
    (lambda: scanfit.layers.ZeroPadding3D(-1), ValueError, "padding"),
    (lambda: scanfit.layers.Cropping3D(((1, 1), (1, 1), (1, 2, 3))), ValueError, r"cropping\[2\]"),
    (lambda: scanfit.layers.SpatialDropout3D(1.0), ValueError, "rate"),
    (lambda: scanfit.layers.Conv3D(4, 3).build_for((None, 8, 8, 2)), ValueError, "5 axes"),
    (lambda: scanfit.layers.Conv3D(4, 3).build_for((None, 2, 8, 8, 2)), ValueError, "too small"),
    (lambda: scanfit.layers.MaxPooling3D(2).build_for((None, 8, 8, 2)), ValueError, "5 axes"),
    (lambda: scanfit.layers.GlobalMaxPooling3D().build_for((None, 8, 8, 2)), ValueError, "5 axes"),
    (lambda: scanfit.layers.Cropping3D(2).build_for((None, 4, 8, 8, 2)), ValueError, "leaves nothing"),
    (lambda: scanfit.layers.SpatialDropout3D(0.5).build_for((None, 8, 8, 2)), ValueError, "5 axes"),
])
def test_bad_arguments_and_inputs_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_weights_have_keras_names_and_shapes():
    def names(layer):
        layer.build_for((None, 4, 5, 6, 2))
        return [(v.path, v.shape) for v in layer.weights]

    assert names(scanfit.layers.Conv3D(4, (1, 2, 3), name="c")) == [("c/kernel", (1, 2, 3, 2, 4)), ("c/bias", (4,))]
    assert names(scanfit.layers.Conv3DTranspose(4, 3, name="t")) == [("t/kernel", (3, 3, 3, 4, 2)), ("t/bias", (4,))]


def test_keras_aliases_are_the_same_classes():
    L = scanfit.layers
    assert (L.Convolution3D, L.Convolution3DTranspose) == (L.Conv3D, L.Conv3DTranspose)
    assert (L.MaxPool3D, L.AvgPool3D) == (L.MaxPooling3D, L.AveragePooling3D)
    assert (L.GlobalMaxPool3D, L.GlobalAvgPool3D) == (L.GlobalMaxPooling3D, L.GlobalAveragePooling3D)
    for name in ("Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D",
                 "GlobalAveragePooling3D", "UpSampling3D", "ZeroPadding3D", "Cropping3D", "SpatialDropout3D"):
        assert L.LAYER_CLASSES[name].__name__ == name
    assert L.AveragePooling3D().pool_size == (2, 2, 2)  # tf.keras 2's default (Keras 3 requires the argument)


def _volume_cnn(k):
    return k.Sequential([
        k.Input((4, 6, 6, 2)),
        k.layers.Conv3D(4, 3, padding="same", activation="relu"),
        k.layers.MaxPooling3D(2),  # (2, 3, 3, 4)
        k.layers.Conv3D(3, 2, strides=(1, 2, 2), padding="same", activation="relu"),
        k.layers.Conv3DTranspose(3, 2, strides=2, padding="same"),
        k.layers.GlobalAveragePooling3D(),
        k.layers.Dense(3, activation="softmax"),
    ])


def test_conv3d_model_trains_like_keras(monkeypatch):
    """Same start, same batches (no shuffle): the same loss history as Keras, under each lowering."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 4, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 3, size=32)
    k_model = _volume_cnn(keras)
    k_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    weights = k_model.get_weights()
    k_losses = k_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    for name in LOWERINGS:
        monkeypatch.setenv(lowering.ENV_VAR, name)
        s_model = _volume_cnn(scanfit)
        s_model.set_weights(weights)
        s_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        s_losses = s_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        np.testing.assert_allclose(s_losses, k_losses, rtol=1e-4, err_msg=name)
        for s_w, k_w in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
            np.testing.assert_allclose(s_w, k_w, atol=1e-4, rtol=1e-3, err_msg=name)


def every_new_layer_model(lib):
    """A Sequential with every 3D and adaptive pooling layer, built with `lib` (keras or scanfit)."""
    L = lib.layers
    return lib.Sequential([
        lib.Input((4, 6, 6, 2)),
        L.Conv3D(3, 2, padding="same", activation="relu"),
        L.ZeroPadding3D(1),  # (6, 8, 8, 3)
        L.Cropping3D(((1, 1), (1, 1), (2, 0))),  # (4, 6, 6, 3)
        L.SpatialDropout3D(0.2),
        L.Conv3DTranspose(2, 2, strides=2, padding="same"),  # (8, 12, 12, 2)
        L.MaxPooling3D(2),  # (4, 6, 6, 2)
        L.AveragePooling3D(2, strides=1, padding="same"),
        L.UpSampling3D((1, 2, 1)),  # (4, 12, 6, 2)
        L.AdaptiveMaxPooling3D((3, 5, 4)),
        L.AdaptiveAveragePooling3D((2, 3, 3)),
        L.Reshape((6, 3, 2)),
        L.AdaptiveMaxPooling2D((4, 2)),
        L.AdaptiveAveragePooling2D(3),
        L.Reshape((9, 2)),
        L.AdaptiveMaxPooling1D(5),
        L.AdaptiveAveragePooling1D(4),
        L.Reshape((1, 2, 2, 2)),
        L.GlobalMaxPooling3D(keepdims=True),
        L.Reshape((1, 1, 2, 1)),
        L.GlobalAveragePooling3D(),
        L.Dense(3),
    ])


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_new_layers_interchange_files_with_keras(tmp_path, name):
    """Keras's file loads in scanfit and scanfit's in Keras, with the same layers and predictions."""
    x = np.random.default_rng(6).normal(size=(3, 4, 6, 6, 2)).astype("float32")
    rng = np.random.default_rng(7)
    k_model = every_new_layer_model(keras)
    k_model.set_weights([rng.normal(size=w.shape).astype("float32") for w in k_model.get_weights()])
    k_model.save(tmp_path / f"keras_{name}")
    loaded = scanfit.models.load_model(tmp_path / f"keras_{name}")
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in k_model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    s_model = every_new_layer_model(scanfit)
    s_model.set_weights([rng.normal(size=w.shape).astype("float32") for w in s_model.get_weights()])
    s_model.save(tmp_path / f"scanfit_{name}")
    loaded = keras.models.load_model(tmp_path / f"scanfit_{name}")
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in s_model.layers]
    for layer, theirs in zip(s_model.layers, loaded.layers):
        if type(layer).__name__ not in ("Reshape", "Dense"):  # the new layers
            assert theirs.get_config() == {**layer.get_config(), "name": theirs.name}
    np.testing.assert_allclose(loaded.predict(x, verbose=0), s_model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
