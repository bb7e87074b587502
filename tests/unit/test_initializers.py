"""scanfit.initializers against Keras 3 (JAX backend) as the oracle."""
import math

import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras.src.initializers import ALL_OBJECTS_DICT as KERAS_INITIALIZERS
from keras.src.initializers.random_initializers import compute_fans as keras_compute_fans

from scanfit import initializers, seeding as scanfit_random

DENSE, CONV = (400, 300), (3, 3, 16, 32)
TRUNCATED_STDDEV = 0.87962566103423978  # stddev of a unit normal truncated to ±2


def keras_key(seed):
    """The raw JAX key Keras's JAX backend uses for an integer seed."""
    return jnp.array([seed, 0], dtype=jnp.uint32)


def ks_distance(a, b):
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs of `a` and `b`."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    grid = np.concatenate([a, b])
    return np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size - np.searchsorted(b, grid, side="right") / b.size))


def same_distribution(a, b):
    """Whether samples `a` and `b` could come from one distribution (KS test at a level of about 1e-6).

    scanfit draws with NumPy and Keras with jax.random, so the numbers differ;
    their distributions must not (with the variance checks, this pins down
    every formula: uniform or normal, truncation, scale).
    """
    n, m = np.size(a), np.size(b)
    return ks_distance(a, b) < 2.7 * math.sqrt((n + m) / (n * m))


def variance_of(kind, shape):
    """Theoretical (mean, variance) of a VarianceScaling-family initializer."""
    fan_in, fan_out = keras_compute_fans(shape)
    scale, fan = {
        "GlorotUniform": (1.0, (fan_in + fan_out) / 2), "GlorotNormal": (1.0, (fan_in + fan_out) / 2),
        "HeNormal": (2.0, fan_in), "HeUniform": (2.0, fan_in),
        "LecunNormal": (1.0, fan_in), "LecunUniform": (1.0, fan_in),
    }[kind]
    return 0.0, scale / fan


# (scanfit class name, kwargs) for every random initializer, with the theoretical (mean, variance) per shape.
RANDOM_CASES = [
    ("RandomNormal", {}, lambda shape: (0.0, 0.05**2)),
    ("RandomNormal", {"mean": 1.0, "stddev": 0.3}, lambda shape: (1.0, 0.09)),
    ("RandomUniform", {}, lambda shape: (0.0, 0.1**2 / 12)),
    ("RandomUniform", {"minval": 0.0, "maxval": 2.0}, lambda shape: (1.0, 4 / 12)),
    ("TruncatedNormal", {}, lambda shape: (0.0, (0.05 * TRUNCATED_STDDEV) ** 2)),
    ("TruncatedNormal", {"mean": -1.0, "stddev": 0.5}, lambda shape: (-1.0, (0.5 * TRUNCATED_STDDEV) ** 2)),
    ("VarianceScaling", {}, lambda shape: (0.0, 1.0 / keras_compute_fans(shape)[0])),
    ("VarianceScaling", {"scale": 3.0, "mode": "fan_out", "distribution": "uniform"},
     lambda shape: (0.0, 3.0 / keras_compute_fans(shape)[1])),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"},
     lambda shape: (0.0, 0.5 / (sum(keras_compute_fans(shape)) / 2))),
    ("GlorotUniform", {}, lambda shape: variance_of("GlorotUniform", shape)),
    ("GlorotNormal", {}, lambda shape: variance_of("GlorotNormal", shape)),
    ("HeNormal", {}, lambda shape: variance_of("HeNormal", shape)),
    ("HeUniform", {}, lambda shape: variance_of("HeUniform", shape)),
    ("LecunNormal", {}, lambda shape: variance_of("LecunNormal", shape)),
    ("LecunUniform", {}, lambda shape: variance_of("LecunUniform", shape)),
    ("Orthogonal", {}, None),
    ("Orthogonal", {"gain": 2.5}, None),
]


def _case_id(case):
    name, kwargs, _ = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", RANDOM_CASES, ids=_case_id)
