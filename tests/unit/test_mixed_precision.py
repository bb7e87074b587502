"""Mixed precision: dtype policies, casts, float32 losses and loss scaling, against Keras 3 (JAX backend)."""
import keras
import numpy as np
import pytest

import scanfit

POLICIES = ["mixed_bfloat16", "mixed_float16"]
# bf16 keeps 8 significant bits, fp16 11: one rounding of a value near 1 is up to 2**-8 or 2**-11.
TOLERANCE = {"mixed_bfloat16": 3e-2, "mixed_float16": 4e-3}


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    scanfit.mixed_precision.set_global_policy("float32")
    keras.mixed_precision.set_global_policy("float32")


def set_policy(name):
    scanfit.mixed_precision.set_global_policy(name)
    keras.mixed_precision.set_global_policy(name)


def mlp(k, softmax_dtype="float32"):
    return k.Sequential([
        k.Input((6,)),
        k.layers.Dense(16, activation="relu"),
        k.layers.BatchNormalization(),
        k.layers.Dense(8, activation="tanh"),
        k.layers.Dense(3, activation="softmax", dtype=softmax_dtype),
    ])


def cnn(k, softmax_dtype="float32"):
    return k.Sequential([
        k.Input((6, 6, 2)),
        k.layers.Conv2D(4, 3, activation="relu"),
        k.layers.BatchNormalization(),
        k.layers.Flatten(),
        k.layers.Dense(3, activation="softmax", dtype=softmax_dtype),
    ])


def pair(build, policy, softmax_dtype="float32"):
    """The same model in Keras and scanfit under `policy`, with Keras's initial weights copied over."""
    set_policy(policy)
    keras.utils.set_random_seed(0)  # the same initial weights every run
    theirs, ours = build(keras, softmax_dtype), build(scanfit, softmax_dtype)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def data(build, n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6) if build is mlp else (n, 6, 6, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return x, y


def as_float(a):
    return np.asarray(a, dtype=np.float64)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("build", [mlp, cnn])
def test_layer_dtypes_match_keras(policy, build):
    theirs, ours = pair(build, policy)
    for k_layer, s_layer in zip(theirs.layers, ours.layers):
        assert s_layer.dtype_policy.name == k_layer.dtype_policy.name
        assert s_layer.compute_dtype == k_layer.compute_dtype
        assert s_layer.variable_dtype == k_layer.variable_dtype == s_layer.dtype == "float32"
        assert [w.dtype for w in s_layer.get_weights()] == [np.float32] * len(k_layer.get_weights())
    assert ours.layers[0].compute_dtype == policy.split("_")[1]
    assert ours.layers[-1].compute_dtype == "float32"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("build", [mlp, cnn])
def test_predictions_match_keras_in_dtype_and_value(policy, build):
    x, _ = data(build)
    for softmax_dtype in ("float32", None):
        theirs, ours = pair(build, policy, softmax_dtype)
        expected = theirs.predict(x, verbose=0)
        got = ours.predict(x, verbose=0)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(as_float(got), as_float(expected), atol=TOLERANCE[policy])
        # Not the float32 model's output: the half-precision rounding is really there.
        set_policy("float32")
        exact = build(scanfit)
        exact.set_weights(theirs.get_weights())
        assert np.abs(as_float(got) - as_float(exact.predict(x, verbose=0))).max() > 1e-6


@pytest.mark.parametrize("policy", POLICIES)
def test_each_layer_output_has_keras_dtype(policy):
    theirs, ours = pair(mlp, policy, softmax_dtype=None)
    x, _ = data(mlp, n=4)
    k_value, s_value = x, x
    for k_layer, s_layer in zip(theirs.layers, ours.layers):
        k_value, s_value = k_layer(k_value), s_layer(s_value)
        assert str(s_value.dtype) == str(k_value.dtype)
    assert str(s_value.dtype) == policy.split("_")[1]


def one_step(theirs, ours, x, y, optimizer="sgd"):
    for model in (theirs, ours):
        lib = keras if model is theirs else scanfit
        opt = lib.optimizers.SGD(0.1) if optimizer == "sgd" else lib.optimizers.Adam(0.01)
        model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    k_hist = theirs.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0).history
    s_hist = ours.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0).history
    return k_hist, s_hist


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("build", [mlp, cnn])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_training_step_matches_keras(policy, build, optimizer):
    theirs, ours = pair(build, policy)
    x, y = data(build)
    before = [w.copy() for w in theirs.get_weights()]
    k_hist, s_hist = one_step(theirs, ours, x, y, optimizer)
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=TOLERANCE[policy])
    for k_w, s_w, w0 in zip(theirs.get_weights(), ours.get_weights(), before):
        assert s_w.dtype == np.float32
        step = np.abs(k_w - w0).max()
        # The weights moved as Keras's did, within a fraction of the step (the halves round differently).
        np.testing.assert_allclose(s_w, k_w, atol=0.1 * step + 1e-6)
    assert ours.optimizer.iterations == 1


