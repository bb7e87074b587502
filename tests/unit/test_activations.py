"""scanfit.activations against Keras 3 (JAX backend) as the oracle."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras.src.activations import ALL_OBJECTS_DICT as KERAS_ACTIVATIONS

from scanfit import activations

RNG = np.random.default_rng(0)
SPECIAL_VALUES = [-100.0, -50.0, -10.0, -6.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0, 6.0, 10.0, 50.0, 80.0]
# A (6, 20) array: random values of both signs plus large and boundary values.
VALUES = np.concatenate([RNG.normal(0, 4, size=(6, 17)).astype("float32"), np.zeros((6, 3), "float32")], axis=1)
VALUES[0, :17] = SPECIAL_VALUES
# For gradients: random values only, so none sits exactly on a kink (0, ±1, ±3, 6, a threshold).
GRAD_VALUES = RNG.uniform(-8, 8, size=(6, 20)).astype("float32")
GRAD_WEIGHTS = RNG.normal(size=(6, 20)).astype("float32")

# XLA options that cut compile time a few-fold; both sides are compiled alike.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}

CASES = [
    ("relu", {}),
    ("relu", {"negative_slope": 0.1}),
    ("relu", {"max_value": 6}),
    ("relu", {"max_value": 3.5}),
    ("relu", {"threshold": 0.7}),
    ("relu", {"negative_slope": 0.1, "max_value": 4.0, "threshold": 0.7}),
    ("relu", {"negative_slope": 0.2, "max_value": 6}),
    ("relu", {"threshold": -1.2, "max_value": 2.0}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("relu6", {}),
    ("sigmoid", {}),
    ("hard_sigmoid", {}),
    ("log_sigmoid", {}),
    ("sparse_sigmoid", {}),
    ("softmax", {}),
    ("softmax", {"axis": 0}),
    ("softmax", {"axis": (0, 1)}),
    ("log_softmax", {}),
    ("log_softmax", {"axis": 0}),
    ("tanh", {}),
    ("hard_tanh", {}),
    ("tanh_shrink", {}),
    ("elu", {}),
    ("elu", {"alpha": 0.4}),
    ("selu", {}),
    ("celu", {"alpha": 1.5}),
    ("gelu", {}),
    ("gelu", {"approximate": True}),
    ("silu", {}),
    ("swish", {}),
    ("hard_silu", {}),
    ("hard_swish", {}),
    ("mish", {}),
    ("softplus", {}),
    ("softsign", {}),
    ("squareplus", {}),
    ("squareplus", {"b": 1.5}),
    ("sparse_plus", {}),
    ("soft_shrink", {}),
    ("soft_shrink", {"threshold": 1.3}),
    ("hard_shrink", {"threshold": 1.3}),
    ("threshold", {"threshold": 0.3, "default_value": -2.0}),
    ("glu", {}),
    ("glu", {"axis": 0}),
    ("exponential", {}),
    ("linear", {}),
]


def _case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def _values_and_gradients(module):
    """For every case: ``fn(VALUES)`` and the gradient of a weighted sum of ``fn`` at GRAD_VALUES.

    All cases are compiled as one program per module, which is much faster than
    one compilation (or many eager ops) per case.
    """

    def all_cases(values, grad_values):
        results = []
        for name, kwargs in CASES:
            fn = getattr(module, name)

            def total(x, fn=fn, kwargs=kwargs):
                y = jnp.asarray(fn(x, **kwargs))
                return jnp.sum(y * GRAD_WEIGHTS[: y.shape[0], : y.shape[1]])

            results.append((fn(values, **kwargs), jax.grad(total)(grad_values)))
        return results

    args = (jnp.asarray(VALUES), jnp.asarray(GRAD_VALUES))
    compiled = jax.jit(all_cases).lower(*args).compile(compiler_options=FAST_COMPILE)
    results = compiled(*args)
    return {_case_id(case): [np.asarray(a) for a in result] for case, result in zip(CASES, results)}


@pytest.fixture(scope="module")
def ours_and_keras():
    return _values_and_gradients(activations), _values_and_gradients(keras.activations)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_values_and_gradients_match_keras(case, ours_and_keras):
    ours, theirs = (results[_case_id(case)] for results in ours_and_keras)
    (our_values, our_grads), (keras_values, keras_grads) = ours, theirs
    assert our_values.dtype == keras_values.dtype == np.float32
    np.testing.assert_allclose(our_values, keras_values, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(our_grads, keras_grads, rtol=1e-5, atol=1e-5)


def test_eager_call_on_a_list_matches_keras():
    x = [-10, -5, 0.0, 5, 10]
    for kwargs in ({}, {"negative_slope": 0.5}, {"max_value": 5.0}, {"threshold": 5.0}):
        np.testing.assert_allclose(activations.relu(x, **kwargs), keras.activations.relu(x, **kwargs))
    np.testing.assert_allclose(activations.gelu(VALUES), keras.activations.gelu(VALUES), rtol=1e-5, atol=1e-5)


def test_sparsemax_projects_onto_the_simplex():
    # Keras 3.15.1's sparsemax is wrong whenever the support has more than one
    # element (keras-team/keras#23425), so it is checked against the definition.
    sparsemax = jax.jit(activations.sparsemax, static_argnames="axis")  # eager sort/gather ops compile slowly
    x = jnp.array([[0.0, 0.5, 1.0, -5.0, -5.0], [0.1, 0.2, 0.3, 0.4, 0.5]])
    np.testing.assert_allclose(sparsemax(x), [[0, 0.25, 0.75, 0, 0], [0, 0.1, 0.2, 0.3, 0.4]], atol=1e-6)
    for axis in (-1, 0):
        out = np.asarray(sparsemax(VALUES, axis=axis))
        assert out.min() >= 0
        np.testing.assert_allclose(out.sum(axis=axis), 1.0, atol=1e-5)
    one_hot_input = np.linspace(1, 10, 10, dtype="float32").reshape(2, 5)  # Keras is right when |support| = 1
    np.testing.assert_allclose(sparsemax(one_hot_input), keras.activations.sparsemax(one_hot_input))
    # On its support S the Jacobian is I - 1/|S|, so grad of sum(w * y) is w - mean_S(w) there, 0 elsewhere.
    w = jnp.array([[1.0, -2.0, 0.5, 3.0, 4.0], [2.0, 1.0, -1.0, 0.0, 5.0]])
    in_support = np.asarray(sparsemax(x)) > 0
    support_mean = (w * in_support).sum(axis=1, keepdims=True) / in_support.sum(axis=1, keepdims=True)
    expected = np.where(in_support, w - support_mean, 0.0)
    np.testing.assert_allclose(jax.jit(jax.grad(lambda x: jnp.sum(sparsemax(x) * w)))(x), expected, atol=1e-6)


def test_every_keras_activation_name_is_known():
    for name, keras_fn in KERAS_ACTIVATIONS.items():
        fn = activations.get(name)
        assert fn is getattr(activations, name)
        assert activations.serialize(fn) == keras.activations.serialize(keras_fn)


def test_get():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu
    custom = lambda x: 2 * x  # noqa: E731
    assert activations.get(custom) is custom
    with pytest.raises(TypeError, match="activation"):
        activations.get(5)


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="'not_an_activation'") as raised:
        activations.get("not_an_activation")
    assert "relu" in str(raised.value) and "gelu" in str(raised.value)


def test_serialize_is_the_keras_name():
    assert activations.serialize(activations.relu) == "relu"
    assert activations.serialize(activations.swish) == keras.activations.serialize(keras.activations.swish) == "silu"
    assert activations.deserialize("silu") is activations.silu


def test_custom_function_round_trip():
    def scaled_tanh(x):
        return 1.7 * jnp.tanh(x)

    def keras_scaled_tanh(x):
        return x

    keras_scaled_tanh.__name__ = "scaled_tanh"
    config = activations.serialize(scaled_tanh)
    assert config == keras.activations.serialize(keras_scaled_tanh)
    assert activations.deserialize(config, custom_objects={"scaled_tanh": scaled_tanh}) is scaled_tanh
    with pytest.raises(ValueError, match="scaled_tanh"):
        activations.deserialize(config)
    with pytest.raises(ValueError, match="lambda"):
        activations.serialize(lambda x: x)


def test_deserialize_reads_keras_function_dict():
    keras_dict = keras.saving.serialize_keras_object(keras.activations.relu)
    assert activations.deserialize(keras_dict) is activations.relu
    assert activations.get(keras_dict) is activations.relu
    with pytest.raises(TypeError, match="activation"):
        activations.deserialize(3.0)
