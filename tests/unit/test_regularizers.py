"""scanfit.regularizers against Keras 3 (JAX backend) as the oracle."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras.src.regularizers import ALL_OBJECTS_DICT as KERAS_REGULARIZERS

from scanfit import regularizers

WEIGHTS = np.random.default_rng(0).normal(size=(12, 7)).astype("float32")

CASES = [
    ("L1", {}),
    ("L1", {"l1": 0.3}),
    ("L1", {"l1": None}),
    ("L2", {}),
    ("L2", {"l2": 0.25}),
    ("L1L2", {}),
    ("L1L2", {"l1": 0.1}),
    ("L1L2", {"l2": 0.2}),
    ("L1L2", {"l1": 0.01, "l2": 0.02}),
    ("L1L2", {"l1": None, "l2": 3}),
    ("OrthogonalRegularizer", {}),
    ("OrthogonalRegularizer", {"factor": 0.5, "mode": "columns"}),
]


def _case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_penalty_and_gradient_match_keras(case):
    name, kwargs = case
    ours, theirs = getattr(regularizers, name)(**kwargs), getattr(keras.regularizers, name)(**kwargs)
    value, grad = jax.value_and_grad(lambda w: ours(w))(jnp.asarray(WEIGHTS))
    keras_value, keras_grad = jax.value_and_grad(lambda w: theirs(w))(jnp.asarray(WEIGHTS))
    assert value.shape == () and value.dtype == jnp.float32
    np.testing.assert_allclose(value, keras_value, rtol=1e-6)
    np.testing.assert_allclose(grad, keras_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_config_and_serialization_match_keras(case):
    name, kwargs = case
    ours, theirs = getattr(regularizers, name)(**kwargs), getattr(keras.regularizers, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    config = regularizers.serialize(ours)
    assert config == keras.saving.serialize_keras_object(theirs)
    rebuilt = regularizers.deserialize(config)
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()
    assert keras.regularizers.deserialize(config).get_config() == theirs.get_config()
    assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()


def test_l1_config_holds_the_float32_value_keras_writes():
    assert regularizers.L1().get_config() == {"l1": 0.009999999776482582}
    assert regularizers.L2().get_config() == {"l2": 0.01}


def test_lowercase_aliases_are_the_classes_as_in_keras_3():
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    # Keras 3's l1_l2 is the L1L2 class: no penalty by default (tf.keras's function used 0.01, 0.01).
    assert regularizers.l1_l2().get_config() == keras.regularizers.l1_l2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.l1_l2(l1=0.01, l2=0.01).get_config() == {"l1": 0.01, "l2": 0.01}


def test_every_keras_name_resolves_to_the_same_class():
    for name, keras_cls in KERAS_REGULARIZERS.items():
        if keras_cls is keras.regularizers.Regularizer:
            continue
        assert type(regularizers.get(name)).__name__ == keras_cls.__name__, name
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)


def test_get():
    assert regularizers.get(None) is None
    ours = regularizers.L2(0.5)
    assert regularizers.get(ours) is ours
    assert isinstance(regularizers.get(regularizers.L1), regularizers.L1)
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.5}}).l2 == 0.5
    custom = lambda w: jnp.sum(w)  # noqa: E731
    assert regularizers.get(custom) is custom
    with pytest.raises(TypeError, match="regularizer"):
        regularizers.get(0.01)
    assert regularizers.serialize(None) is None


def test_unknown_names_are_rejected_with_the_name():
    with pytest.raises(ValueError, match="'l3'") as raised:
        regularizers.get("l3")
    assert "l1" in str(raised.value) and "L1L2" in str(raised.value)
    with pytest.raises(ValueError, match="'ElasticNet'"):
        regularizers.deserialize({"class_name": "ElasticNet", "config": {}})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: regularizers.L1(-0.1), "l1"),
        (lambda: regularizers.L2(float("nan")), "l2"),
        (lambda: regularizers.L1L2(l2="0.1"), "l2"),
        (lambda: regularizers.L1L2(l1=float("inf")), "l1"),
        (lambda: regularizers.OrthogonalRegularizer(factor=-1), "factor"),
        (lambda: regularizers.OrthogonalRegularizer(mode="diagonal"), "mode"),
    ],
)
def test_bad_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_orthogonal_regularizer_needs_a_matrix():
    with pytest.raises(ValueError, match="2-D"):
        regularizers.OrthogonalRegularizer()(jnp.ones((2, 3, 4)))
    # Orthonormal rows cost nothing.
    assert float(regularizers.OrthogonalRegularizer(factor=1.0)(jnp.eye(4))) == 0.0


def test_custom_regularizer_round_trip():
    class Sum(regularizers.Regularizer):
        def __call__(self, x):
            return jnp.sum(x)

        def get_config(self):
            return {}

    config = regularizers.serialize(Sum())
    assert config["class_name"] == "Sum"
    assert isinstance(regularizers.deserialize(config, custom_objects={"Sum": Sum}), Sum)
    with pytest.raises(TypeError, match="Regularizer"):
        regularizers.serialize(lambda w: jnp.sum(w))
    with pytest.raises(NotImplementedError):
        regularizers.Regularizer().get_config()
