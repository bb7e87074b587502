"""STFTSpectrogram, MelSpectrogram and the STFT initializer against Keras 3: kernels, outputs and gradients in
every mode and layout, output shapes, configs, a short fit, and .keras / .weights.h5 files both ways."""
import json

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(53)


@pytest.mark.parametrize("options", [
    {},
    {"side": "imag", "window": "hamming", "scaling": "spectrum", "periodic": True},
    {"side": "real", "window": None},
    {"side": "imag", "window": "hann", "scaling": None, "periodic": True},
    {"side": "real", "window": [0.1, 0.5, 1.0, 0.5, 0.2, 0.3], "scaling": "spectrum"},
])
def test_stft_initializer_equals_keras(options):
    shape = (6, 1, 9)
    mine = scanfit.initializers.STFT(**options)
    theirs = keras.initializers.STFT(**options)
    np.testing.assert_allclose(mine(shape), theirs(shape), rtol=1e-6, atol=1e-6)
    assert mine.get_config() == theirs.get_config()


def test_stft_initializer_names_equal_keras():
    assert scanfit.initializers.serialize(scanfit.initializers.STFT("imag")) == keras.initializers.serialize(
        keras.initializers.STFT("imag"))
    for name in ("stft", "STFTInitializer", "STFT"):
        assert isinstance(scanfit.initializers.get(name), scanfit.initializers.STFT)
    assert scanfit.initializers.stft is scanfit.initializers.STFTInitializer is scanfit.initializers.STFT
    config = keras.initializers.serialize(keras.initializers.STFT("imag", "hamming", None, True))
    restored = scanfit.initializers.deserialize(config)
    np.testing.assert_allclose(restored((5, 1, 5)), keras.initializers.deserialize(config)((5, 1, 5)), atol=1e-6)


STFT_CASES = [
    {"mode": "log"},
    {"mode": "magnitude", "padding": "same", "expand_dims": True, "window": "hamming", "periodic": True},
    {"mode": "psd", "data_format": "channels_first", "scaling": None},
    {"mode": "real", "padding": "same", "scaling": "spectrum"},
    {"mode": "imag", "data_format": "channels_first", "expand_dims": True},
    {"mode": "angle", "window": None},
    {"mode": "stft", "padding": "same", "expand_dims": True},
    {"mode": "stft", "data_format": "channels_first"},
]


@pytest.mark.parametrize("options", STFT_CASES)
def test_stft_spectrogram_outputs_and_gradients_equal_keras(options):
    options = {"frame_length": 8, "frame_step": 3, "fft_length": 16, **options}
    channels_first = options.get("data_format") == "channels_first"
    input_shape = (2, 2, 30) if channels_first else (2, 30, 2)
    k_layer, s_layer = keras.layers.STFTSpectrogram(**options), scanfit.layers.STFTSpectrogram(**options)
    k_layer.build(input_shape)
    s_layer.build_for(input_shape)
    assert [(v.short_name, v.shape, v.trainable) for v in s_layer.weights] == [
        (w.name, tuple(w.shape), w.trainable) for w in k_layer.weights]
    for mine, theirs in zip(s_layer.get_weights(), k_layer.get_weights(), strict=True):  # the initial kernels
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)
    weights = [w + 0.05 * RNG.normal(size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)
    shape = tuple(k_layer.compute_output_shape(input_shape))
    assert s_layer.compute_output_shape(input_shape) == shape
    x = jnp.asarray(RNG.normal(size=input_shape), jnp.float32)
    cotangent = jnp.asarray(RNG.normal(size=shape), jnp.float32)

    def k_objective(weights, x):
        y, _ = k_layer.stateless_call(weights, [], x)
        return jnp.sum(y * cotangent), y

    def s_objective(weights, x):
        y, _ = s_layer.pure_call(weights, x)
        return jnp.sum(y * cotangent), y

    (_, k_y), (k_weights, k_x) = jax.value_and_grad(k_objective, (0, 1), has_aux=True)(
        [v.value for v in k_layer.trainable_variables], x)
    (_, s_y), (s_weights, s_x) = jax.value_and_grad(s_objective, (0, 1), has_aux=True)(s_layer.weight_values(), x)
    assert s_y.shape == k_y.shape == shape
    np.testing.assert_allclose(s_y, k_y, rtol=1e-5, atol=1e-5)
    names = [v.short_name for v in s_layer.weights]
    for mine, theirs in zip([s_weights[n] for n in names] + [s_x], list(k_weights) + [k_x], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(theirs).max())))
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config


MEL_CASES = [
    {"fft_length": 16, "sequence_stride": 4, "num_mel_bins": 5, "sampling_rate": 100},
    {"fft_length": 32, "sequence_stride": 5, "sequence_length": 20, "num_mel_bins": 8, "sampling_rate": 8000,
     "min_freq": 100.0, "max_freq": 3000, "power_to_db": False, "mag_exp": 1.0},
    {"fft_length": 16, "sequence_stride": 4, "num_mel_bins": 6, "window": "hamming", "top_db": 10.0,
     "ref_power": 2.0, "min_power": 1e-3},
    {"fft_length": 16, "sequence_stride": 8, "num_mel_bins": 4, "window": None},
]


@pytest.mark.parametrize("options", MEL_CASES)
def test_mel_spectrogram_equals_keras(options):
    k_layer, s_layer = keras.layers.MelSpectrogram(**options), scanfit.layers.MelSpectrogram(**options)
    x = RNG.normal(size=(2, 40)).astype("float32")
    for signals in (x, x[0]):  # a batch, and one signal
        k_y, s_y = np.asarray(k_layer(signals)), np.asarray(s_layer(signals))
        assert s_y.shape == k_y.shape == s_layer.compute_output_shape(signals.shape)
        np.testing.assert_allclose(s_y, k_y, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(k_y).max())))
    assert s_layer.weights == []
    assert s_layer.get_config() | {"name": None} == k_layer.get_config() | {"name": None}


