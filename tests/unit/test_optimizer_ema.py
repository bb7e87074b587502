"""Optimizers with use_ema=True and keras.callbacks.SwapEMAWeights against Keras 3 (the oracle): the same model
and weights trained side by side, unshuffled, give the same weights, moving averages, histories and files."""
import jax
import keras
import numpy as np
import pytest

import scanfit
from scanfit.saving.optimizer_state import optimizer_variables

RNG = np.random.default_rng(3)
X = RNG.normal(size=(12, 3)).astype("float32")
Y = RNG.normal(size=(12, 2)).astype("float32")
X_VAL = RNG.normal(size=(6, 3)).astype("float32")
Y_VAL = RNG.normal(size=(6, 2)).astype("float32")


def model(lib, frozen=False, constraint=None):
    L = lib.layers
    first = L.Dense(4, activation="tanh")
    first.trainable = not frozen
    return lib.Sequential([lib.Input((3,)), first, L.Dense(2, kernel_constraint=constraint)])


def weights_for(model_, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.7 * rng.normal(size=w.shape)).astype("float32") for w in model_.weights]


def optimizer(lib, name, **kwargs):
    settings = {"SGD": dict(learning_rate=0.1, momentum=0.9), "Adam": dict(learning_rate=0.05),
                "RMSprop": dict(learning_rate=0.01, centered=True), "Lion": dict(learning_rate=0.01)}[name]
    return getattr(lib.optimizers, name)(**settings, use_ema=True, ema_momentum=0.8, **kwargs)


def pair(name, frozen=False, constraint=None, **kwargs):
    """A Keras model and a scanfit model with the same weights, compiled with `name` and use_ema."""
    models = []
    for lib in (keras, scanfit):
        lib.utils.clear_session(free_memory=False)  # (names from zero in both: slot names are compared)
        made = model(lib, frozen, constraint and getattr(lib.constraints, constraint)(0.5))
        made.set_weights(weights_for(made))
        made.compile(optimizer=optimizer(lib, name, **kwargs), loss="mse")
        models.append(made)
    return models


def assert_same_weights(ours, theirs):
    for mine, their in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, their, rtol=1e-5, atol=1e-6)


def assert_same_history(ours, theirs):
    assert sorted(ours.history) == sorted(theirs.history)
    for key in theirs.history:
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=1e-5, atol=1e-6, err_msg=key)


# --- the update: optimizer.apply_gradients, then finalize_variable_values ---------------------------------


@pytest.mark.parametrize("name, frequency", [("SGD", None), ("Adam", 3), ("RMSprop", 2), ("Lion", None)])
def test_moving_average_and_overwrites_follow_keras_step_by_step(name, frequency):
    """The average starts as the weights after the first step (no bias correction), moves by ema_momentum after
    each step, and replaces the weights after every `frequency`-th step when that is set; finalize_variable_values
    then sets the weights to it."""
    rng = np.random.default_rng(5)
    start = [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(7)]
    runs = {}
    for lib in (keras, scanfit):
        variables = [lib.Variable(w) for w in start]
        opt = optimizer(lib, name, ema_overwrite_frequency=frequency)
        seen = []
        for step_grads in grads:
            opt.apply_gradients(zip(step_grads, variables))
            seen.append([np.asarray(v.numpy() if lib is keras else v.value) for v in variables])
        opt.finalize_variable_values(variables)
        runs[lib] = seen + [[np.asarray(v.numpy() if lib is keras else v.value) for v in variables]]
    for ours, theirs in zip(runs[scanfit], runs[keras], strict=True):
        for mine, their in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(mine, their, rtol=1e-5, atol=1e-6)


# --- fit, validation, evaluate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, frequency, swap", [
    ("SGD", None, None), ("Adam", None, "swap"), ("Adam", 2, None), ("SGD", 2, "swap_on_epoch"),
])
def test_fit_matches_keras(name, frequency, swap):
    """Weights after fit (the average), each epoch's loss and val_loss (with the trained weights, or with the
    average under SwapEMAWeights), and evaluate after fit."""
    theirs, ours = pair(name, ema_overwrite_frequency=frequency)
    histories = []
    for lib, made in ((keras, theirs), (scanfit, ours)):
        callbacks = [] if swap is None else [lib.callbacks.SwapEMAWeights(swap_on_epoch=swap == "swap_on_epoch")]
        histories.append(made.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                                  validation_data=(X_VAL, Y_VAL), callbacks=callbacks))
    assert_same_history(histories[1], histories[0])
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.evaluate(X_VAL, Y_VAL, verbose=0), theirs.evaluate(X_VAL, Y_VAL, verbose=0),
                               rtol=1e-5)


