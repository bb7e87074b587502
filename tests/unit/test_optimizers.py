"""scanfit optimizers and schedules against Keras 3 (the oracle): same updates, values and configs."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest

from scanfit import optimizers, schedules

STEPS = 10


def initial_weights():
    rng = np.random.default_rng(0)
    return {
        "kernel": rng.normal(0.0, 0.5, size=(5, 3)).astype("float32"),
        "bias": np.zeros(3, dtype="float32"),
    }


def gradient_sequence():
    """Kernel gradients of order 1; bias gradients of order 1e-4, where epsilon placement shows."""
    rng = np.random.default_rng(1)
    return [
        {
            "kernel": rng.normal(size=(5, 3)).astype("float32"),
            "bias": (1e-4 * rng.normal(size=3)).astype("float32"),
        }
        for _ in range(STEPS)
    ]


def keras_run(optimizer, grads_sequence, learning_rate_at=None):
    """Final weights after Keras applies each gradient set; `learning_rate_at(step)` can reassign the rate."""
    names = sorted(initial_weights())
    variables = {name: keras.Variable(value, name=name) for name, value in initial_weights().items()}
    for step, grads in enumerate(grads_sequence):
        if learning_rate_at is not None:
            optimizer.learning_rate = learning_rate_at(step)
        optimizer.apply_gradients([(grads[name], variables[name]) for name in names])
    return {name: np.asarray(variables[name].value) for name in names}


def scanfit_run(optimizer, grads_sequence, learning_rate_at=None):
    """Final weights after scanfit's transform applies each gradient set (rate changes via the state)."""
    transform = optimizer.build_transform()
    params = {name: jnp.asarray(value) for name, value in initial_weights().items()}
    state = transform.init(params)
    for step, grads in enumerate(grads_sequence):
        if learning_rate_at is not None:
            state = optimizer.with_learning_rate(state, learning_rate_at(step))
        updates, state = transform.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return {name: np.asarray(value) for name, value in params.items()}


def assert_same_weights(ours, theirs):
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4, atol=1e-7, err_msg=name)


UPDATE_CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"clipvalue": 0.5}),
    ("SGD", {"momentum": 0.9, "weight_decay": 0.05}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.5, "centered": True, "global_clipnorm": 1.0}),
    ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.0, "learning_rate": 0.01}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"clipnorm": 1.0}),
    ("Adam", {"weight_decay": 0.1, "learning_rate": 0.01}),
    ("Adam", {"global_clipnorm": 1.0}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "amsgrad": True, "learning_rate": 0.01}),
    ("Nadam", {}),
    ("Nadam", {"beta_1": 0.8, "learning_rate": 0.01}),
    ("Adamax", {}),
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9}),
    ("Lion", {}),
    ("Lion", {"beta_1": 0.5, "beta_2": 0.9, "learning_rate": 0.01, "weight_decay": 0.1}),
    ("Lamb", {}),
    ("Lamb", {"learning_rate": 0.01, "weight_decay": 0.1, "clipnorm": 1.0}),
    ("Ftrl", {}),
    ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7, "l1_regularization_strength": 0.01,
              "l2_regularization_strength": 0.02, "l2_shrinkage_regularization_strength": 0.01, "beta": 0.1}),
    ("Ftrl", {"learning_rate": 0.1, "weight_decay": 0.05, "initial_accumulator_value": 0.5}),
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.5, "beta_2_decay": -0.5, "epsilon_2": 0.01, "clip_threshold": 0.5,
                   "relative_step": False, "weight_decay": 0.05, "clipnorm": 1.0}),
]


@pytest.mark.parametrize("class_name, kwargs", UPDATE_CASES, ids=[f"{c}-{k}" for c, k in UPDATE_CASES])
def test_updates_match_keras(class_name, kwargs):
    grads = gradient_sequence()
    ours = scanfit_run(getattr(optimizers, class_name)(**kwargs), grads)
    theirs = keras_run(getattr(keras.optimizers, class_name)(**kwargs), grads)
    assert_same_weights(ours, theirs)


