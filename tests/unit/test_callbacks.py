"""Monitoring callbacks, the scheduler, CSVLogger, LambdaCallback, TerminateOnNaN and custom hooks, against Keras 3."""
import contextlib
import io

import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(3)
X = RNG.normal(size=(70, 4)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype("int32")
XV, YV = X[:40], Y[:40]


def _twins(optimizer="SGD", learning_rate=0.1):
    """The same tiny classifier in Keras and scanfit, same weights, compiled alike."""
    models = []
    for library in (keras, scanfit):
        model = library.Sequential([library.Input((4,)), library.layers.Dense(3, activation="relu"),
                                    library.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=getattr(library.optimizers, optimizer)(learning_rate=learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    return models


def _drive(callback, model, losses, monitor="val_loss", mark_weights=True):
    """Run `callback` through a scripted training: epoch `e` ends with logs {monitor: losses[e]}.

    Before each epoch end the model's weights are all set to the epoch number,
    so restored weights tell which epoch they came from. Returns the number of
    epochs run, the printed text and the logs seen.
    """
    out = io.StringIO()
    callback.set_model(model)
    model.stop_training = False
    all_logs = []
    with contextlib.redirect_stdout(out):
        callback.on_train_begin({})
        epochs = 0
        for epoch, value in enumerate(losses):
            callback.on_epoch_begin(epoch, {})
            if mark_weights:
                model.set_weights([np.full(w.shape, epoch, w.dtype) for w in model.get_weights()])
            logs = {"loss": 1.0, monitor: value}
            callback.on_epoch_end(epoch, logs)
            all_logs.append(logs)
            epochs += 1
            if model.stop_training:
                break
        callback.on_train_end({})
    return epochs, out.getvalue(), all_logs


# Seed 000: val_loss falls to its minimum at epoch 12, then rises; patience=2 stops at epoch 14.
SEED_LOSSES = [0.5 - 0.02 * e for e in range(13)] + [0.262, 0.27, 0.28, 0.29, 0.3, 0.31]


@pytest.mark.parametrize("kwargs, losses, monitor", [
    (dict(patience=2, restore_best_weights=True, verbose=1), SEED_LOSSES, "val_loss"),
    (dict(patience=0), [0.5, 0.4, 0.45, 0.3], "val_loss"),
    (dict(patience=3, min_delta=0.05, verbose=1), [1.0, 0.97, 0.9, 0.88, 0.87, 0.86, 0.85], "val_loss"),
    (dict(patience=2, baseline=0.5, restore_best_weights=True), [0.9, 0.8, 0.7, 0.6, 0.55], "val_loss"),
    (dict(patience=1, start_from_epoch=3, restore_best_weights=True), [0.5, 0.9, 0.9, 0.9, 0.8, 0.85, 0.9], "val_loss"),
    (dict(patience=2, mode="max", restore_best_weights=True, verbose=1), [0.5, 0.7, 0.6, 0.65, 0.8, 0.7],
     "val_accuracy"),
    (dict(patience=5, restore_best_weights=True), [0.5, 0.4, 0.45], "val_loss"),
])
def test_early_stopping_matches_keras_on_scripted_losses(kwargs, losses, monitor):
    k_model, s_model = _twins()
    k_cb = keras.callbacks.EarlyStopping(monitor=monitor, **kwargs)
    s_cb = scanfit.callbacks.EarlyStopping(monitor=monitor, **kwargs)
    k_epochs, k_text, _ = _drive(k_cb, k_model, losses, monitor)
    s_epochs, s_text, _ = _drive(s_cb, s_model, losses, monitor)
    assert s_epochs == k_epochs
    assert (s_cb.stopped_epoch, s_cb.wait, s_cb.best_epoch) == (k_cb.stopped_epoch, k_cb.wait, k_cb.best_epoch)
    assert s_cb.best == k_cb.best
    assert s_text == k_text
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_array_equal(s_w, k_w)


def test_early_stopping_reports_the_seed_stopped_epoch_and_restores_the_best_epoch():
    model = _twins()[1]
    callback = scanfit.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    _drive(callback, model, SEED_LOSSES)
    assert callback.stopped_epoch == 14 and callback.best_epoch == 12
    assert all((w == 12).all() for w in model.get_weights())


def test_early_stopping_restores_weights_whose_evaluation_gives_the_best_val_loss():
    # A seed whose run stops early (stopped at epoch 8, best epoch 6); with some seeds val_loss falls for all 40 epochs.
    scanfit.utils.set_random_seed(5)
    model = _twins("Adam", 0.3)[1]
    callback = scanfit.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(X, Y, epochs=40, batch_size=16, validation_data=(XV, YV), verbose=0, callbacks=[callback])
    val_losses = history.history["val_loss"]
    assert callback.stopped_epoch == len(val_losses) - 1 > 0
    best = int(np.argmin(val_losses))
    assert callback.best_epoch == best
    assert model.evaluate(XV, YV, batch_size=16, verbose=0)[0] == pytest.approx(val_losses[best], rel=1e-6)


def test_monitor_direction_follows_the_metric_and_unknown_names_need_a_mode():
    model = _twins()[1]
    model.fit(X, Y, epochs=1, verbose=0)
    callback = scanfit.callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    epochs, _, _ = _drive(callback, model, [0.5, 0.6, 0.7, 0.65, 0.6], "val_accuracy")
    assert (epochs, callback.best, callback.stopped_epoch) == (4, 0.7, 3)
    with pytest.raises(ValueError, match="mode='max'"):
        _drive(scanfit.callbacks.EarlyStopping(monitor="val_f2"), model, [0.1], "val_f2")
    with pytest.warns(UserWarning, match="mode 'maximize' is unknown"):
        scanfit.callbacks.EarlyStopping(mode="maximize")


@pytest.mark.parametrize("kwargs", [
    dict(factor=0.5, patience=2, verbose=1),
    dict(factor=0.2, patience=1, cooldown=2, min_lr=0.005, verbose=1),
    dict(factor=0.5, patience=1, min_delta=0.05, mode="min"),
])
def test_reduce_lr_on_plateau_matches_keras_on_scripted_losses(kwargs):
    losses = [1.0, 0.9, 0.9, 0.91, 0.85, 0.86, 0.87, 0.88, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75]
    k_model, s_model = _twins()
    runs = []
    for library, model in ((keras, k_model), (scanfit, s_model)):
        callback = library.callbacks.ReduceLROnPlateau(**kwargs)
        rates = []
        callback.set_model(model)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            callback.on_train_begin({})
            for epoch, loss in enumerate(losses):
                logs = {"loss": 1.0, "val_loss": loss}
                callback.on_epoch_end(epoch, logs)
                rates.append((logs["learning_rate"], float(model.optimizer.learning_rate)))
        runs.append((rates, out.getvalue(), callback.wait, callback.cooldown_counter))
    assert runs[1] == runs[0]
    assert runs[0][0][-1][1] < 0.1  # the rate was reduced


def test_reduce_lr_on_plateau_rejects_a_growing_factor():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        scanfit.callbacks.ReduceLROnPlateau(factor=1.5)
    assert scanfit.callbacks.ReduceLROnPlateau(epsilon=0.01).min_delta == 0.01


@pytest.mark.parametrize("schedule", [
    lambda epoch, lr: lr if epoch < 2 else lr * 0.5,
    lambda epoch: 0.1 / (1 + epoch),
    lambda epoch, lr: np.float32(lr * 0.9),
])
def test_learning_rate_scheduler_matches_keras(schedule):
    k_model, s_model = _twins()
    runs = []
    for library, model in ((keras, k_model), (scanfit, s_model)):
        callback = library.callbacks.LearningRateScheduler(schedule, verbose=1)
        callback.set_model(model)
        rates = []
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            for epoch in range(5):
                callback.on_epoch_begin(epoch, {})
                logs = {"loss": 1.0}
                callback.on_epoch_end(epoch, logs)
                rates.append(logs["learning_rate"])
        runs.append((rates, out.getvalue()))
    assert runs[1] == runs[0]


def test_learning_rate_scheduler_in_fit_trains_like_keras():
    k_model, s_model = _twins()
    schedule = lambda epoch, lr: lr * 0.5 if epoch else lr  # noqa: E731
    k_hist = k_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                         callbacks=[keras.callbacks.LearningRateScheduler(schedule)]).history
    s_hist = s_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                         callbacks=[scanfit.callbacks.LearningRateScheduler(schedule)]).history
    assert s_hist["learning_rate"] == k_hist["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-5)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-5, atol=1e-6)


def test_learning_rate_scheduler_rejects_a_non_float():
    model = _twins()[1]
    callback = scanfit.callbacks.LearningRateScheduler(lambda epoch, lr: 1)
    callback.set_model(model)
    with pytest.raises(ValueError, match="should be a float"):
        callback.on_epoch_begin(0, {})


@pytest.mark.parametrize("kwargs, validation", [
    ({}, True),
    ({"separator": ";"}, False),
    ({"append": True}, True),
])
def test_csv_logger_writes_the_same_file_as_keras(tmp_path, kwargs, validation):
    logs_per_epoch = [
        {"loss": 0.6931471824645996, "accuracy": 0.5,
         **({"val_loss": 0.7, "val_accuracy": 0.25} if validation else {})},
        {"loss": 0.5, "accuracy": 0.625, **({"val_loss": 0.65, "val_accuracy": 0.5} if validation else {})},
    ]
    contents = []
    for library in (keras, scanfit):
        path = tmp_path / f"{library.__name__}.csv"
        runs = 2 if kwargs.get("append") else 1
        for _ in range(runs):
            callback = library.callbacks.CSVLogger(str(path), **kwargs)
            callback.set_model(_twins()[1] if library is scanfit else None)
            callback.on_train_begin({})
            for epoch, logs in enumerate(logs_per_epoch):
                callback.on_epoch_end(epoch, dict(logs))
            callback.on_train_end({})
        contents.append(path.read_bytes())
    assert contents[1] == contents[0]
    assert contents[1].count(b"\r\n") == (5 if kwargs.get("append") else 3)


def test_csv_logger_in_fit_has_one_row_per_epoch(tmp_path):
    model = _twins()[1]
    path = tmp_path / "log.csv"
    history = model.fit(X, Y, epochs=2, validation_split=0.25, verbose=0,
                        callbacks=[scanfit.callbacks.CSVLogger(path)])
    rows = path.read_text().splitlines()
    assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    columns = ("accuracy", "loss", "val_accuracy", "val_loss")
    assert rows[2].split(",") == ["1"] + [repr(history.history[k][1]) for k in columns]


def test_lambda_callback_hooks_run_and_batch_functions_get_every_batch():
    seen = []
    callback = scanfit.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, round(logs["loss"], 6))),
        on_train_batch_end=lambda batch, logs: seen.append(("batch", batch)),
        on_train_end=lambda logs: seen.append(("end",)),
        on_test_end=lambda logs: seen.append(("test", sorted(logs))),
    )
    model = _twins()[1]
    history = model.fit(X, Y, epochs=2, batch_size=32, validation_data=(XV, YV), verbose=0, callbacks=[callback])
    batches = [("batch", b) for b in range(3)]
    test = ("test", ["accuracy", "loss"])
    assert seen == (batches + [test, ("epoch", 0, round(history.history["loss"][0], 6))]
                    + batches + [test, ("epoch", 1, round(history.history["loss"][1], 6)), ("end",)])
    with pytest.raises(TypeError, match="not a callback hook"):
        scanfit.callbacks.LambdaCallback(on_epoch_ending=print)


