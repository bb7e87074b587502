"""scanfit.Sweep: runs trained together, each equal to the same run trained alone with Model.fit.

The single-run equivalent of a sweep run with parameters ``params`` is
``set_random_seed(params['seed']); model = build(**params); model.fit(...)``
(or, without seeds, building and fitting the runs one after another). All
sweeps here share one parameter list, so their compiled programs come from
JAX's compilation cache after the first.
"""
import numpy as np
import pytest

import scanfit
from scanfit import Sweep
from scanfit.callbacks import BackupAndRestore, Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint

RNG = np.random.default_rng(3)
X = RNG.normal(size=(88, 6)).astype("float32")  # batch 32: two full batches and one of 24
Y = (X[:, 0] + X[:, 1] > 0).astype("int64") + (X[:, 2] > 0.5)
XV = RNG.normal(size=(30, 6)).astype("float32")
YV = (XV[:, 0] + XV[:, 1] > 0).astype("int64") + (XV[:, 2] > 0.5)
FIT = dict(epochs=3, batch_size=32, validation_data=(XV, YV), verbose=0)
PARAMS = Sweep.grid(optimizer=["sgd", "adam"], seed=[0, 1]) + [
    {"optimizer": "adam", "seed": 2, "learning_rate": 0.01},  # another learning rate: same group as Adam
    {"optimizer": "adam", "seed": 3, "dropout": 0.5},  # another architecture: a group of its own
]


def build(optimizer, seed=None, learning_rate=None, dropout=0.25):
    model = scanfit.Sequential([
        scanfit.layers.Input((6,)),
        scanfit.layers.Dense(8, activation="relu"),
        scanfit.layers.Dropout(dropout),
        scanfit.layers.Dense(3, activation="softmax"),
    ])
    optimizer = scanfit.optimizers.get(optimizer)
    if learning_rate is not None:
        optimizer.learning_rate = learning_rate
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def alone(params, **fit):
    """The run trained by itself: seeded, built and fitted as the sweep defines it."""
    scanfit.utils.set_random_seed(params["seed"])
    model = build(**params)
    return model, model.fit(X, Y, **{**FIT, **fit})


def assert_same_run(model, history, reference_model, reference_history):
    for weight, expected in zip(model.get_weights(), reference_model.get_weights()):
        np.testing.assert_allclose(weight, expected, rtol=1e-4, atol=1e-6)
    assert model.optimizer.iterations == reference_model.optimizer.iterations
    assert history.epoch == reference_history.epoch
    assert list(history.history) == list(reference_history.history)
    for key, values in reference_history.history.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.fixture(scope="module")
def fitted():
    sweep = Sweep(build, PARAMS)
    return sweep, sweep.fit(X, Y, **FIT)


def test_grid_is_the_cartesian_product_in_order():
    assert Sweep.grid(optimizer=["sgd", "adam"], seed=range(2), units=16) == [
        {"optimizer": "sgd", "seed": 0, "units": 16}, {"optimizer": "sgd", "seed": 1, "units": 16},
        {"optimizer": "adam", "seed": 0, "units": 16}, {"optimizer": "adam", "seed": 1, "units": 16}]
    with pytest.raises(ValueError, match="no values for 'seed'"):
        Sweep.grid(optimizer=["sgd"], seed=[])


def test_each_run_equals_model_fit_alone(fitted):
    sweep, histories = fitted
    assert len(histories) == len(PARAMS) == len(sweep.models)
    for params, model, history in zip(PARAMS, sweep.models, histories):
        assert_same_run(model, history, *alone(params))
    assert histories[0].history["loss"] != histories[1].history["loss"]  # the seeds differ


def test_runs_are_stacked_by_architecture_then_optimizer(fitted):
    sweep, _ = fitted
    assert sweep.groups == [[[0, 1], [2, 3, 4]], [[5]]]