def test_mixed_float16_compile_wraps_the_optimizer_like_keras():
    set_policy("mixed_float16")
    model = mlp(scanfit)
    model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="mse")
    optimizer = model.optimizer
    assert isinstance(optimizer, scanfit.optimizers.LossScaleOptimizer)
    assert scanfit.mixed_precision.LossScaleOptimizer is scanfit.optimizers.LossScaleOptimizer
    reference = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01))
    assert (optimizer.initial_scale, optimizer.dynamic_growth_steps) == (2.0**15, 2000)
    assert (optimizer.initial_scale, optimizer.dynamic_growth_steps) == (
        reference.initial_scale, reference.dynamic_growth_steps)
    assert optimizer.name == "loss_scale_optimizer"
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    config = scanfit.optimizers.serialize(optimizer)
    assert config["class_name"] == "LossScaleOptimizer"
    assert config["config"]["inner_optimizer"]["class_name"] == "Adam"
    again = scanfit.optimizers.deserialize(config)
    assert isinstance(again.inner_optimizer, scanfit.optimizers.Adam)
    assert float(again.learning_rate) == pytest.approx(0.01)
    # No wrapping under bfloat16, nor with auto_scale_loss=False.
    model.compile(optimizer="adam", loss="mse", auto_scale_loss=False)
    assert isinstance(model.optimizer, scanfit.optimizers.Adam)
    set_policy("mixed_bfloat16")
    other = mlp(scanfit)
    other.compile(optimizer="adam", loss="mse")
    assert isinstance(other.optimizer, scanfit.optimizers.Adam)


def scale_state(model):
    state = model.trainer.opt_state
    return float(state.dynamic_scale), int(state.step_counter)


