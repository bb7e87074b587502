"""scanfit.constraints against Keras 3 (JAX backend) as the oracle."""
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras.src.constraints import ALL_OBJECTS_DICT as KERAS_CONSTRAINTS

from scanfit import constraints

RNG = np.random.default_rng(0)
DENSE_KERNEL = RNG.normal(scale=2.0, size=(12, 7)).astype("float32")
CONV_KERNEL = RNG.normal(scale=0.3, size=(3, 3, 4, 5)).astype("float32")
DENSE_KERNEL[:, 0] = 0.0  # a zero column: the epsilon keeps it finite

CASES = [
    ("MaxNorm", {}),
    ("MaxNorm", {"max_value": 1.5, "axis": 1}),
    ("MaxNorm", {"max_value": 0.5, "axis": [0, 1, 2]}),
    ("NonNeg", {}),
    ("UnitNorm", {}),
    ("UnitNorm", {"axis": 1}),
    ("UnitNorm", {"axis": [0, 1, 2]}),
    ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 1.0, "max_value": 3.0, "rate": 0.5, "axis": 1}),
    ("MinMaxNorm", {"min_value": 0.2, "max_value": 0.6, "axis": [0, 1, 2]}),
]


def _case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_values_match_keras(case):
    name, kwargs = case
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    kernel = CONV_KERNEL if isinstance(kwargs.get("axis"), list) else DENSE_KERNEL
    constrained = ours(jnp.asarray(kernel))
    assert constrained.shape == kernel.shape and constrained.dtype == jnp.float32
    np.testing.assert_allclose(constrained, theirs(kernel), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_config_and_serialization_match_keras(case):
    name, kwargs = case
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    config = constraints.serialize(ours)
    assert config == keras.saving.serialize_keras_object(theirs)
    rebuilt = constraints.deserialize(config)
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()
    assert keras.constraints.deserialize(config).get_config() == theirs.get_config()


def test_norms_end_up_where_asked():
    norms = lambda w, axis=0: np.sqrt((np.asarray(w) ** 2).sum(axis=axis))  # noqa: E731
    assert norms(constraints.MaxNorm(1.0)(DENSE_KERNEL)).max() <= 1.0 + 1e-5
    np.testing.assert_allclose(norms(constraints.UnitNorm()(DENSE_KERNEL))[1:], 1.0, rtol=1e-5)
    between = norms(constraints.MinMaxNorm(2.0, 3.0)(DENSE_KERNEL))[1:]
    assert between.min() >= 2.0 - 1e-5 and between.max() <= 3.0 + 1e-5
    assert np.asarray(constraints.NonNeg()(DENSE_KERNEL)).min() == 0.0
    np.testing.assert_array_equal(constraints.Constraint()(DENSE_KERNEL), DENSE_KERNEL)


def test_every_keras_name_resolves_to_the_same_class():
    for name, keras_cls in KERAS_CONSTRAINTS.items():
        if keras_cls is keras.constraints.Constraint:
            continue
        ours = constraints.get(name)
        assert type(ours).__name__ == keras_cls.__name__, name
        assert getattr(constraints, name) is type(ours), name


def test_get():
    assert constraints.get(None) is None
    ours = constraints.MaxNorm(3)
    assert constraints.get(ours) is ours
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)
    assert constraints.get({"class_name": "UnitNorm", "config": {"axis": 1}}).axis == 1
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    custom = lambda w: jnp.clip(w, -1, 1)  # noqa: E731
    assert constraints.get(custom) is custom
    with pytest.raises(TypeError, match="constraint"):
        constraints.get(2)
    assert constraints.serialize(None) is None


def test_unknown_names_are_rejected_with_the_name():
    with pytest.raises(ValueError, match="'maxnorm'") as raised:
        constraints.get("maxnorm")
    assert "max_norm" in str(raised.value)
    with pytest.raises(ValueError, match="'Clip'"):
        constraints.deserialize({"class_name": "Clip", "config": {}})


def test_custom_constraint_round_trip():
    class Clip(constraints.Constraint):
        def __init__(self, limit=1.0):
            self.limit = limit

        def __call__(self, w):
            return jnp.clip(w, -self.limit, self.limit)

        def get_config(self):
            return {"limit": self.limit}

    config = constraints.serialize(Clip(0.5))
    assert config["class_name"] == "Clip" and config["config"] == {"limit": 0.5}
    assert constraints.deserialize(config, custom_objects={"Clip": Clip}).limit == 0.5
    with pytest.raises(TypeError, match="Constraint"):
        constraints.serialize(lambda w: w)