def test_random_initializer_matches_keras(case):
    name, kwargs, moments = case
    # Orthogonal has no moments to check, and QR compiles slowly, so it gets one shape.
    shapes = (DENSE, CONV) if moments else (CONV,)
    for shape in shapes:
        ours = getattr(initializers, name)(**kwargs, seed=11)
        theirs = getattr(keras.initializers, name)(**kwargs, seed=11)
        values = np.asarray(ours(shape))
        keras_values = np.asarray(theirs(shape))
        assert values.shape == shape and values.dtype == np.float32
        # The same distribution as Keras's (the numbers differ: scanfit draws with NumPy), also with an explicit key.
        assert same_distribution(values, keras_values)
        with_key = np.asarray(ours(shape, key=keras_key(11)))
        assert with_key.shape == shape and not np.array_equal(with_key, values)
        np.testing.assert_array_equal(with_key, ours(shape, key=keras_key(11)))
        assert same_distribution(with_key, keras_values)
        if moments is None:
            continue
        mean, variance = moments(shape)
        tolerance = 4 * math.sqrt(variance / values.size)
        assert abs(values.mean() - mean) < tolerance
        assert abs(keras_values.mean() - mean) < tolerance
        np.testing.assert_allclose(values.var(), variance, rtol=0.05)
        np.testing.assert_allclose(values.var(), keras_values.var(), rtol=0.05)


@pytest.mark.parametrize("case", RANDOM_CASES, ids=_case_id)
def test_config_and_serialization_match_keras(case):
    name, kwargs, _ = case
    for seed in (None, 5):
        ours = getattr(initializers, name)(**kwargs, seed=seed)
        theirs = getattr(keras.initializers, name)(**kwargs, seed=seed)
        assert ours.get_config() == theirs.get_config()
        assert initializers.serialize(ours) == keras.saving.serialize_keras_object(theirs)
        rebuilt = initializers.deserialize(keras.saving.serialize_keras_object(theirs))
        assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()
        from_config = type(ours).from_config(ours.get_config())
        assert from_config.get_config() == ours.get_config()


def test_uniform_bounds():
    values = np.asarray(initializers.RandomUniform(-0.3, 0.7, seed=1)(DENSE))
    assert values.min() >= -0.3 and values.max() < 0.7
    for name, scale, fan_index in (("GlorotUniform", 1.0, None), ("HeUniform", 2.0, 0), ("LecunUniform", 1.0, 0)):
        for shape in (DENSE, CONV):
            fans = keras_compute_fans(shape)
            fan = sum(fans) / 2 if fan_index is None else fans[fan_index]
            limit = math.sqrt(3 * scale / fan)
            values = np.asarray(getattr(initializers, name)(seed=2)(shape))
            assert np.abs(values).max() <= limit
            assert np.abs(values).max() > 0.99 * limit


def test_truncated_values_stay_within_two_stddev():
    values = np.asarray(initializers.TruncatedNormal(mean=0.5, stddev=0.1, seed=3)(DENSE))
    assert np.abs(values - 0.5).max() <= 0.2 + 1e-6
    for name in ("GlorotNormal", "HeNormal", "LecunNormal"):
        values = np.asarray(getattr(initializers, name)(seed=4)(CONV))
        _, variance = variance_of(name, CONV)
        assert np.abs(values).max() <= 2 * math.sqrt(variance) / TRUNCATED_STDDEV + 1e-6


@pytest.mark.parametrize("shape", [(30, 40), CONV])
def test_orthogonal_is_orthogonal(shape):
    gain = 1.5
    flat = np.asarray(initializers.Orthogonal(gain=gain, seed=7)(shape)).reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(gram.shape[0]), atol=1e-4)


def test_orthogonal_needs_rank_two():
    with pytest.raises(ValueError, match="rank"):
        initializers.Orthogonal()((5,))


