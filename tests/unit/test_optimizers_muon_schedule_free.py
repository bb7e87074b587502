"""Muon and ScheduleFreeAdamW against Keras 3.15 (the oracle): the same weights after every step, configs, files
and sweeps. (Their optimizer state also interchanges with Keras's files in test_saving_keras_interchange.py.)"""
import types

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest

import scanfit
from scanfit import Sweep, optimizers

STEPS = 4
SHAPES = {  # Keras path: shape. Muon: 2-D weights take its step, unless excluded; the others take AdamW's
    "embedding/embeddings": (6, 4),  # 2-D, but an embedding
    "conv/kernel": (2, 4, 3),  # 3-D: AdamW
    "hidden/kernel": (5, 3),  # tall: orthogonalized on its transpose
    "hidden/bias": (3,),
    "out/kernel": (3, 4),  # wide
}


def initial_weights():
    rng = np.random.default_rng(0)
    return {path: rng.normal(0.0, 0.5, size=shape).astype("float32") for path, shape in SHAPES.items()}


def gradient_sequence():
    rng = np.random.default_rng(1)
    return [{path: rng.normal(size=shape).astype("float32") for path, shape in SHAPES.items()} for _ in range(STEPS)]


def keras_steps(optimizer):
    """The weights after each Keras step, its variables created under their paths (``out/kernel``)."""
    variables = {}
    for path, value in initial_weights().items():
        scope, name = path.split("/")
        with keras.name_scope(scope):
            variables[path] = keras.Variable(value, name=name)
    assert [v.path for v in variables.values()] == list(SHAPES)
    results = []
    for grads in gradient_sequence():
        optimizer.apply_gradients([(grads[path], variables[path]) for path in SHAPES])
        results.append({path: np.asarray(v.value) for path, v in variables.items()})
    return results


def nested(flat):
    """``{"out/kernel": x}`` as ``{"out": {"kernel": x}}``: a params tree whose places are the Keras paths."""
    tree = {}
    for path, value in flat.items():
        scope, name = path.split("/")
        tree.setdefault(scope, {})[name] = jnp.asarray(value)
    return tree


def scanfit_steps(optimizer):
    transform = optimizer.build_transform()
    params = nested(initial_weights())
    state = transform.init(params)
    update = jax.jit(transform.update)  # (eager, Muon's many small operations take longer)
    results = []
    for grads in gradient_sequence():
        updates, state = update(nested(grads), state, params)
        params = optax.apply_updates(params, updates)
        results.append({path: np.asarray(params[path.split("/")[0]][path.split("/")[1]]) for path in SHAPES})
    return results


def exponential(lib):
    return lib.optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)


UPDATE_CASES = [
    ("Muon", {}),
    ("Muon", {"learning_rate": 0.02, "exclude_layers": ["out"], "nesterov": False, "rms_rate": None,
              "weight_decay": None}),
    ("Muon", {"exclude_embeddings": False, "exclude_layers": ["^conv", "nothing"], "adam_lr_ratio": 0.1,
              "momentum": 0.9, "ns_steps": 3, "muon_a": 3.0, "muon_b": -3.2, "muon_c": 1.2, "adam_weight_decay": None,
              "adam_beta_1": 0.8, "adam_beta_2": 0.99, "epsilon": 1e-5, "clipnorm": 1.0}),
    ("Muon", {"learning_rate": exponential, "weight_decay": 0.1, "adam_weight_decay": 0.05, "global_clipnorm": 2.0}),
    ("ScheduleFreeAdamW", {}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.01, "warmup_steps": 3, "weight_decay": 0.1, "beta_1": 0.8}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.05, "beta_2": 0.9, "epsilon": 1e-6, "clipvalue": 0.5}),
    ("ScheduleFreeAdamW", {"learning_rate": exponential, "warmup_steps": 2, "weight_decay": 0.05}),
]


