"""keras.saving.serialize_keras_object / deserialize_keras_object, InputSpec, a layer built by hand, and the
keras.backend / keras.utils helpers around them, against Keras 3."""
import contextvars
import json

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

OBJECTS = [
    lambda L: None, lambda L: 3, lambda L: "relu", lambda L: (1, (2, 3)), lambda L: {"a": [1.5, None]},
    lambda L: np.arange(3), lambda L: b"bytes", lambda L: jnp.ones(2),
    lambda L: L.optimizers.Adam(0.01, name="adam"), lambda L: L.optimizers.SGD(0.1, momentum=0.9, nesterov=True,
                                                                            name="sgd"),
    lambda L: L.losses.MeanSquaredError(), lambda L: L.metrics.AUC(name="auc"),
    lambda L: L.metrics.Accuracy(name="accuracy"),
    lambda L: L.initializers.HeNormal(seed=3), lambda L: L.regularizers.L2(0.1), lambda L: L.constraints.MaxNorm(2),
    lambda L: L.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), lambda L: L.activations.relu,
    lambda L: L.losses.mean_squared_error, lambda L: L.mixed_precision.DTypePolicy("mixed_float16"),
    lambda L: L.layers.LSTM(4, return_sequences=True, name="lstm"),
    lambda L: L.layers.Bidirectional(L.layers.GRU(2, name="gru"), name="bidirectional"),
]


@pytest.mark.parametrize("make", OBJECTS)
def test_objects_serialize_as_keras_writes_them(make):
    ours = scanfit.saving.serialize_keras_object(make(scanfit))
    theirs = keras.saving.serialize_keras_object(make(keras))
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)


@pytest.mark.parametrize("make", OBJECTS)
def test_keras_serialized_objects_come_back(make):
    theirs = keras.saving.serialize_keras_object(make(keras))
    back = scanfit.saving.deserialize_keras_object(theirs)
    expected = make(scanfit)
    if isinstance(expected, (np.ndarray, type(jnp.ones(1)))):
        assert type(back) is type(expected) and back.dtype == expected.dtype
        np.testing.assert_array_equal(back, expected)
    elif callable(getattr(expected, "get_config", None)):
        assert type(back) is type(expected)
        assert scanfit.saving.serialize_keras_object(back)["config"] == theirs["config"]
    elif isinstance(expected, tuple):
        assert back == [1, [2, 3]]  # as in Keras: JSON has no tuples
    else:
        assert back == expected


def test_a_built_layer_comes_back_built():
    keras_layer = keras.layers.Dense(3)
    keras_layer.build((None, 4))
    config = keras.saving.serialize_keras_object(keras_layer)
    layer = scanfit.saving.deserialize_keras_object(config)
    assert layer.built and [w.shape for w in layer.weights] == [(4, 3), (3,)]
    assert scanfit.saving.serialize_keras_object(layer)["build_config"] == {"input_shape": [None, 4]}


