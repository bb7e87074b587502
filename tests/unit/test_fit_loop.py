"""The one epoch loop (`scanfit.engine.fit_loop`) that Model.fit and Sweep.fit both drive."""
import logging
import warnings

import jax
import numpy as np
import pytest

import scanfit
from scanfit.engine.fit_loop import EpochDriver, FitRun, run_epochs

EPOCH_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end")


class Recorder(scanfit.callbacks.Callback):
    """Records the epoch-level hooks with their epoch and the keys of their logs; stops at `stop_at`."""

    def __init__(self, stop_at=None):
        super().__init__()
        self.calls, self.stop_at = [], stop_at

    def __getattribute__(self, name):
        if name in EPOCH_HOOKS:
            def hook(*args, logs=None):
                index = args[0] if name.startswith("on_epoch") else None
                logs = args[-1] if args and isinstance(args[-1], dict) else logs
                self.calls.append((name, index, tuple(sorted(logs or {}))))
                if name == "on_epoch_end" and index == self.stop_at:
                    self.model.stop_training = True
            return hook
        return super().__getattribute__(name)


class FakeModel:
    optimizer = None  # (a run ends by setting an EMA optimizer's averages as the weights; this one keeps none)

    def __init__(self):
        self.stop_training, self.history = False, None


class ScriptedDriver(EpochDriver):
    """Logs ``loss = epoch``; the data runs out at epoch `runs_out_at`."""

    def __init__(self, runs_out_at=None):
        self.runs_out_at, self.calls = runs_out_at, []

    def train(self, epoch, runs):
        self.calls.append(("train", epoch, len(runs)))
        if epoch == self.runs_out_at:
            return False
        for run in runs:
            run.logs = {"loss": float(epoch)}
        return True

    def validate(self, epoch, runs):
        self.calls.append(("validate", epoch))
        for run in runs:
            run.logs["val_loss"] = float(epoch) + 0.5

    def finish(self, runs):
        self.calls.append(("finish",))


def test_the_loop_calls_the_hooks_in_keras_order_validates_on_schedule_and_stops_each_run_alone():
    stopping, going_on = Recorder(stop_at=1), Recorder()
    runs = [FitRun(FakeModel(), [stopping], {}), FitRun(FakeModel(), [going_on], {})]
    driver = ScriptedDriver()
    histories = run_epochs(runs, driver, 0, 3, lambda epoch: epoch % 2 == 0)
    assert driver.calls == [("train", 0, 2), ("train", 1, 2), ("validate", 1), ("train", 2, 1), ("finish",)]
    assert stopping.calls == [("on_train_begin", None, ()), ("on_epoch_begin", 0, ()), ("on_epoch_end", 0, ("loss",)),
                              ("on_epoch_begin", 1, ()), ("on_epoch_end", 1, ("loss", "val_loss")),
                              ("on_train_end", None, ("loss", "val_loss"))]
    assert [call[:2] for call in going_on.calls][-3:] == [("on_epoch_begin", 2), ("on_epoch_end", 2), ("on_train_end", None)]
    assert histories[0].history == {"loss": [0.0, 1.0], "val_loss": [1.5]}
    assert histories[1].epoch == [0, 1, 2] and histories[1].history["loss"] == [0.0, 1.0, 2.0]
    assert all(run.model.history is history for run, history in zip(runs, histories))


def test_data_running_out_ends_the_fit_with_the_last_epochs_logs():
    recorder = Recorder()
    run = FitRun(FakeModel(), [recorder], {})
    driver = ScriptedDriver(runs_out_at=2)
    (history,) = run_epochs([run], driver, 1, 5, lambda epoch: False)
    assert history.epoch == [1]
    assert recorder.calls[-2:] == [("on_epoch_begin", 2, ()), ("on_train_end", None, ("loss",))]


def test_a_nonfinite_loss_is_warned_about_once_per_run():
    class NaNDriver(ScriptedDriver):
        def train(self, epoch, runs):
            for run in runs:
                run.logs = {"loss": float("nan")}
            return True

    runs = [FitRun(FakeModel(), [], {}), FitRun(FakeModel(), [], {})]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_epochs(runs, NaNDriver(), 0, 3, lambda epoch: False)
    assert [str(w.message)[:30] for w in caught] == ["Epoch 1: the training loss is "] * 2


