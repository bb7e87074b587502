"""Initializers draw on the host: building a model compiles nothing, seeds repeat, distributions are right."""
import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scanfit
from scanfit import initializers, seeding as scanfit_random

TRUNCATED_STDDEV = 0.87962566103423978  # stddev of a unit normal truncated to ±2

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_model():
    """The model of the brief: Input, Flatten, Dense(100, relu), Dense(10, softmax)."""
    return scanfit.Sequential([
        scanfit.Input((28, 28)), scanfit.layers.Flatten(),
        scanfit.layers.Dense(100, activation="relu"), scanfit.layers.Dense(10, activation="softmax"),
    ])


def weights_digest(model):
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


# Runs in a fresh interpreter: counts the programs JAX traces, lowers or compiles while models are built.
_BUILD_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, duration, **kwargs: events.append([name, kwargs.get("fun_name", "")])
        if name.startswith("/jax/core/compile/") else None)
    import scanfit
    from scanfit import layers

    scanfit.utils.set_random_seed(7)
    model = scanfit.Sequential([
        scanfit.Input((28, 28)), layers.Flatten(), layers.Dense(100, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    digest = __import__("hashlib").sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
    during_build = list(events)

    # Every built-in initializer, and layers whose weights start as zeros, ones or constants.
    other = scanfit.Sequential([
        scanfit.Input((8, 8, 3)),
        layers.Conv2D(4, 3, kernel_initializer="he_normal", bias_initializer="ones"),
        layers.BatchNormalization(),
        layers.PReLU(alpha_initializer=scanfit.initializers.Constant(0.25)),
        layers.Flatten(),
        layers.Dense(6, kernel_initializer="orthogonal"),
        layers.Dense(5, kernel_initializer="lecun_normal", bias_initializer="random_normal"),
        layers.Dense(5, kernel_initializer="he_uniform", bias_initializer="random_uniform"),
        layers.Dense(5, kernel_initializer="glorot_normal", bias_initializer="truncated_normal"),
        layers.Dense(5, kernel_initializer="lecun_uniform"),
        layers.Dense(5, kernel_initializer=scanfit.initializers.VarianceScaling(distribution="untruncated_normal")),
        layers.Dense(5, kernel_initializer=scanfit.initializers.Identity(gain=2.0)),
    ])
    other.get_weights()
    scanfit.seeding.next_key()
    scanfit.seeding.key_from_seed(3)
    during_other = events[len(during_build):]

    # Control: the listener does see a compilation.
    jax.jit(lambda x: x * 2 + 1)(1.0)
    control = len(events) - len(during_build) - len(during_other)
    print(json.dumps({"build": during_build, "other": during_other, "control": control, "digest": digest}))
""")


@pytest.fixture(scope="module")
def fresh_build():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "SCANFIT_COMPILATION_CACHE": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _BUILD_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_building_a_model_compiles_nothing(fresh_build):
    assert fresh_build["control"] > 0, "the compile listener saw nothing, so the check below would prove nothing"
    assert fresh_build["build"] == []
    assert fresh_build["other"] == []


def test_same_seed_gives_the_same_weights_in_another_process(fresh_build):
    scanfit.utils.set_random_seed(7)
    assert weights_digest(build_model()) == fresh_build["digest"]


def test_seeds_make_initial_weights_repeatable():
    scanfit.utils.set_random_seed(1)
    first = build_model().get_weights()
    second = build_model().get_weights()  # the stream moved on: new weights
    scanfit.utils.set_random_seed(1)
    again = build_model().get_weights()
    scanfit.utils.set_random_seed(2)
    other_seed = build_model().get_weights()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    for kernel in (0, 2):
        assert not np.array_equal(first[kernel], second[kernel])
        assert not np.array_equal(first[kernel], other_seed[kernel])


def test_keys_are_host_arrays_that_never_repeat():
    scanfit_random.set_seed(5)
    keys = [scanfit_random.next_key() for _ in range(2000)]
    assert all(isinstance(k, np.ndarray) and k.dtype == np.uint32 and k.shape == (2,) for k in keys)
    assert len({k.tobytes() for k in keys}) == len(keys)
    scanfit_random.set_seed(5)
    np.testing.assert_array_equal(scanfit_random.next_key(), keys[0])
    scanfit_random.set_seed(6)
    assert scanfit_random.next_key().tobytes() not in {k.tobytes() for k in keys}
    # An explicit seed gives the raw key jax.random.PRNGKey gives; None a fresh stream key.
    for seed in (0, 3, 2**31 + 5):
        np.testing.assert_array_equal(scanfit_random.key_from_seed(seed), jax.random.PRNGKey(seed))
    assert scanfit_random.key_from_seed(None).tobytes() != scanfit_random.key_from_seed(None).tobytes()


def test_keys_work_with_jax_random_and_compiled_programs():
    key = scanfit_random.next_key()
    eager = jax.random.bits(jax.random.fold_in(key, 3), (4,), jnp.uint32)
    compiled = jax.jit(lambda k, n: jax.random.bits(jax.random.fold_in(k, n), (4,), jnp.uint32))(key, 3)
    np.testing.assert_array_equal(eager, compiled)
    np.testing.assert_array_equal(eager, jax.random.bits(jax.random.fold_in(jnp.asarray(key), 3), (4,), jnp.uint32))


def test_every_form_of_a_key_gives_the_same_values():
    init = initializers.GlorotUniform(seed=9)
    shape = (20, 30)
    raw = init(shape, key=jax.random.PRNGKey(4))
    np.testing.assert_array_equal(raw, init(shape, key=jax.random.key(4)))  # typed key, same key data
    np.testing.assert_array_equal(raw, init(shape, key=np.array([0, 4], np.uint32)))
    np.testing.assert_array_equal(raw, init(shape, key=scanfit_random.key_from_seed(4)))
    # A seeded initializer's own key is key_from_seed(seed): no key and that key agree.
    np.testing.assert_array_equal(init(shape), init(shape, key=scanfit_random.key_from_seed(9)))
    assert not np.array_equal(raw, init(shape, key=jax.random.PRNGKey(5)))
    assert isinstance(raw, jax.Array) and raw.dtype == jnp.float32
    for bad in (4, 4.0, np.zeros((2, 2), np.uint32), np.zeros(2, np.float32)):
        with pytest.raises(TypeError, match="key"):
            init(shape, key=bad)


# --- distributions, against the formulas Keras documents -----------------------

LARGE = (500, 400)  # fan_in 500, fan_out 400, 200,000 draws


def _normal_cdf(x):
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _ks_one_sample(values, cdf):
    """Largest gap between the empirical CDF of `values` and `cdf`."""
    x = np.sort(np.ravel(values).astype(np.float64))
    n = x.size
    theory = cdf(x)
    return max(np.max(np.arange(1, n + 1) / n - theory), np.max(theory - np.arange(n) / n))


def _ks_limit(n):
    return 2.7 / math.sqrt(n)  # a level of about 1e-6


def _uniform_cdf(low, high):
    return lambda x: np.clip((x - low) / (high - low), 0.0, 1.0)


def _truncated_cdf(mean, stddev):
    """CDF of a normal(mean, stddev) truncated to mean ± 2 stddev."""
    low, mass = _normal_cdf(-2.0), _normal_cdf(2.0) - _normal_cdf(-2.0)
    return lambda x: np.clip((_normal_cdf((x - mean) / stddev) - low) / mass, 0.0, 1.0)


def _check(values, mean, variance, cdf):
    values = np.asarray(values, dtype=np.float64)
    assert abs(values.mean() - mean) < 5 * math.sqrt(variance / values.size)
    # The sample variance of n draws has a relative standard error of at most about sqrt(3 / n) here.
    assert abs(values.var() / variance - 1) < 5 * math.sqrt(3.0 / values.size)
    assert _ks_one_sample(values, cdf) < _ks_limit(values.size)


def test_truncated_unit_normal_stddev_constant():
    # The constant the truncated initializers divide by is the stddev of a unit normal truncated to ±2.
    density = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    mass = math.erf(2 / math.sqrt(2))
    variance = 1 - 2 * 2 * density(2.0) / mass
    assert math.isclose(math.sqrt(variance), initializers._TRUNCATED_UNIT_NORMAL_STDDEV, rel_tol=1e-12)


@pytest.mark.parametrize("mean, stddev", [(0.0, 0.05), (1.0, 0.3)])
def test_random_normal_distribution(mean, stddev):
    _check(initializers.RandomNormal(mean, stddev, seed=1)(LARGE), mean, stddev**2, lambda x: _normal_cdf((x - mean) / stddev))


@pytest.mark.parametrize("low, high", [(-0.05, 0.05), (0.0, 2.0), (-3.0, 0.5)])
def test_random_uniform_distribution(low, high):
    values = np.asarray(initializers.RandomUniform(low, high, seed=2)(LARGE))
    _check(values, (low + high) / 2, (high - low) ** 2 / 12, _uniform_cdf(low, high))
    assert values.min() >= low and values.max() < high


@pytest.mark.parametrize("mean, stddev", [(0.0, 0.05), (-1.0, 0.5)])
def test_truncated_normal_distribution(mean, stddev):
    values = np.asarray(initializers.TruncatedNormal(mean, stddev, seed=3)(LARGE))
    # Keras's TruncatedNormal does not rescale: its stddev is that of the untruncated normal.
    _check(values, mean, (stddev * TRUNCATED_STDDEV) ** 2, _truncated_cdf(mean, stddev))
    assert np.abs(values - mean).max() < 2 * stddev * (1 + 1e-6)


@pytest.mark.parametrize(
    "name, scale, fan",
    [("GlorotUniform", 1.0, 450), ("HeUniform", 2.0, 500), ("LecunUniform", 1.0, 500),
     ("GlorotNormal", 1.0, 450), ("HeNormal", 2.0, 500), ("LecunNormal", 1.0, 500)],
)
def test_variance_scaling_family_distribution(name, scale, fan):
    values = np.asarray(getattr(initializers, name)(seed=4)(LARGE))
    variance = scale / fan
    if name.endswith("Uniform"):
        limit = math.sqrt(3 * variance)
        _check(values, 0.0, variance, _uniform_cdf(-limit, limit))
        assert np.abs(values).max() <= limit
    else:
        # Truncated at two stddevs of a normal widened so that the truncated variance is scale / fan.
        stddev = math.sqrt(variance) / TRUNCATED_STDDEV
        _check(values, 0.0, variance, _truncated_cdf(0.0, stddev))
        assert np.abs(values).max() < 2 * stddev * (1 + 1e-6)


def test_untruncated_variance_scaling_distribution():
    values = initializers.VarianceScaling(scale=0.5, mode="fan_out", distribution="untruncated_normal", seed=5)(LARGE)
    _check(values, 0.0, 0.5 / 400, lambda x: _normal_cdf(x / math.sqrt(0.5 / 400)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_narrow_floats_keep_the_bounds(dtype):
    # Rounding to a narrow float must not carry a uniform draw onto its upper bound or past a truncation.
    values = np.asarray(initializers.RandomUniform(0.0, 1.0, seed=6)((300, 300), dtype=dtype)).astype(np.float64)
    assert values.dtype == np.float64 and values.min() >= 0.0 and values.max() < 1.0
    limit = math.sqrt(6 / (300 + 300))
    glorot = np.asarray(initializers.GlorotUniform(seed=6)((300, 300), dtype=dtype)).astype(np.float64)
    assert np.abs(glorot).max() <= limit
    truncated = np.asarray(initializers.TruncatedNormal(0.0, 1.0, seed=6)((300, 300), dtype=dtype)).astype(np.float64)
    assert np.abs(truncated).max() <= 2.0
    assert str(initializers.HeNormal(seed=6)((3, 3), dtype=dtype).dtype) == dtype


def test_host_fold_in_equals_jax_fold_in():
    """The engine derives epoch keys on the host; compiled programs (a sweep's) derive them with JAX."""
    rng = np.random.default_rng(0)
    for i in range(200):
        key = rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)
        data = i if i % 2 else int(rng.integers(0, 2**32))
        np.testing.assert_array_equal(scanfit_random.fold_in(key, data), np.asarray(jax.random.fold_in(key, data)))