def test_seeding_follows_keras_3():
    shape = CONV
    # A fixed seed gives the same values, from any object, on every call.
    a, b = initializers.GlorotUniform(seed=42), initializers.GlorotUniform(seed=42)
    np.testing.assert_array_equal(a(shape), b(shape))
    np.testing.assert_array_equal(a(shape), a(shape))
    assert not np.array_equal(a(shape), initializers.GlorotUniform(seed=43)(shape))
    # Unseeded: one object repeats itself (as in Keras 3), two objects differ.
    unseeded = initializers.RandomNormal()
    np.testing.assert_array_equal(unseeded(shape), unseeded(shape))
    assert not np.array_equal(unseeded(shape), initializers.RandomNormal()(shape))
    keras_unseeded = keras.initializers.RandomNormal()
    np.testing.assert_array_equal(keras_unseeded(shape), keras_unseeded(shape))
    # An explicit key overrides the object's own key.
    assert not np.array_equal(a(shape), a(shape, key=keras_key(42)))
    # The global seed makes unseeded initializers repeatable.
    scanfit_random.set_seed(123)
    first = initializers.HeNormal()(shape)
    scanfit_random.set_seed(123)
    np.testing.assert_array_equal(first, initializers.HeNormal()(shape))


def test_seed_must_be_an_int():
    with pytest.raises(TypeError, match="seed"):
        initializers.RandomNormal(seed="7")
    with pytest.raises(TypeError, match="seed"):
        initializers.GlorotUniform(seed=1.5)


def test_dtypes():
    assert initializers.GlorotUniform(seed=1)(CONV, dtype="float16").dtype == jnp.float16
    assert initializers.Ones()((2, 3), dtype=jnp.bfloat16).dtype == jnp.bfloat16
    assert initializers.Zeros()((2, 3), dtype="int32").dtype == jnp.int32
    assert initializers.Ones()((2,), dtype=None).dtype == jnp.float32
    with pytest.raises(TypeError, match="dtype"):
        initializers.HeNormal(seed=1)(CONV, dtype="int32")
    with pytest.raises(TypeError, match="shape"):
        initializers.Zeros()((2.5, 3))


@pytest.mark.parametrize("shape", [(), (7,), (5, 6), (3, 5, 6), (3, 3, 16, 32), (2, 3, 4, 5, 6)])
def test_compute_fans_matches_keras(shape):
    assert initializers.compute_fans(shape) == keras_compute_fans(shape)
    axes = {"input_axes": [0], "output_axes": [-1]} if len(shape) >= 2 else {}
    assert initializers.compute_fans(shape, **axes) == keras_compute_fans(shape, **axes)


def test_input_and_output_axes():
    # Count only the channel axes of a conv kernel: fan_in = 16, not 3 * 3 * 16.
    ours = initializers.VarianceScaling(scale=2.0, seed=3, input_axes=[2], output_axes=[3])
    theirs = keras.initializers.VarianceScaling(scale=2.0, seed=3, input_axes=[2], output_axes=[3])
    assert ours.get_config() == theirs.get_config()
    values = np.asarray(ours(CONV))
    assert same_distribution(values, theirs(CONV))
    np.testing.assert_allclose(np.var(values), 2.0 / 16, rtol=0.1)
    np.testing.assert_allclose(np.var(ours(CONV, key=keras_key(3))), 2.0 / 16, rtol=0.1)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"scale": 0.0}, "scale"), ({"scale": -1}, "scale"), ({"mode": "fan_both"}, "mode"),
     ({"distribution": "gamma"}, "distribution")],
)
def test_variance_scaling_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        initializers.VarianceScaling(**kwargs)