def test_swap_on_epoch_shows_the_average_to_the_callbacks_after_it():
    """With swap_on_epoch, a callback after SwapEMAWeights sees the average at on_epoch_end, one before it the
    trained weights."""
    theirs, ours = pair("Adam")
    seen = {}
    for lib, made in ((keras, theirs), (scanfit, ours)):
        before, after = [], []
        callbacks = [lib.callbacks.LambdaCallback(on_epoch_end=lambda e, logs, m=made, s=before: s.append(
                         m.get_weights())),
                     lib.callbacks.SwapEMAWeights(swap_on_epoch=True),
                     lib.callbacks.LambdaCallback(on_epoch_end=lambda e, logs, m=made, s=after: s.append(
                         m.get_weights()))]
        made.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        seen[lib] = before + after
    for ours_, theirs_ in zip(seen[scanfit], seen[keras], strict=True):
        for mine, their in zip(ours_, theirs_, strict=True):
            np.testing.assert_allclose(mine, their, rtol=1e-5, atol=1e-6)
    assert not np.allclose(seen[scanfit][0][0], seen[scanfit][2][0])  # (the average is not the trained weights)


def test_frozen_weights_and_constraints():
    """A frozen layer has no average and keeps its weights; the average follows the weights before their
    constraint (as Keras's optimizer updates it before applying constraints), so fit ends unconstrained."""
    theirs, ours = pair("Adam", frozen=True, constraint="MaxNorm")
    for made in (theirs, ours):
        made.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(ours, theirs)
    np.testing.assert_array_equal(ours.layers[0].get_weights()[0], weights_for(ours)[0])
    assert np.linalg.norm(ours.layers[1].get_weights()[0], axis=0).max() > 0.5 + 1e-4
    names = [name for name, _ in optimizer_variables(ours)]
    assert names == [v.path for v in theirs.optimizer.variables]