def test_models_are_ordinary_models(fitted, tmp_path):
    sweep, histories = fitted
    model = sweep.models[2]
    logs = model.evaluate(XV, YV, batch_size=32, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(histories[2].history["val_loss"][-1], rel=1e-5)
    for logs, history in zip(sweep.evaluate(XV, YV, batch_size=32), histories):
        assert logs["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
        assert logs["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    model.save(tmp_path / "run2.keras")
    loaded = scanfit.models.load_model(tmp_path / "run2.keras")
    np.testing.assert_allclose(loaded.predict(XV, verbose=0), model.predict(XV, verbose=0), rtol=1e-6)


def test_results_table_and_comparison_figure(fitted, tmp_path):
    sweep, histories = fitted
    table = sweep.results()
    assert list(table["optimizer"]) == [p["optimizer"] for p in PARAMS]
    assert list(table["epochs"]) == [3] * len(PARAMS)
    for i, history in enumerate(histories):
        assert table.loc[i, "val_loss"] == history.history["val_loss"][-1]
        assert table.loc[i, "best_val_loss"] == min(history.history["val_loss"])
        assert table.loc[i, "best_accuracy"] == max(history.history["accuracy"])
        assert table.loc[i, "best_epoch"] == int(np.argmin(history.history["val_loss"]))
    by_optimizer = sweep.histories_by("optimizer")
    assert {name: len(runs) for name, runs in by_optimizer.items()} == {"sgd": 2, "adam": 4}
    figure = sweep.plot("optimizer", dataset="toy", path=tmp_path / "optimizers.png")
    assert [ax.get_title() for ax in figure.axes] == [
        "Training Accuracy on toy", "Validation Accuracy on toy", "Training Loss on toy", "Validation Loss on toy"]
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["sgd", "adam"]
    assert (tmp_path / "optimizers.png").read_bytes()[:4] == b"\x89PNG"


def test_early_stopped_runs_freeze_while_the_others_go_on():
    def callbacks(index, params):  # run i stops after epoch i + 1 (nothing improves by 10), back to epoch 0's weights
        return [EarlyStopping(monitor="loss", min_delta=10, patience=index + 1, restore_best_weights=True)]

    sweep = Sweep(build, PARAMS)
    histories = sweep.fit(X, Y, **{**FIT, "epochs": 4}, callbacks=callbacks)
    assert [len(h.epoch) for h in histories] == [2, 3, 4, 4, 4, 4]
    for index in (0, 5):
        model, history = alone(PARAMS[index], epochs=4, callbacks=callbacks(index, PARAMS[index]))
        assert_same_run(sweep.models[index], histories[index], model, history)

    shared = EarlyStopping(monitor="loss", min_delta=10, patience=1)
    histories = Sweep(build, PARAMS).fit(X, Y, **{**FIT, "epochs": 4}, callbacks=[shared])
    assert [len(h.epoch) for h in histories] == [2] * len(PARAMS)  # each run had its own copy
    assert shared.model is None and shared.stopped_epoch == 0


def test_callbacks_that_set_the_learning_rate():
    halve = LearningRateScheduler(lambda epoch, learning_rate: learning_rate * 0.5)
    sweep = Sweep(build, PARAMS)
    histories = sweep.fit(X, Y, **FIT, callbacks=[halve])
    for index in (1, 4):
        model, history = alone(PARAMS[index], callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
        assert_same_run(sweep.models[index], histories[index], model, history)
    assert sweep.models[4].optimizer.learning_rate == pytest.approx(0.01 / 8)


def test_batch_hooks_see_every_run_and_batch():
    class Batches(Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append((batch, logs["loss"]))

    params = PARAMS[:2]
    counters = [Batches() for _ in params]
    sweep = Sweep(build, params)
    histories = sweep.fit(X, Y, **FIT, callbacks=lambda index, params: [counters[index]])
    for run, counter, model, history in zip(params, counters, sweep.models, histories):
        assert [batch for batch, _ in counter.seen] == [0, 1, 2] * 3
        assert counter.seen[2][1] == pytest.approx(history.history["loss"][0], rel=1e-6)  # the epoch's running loss
        assert_same_run(model, history, *alone(run))


def test_without_seeds_runs_draw_keys_as_one_after_another():
    unseeded = [{k: v for k, v in params.items() if k != "seed"} for params in PARAMS]
    scanfit.utils.set_random_seed(7)
    sweep = Sweep(build, unseeded)
    histories = sweep.fit(X, Y, **FIT)
    scanfit.utils.set_random_seed(7)
    for params, model, history in zip(unseeded[:3], sweep.models, histories):
        reference = build(**params)
        assert_same_run(model, history, reference, reference.fit(X, Y, **FIT))


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        Sweep(build, [])
    with pytest.raises(TypeError, match="list of dicts"):
        Sweep(build, {"optimizer": ["sgd"]})
    with pytest.raises(RuntimeError, match="first fit"):
        Sweep(build, PARAMS).models
    checkpoint = ModelCheckpoint(str(tmp_path / "best.keras"))
    with pytest.raises(ValueError, match="overwrite each other's files"):
        Sweep(build, PARAMS).fit(X, Y, callbacks=[checkpoint], verbose=0)
    with pytest.raises(NotImplementedError, match="BackupAndRestore"):
        Sweep(build, PARAMS[:1]).fit(X, Y, callbacks=[BackupAndRestore(str(tmp_path / "backup"))], verbose=0)

    def uncompiled(optimizer, seed):
        return scanfit.Sequential([scanfit.layers.Input((6,)), scanfit.layers.Dense(3)])

    with pytest.raises(RuntimeError, match="must be compiled"):
        Sweep(uncompiled, PARAMS[:1]).fit(X, Y, verbose=0)
    model = build("sgd")
    with pytest.raises(ValueError, match="returned a model it had returned before"):
        Sweep(lambda optimizer, seed: model, PARAMS[:2]).fit(X, Y, verbose=0)


def test_validation_freq_as_a_list_of_epochs_as_model_fit():
    params = PARAMS[:2]
    histories = Sweep(build, params).fit(X, Y, **{**FIT, "epochs": 4}, validation_freq=[2, 4])
    for index in range(2):
        model, history = alone(params[index], epochs=4, validation_freq=[2, 4])
        assert len(history.history["val_loss"]) == 2
        np.testing.assert_allclose(histories[index].history["val_loss"], history.history["val_loss"], rtol=1e-5)
    with pytest.raises(ValueError, match="validation_freq"):
        Sweep(build, params).fit(X, Y, **FIT, validation_freq=0)


def test_uint8_inputs_train_as_their_float32_copy():
    images = np.random.default_rng(4).integers(0, 256, (88, 6), dtype=np.uint8)
    fit = dict(epochs=2, batch_size=32, verbose=0)
    compact, wide = Sweep(build, PARAMS[:2]), Sweep(build, PARAMS[:2])
    compact_histories = compact.fit(images, Y, **fit)
    wide_histories = wide.fit(images.astype("float32"), Y, **fit)
    for a, b in zip(compact_histories, wide_histories):
        assert a.history == b.history
    for model_a, model_b in zip(compact.models, wide.models):
        for weight_a, weight_b in zip(model_a.get_weights(), model_b.get_weights()):
            np.testing.assert_array_equal(weight_a, weight_b)