def case_id(class_name, kwargs):
    return f"{class_name}-" + ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in kwargs.items())


def arguments(kwargs, lib):
    return {key: value(lib) if callable(value) else value for key, value in kwargs.items()}


@pytest.mark.parametrize("class_name, kwargs", UPDATE_CASES, ids=[case_id(c, k) for c, k in UPDATE_CASES])
def test_each_step_matches_keras(class_name, kwargs):
    theirs = keras_steps(getattr(keras.optimizers, class_name)(**arguments(kwargs, keras)))
    ours = scanfit_steps(getattr(optimizers, class_name)(**arguments(kwargs, scanfit)))
    start = initial_weights()
    for step, (mine, expected) in enumerate(zip(ours, theirs)):
        for path in SHAPES:
            assert not np.allclose(expected[path], start[path])  # every weight moved
            np.testing.assert_allclose(mine[path], expected[path], rtol=1e-5, atol=1e-6, err_msg=f"{path} {step}")


@pytest.mark.parametrize("kwargs", [{"exclude_layers": ["out", "^head"]}, {"exclude_embeddings": False}])
def test_muon_picks_the_adamw_step_as_keras_does(kwargs):
    ours, theirs = optimizers.Muon(**kwargs), keras.optimizers.Muon(**kwargs)
    cases = [("sequential/dense/kernel", (3, 4)), ("dense/kernel", (2, 3, 4)), ("dense/bias", (4,)),
             ("token_Embedding/kernel", (3, 4)), ("embedding/embeddings", (3, 4)), ("out/kernel", (3, 4)),
             ("layout/kernel", (3, 4)), ("head/kernel", (3, 4)), ("my_head/kernel", (3, 4))]
    for path, shape in cases:
        variable = types.SimpleNamespace(path=path, shape=shape)  # what Keras reads of a variable
        assert ours.uses_adamw(path, shape) == theirs._should_use_adamw(variable), path


def test_muon_differs_from_adamw_on_a_matrix():
    """The comparison above can tell the Muon step from the AdamW fallback: excluding a kernel changes it."""
    plain = scanfit_steps(optimizers.Muon())[-1]["out/kernel"]
    excluded = scanfit_steps(optimizers.Muon(exclude_layers=["out"]))[-1]["out/kernel"]
    assert np.max(np.abs(plain - excluded)) > 1e-3


def test_schedule_free_differs_from_optax_with_warmup_and_weight_decay():
    """Optax's schedule-free AdamW (its average weighted by the warmed-up rate) ends elsewhere than Keras's with
    warmup and weight decay (Keras averages by 1/t and decays y before the step), so it cannot stand in."""
    theirs = keras_steps(keras.optimizers.ScheduleFreeAdamW(0.01, warmup_steps=3, weight_decay=0.1))[-1]
    transform = optax.contrib.schedule_free_adamw(0.01, warmup_steps=3, weight_decay=0.1, eps=1e-8)
    params = nested(initial_weights())
    state = transform.init(params)
    for grads in gradient_sequence():
        updates, state = transform.update(nested(grads), state, params)
        params = optax.apply_updates(params, updates)
    assert not np.allclose(np.asarray(params["out"]["kernel"]), theirs["out/kernel"], rtol=1e-4, atol=1e-6)


def test_default_names_and_bad_arguments():
    assert optimizers.Muon().name.startswith("muon")
    assert optimizers.ScheduleFreeAdamW().name.startswith("schedule_free_adam_w")
    assert keras.optimizers.ScheduleFreeAdamW().name.startswith("schedule_free_adam_w")
    with pytest.raises(ValueError, match="exclude_layers"):
        optimizers.Muon(exclude_layers="out")  # (Keras would search for each of its letters)
    with pytest.raises(ValueError, match="ns_steps"):
        optimizers.Muon(ns_steps=2.5)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.ScheduleFreeAdamW(beta_1=0.0)  # Keras divides by it
    with pytest.raises(ValueError, match="warmup_steps"):
        optimizers.ScheduleFreeAdamW(warmup_steps=-1)
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):  # (use_ema itself: test_optimizer_ema.py)
        optimizers.Muon(use_ema=True, ema_overwrite_frequency=0.5)