def test_terminate_on_nan_names_the_epoch_and_batch(capsys):
    x = np.ones((64, 4), "float32")
    x[45] = 1e30  # batch 5 of 8 (batch_size 8, unshuffled) overflows the loss
    y = np.zeros(64, "float32")
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(1)])
    model.compile(optimizer=scanfit.optimizers.SGD(1e-3), loss="mse")
    callback = scanfit.callbacks.TerminateOnNaN()
    history = model.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 1 and not np.isfinite(history.history["loss"][0])
    assert (callback.nan_epoch, callback.nan_batch) == (0, 5)
    assert "Epoch 1, batch 5: Invalid loss, terminating training" in capsys.readouterr().out
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(1)])
    model.compile(optimizer=scanfit.optimizers.SGD(1e-3), loss="mse")
    with pytest.raises(RuntimeError, match="at epoch 1, batch 5"):
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
                  callbacks=[scanfit.callbacks.TerminateOnNaN(raise_error=True)])


def test_terminate_on_nan_keeps_the_one_program_epoch():
    model = _twins()[1]
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[scanfit.callbacks.TerminateOnNaN()])
    assert model.trainer.programs.train_chunk._cache_size() == 0
    assert model.trainer.epoch_start is None


class _Recorder:
    """Records every hook call: (hook, index, sorted log keys) and the logs' values."""

    HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
             "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
             "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"]

    @classmethod
    def make(cls, base):
        def hook(name, takes_index):
            def record(self, *args, logs=None):
                index, rest = (args[0], args[1:]) if takes_index else (None, args)
                logs = rest[0] if rest else logs
                self.calls.append((name, index, sorted(logs)))
                self.values.append({k: (np.asarray(v) if k == "outputs" else v) for k, v in logs.items()})
            return record

        namespace = {name: hook(name, "batch" in name or "epoch" in name) for name in cls.HOOKS}
        recorder = type("Recorder", (base,), namespace)()
        recorder.calls, recorder.values = [], []
        return recorder