def test_adam_epsilon_placement_differs_from_optax_default():
    """The comparison above can tell Keras's Adam from optax.adam."""
    grads = gradient_sequence()
    params = {name: jnp.asarray(value) for name, value in initial_weights().items()}
    transform = optax.adam(1e-3, eps=1e-7)
    state = transform.init(params)
    for step_grads in grads:
        updates, state = transform.update(step_grads, state, params)
        params = optax.apply_updates(params, updates)
    theirs = keras_run(keras.optimizers.Adam(), grads)
    with pytest.raises(AssertionError):
        assert_same_weights({k: np.asarray(v) for k, v in params.items()}, theirs)


@pytest.mark.parametrize("class_name, kwargs", [
    ("SGD", {"momentum": 0.9, "learning_rate": 0.1}),
    ("RMSprop", {"momentum": 0.5}),
    ("Adam", {"weight_decay": 0.1}),
])
def test_changing_learning_rate_mid_way_matches_keras(class_name, kwargs):
    grads = gradient_sequence()
    base = np.float32(kwargs.get("learning_rate", 0.001))
    rate_at = lambda step: float(base if step < 5 else 0.25 * base)
    ours = scanfit_run(getattr(optimizers, class_name)(**kwargs), grads, rate_at)
    theirs = keras_run(getattr(keras.optimizers, class_name)(**kwargs), grads, rate_at)
    assert_same_weights(ours, theirs)


SCHEDULE_CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[3, 7], values=[1.0, 0.5, 0.1])),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=20, warmup_target=0.2, warmup_steps=5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.01, power=2.0)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, cycle=True)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5, t_mul=1.0, m_mul=0.5, alpha=0.1)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=3, t_mul=1.5, m_mul=0.8)),
]


@pytest.mark.parametrize("class_name, kwargs", SCHEDULE_CASES, ids=[c for c, _ in SCHEDULE_CASES])
def test_schedules_match_keras(class_name, kwargs):
    ours = getattr(schedules, class_name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, class_name)(**kwargs)
    steps = jnp.arange(40, dtype=jnp.int32)
    expected = np.asarray(jax.vmap(theirs)(steps))
    traced = jax.jit(jax.vmap(ours))(steps)
    np.testing.assert_allclose(np.asarray(traced), expected, rtol=1e-5, atol=1e-8)
    for step in (0, 3, 5, 7, 20, 39):
        assert float(ours(step)) == pytest.approx(float(theirs(step)), rel=1e-5, abs=1e-8)
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)


@pytest.mark.parametrize("class_name, make_schedule, kwargs", [
    ("Adam", lambda mod: mod.ExponentialDecay(0.01, 3, 0.5), {}),
    ("SGD", lambda mod: mod.PiecewiseConstantDecay([2, 6], [0.1, 0.05, 0.01]), {"momentum": 0.9}),
    ("AdamW", lambda mod: mod.CosineDecay(0.01, 8), {"weight_decay": 0.1}),
])
def test_scheduled_updates_match_keras(class_name, make_schedule, kwargs):
    grads = gradient_sequence()
    ours = scanfit_run(getattr(optimizers, class_name)(make_schedule(schedules), **kwargs), grads)
    theirs = keras_run(
        getattr(keras.optimizers, class_name)(make_schedule(keras.optimizers.schedules), **kwargs), grads)
    assert_same_weights(ours, theirs)


def test_scheduled_learning_rate_reads_from_iterations_and_state_and_cannot_be_set():
    schedule = schedules.ExponentialDecay(0.1, 2, 0.5)
    optimizer = optimizers.SGD(schedule)
    optimizer.iterations = 4
    assert optimizer.learning_rate == pytest.approx(0.025)
    with pytest.raises(TypeError, match="schedule"):
        optimizer.learning_rate = 0.3
    transform = optimizer.build_transform()
    params = {"w": jnp.ones(2)}
    state = transform.init(params)
    for _ in range(2):
        _, state = transform.update(params, state, params)
    assert optimizer.state_learning_rate(state) == pytest.approx(0.05)
    assert optimizer.with_learning_rate(state, 0.3) is state