@scanfit.saving.register_keras_serializable(package="Tests")
class Residual(scanfit.layers.Layer):
    """Keras's serialization guide: a layer holding another layer, saved with serialize_keras_object."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x):
        return x + self.inner(x)

    def get_config(self):
        return {**super().get_config(), "inner": scanfit.saving.serialize_keras_object(self.inner)}

    @classmethod
    def from_config(cls, config):
        config["inner"] = scanfit.saving.deserialize_keras_object(config["inner"])
        return cls(**config)


def test_a_layer_holding_a_layer_saves_and_loads(tmp_path):
    model = scanfit.Sequential([scanfit.Input((4,)), Residual(scanfit.layers.Dense(4, activation="tanh"))])
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = scanfit.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[0].inner, scanfit.layers.Dense)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    config = scanfit.saving.serialize_keras_object(model.layers[0])
    assert config["registered_name"] == "Tests>Residual"
    again = scanfit.saving.deserialize_keras_object(config)
    assert type(again) is Residual and again.inner.units == 4


def test_functions_by_name_and_clear_errors():
    def twice(x):
        return 2 * x
    config = scanfit.saving.serialize_keras_object(twice)
    assert config == keras.saving.serialize_keras_object(twice)
    assert scanfit.saving.deserialize_keras_object(config, custom_objects={"twice": twice}) is twice
    with scanfit.saving.custom_object_scope({"twice": twice}):
        assert scanfit.saving.deserialize_keras_object(config) is twice
    with pytest.raises(ValueError, match="custom_objects"):
        scanfit.saving.deserialize_keras_object(config)
    with pytest.raises(TypeError, match="lambda"):
        scanfit.saving.serialize_keras_object(lambda x: x)
    with pytest.raises(TypeError, match="get_config"):
        scanfit.saving.serialize_keras_object(object())
    with pytest.raises(ValueError, match="NotALayer"):
        scanfit.saving.deserialize_keras_object({"module": "keras.layers", "class_name": "NotALayer", "config": {}})


def test_layers_serialize_and_deserialize():
    config = scanfit.layers.serialize(scanfit.layers.Dropout(0.3, name="d"))
    assert config == {**keras.layers.serialize(keras.layers.Dropout(0.3, name="d"))}
    layer = scanfit.layers.deserialize(keras.layers.serialize(keras.layers.Dense(2, activation="relu")))
    assert isinstance(layer, scanfit.layers.Dense) and layer.activation is scanfit.activations.relu


def test_a_lambda_layer_needs_unsafe_mode():
    config = keras.layers.serialize(keras.layers.Lambda(lambda x: x + 1))
    with pytest.raises(ValueError, match="safe_mode"):
        scanfit.saving.deserialize_keras_object(config)
    layer = scanfit.saving.deserialize_keras_object(config, safe_mode=False)
    np.testing.assert_allclose(layer(np.zeros((1, 2), "float32")), [[1.0, 1.0]])

    def unsafe_from_now_on():  # (in a copied context: the setting stays out of the other tests)
        scanfit.config.enable_unsafe_deserialization()
        return scanfit.saving.deserialize_keras_object(config)
    assert isinstance(contextvars.copy_context().run(unsafe_from_now_on), scanfit.layers.Lambda)
    with pytest.raises(ValueError, match="safe_mode"):
        scanfit.saving.deserialize_keras_object(config)


class Pair(scanfit.layers.Layer):
    """Tutorial style: a layer that declares what it accepts."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = scanfit.layers.InputSpec(ndim=3, axes={-1: 2})

    def call(self, x):
        return x[..., 0] * x[..., 1]