def test_non_finite_gradients_skip_the_step_and_halve_the_scale_like_keras():
    theirs, ours = pair(mlp, "mixed_float16")
    x, y = data(mlp)
    big = x * 3e4  # the first Dense overflows float16: the loss and gradients are not finite
    before = [v.numpy() for v in ours.trainable_weights]
    k_hist, s_hist = one_step(theirs, ours, big, y)
    assert not np.isfinite(k_hist["loss"][0]) and not np.isfinite(s_hist["loss"][0])
    for w0, v in zip(before, ours.trainable_weights):
        np.testing.assert_array_equal(v.numpy(), w0)  # skipped: no trainable weight changed
    # BatchNormalization's moving statistics follow the forward pass, as in Keras (here they overflowed too).
    for k_w, s_w in zip(theirs.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-2)
    assert scale_state(ours) == (2.0**14, 0)
    assert (float(theirs.optimizer.dynamic_scale.numpy()), int(theirs.optimizer.step_counter.numpy())) == (2.0**14, 0)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations.numpy()) == 0  # a skipped step does not count
    # A finite step after it trains with the halved scale; the weights follow Keras again.
    theirs.fit(x, y, batch_size=len(x), shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=len(x), shuffle=False, verbose=0)
    assert scale_state(ours) == (2.0**14, 1)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations.numpy()) == 1
    for k_w, s_w in zip(theirs.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(s_w, k_w, atol=5e-3)


def test_scale_doubles_after_dynamic_growth_steps_finite_steps():
    set_policy("mixed_float16")
    x, y = data(mlp)
    ours = mlp(scanfit)
    ours.compile(optimizer=scanfit.optimizers.LossScaleOptimizer(scanfit.optimizers.SGD(0.01), initial_scale=8.0,
                                                                dynamic_growth_steps=3), loss="mse")
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # 2 steps
    assert scale_state(ours) == (8.0, 2)
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # the 3rd doubles, the 4th counts 1
    assert scale_state(ours) == (16.0, 1)
    assert ours.optimizer.iterations == 4


def test_loss_scaling_keeps_small_gradients_that_float16_would_flush():
    """With loss scaling a tiny loss still trains the weights as in float32; without it the float16 gradients
    underflow to zero."""
    x, y = data(mlp)
    y_small = np.full_like(y, 1.0)

    def trained(policy, auto_scale_loss):
        set_policy(policy)
        model = scanfit.Sequential([scanfit.Input((6,)), scanfit.layers.Dense(3, kernel_initializer="ones")])
        model.compile(optimizer=scanfit.optimizers.SGD(1.0), loss=scanfit.losses.MeanSquaredError(),
                      loss_weights=1e-7, auto_scale_loss=auto_scale_loss)
        start = model.get_weights()[0]
        model.fit(x, y_small, batch_size=16, shuffle=False, verbose=0)
        return model.get_weights()[0] - start

    exact = trained("float32", True)
    scaled = trained("mixed_float16", True)
    unscaled = trained("mixed_float16", False)
    assert np.abs(exact).max() > 0
    np.testing.assert_allclose(scaled, exact, rtol=2e-2, atol=1e-9)
    assert np.abs(unscaled - exact).max() > 0.5 * np.abs(exact).max()


def test_policy_objects_and_global_policy():
    assert scanfit.mixed_precision.global_policy().name == "float32"
    policy = scanfit.mixed_precision.Policy("mixed_bfloat16")
    assert isinstance(policy, scanfit.mixed_precision.DTypePolicy)
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == ("mixed_bfloat16", "bfloat16", "float32")
    fp16 = scanfit.DTypePolicy("mixed_float16")
    assert (fp16.compute_dtype, fp16.variable_dtype) == ("float16", "float32")
    assert repr(fp16) == repr(keras.DTypePolicy("mixed_float16"))
    scanfit.config.set_dtype_policy(fp16)
    assert scanfit.config.dtype_policy() == fp16 == scanfit.mixed_precision.global_policy()
    assert scanfit.layers.Dense(2).dtype_policy.name == "mixed_float16"
    layer = scanfit.layers.Dense(2, dtype=policy)
    assert (layer.dtype_policy.name, layer.compute_dtype, layer.dtype) == ("mixed_bfloat16", "bfloat16", "float32")
    assert scanfit.layers.Dense(2, dtype="float32").compute_dtype == "float32"
    scanfit.backend.clear_session(free_memory=False)
    assert scanfit.mixed_precision.global_policy().name == "mixed_float16"  # as in Keras


def test_unknown_policy_names_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"set_global_policy\(policy='mixed_float8'\).*mixed_bfloat16"):
        scanfit.mixed_precision.set_global_policy("mixed_float8")
    with pytest.raises(ValueError, match=r"Dense 'wide': dtype='half_float'"):
        scanfit.layers.Dense(2, dtype="half_float", name="wide")
    with pytest.raises(TypeError, match=r"set_global_policy\(policy=\.\.\.\)"):
        scanfit.config.set_dtype_policy(16)
    with pytest.raises(ValueError, match="Unknown dtype policy 'fp16'"):
        scanfit.mixed_precision.DTypePolicy("fp16")
    with pytest.raises(ValueError, match=r"set_global_policy\(policy='int32'\).*floating"):
        scanfit.mixed_precision.set_global_policy("int32")
    with pytest.raises(TypeError, match="inner_optimizer"):
        scanfit.optimizers.LossScaleOptimizer("adam")
    with pytest.raises(ValueError, match="dynamic_growth_steps"):
        scanfit.optimizers.LossScaleOptimizer(scanfit.optimizers.SGD(), dynamic_growth_steps=0)
    with pytest.raises(ValueError, match="clipnorm"):
        scanfit.optimizers.LossScaleOptimizer(scanfit.optimizers.SGD(), clipnorm=1.0)
    assert scanfit.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_round_trips_through_layer_configs_like_keras(policy):
    set_policy(policy)
    k_layer, s_layer = keras.layers.Dense(4), scanfit.layers.Dense(4)
    assert s_layer.get_config()["dtype"] == k_layer.get_config()["dtype"]
    assert s_layer.get_config()["dtype"]["config"] == {"name": policy}
    set_policy("float32")
    again = scanfit.layers.Dense.from_config(s_layer.get_config())
    assert again.dtype_policy.name == policy and again.compute_dtype == policy.split("_")[1]
    # Keras's config entry (and Keras's policy object) mean the same policy to scanfit.
    from_keras = scanfit.layers.Dense(4, dtype=k_layer.get_config()["dtype"])
    assert scanfit.layers.Dense(4, dtype=k_layer.dtype_policy.name).dtype_policy == from_keras.dtype_policy
    assert from_keras.dtype_policy.name == policy