def test_legacy_decay_matches_keras_with_the_rate_reassigned_each_step():
    grads = gradient_sequence()
    rate, decay = np.float32(0.1), 0.2
    ours = scanfit_run(optimizers.SGD(lr=0.1, decay=decay, momentum=0.9), grads)
    theirs = keras_run(keras.optimizers.SGD(0.1, momentum=0.9), grads, lambda step: rate / (1 + decay * step))
    assert_same_weights(ours, theirs)


def test_state_learning_rate_round_trip_without_recompiling():
    optimizer = optimizers.Adam(learning_rate=0.01)
    transform = optimizer.build_transform()
    params = {"w": jnp.ones(3)}
    state = transform.init(params)

    @jax.jit
    def step(state):
        return transform.update(params, state, params)[1]

    state = step(state)
    assert optimizer.state_learning_rate(state) == pytest.approx(0.01)
    optimizer.learning_rate = 0.5 * optimizer.learning_rate
    state = step(optimizer.with_learning_rate(state, optimizer.learning_rate))
    assert optimizer.state_learning_rate(state) == pytest.approx(0.005)
    assert step._cache_size() == 1


def test_learning_rate_property_aliases_and_types():
    optimizer = optimizers.SGD(lr=0.1)
    assert optimizer.learning_rate == optimizer.lr == float(np.float32(0.1))
    optimizer.lr = np.float64(0.2)
    assert optimizer.learning_rate == float(np.float32(0.2))
    assert optimizers.Adam(1).learning_rate == 1.0
    with pytest.raises(TypeError, match="lr"):
        optimizers.SGD(learning_rate=0.1, lr=0.1)
    with pytest.raises(TypeError, match="learning_rate"):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(TypeError, match="momentun"):
        optimizers.SGD(momentun=0.9)
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="ema_momentum"):  # (use_ema itself: test_optimizer_ema.py)
        optimizers.Adam(use_ema=True, ema_momentum=2.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    assert optimizers.Adam(epsilon=None).epsilon == 1e-7


CONFIG_CASES = [
    ("SGD", {"momentum": 0.9, "nesterov": True, "clipnorm": 1.0}),
    ("RMSprop", {"centered": True, "weight_decay": 0.01}),
    ("Adagrad", {}),
    ("Adam", {"amsgrad": True, "global_clipnorm": 2.0}),
    ("AdamW", {}),
    ("Nadam", {"clipvalue": 0.5}),
    ("Adamax", {}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Lion", {"beta_2": 0.9}),
    ("Lamb", {"weight_decay": 0.01}),
    ("Ftrl", {"l1_regularization_strength": 0.01, "beta": 0.5}),
    ("Muon", {}),
    ("Muon", {"exclude_layers": ["out"], "rms_rate": None, "nesterov": False, "ns_steps": 3, "clipnorm": 1.0}),
    ("ScheduleFreeAdamW", {}),
    ("ScheduleFreeAdamW", {"warmup_steps": 10, "weight_decay": 0.01, "beta_1": 0.8}),
]


@pytest.mark.parametrize("class_name, kwargs", CONFIG_CASES, ids=[c for c, _ in CONFIG_CASES])
def test_config_matches_keras_and_round_trips(class_name, kwargs):
    ours = getattr(optimizers, class_name)(**kwargs)
    theirs = getattr(keras.optimizers, class_name)(**kwargs)
    our_config, their_config = ours.get_config(), theirs.get_config()
    our_config.pop("name"), their_config.pop("name")
    assert our_config == their_config
    serialized = optimizers.serialize(ours)
    assert (serialized["module"], serialized["class_name"]) == ("keras.optimizers", class_name)
    assert optimizers.deserialize(serialized).get_config() == ours.get_config()
    from_keras = optimizers.deserialize(keras.optimizers.serialize(theirs))
    assert type(from_keras) is type(ours) and from_keras.get_config() == {**theirs.get_config(),
                                                                         "name": from_keras.name}
    assert type(optimizers.get(class_name.lower())) is type(ours)  # Keras's string names


def test_schedule_in_config_round_trips_through_keras_format():
    theirs = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.01, 100, alpha=0.1))
    ours = optimizers.deserialize(keras.optimizers.serialize(theirs))
    assert isinstance(ours._learning_rate, schedules.CosineDecay)
    our_config = ours.get_config()
    assert our_config["learning_rate"] == keras.optimizers.schedules.serialize(theirs._learning_rate)
    assert optimizers.deserialize(optimizers.serialize(ours)).get_config() == our_config