def _model(seed):
    scanfit.utils.set_random_seed(seed)
    model = scanfit.Sequential([scanfit.Input(shape=(4,)), scanfit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_model_fit_and_a_one_run_sweep_drive_the_same_loop():
    """The same hooks, logs and histories, stop included, whether a model is fitted alone or in a Sweep."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)
    xv, yv = x[:16], y[:16]
    alone = Recorder(stop_at=2)
    history = _model(3).fit(x, y, batch_size=16, epochs=4, verbose=0, validation_data=(xv, yv), validation_freq=2,
                            callbacks=[alone])
    in_sweep = Recorder(stop_at=2)
    sweep = scanfit.Sweep(lambda seed: _model(seed), [{"seed": 3}])
    (swept,) = sweep.fit(x, y, batch_size=16, epochs=4, verbose=0, validation_data=(xv, yv), validation_freq=2,
                         callbacks=lambda index, params: [in_sweep])
    assert alone.calls == in_sweep.calls
    assert [name for name, _, _ in alone.calls].count("on_epoch_end") == 3
    assert history.history.keys() == swept.history.keys()
    for key, values in history.history.items():
        np.testing.assert_allclose(swept.history[key], values, rtol=1e-5)


def test_a_sweep_run_with_a_nonfinite_loss_is_warned_about_as_model_fit_does():
    x = np.ones((8, 4), "float32")
    y = np.zeros((8, 3), "float32")

    def build(learning_rate):
        model = scanfit.Sequential([scanfit.Input(shape=(4,)), scanfit.layers.Dense(3)])
        model.compile(optimizer=scanfit.optimizers.SGD(learning_rate=learning_rate), loss="mse")
        return model

    sweep = scanfit.Sweep(build, [{"learning_rate": 1e30}])
    with pytest.warns(RuntimeWarning, match="the training loss is"):
        sweep.fit(x * 1e30, y, epochs=2, verbose=0)


def test_terminate_on_nan_stops_only_the_diverging_run_of_a_sweep_at_the_batch_model_fit_names():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 3)).astype("float32")

    def build(learning_rate, seed):
        scanfit.utils.set_random_seed(seed)
        model = scanfit.Sequential([scanfit.Input(shape=(4,)), scanfit.layers.Dense(3)])
        model.compile(optimizer=scanfit.optimizers.SGD(learning_rate=learning_rate), loss="mse")
        return model

    alone = scanfit.callbacks.TerminateOnNaN()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        build(1e18, 0).fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[alone])
        sweep = scanfit.Sweep(build, [{"learning_rate": 1e18, "seed": 0}, {"learning_rate": 0.01, "seed": 0}])
        in_sweep = [scanfit.callbacks.TerminateOnNaN(), scanfit.callbacks.TerminateOnNaN()]
        diverging, steady = sweep.fit(x, y, batch_size=8, epochs=3, verbose=0,
                                      callbacks=lambda index, params: [in_sweep[index]])
    assert alone.nan_epoch == 0 and alone.nan_batch is not None
    assert (in_sweep[0].nan_epoch, in_sweep[0].nan_batch) == (alone.nan_epoch, alone.nan_batch)
    assert in_sweep[1].nan_epoch is None
    assert len(diverging.epoch) == 1 and len(steady.epoch) == 3
    assert np.isfinite(steady.history["loss"]).all()


def test_the_validation_program_is_compiled_once_ahead_and_gives_evaluates_numbers(caplog):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(96, 4)).astype("float32"), rng.integers(0, 3, 96)
    xv, yv = x[:40], y[:40]
    model = _model(5)
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.DEBUG, logger="jax"):
            model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(xv, yv))
            history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, validation_data=(xv, yv))
            logs = model.evaluate(xv, yv, batch_size=16, verbose=0, return_dict=True)
    finally:
        jax.config.update("jax_log_compiles", False)
    compiles = [r.getMessage() for r in caplog.records if "Finished XLA compilation of jit(evaluate_sums)" in r.getMessage()]
    assert len(compiles) == 1  # compiled once, on the background thread, for both fits and evaluate
    assert history.history["val_loss"][-1] == pytest.approx(logs["loss"], rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(logs["accuracy"], rel=1e-6)


def _dropout_model(learning_rate=0.01):
    scanfit.utils.set_random_seed(0)
    model = scanfit.Sequential([scanfit.Input(shape=(4,)), scanfit.layers.Dense(8, activation="relu"),
                                scanfit.layers.Dropout(0.5), scanfit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=scanfit.optimizers.SGD(learning_rate=learning_rate), loss="sparse_categorical_crossentropy")
    return model


def test_each_fit_call_draws_new_shuffles_and_dropout_as_the_epochs_of_one_longer_fit_do():
    """Keras's seed state goes on from call to call: a loop of fit(epochs=1) calls is one fit of that many epochs."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)
    still = _dropout_model(learning_rate=0.0)  # weights never change: only the draws can change the loss
    losses = [still.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][0] for _ in range(3)]
    assert len(set(losses)) == 3
    whole = _dropout_model().fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
    model = _dropout_model()
    one_by_one = [model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][0] for _ in range(3)]
    model = _dropout_model()
    resumed = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"]
    resumed += model.fit(x, y, batch_size=16, epochs=3, initial_epoch=1, verbose=0).history["loss"]
    assert whole == one_by_one == resumed
    sweep = scanfit.Sweep(lambda seed: _dropout_model(), [{"seed": 0}])
    swept = [sweep.fit(x, y, batch_size=16, epochs=1, verbose=0)[0].history["loss"][0] for _ in range(3)]
    np.testing.assert_allclose(swept, whole, rtol=1e-6)