def test_mel_output_shape_counts_the_frames_computed():
    """Keras 3.15's compute_output_shape gives (samples + stride + 1) // stride frames, one more than its
    computation gives when samples % stride == stride - 1; scanfit's gives the computed count."""
    options = {"fft_length": 16, "sequence_stride": 4, "num_mel_bins": 5, "sampling_rate": 100}
    k_layer, s_layer = keras.layers.MelSpectrogram(**options), scanfit.layers.MelSpectrogram(**options)
    x = RNG.normal(size=(2, 39)).astype("float32")
    assert tuple(k_layer.compute_output_shape(x.shape)) == (2, 5, 11)
    assert tuple(k_layer(x).shape) == s_layer.compute_output_shape(x.shape) == (2, 5, 10)
    np.testing.assert_allclose(s_layer(x), k_layer(x), rtol=1e-5, atol=1e-4)


def _model(K):
    """Signals (40 samples) -> a trainable STFT spectrogram and a mel spectrogram -> one output."""
    signals = K.Input((40,))
    stft = K.layers.STFTSpectrogram(mode="magnitude", frame_length=8, frame_step=4, fft_length=8)(
        K.layers.Reshape((40, 1))(signals))
    mel = K.layers.MelSpectrogram(fft_length=16, sequence_stride=4, num_mel_bins=4, sampling_rate=100,
                                  power_to_db=False)(signals)
    features = K.layers.Concatenate()([K.layers.Flatten()(stft), K.layers.Flatten()(mel)])
    return K.Model(signals, K.layers.Dense(1)(features))


def test_fit_equals_keras():
    x = RNG.normal(size=(16, 40)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32")
    k_model, s_model = _model(keras), _model(scanfit)
    assert [tuple(w.shape) for w in s_model.weights] == [tuple(w.shape) for w in k_model.weights]
    weights = [w + 0.05 * RNG.normal(size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.compile(optimizer=keras.optimizers.SGD(0.001), loss="mse")
    s_model.compile(optimizer=scanfit.optimizers.SGD(0.001), loss="mse")
    for model in (k_model, s_model):
        model.set_weights(weights)
    k_history = k_model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    s_history = s_model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(s_history, k_history, rtol=1e-4)
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_files_move_between_the_libraries(tmp_path):
    x = RNG.normal(size=(3, 40)).astype("float32")
    k_model, s_model = _model(keras), _model(scanfit)
    k_model.set_weights([w + 0.05 * RNG.normal(size=w.shape).astype("float32") for w in k_model.get_weights()])
    expected = k_model.predict(x, verbose=0)
    k_model.save(tmp_path / "k.keras")
    k_model.save_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(scanfit.models.load_model(tmp_path / "k.keras").predict(x, verbose=0), expected,
                               rtol=1e-4, atol=1e-5)
    s_model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(s_model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    s_model.save(tmp_path / "s.keras")
    s_model.save_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "s.keras").predict(x, verbose=0), expected,
                               rtol=1e-4, atol=1e-5)
    k_model.save(tmp_path / "k.h5")  # the legacy format too (weights trainable first, as Keras lists them)
    np.testing.assert_allclose(scanfit.models.load_model(tmp_path / "k.h5").predict(x, verbose=0), expected,
                               rtol=1e-4, atol=1e-5)
    s_model.save(tmp_path / "s.h5")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "s.h5").predict(x, verbose=0), expected,
                               rtol=1e-4, atol=1e-5)
    fresh = _model(keras)
    fresh.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    layer_configs = [json.loads(json.dumps(layer.get_config())) for layer in s_model.layers[2:4]]
    for config, cls in zip(layer_configs, (scanfit.layers.STFTSpectrogram, scanfit.layers.MelSpectrogram)):
        assert cls.from_config(config).get_config() == config


@pytest.mark.parametrize("make, error, message", [
    (lambda L: L.STFTSpectrogram(mode="power"), ValueError, "mode"),
    (lambda L: L.STFTSpectrogram(frame_length=8, frame_step=9), ValueError, "frame_step"),
    (lambda L: L.STFTSpectrogram(frame_length=8, fft_length=4), ValueError, "fft_length"),
    (lambda L: L.STFTSpectrogram(scaling="l2"), ValueError, "scaling"),
    (lambda L: L.STFTSpectrogram(padding="causal"), ValueError, "padding"),
    (lambda L: L.MelSpectrogram(fft_length=8, sequence_length=16), ValueError, "fft_length"),
    (lambda L: L.STFTSpectrogram()(np.zeros((1, 300, 1), "int32")), TypeError, "float"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(make, error, message):
    with pytest.raises(error, match=message):
        make(scanfit.layers)
    with pytest.raises(error):
        make(keras.layers)


@pytest.mark.parametrize("make", [lambda L: L.STFTSpectrogram(window="blackman"),
                                  lambda L: L.MelSpectrogram(window="kaiser"),
                                  lambda L: L.STFTSpectrogram(window="hanning")])
def test_windows_other_than_hann_and_hamming_by_name_are_refused(make):
    """scanfit computes the hann and hamming windows itself (it does not depend on SciPy, whose other windows
    Keras's STFTSpectrogram takes by name); any window still works given as an array."""
    with pytest.raises(ValueError, match="'hann', 'hamming'"):
        make(scanfit.layers)