def test_default_names_follow_keras():
    assert optimizers.RMSprop().name.startswith("rm_sprop")
    first, second = optimizers.Adamax(), optimizers.Adamax()
    assert first.name != second.name and second.name.startswith("adamax")
    assert optimizers.SGD(name="mine").name == "mine"


def test_get_accepts_names_configs_instances_and_optax_transforms():
    assert isinstance(optimizers.get("Adam"), optimizers.Adam)
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("ADAMW"), optimizers.AdamW)
    for name in ("lion", "ftrl", "adamax", "nadam", "adadelta", "adagrad"):  # Keras's string names (not "lamb")
        assert type(optimizers.get(name)).__name__ == type(keras.optimizers.get(name)).__name__
    assert optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.5}}).learning_rate == 0.5
    instance = optimizers.Nadam()
    assert optimizers.get(instance) is instance
    assert optimizers.get(None) is None
    with pytest.raises(ValueError, match="adadelta.*sgd"):
        optimizers.get("adamm")
    with pytest.raises(TypeError, match="optimizer"):
        optimizers.get(3)


def test_raw_optax_transform_without_injected_learning_rate():
    optimizer = optimizers.get(optax.adam(1e-3))
    assert isinstance(optimizer, optimizers.OptaxOptimizer)
    params = {"w": jnp.ones(2)}
    transform = optimizer.build_transform()
    updates, _ = transform.update(params, transform.init(params), params)
    np.testing.assert_allclose(updates["w"], [-1e-3, -1e-3], rtol=1e-5)
    with pytest.raises(AttributeError, match="inject_hyperparams"):
        optimizer.learning_rate
    assert not hasattr(optimizer, "lr")
    with pytest.raises(TypeError, match="serialized"):
        optimizer.get_config()


def test_raw_optax_transform_with_injected_learning_rate():
    optimizer = optimizers.get(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1))
    assert optimizer.learning_rate == pytest.approx(0.1)
    params = {"w": jnp.ones(2)}
    transform = optimizer.build_transform()
    state = transform.init(params)
    optimizer.learning_rate = 0.01
    state = optimizer.with_learning_rate(state, optimizer.learning_rate)
    assert optimizer.state_learning_rate(state) == pytest.approx(0.01)
    updates, _ = transform.update(params, state, params)
    np.testing.assert_allclose(updates["w"], [-0.01, -0.01], rtol=1e-6)


def test_schedules_reachable_under_the_keras_path():
    from scanfit.optimizers.schedules import ExponentialDecay

    assert optimizers.schedules.ExponentialDecay is ExponentialDecay is schedules.ExponentialDecay
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.CosineDecay(0.1, decay_steps=0)
    with pytest.raises(ValueError, match="boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])


@pytest.mark.parametrize("name", ["Lion", "Lamb", "Ftrl"])
def test_newer_optimizers_train_a_model_like_keras(name):
    """Trained by fit (whole epochs in one program) as Keras trains the same model."""
    import scanfit

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(64, 5)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    weights = None
    results = []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((5,)), K.layers.Dense(8, activation="tanh"), K.layers.Dense(1)])
        weights = weights or [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]
        model.set_weights(weights)
        model.compile(optimizer=getattr(K.optimizers, name)(learning_rate=0.01), loss="mse")
        history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        results.append((history.history["loss"], model.get_weights()))
    (k_loss, k_weights), (s_loss, s_weights) = results
    assert k_loss[-1] < k_loss[0]  # the optimizer moved the model
    np.testing.assert_allclose(s_loss, k_loss, rtol=1e-5)
    for mine, theirs in zip(s_weights, k_weights):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)