def test_custom_callbacks_get_keras_hooks_and_logs_in_fit_evaluate_and_predict():
    k_model, s_model = _twins()
    recorders = []
    for library, model in ((keras, k_model), (scanfit, s_model)):
        recorder = _Recorder.make(library.callbacks.Callback)
        model.fit(X, Y, epochs=2, batch_size=32, shuffle=False, validation_data=(XV, YV), verbose=0,
                  callbacks=[recorder])
        model.evaluate(X, Y, batch_size=32, verbose=0, callbacks=[recorder])
        model.predict(X, batch_size=32, verbose=0, callbacks=[recorder])
        recorders.append(recorder)
    k_rec, s_rec = recorders
    assert s_rec.calls == k_rec.calls
    assert len(s_rec.calls) == 2 + 2 * 14 + 8 + 8
    for k_values, s_values in zip(k_rec.values, s_rec.values):
        assert s_values.keys() == k_values.keys()
        for key in k_values:
            np.testing.assert_allclose(s_values[key], k_values[key], rtol=2e-5, atol=1e-6, err_msg=key)


def test_batch_hooks_see_current_weights_and_can_stop_or_change_the_rate():
    class Probe(scanfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.kernels, self.iterations = [], []

        def on_train_batch_end(self, batch, logs=None):
            self.kernels.append(self.model.layers[0].get_weights()[0].copy())
            self.iterations.append(self.model.optimizer.iterations)
            if batch == 1:
                self.model.optimizer.learning_rate = 0.0

        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    model = _twins()[1]
    probe = Probe()
    history = model.fit(X, Y, epochs=5, batch_size=32, verbose=0, callbacks=[probe])
    assert history.epoch == [0, 1]
    assert probe.iterations == [1, 2, 3, 4, 5, 6]
    assert not np.array_equal(probe.kernels[0], probe.kernels[1])
    np.testing.assert_array_equal(probe.kernels[3], probe.kernels[5])  # rate 0 from the second epoch on


@pytest.mark.parametrize("make, rates", [
    (lambda library: library.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr),
     [0.1, 0.05, 0.025]),
    # the rate each epoch ran with, logged before the reduction at its end
    (lambda library: library.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10),
     [0.1, 0.1, 0.05]),
])
def test_the_history_records_the_learning_rate_as_keras_3s_learning_rate_and_tf_keras_2s_lr(make, rates):
    k_model, s_model = _twins()
    k_hist = k_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[make(keras)]).history
    s_hist = s_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[make(scanfit)]).history
    assert "lr" not in k_hist  # Keras 3 writes only learning_rate; tf.keras 2 wrote lr
    assert s_hist["learning_rate"] == k_hist["learning_rate"] == pytest.approx(rates)
    assert s_hist["lr"] == s_hist["learning_rate"]
    assert set(s_hist) == set(k_hist) | {"lr"}
    plain = _twins()[1].fit(X, Y, epochs=1, verbose=0).history
    assert "lr" not in plain and "learning_rate" not in plain