def keras_pair():
    class KerasPair(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.input_spec = keras.layers.InputSpec(ndim=3, axes={-1: 2})

        def call(self, x):
            return x[..., 0] * x[..., 1]
    return KerasPair()


@pytest.mark.parametrize("shape, error", [((4, 5, 2), None), ((4, 2), "expected ndim=3, found ndim=2"),
                                          ((4, 5, 3), "expected axis -1 of input shape to have value 2")])
def test_input_spec_is_checked_as_keras_checks_it(shape, error):
    x = np.ones(shape, "float32")
    if error is None:
        np.testing.assert_allclose(Pair()(x), keras_pair()(x))
        return
    with pytest.raises(ValueError, match=error):
        keras_pair()(x)
    with pytest.raises(ValueError, match=error):
        Pair()(x)
    with pytest.raises(ValueError, match=error):  # in a model, before anything compiles
        scanfit.Sequential([scanfit.Input(shape[1:]), Pair()])
    with pytest.raises(ValueError, match=error):
        Pair()(scanfit.Input(shape[1:]))


def test_input_spec_rules():
    spec = scanfit.layers.InputSpec
    check = scanfit.layers.input_spec.check_inputs
    check(spec(min_ndim=2, max_ndim=3), (None, 4), "l")
    with pytest.raises(ValueError, match="expected min_ndim=2"):
        check(spec(min_ndim=2), (4,), "l")
    with pytest.raises(ValueError, match="expected max_ndim=3"):
        check(spec(max_ndim=3), (1, 2, 3, 4), "l")
    with pytest.raises(ValueError, match="expected shape=\\(None, 3\\)"):
        check(spec(shape=(None, 3)), (2, 4), "l")
    check(spec(shape=(None, 3, 1), allow_last_axis_squeeze=True), (2, 3), "l")
    with pytest.raises(ValueError, match="expected dtype=int32, found dtype=float32"):
        check(spec(dtype="int32"), np.zeros((2, 3), "float32"), "l")
    with pytest.raises(ValueError, match="expects 2 input"):
        check([spec(ndim=2), spec(ndim=2)], (2, 3), "l")
    check([spec(ndim=2, name="a"), spec(ndim=1, name="b")], {"b": np.zeros(3), "a": np.zeros((1, 3))}, "l")
    with pytest.raises(ValueError, match="missing"):
        check([spec(ndim=2, name="a"), spec(ndim=1, name="b")], {"a": np.zeros((1, 3))}, "l")


def test_a_layer_built_by_hand_is_not_built_again():
    class Scale(scanfit.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    for layer in (Scale(), scanfit.layers.Dense(3)):
        layer.build((None, 4))
        assert layer.built
        layer(np.ones((2, 4), "float32"))
        assert len(layer.weights) == len(layer.trainable_weights) == (1 if isinstance(layer, Scale) else 2)


def test_get_source_inputs_as_keras():
    def graph(L):
        a, b = L.Input((3,), name="a"), L.Input((3,), name="b")
        c = L.layers.Dense(2)(L.layers.Concatenate()([b, L.layers.Dense(3)(a)]))
        return a, b, c
    a, b, c = graph(scanfit)
    ka, kb, kc = graph(keras)
    names = {id(ka): "a", id(kb): "b"}
    assert [names[id(t)] for t in keras.utils.get_source_inputs(kc)] == ["b", "a"]
    assert scanfit.utils.get_source_inputs(c) == [b, a]
    assert scanfit.utils.get_source_inputs(a) == [a]
    assert scanfit.utils.is_keras_tensor(c) and not scanfit.utils.is_keras_tensor(np.ones(2))
    with pytest.raises(TypeError, match="symbolic tensor"):
        scanfit.utils.get_source_inputs(np.ones(2))


DTYPE_CASES = [(), ("int32", "float16"), (int, "int8"), ("bfloat16", "float16"), (float, "int32"), ("uint8", "int8"),
               ("float64", "int32"), (int,), (float,), (int, float), ("bool", int), ("bool", float),
               ("int64", "float32"), ("uint32", "int32"), (float, "float16"), (int, "uint8"), ("float64", float),
               ("float64",), ("int64", "uint64"), ("complex64", "float64")]


@pytest.mark.parametrize("dtypes", DTYPE_CASES)
def test_result_type_as_keras(dtypes):
    assert scanfit.backend.result_type(*dtypes) == keras.backend.result_type(*dtypes)


def test_backend_dtype_helpers_as_keras():
    for dtype in (None, "float32", np.float64, int, float, bool, "bfloat16", np.dtype("int8"), "int", "string",
                  np.dtype("uint16"), jnp.bfloat16):
        assert scanfit.backend.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype), dtype
    with pytest.raises(ValueError, match="Invalid dtype"):
        scanfit.backend.standardize_dtype("float")
    for dtype in ("float16", "uint8", "bool", int, float, "int64", "bfloat16"):
        assert scanfit.backend.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
        assert scanfit.backend.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)
    assert scanfit.backend.backend() == scanfit.config.backend() == keras.backend.backend() == "jax"


def test_get_uid_counts_with_the_automatic_names():
    for lib in (keras, scanfit):
        lib.backend.clear_session(free_memory=False)
        assert [lib.backend.get_uid("dense"), lib.backend.get_uid("dense")] == [1, 2]
        assert lib.layers.Dense(2).name == "dense_2"
        assert lib.backend.get_uid("dense") == 4
    scanfit.backend.clear_session(free_memory=False)