def model(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((3,), dtype="int32"), L.Embedding(10, 4), L.Conv1D(5, 2), L.Flatten(),
                           L.Dense(7, activation="tanh", name="hidden"), L.Dense(3, name="out")])


RNG = np.random.default_rng(2)
X = RNG.integers(0, 10, size=(16, 3)).astype("int32")
Y = RNG.normal(size=(16, 3)).astype("float32")
WEIGHTS = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in model(keras).get_weights()]
MODEL_CASES = [("Muon", {"learning_rate": 0.01, "exclude_layers": ["out"]}),
               ("ScheduleFreeAdamW", {"learning_rate": 0.01, "warmup_steps": 2, "weight_decay": 0.1})]


def compiled(lib, class_name, kwargs):
    built = model(lib)
    built.set_weights(WEIGHTS)
    built.compile(optimizer=getattr(lib.optimizers, class_name)(**kwargs), loss="mse")
    return built


@pytest.mark.parametrize("class_name, kwargs", MODEL_CASES, ids=[c for c, _ in MODEL_CASES])
def test_fit_and_saving_match_keras(tmp_path, class_name, kwargs):
    """fit picks Muon's steps by the layers' paths (the embedding and "out" on AdamW); a saved model goes on
    training from its file as the one that saved it, and as Keras."""
    theirs, ours = compiled(keras, class_name, kwargs), compiled(scanfit, class_name, kwargs)
    histories = [m.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0) for m in (theirs, ours)]
    np.testing.assert_allclose(histories[1].history["loss"], histories[0].history["loss"], rtol=1e-5)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)

    ours.save(tmp_path / "m.keras")
    loaded = scanfit.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.get_config() == {**ours.optimizer.get_config(), "name": loaded.optimizer.name}
    for m in (theirs, ours, loaded):
        m.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for mine, again, expected in zip(ours.get_weights(), loaded.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(again, mine)
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)


def test_optimizer_apply_to_model_variables_matches_keras():
    """The stateless API's `apply` (what a custom train_step calls) also gives Muon the layers' paths."""
    theirs, ours = (compiled(lib, *MODEL_CASES[0]) for lib in (keras, scanfit))
    rng = np.random.default_rng(3)
    for _ in range(2):
        grads = [rng.normal(size=w.shape).astype("float32") for w in WEIGHTS]
        theirs.optimizer.apply(grads, theirs.trainable_variables)
        ours.optimizer.apply(grads, ours.trainable_variables)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)


def build(optimizer, seed=None):
    built = model(scanfit)
    arguments = {"muon": {"learning_rate": 0.01, "exclude_layers": ["out"]}, "schedulefreeadamw": {"warmup_steps": 2}}
    built.compile(optimizer=optimizers.get({"class_name": optimizer, "config": arguments[optimizer]}), loss="mse")
    return built


def test_sweep_runs_equal_fit_alone():
    params = Sweep.grid(optimizer=["muon", "schedulefreeadamw"], seed=[0])
    sweep = Sweep(build, params)
    histories = sweep.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert sweep.groups == [[[0], [1]]]  # one architecture, two optimizer updates
    for run, run_model, history in zip(params, sweep.models, histories):
        scanfit.utils.set_random_seed(run["seed"])
        alone = build(**run)
        alone_history = alone.fit(X, Y, batch_size=8, epochs=1, verbose=0)
        np.testing.assert_allclose(history.history["loss"], alone_history.history["loss"], rtol=1e-5)
        for weight, expected in zip(run_model.get_weights(), alone.get_weights(), strict=True):
            np.testing.assert_allclose(weight, expected, rtol=1e-5, atol=1e-6)