def test_train_on_batch_keeps_the_trained_weights_and_swap_evaluates_and_predicts_with_the_average():
    """train_on_batch updates the average (and overwrites the weights with it at step 3 here) but does not end a
    fit, so the model keeps its trained weights; evaluate and predict given SwapEMAWeights use the average."""
    theirs, ours = pair("SGD", ema_overwrite_frequency=3)
    for start in range(0, 12, 3):
        for made in (theirs, ours):
            made.train_on_batch(X[start:start + 3], Y[start:start + 3])
    assert_same_weights(ours, theirs)
    trained = ours.get_weights()
    results = {}
    for lib, made in ((keras, theirs), (scanfit, ours)):
        evaluated = made.evaluate(X_VAL, Y_VAL, verbose=0, callbacks=[lib.callbacks.SwapEMAWeights()])
        predicted = made.predict(X_VAL, verbose=0, callbacks=[lib.callbacks.SwapEMAWeights()])
        results[lib] = (evaluated, predicted)
    np.testing.assert_allclose(results[scanfit][0], results[keras][0], rtol=1e-5)
    np.testing.assert_allclose(results[scanfit][1], results[keras][1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(results[scanfit][1], ours.predict(X_VAL, verbose=0))
    # Keras 3.15's on_predict_end never swaps back (its condition is inverted); the callback's docstring says
    # the weights are restored after evaluation, and scanfit restores them.
    for mine, before in zip(ours.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(mine, before)


def test_a_loss_scale_optimizer_keeps_the_average_of_its_inner_optimizer():
    """Keras updates the average inside the inner optimizer's step (skipped with a non-finite gradient)."""
    runs = []
    for lib in (keras, scanfit):
        made = model(lib)
        made.set_weights(weights_for(made))
        made.compile(optimizer=lib.optimizers.LossScaleOptimizer(optimizer(lib, "Adam", ema_overwrite_frequency=4)),
                     loss="mse")
        made.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        runs.append(made)
    assert_same_weights(runs[1], runs[0])


def stepped_model(lib):
    """A model whose own train_step (Keras 3's JAX form) applies its gradients with optimizer.stateless_apply."""

    class Stepped(lib.Model):
        def train_step(self, state, data):
            trainable, non_trainable, optimizer_variables, metrics_variables = state
            x, y = data[:2]

            def loss_of(values):
                y_pred, _ = self.stateless_call(values, non_trainable, x, training=True)
                return jax.numpy.mean(jax.numpy.square(y_pred - y))

            loss, grads = jax.value_and_grad(loss_of)(trainable)
            trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
            return {"loss": loss}, (trainable, non_trainable, optimizer_variables, metrics_variables)

    inputs = lib.Input((3,))
    return Stepped(inputs, lib.layers.Dense(2)(lib.layers.Dense(4, activation="tanh")(inputs)))


def test_a_custom_train_step_with_stateless_apply_ends_with_the_average():
    runs = []
    for lib in (keras, scanfit):
        made = stepped_model(lib)
        made.set_weights(weights_for(made))
        made.compile(optimizer=optimizer(lib, "SGD", ema_overwrite_frequency=4), loss="mse")
        made.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        runs.append(made)
    assert_same_weights(runs[1], runs[0])


# --- configs, files, errors ----------------------------------------------------------------------------------------


def test_config_round_trip_equals_keras():
    kwargs = dict(use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=5)
    ours, theirs = scanfit.optimizers.Adam(**kwargs), keras.optimizers.Adam(**kwargs)
    assert ours.get_config() == {**theirs.get_config(), "name": ours.name}
    again = scanfit.optimizers.deserialize(scanfit.optimizers.serialize(ours))
    assert again.get_config() == ours.get_config()


@pytest.mark.parametrize("kwargs", [dict(ema_momentum=1.5), dict(ema_overwrite_frequency=2.5),
                                    dict(ema_overwrite_frequency=-1)])
def test_bad_settings_are_refused_as_keras_refuses_them(kwargs):
    with pytest.raises(ValueError):
        keras.optimizers.SGD(use_ema=True, **kwargs)
    with pytest.raises(ValueError, match="ema_"):
        scanfit.optimizers.SGD(use_ema=True, **kwargs)


def test_files_interchange_both_ways(tmp_path):
    """A fitted model's averages are saved as Keras's ``average`` variables (after the iteration and learning
    rate, before the slots: the names are checked in test_frozen_weights_and_constraints); either library's file
    loads in the other and one more epoch from it matches."""
    theirs, ours = pair("Adam", ema_overwrite_frequency=4)
    for made in (theirs, ours):
        made.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "scanfit.keras")
    from_keras = scanfit.models.load_model(tmp_path / "keras.keras")
    from_scanfit = keras.models.load_model(tmp_path / "scanfit.keras")
    assert from_keras.optimizer.get_config() == {**theirs.optimizer.get_config(), "name": from_keras.optimizer.name}
    for (_, mine), their in zip(optimizer_variables(from_keras), theirs.optimizer.variables, strict=True):
        np.testing.assert_array_equal(mine, np.asarray(their.numpy()))
    for mine, their in zip(optimizer_variables(ours), from_scanfit.optimizer.variables, strict=True):
        np.testing.assert_allclose(mine[1], np.asarray(their.numpy()), rtol=1e-5, atol=1e-6)
    # Each file in both libraries, one more epoch. (Keras 3.15 cannot fit `theirs` again: its fit ends by assigning
    # each average's array to its weight, and the next fit donates that one buffer twice.)
    for path in ("keras.keras", "scanfit.keras"):
        again = [lib.models.load_model(tmp_path / path) for lib in (keras, scanfit)]
        for made in again:
            made.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        assert_same_weights(again[1], again[0])
    ours.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # (scanfit fits again; the same as from its file)
    assert_same_weights(ours, again[1])


def test_swap_needs_an_optimizer_with_use_ema():
    made = model(scanfit)
    made.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="use_ema"):
        made.fit(X, Y, verbose=0, callbacks=[scanfit.callbacks.SwapEMAWeights()])


def test_sweep_trains_with_use_ema_and_refuses_swap_ema_weights():
    theirs = model(keras)
    theirs.set_weights(weights_for(theirs))
    theirs.compile(optimizer=optimizer(keras, "SGD", ema_overwrite_frequency=4), loss="mse")
    theirs.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)

    def build(seed):
        made = model(scanfit)
        made.set_weights(weights_for(made))
        made.compile(optimizer=optimizer(scanfit, "SGD", ema_overwrite_frequency=4), loss="mse")
        return made

    sweep = scanfit.Sweep(build, [{"seed": 0}])
    sweep.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(sweep.models[0], theirs)
    with pytest.raises(NotImplementedError, match="SwapEMAWeights"):
        scanfit.Sweep(build, [{"seed": 0}]).fit(X, Y, verbose=0, callbacks=[scanfit.callbacks.SwapEMAWeights()])
