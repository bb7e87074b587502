"""Lambda: runs its function like Keras's; saved as Keras saves it; loaded only with safe_mode=False."""
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")


def double(x):
    return x * 2.0


def _config_without_name(layer):
    config = layer.get_config()
    config.pop("name")
    return config


def test_output_shape_and_config_equal_keras():
    scaled = lambda x, factor: x * factor + 1.0  # noqa: E731
    cases = [
        (double, {}, None),
        (scaled, {"factor": 3.0}, None),
        (lambda x: x[:, :2], {}, (2,)),
    ]
    for function, arguments, output_shape in cases:
        k_layer = keras.layers.Lambda(function, output_shape=output_shape, arguments=arguments)
        s_layer = scanfit.layers.Lambda(function, output_shape=output_shape, arguments=arguments)
        np.testing.assert_allclose(np.asarray(s_layer(X)), np.asarray(k_layer(X)), atol=1e-6)
        assert s_layer.compute_output_shape((None, 3)) == tuple(k_layer.compute_output_shape((None, 3)))
        assert _config_without_name(s_layer) == _config_without_name(k_layer)


def test_output_shape_inferred_given_or_computed():
    assert scanfit.layers.Lambda(lambda x: x.sum(axis=-1, keepdims=True)).compute_output_shape((None, 5)) == (None, 1)
    assert scanfit.layers.Lambda(lambda x: x, output_shape=(5,)).compute_output_shape((8, 5)) == (8, 5)
    assert scanfit.layers.Lambda(lambda x: x, output_shape=lambda s: s[:1] + (7,)).compute_output_shape((2, 5)) == (2, 7)
    with pytest.raises(ValueError, match="output_shape"):
        scanfit.layers.Lambda(lambda x: x).compute_output_shape((None, None, 3))


def test_function_sees_training():
    seen = []

    def function(x, training=None):
        seen.append(training)
        return x

    layer = scanfit.layers.Lambda(function)
    layer.build_for(X.shape)
    layer.pure_call({}, X, training=True)
    layer.pure_call({}, X, training=False)
    assert seen[-2:] == [True, False]  # (building traced it once to infer the output shape)


@pytest.mark.parametrize("make,error,argument", [
    (lambda: scanfit.layers.Lambda("x * 2"), TypeError, "function"),
    (lambda: scanfit.layers.Lambda(double, output_shape="3"), TypeError, "output_shape"),
    (lambda: scanfit.layers.Lambda(double, arguments=[1]), TypeError, "arguments"),
    (lambda: scanfit.layers.Lambda(double, mask=True), ValueError, "mask"),
])
def test_bad_arguments_raise_clear_errors(make, error, argument):
    with pytest.raises(error, match=argument):
        make()


def _model(function, **kwargs):
    model = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(4),
                                scanfit.layers.Lambda(function, **kwargs), scanfit.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_saved_lambda_is_refused_by_default_and_loads_with_safe_mode_off(tmp_path, name):
    offset = 0.5
    model = _model(lambda x, scale=2.0: jnp.tanh(x) * scale + offset)  # a default and a closure value
    path = str(tmp_path / name)
    model.save(path)
    for load in (scanfit.models.load_model, scanfit.saving.load_model):
        with pytest.raises(ValueError, match=r"Lambda layer.*safe_mode=False"):
            load(path)
    with pytest.raises(ValueError, match=r"global names \['jnp'\].*custom_objects"):
        scanfit.saving.load_model(path, safe_mode=False)
    loaded = scanfit.saving.load_model(path, safe_mode=False, custom_objects={"jnp": jnp})  # its global names
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)
    rebuilt, original = loaded.layers[1].function, model.layers[1].function
    assert rebuilt.__code__ == original.__code__ and rebuilt.__defaults__ == (2.0,)
    assert [cell.cell_contents for cell in rebuilt.__closure__] == [0.5]
    with pytest.raises(ValueError, match="safe_mode=False"):  # safe mode is back on after the call
        scanfit.models.load_model(path)


def test_named_function_comes_back_only_from_custom_objects(tmp_path):
    model = _model(double)
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.raises(ValueError, match="Unknown Lambda function 'double'"):
        scanfit.models.load_model(path, safe_mode=False)
    loaded = scanfit.models.load_model(path, safe_mode=False, custom_objects={"double": double})
    assert loaded.layers[1].function is double
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_a_file_keras_wrote_loads_with_safe_mode_off(tmp_path):
    k_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                                keras.layers.Lambda(lambda x: x * x - 1.0), keras.layers.Dense(2)])
    k_model.compile(optimizer="adam", loss="mse")
    path = str(tmp_path / "k.keras")
    k_model.save(path)
    with pytest.raises(ValueError, match="safe_mode=False"):
        scanfit.models.load_model(path)
    loaded = scanfit.models.load_model(path, safe_mode=False)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), k_model.predict(X, verbose=0), atol=1e-5)
    back = str(tmp_path / "back.keras")
    loaded.save(back)
    again = keras.models.load_model(back, safe_mode=False)
    np.testing.assert_allclose(again.predict(X, verbose=0), k_model.predict(X, verbose=0), atol=1e-5)


def test_unreadable_bytecode_is_a_clear_error(tmp_path):
    config = scanfit.layers.Lambda(lambda x: x).get_config()
    config["function"]["config"]["code"] = "bm90IGJ5dGVjb2Rl\n"
    with scanfit.serialization.SafeModeScope(False):
        with pytest.raises(ValueError, match="bytecode"):
            scanfit.layers.Lambda.from_config(config)
    with pytest.raises(ValueError, match="safe_mode=False"):
        scanfit.layers.Lambda.from_config(config)


def test_a_tf_keras_2_lambda_config_is_refused_clearly():
    config = {"name": "lambda", "function": ["4wEAAAAA", None, None], "function_type": "lambda",
              "module": "__main__", "output_shape": None, "output_shape_type": "raw", "arguments": {}}
    with scanfit.serialization.SafeModeScope(False):
        with pytest.raises(ValueError, match="tf.keras 2"):
            scanfit.layers.Lambda.from_config(config)