def test_normal_distribution_means_truncated_normal():
    ours = initializers.VarianceScaling(distribution="normal", seed=1)
    theirs = keras.initializers.VarianceScaling(distribution="normal", seed=1)
    assert ours.distribution == "truncated_normal"
    assert ours.get_config() == theirs.get_config()


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (initializers.Zeros(), keras.initializers.Zeros()),
        (initializers.Ones(), keras.initializers.Ones()),
        (initializers.Constant(), keras.initializers.Constant()),
        (initializers.Constant(2), keras.initializers.Constant(2)),
        (initializers.Constant(np.float32(2.5)), keras.initializers.Constant(np.float32(2.5))),
        (initializers.Constant(np.arange(6.0, dtype="float32").reshape(2, 3)),
         keras.initializers.Constant(np.arange(6.0, dtype="float32").reshape(2, 3))),
        (initializers.Constant(jnp.arange(6.0).reshape(2, 3)), keras.initializers.Constant(jnp.arange(6.0).reshape(2, 3))),
    ],
    ids=["zeros", "ones", "constant", "constant-int", "constant-np-scalar", "constant-numpy", "constant-jax"],
)
def test_constant_initializers_match_keras(ours, theirs):
    np.testing.assert_array_equal(ours((2, 3)), theirs((2, 3)))
    assert ours((2, 3)).dtype == np.float32
    assert ours.get_config() == theirs.get_config()
    assert initializers.serialize(ours) == keras.saving.serialize_keras_object(theirs)
    rebuilt = initializers.deserialize(initializers.serialize(ours))
    np.testing.assert_array_equal(rebuilt((2, 3)), ours((2, 3)))
    assert rebuilt.get_config() == ours.get_config()


def test_constant_rejects_a_value_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        initializers.Constant(np.ones((2, 3)))((4, 4))


def test_identity():
    for shape in ((2, 4), (5, 2)):
        np.testing.assert_array_equal(initializers.Identity(gain=2.0)(shape), keras.initializers.Identity(gain=2.0)(shape))
    with pytest.raises(ValueError, match="2-D"):
        initializers.Identity()((3, 3, 3))
    # Keras 3 writes an empty config (losing gain); scanfit keeps gain, and Keras reads it back.
    config = initializers.Identity(gain=3.0).get_config()
    assert config == {"gain": 3.0}
    assert keras.initializers.Identity.from_config(config).gain == 3.0
    assert initializers.deserialize(keras.saving.serialize_keras_object(keras.initializers.Identity())).gain == 1.0


def test_every_keras_name_resolves_to_the_same_class():
    for name, keras_cls in KERAS_INITIALIZERS.items():
        if keras_cls.__name__ in ("Initializer", "STFT"):
            continue
        ours = initializers.get(name)
        assert type(ours).__name__ == keras_cls.__name__, name
        if hasattr(keras.initializers, name):
            assert getattr(initializers, name) is type(ours), name


def test_get():
    assert initializers.get(None) is None
    ours = initializers.HeNormal()
    assert initializers.get(ours) is ours
    assert isinstance(initializers.get(initializers.Ones), initializers.Ones)
    assert isinstance(initializers.get({"class_name": "Constant", "config": {"value": 3.0}}), initializers.Constant)
    array_init = initializers.get(np.full((2, 2), 4.0))
    np.testing.assert_array_equal(array_init((2, 2)), np.full((2, 2), 4.0))
    with pytest.raises(ValueError, match="shape"):
        array_init((3, 3))
    with pytest.raises(TypeError, match="initializer"):
        initializers.get(3.5)


def test_unknown_names_are_rejected_with_the_name():
    with pytest.raises(ValueError, match="'glorot_unifrom'") as raised:
        initializers.get("glorot_unifrom")
    assert "glorot_uniform" in str(raised.value)
    with pytest.raises(ValueError, match="'Xavier'"):
        initializers.deserialize({"class_name": "Xavier", "config": {}})


def test_custom_initializer_round_trip():
    class Twos(initializers.Initializer):
        def __call__(self, shape, dtype="float32", key=None):
            return jnp.full(shape, 2.0, dtype)

    config = initializers.serialize(Twos())
    assert config["class_name"] == "Twos"
    assert isinstance(initializers.deserialize(config, custom_objects={"Twos": Twos}), Twos)
    with pytest.raises(TypeError, match="Initializer"):
        initializers.serialize(lambda shape, dtype=None: jnp.zeros(shape))
    assert initializers.serialize(None) is None