@pytest.mark.parametrize("policy", POLICIES)
def test_policies_survive_keras_file_save_and_load(policy, tmp_path):
    theirs, ours = pair(mlp, policy)
    x, y = data(mlp)
    if policy == "mixed_bfloat16":
        ours.compile(optimizer="adam", loss="categorical_crossentropy")
        ours.fit(x, y, batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    ours.save(path)
    expected = ours.predict(x, verbose=0)
    set_policy("float32")
    loaded = scanfit.models.load_model(path)
    assert [layer.dtype_policy.name for layer in loaded.layers] == [policy] * 3 + ["float32"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    # Keras reads scanfit's file with the same policies.
    k_loaded = keras.models.load_model(path)
    assert [layer.dtype_policy.name for layer in k_loaded.layers] == [policy] * 3 + ["float32"]
    np.testing.assert_allclose(k_loaded.predict(x, verbose=0), expected, atol=TOLERANCE[policy])


def test_loss_scale_state_round_trips_through_keras_files(tmp_path):
    """A trained mixed_float16 model keeps its loss scale and step counter in the file, in Keras's layout."""
    theirs, ours = pair(mlp, "mixed_float16")
    x, y = data(mlp)
    for model in (theirs, ours):
        model.compile(optimizer=(keras if model is theirs else scanfit).optimizers.Adam(0.01),
                      loss="categorical_crossentropy")
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0)  # two finite steps
        model.fit(x * 3e4, y, batch_size=16, shuffle=False, verbose=0)  # one skipped step: the scale halves
        model.fit(x, y, batch_size=16, shuffle=False, verbose=0)  # and one more finite step
    assert scale_state(ours) == (2.0**14, 1)
    ours_path, theirs_path = tmp_path / "ours.keras", tmp_path / "theirs.keras"
    ours.save(ours_path)
    theirs.save(theirs_path)
    # Keras reads scanfit's file: the same optimizer variables as Keras's own model after the same steps.
    k_loaded = keras.models.load_model(ours_path)
    names = [v.path for v in k_loaded.optimizer.variables]
    inner = ours.optimizer.inner_optimizer.name
    assert names[:6] == ["loss_scale_optimizer/iteration", "loss_scale_optimizer/learning_rate",
                         "loss_scale_optimizer/step_counter", "loss_scale_optimizer/dynamic_scale",
                         f"{inner}/iteration", f"{inner}/learning_rate"]
    # Names hold automatic model, layer and optimizer names, which the two libraries number apart.
    def kinds(variables):
        return [(v.path.split("/")[-1].rsplit("_", 1)[-1], tuple(v.shape)) for v in variables]

    assert kinds(k_loaded.optimizer.variables) == kinds(theirs.optimizer.variables)
    for mine, reference in zip(k_loaded.optimizer.variables, theirs.optimizer.variables):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(reference), rtol=0.1, atol=1e-4)
    # scanfit reads Keras's file: the loss scale, step counter and inner iteration count come back.
    s_loaded = scanfit.models.load_model(theirs_path)
    assert isinstance(s_loaded.optimizer, scanfit.optimizers.LossScaleOptimizer)
    state = s_loaded.optimizer.restored_state
    assert (float(state.dynamic_scale), int(state.step_counter)) == (2.0**14, 1)
    assert s_loaded.optimizer.iterations == 3  # Keras counts the applied steps only
    s_loaded.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    assert scale_state(s_loaded) == (2.0**14, 2)


def normalized(k, softmax_dtype=None):
    return k.Sequential([
        k.Input((6,)),
        k.layers.Dense(8),
        k.layers.LayerNormalization(),
        k.layers.Dense(3),
        k.layers.Softmax(dtype=softmax_dtype),
    ])


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("softmax_dtype", [None, "float32"])
def test_layer_normalization_and_softmax_match_keras(policy, softmax_dtype):
    theirs, ours = pair(normalized, policy, softmax_dtype)
    rng = np.random.default_rng(1)
    for k_layer, s_layer in zip(theirs.layers, ours.layers):
        k_layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in k_layer.get_weights()])
        s_layer.set_weights(k_layer.get_weights())
    x, _ = data(mlp, n=8)
    k_value, s_value = x, x
    for k_layer, s_layer in zip(theirs.layers, ours.layers):
        k_value, s_value = k_layer(k_value), s_layer(s_value)
        assert str(s_value.dtype) == str(k_value.dtype)
        np.testing.assert_allclose(as_float(s_value), as_float(k_value), rtol=TOLERANCE[policy],
                                   atol=TOLERANCE[policy])


def test_sweep_refuses_loss_scaled_models_and_runs_bfloat16_ones():
    x, y = data(mlp)

    def build(policy, auto_scale_loss=True):
        scanfit.mixed_precision.set_global_policy(policy)
        model = mlp(scanfit)
        model.compile(optimizer="sgd", loss="categorical_crossentropy", auto_scale_loss=auto_scale_loss)
        return model

    with pytest.raises(NotImplementedError, match="auto_scale_loss=False"):
        scanfit.Sweep(build, [{"policy": "mixed_float16"}]).fit(x, y, batch_size=8, verbose=0)
    sweep = scanfit.Sweep(build, [{"policy": "mixed_bfloat16"}, {"policy": "mixed_float16", "auto_scale_loss": False}])
    sweep.fit(x, y, batch_size=8, verbose=0)
    assert [model.layers[0].compute_dtype for model in sweep.models] == ["bfloat16", "float16"]
