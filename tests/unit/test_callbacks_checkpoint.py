"""ModelCheckpoint: file names, best-only, weights-only, folders, batch frequency; messages as Keras prints them."""
import contextlib
import io
import os

import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(4)
X = RNG.normal(size=(70, 4)).astype("float32")
Y = (X[:, 0] - X[:, 2] > 0).astype("int32")
XV, YV = X[:30], Y[:30]


def _model(library=scanfit, learning_rate=0.1):
    model = library.Sequential([library.Input((4,)), library.layers.Dense(3, activation="relu"),
                                library.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=library.optimizers.SGD(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_file_names_take_the_epoch_and_logs_and_the_folder_is_created(tmp_path):
    pattern = tmp_path / "model" / "run" / "{epoch:02d}-{val_loss:.4f}.keras"
    model = _model()
    history = model.fit(X, Y, epochs=3, validation_data=(XV, YV), verbose=0,
                        callbacks=[scanfit.callbacks.ModelCheckpoint(str(pattern))])
    expected = [f"{epoch + 1:02d}-{loss:.4f}.keras" for epoch, loss in enumerate(history.history["val_loss"])]
    assert sorted(os.listdir(tmp_path / "model" / "run")) == expected
    last = scanfit.models.load_model(tmp_path / "model" / "run" / expected[-1])
    for saved, current in zip(last.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(saved, current)


def _scripted(library, filepath, losses, **kwargs):
    """Drive a ModelCheckpoint through epochs ending with the scripted val_loss; returns the printed text."""
    model = _model(library)
    callback = library.callbacks.ModelCheckpoint(filepath, verbose=1, **kwargs)
    callback.set_model(model)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        callback.on_train_begin({})
        for epoch, loss in enumerate(losses):
            callback.on_epoch_begin(epoch, {})
            callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": loss})
    return out.getvalue()


@pytest.mark.parametrize("kwargs", [
    dict(save_best_only=True),
    dict(save_best_only=True, initial_value_threshold=0.55),
    dict(save_best_only=False),
    dict(save_best_only=True, monitor="loss_that_is_missing", mode="min"),
])
def test_best_only_saves_on_improvement_and_prints_what_keras_prints(tmp_path, monkeypatch, kwargs):
    losses = [0.6, 0.5, 0.52, 0.45, 0.45, 0.3]
    results = []
    for library in (keras, scanfit):
        folder = tmp_path / library.__name__
        folder.mkdir()
        monkeypatch.chdir(folder)
        with pytest.warns(UserWarning) if "monitor" in kwargs else contextlib.nullcontext():
            text = _scripted(library, "ck/{epoch:02d}.keras", losses, **kwargs)
        results.append((text, sorted(os.listdir(folder / "ck"))))
    assert results[1] == results[0]


def test_best_only_without_format_fields_keeps_the_best_model(tmp_path):
    path = tmp_path / "best-model.h5"
    model = _model()
    _scripted(scanfit, str(path), [0.6, 0.5, 0.7], save_best_only=True)
    assert path.exists()
    stamp = path.stat().st_mtime_ns
    callback = scanfit.callbacks.ModelCheckpoint(str(path), save_best_only=True)
    callback.set_model(model)
    callback.on_epoch_end(0, {"val_loss": 0.4})
    assert path.stat().st_mtime_ns >= stamp and callback.best == 0.4


@pytest.mark.parametrize("name", ["ck.weights.h5", "model-weights.h5"])
def test_weights_only_files_load_back(tmp_path, name):
    model = _model()
    model.fit(X, Y, epochs=2, verbose=0, validation_data=(XV, YV),
              callbacks=[scanfit.callbacks.ModelCheckpoint(str(tmp_path / name), save_weights_only=True)])
    fresh = _model()
    fresh.load_weights(str(tmp_path / name))
    for loaded, trained in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(loaded, trained)


def test_seed_000_checkpoint_with_early_stopping_keeps_the_best_model(tmp_path, monkeypatch):
    """The seed's idiom: the best-model.h5 file evaluates to the lowest val_loss of the run."""
    monkeypatch.chdir(tmp_path)
    scanfit.utils.set_random_seed(11)
    model = _model(learning_rate=1.5)
    checkpoint_cb = scanfit.callbacks.ModelCheckpoint("best-model.h5", save_best_only=True)
    early_stopping_cb = scanfit.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(X, Y, epochs=30, verbose=0, validation_data=(XV, YV),
                        callbacks=[checkpoint_cb, early_stopping_cb])
    best = min(history.history["val_loss"])
    assert checkpoint_cb.best == best
    loaded = scanfit.models.load_model("best-model.h5")
    assert loaded.evaluate(XV, YV, verbose=0)[0] == pytest.approx(best, rel=1e-6)
    assert model.evaluate(XV, YV, verbose=0)[0] == pytest.approx(best, rel=1e-6)


def test_integer_save_freq_saves_every_n_batches(tmp_path):
    pattern = str(tmp_path / "{epoch}-{batch}.weights.h5")
    model = _model()
    model.fit(X, Y, epochs=2, batch_size=32, verbose=0,  # 3 batches per epoch
              callbacks=[scanfit.callbacks.ModelCheckpoint(pattern, save_weights_only=True, save_freq=2)])
    assert sorted(os.listdir(tmp_path)) == ["1-2.weights.h5", "2-1.weights.h5", "2-3.weights.h5"]


def test_epoch_checkpoints_keep_the_one_program_epoch(tmp_path):
    model = _model()
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[scanfit.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))])
    assert model.trainer.programs.train_chunk._cache_size() == 0


def test_bad_arguments_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"must end in one of \.keras, \.h5, \.hdf5"):
        scanfit.callbacks.ModelCheckpoint("model.ckpt")
    with pytest.raises(ValueError, match=r"weights \(save_weights_only=True\) must end in"):
        scanfit.callbacks.ModelCheckpoint("model.keras", save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        scanfit.callbacks.ModelCheckpoint("model.keras", save_freq="batch")
    callback = scanfit.callbacks.ModelCheckpoint(str(tmp_path / "{epoch}-{val_acc:.2f}.keras"))
    callback.set_model(_model())
    with pytest.raises(KeyError, match="val_acc"):
        callback.on_epoch_end(0, {"loss": 0.1})


@pytest.mark.parametrize("relative", ["blocker/ck.keras", "blocker/sub/ck.keras", "blocker/{epoch:02d}/ck.keras",
                                      "blocker/{epoch:02d}.weights.h5"])
def test_a_file_where_the_folder_should_be_stops_fit_before_the_first_epoch(tmp_path, relative):
    """The folder (or the part of it without format fields) is checked at on_train_begin, not at the first save."""
    (tmp_path / "blocker").write_text("not a folder")
    filepath = str(tmp_path / relative)
    model = _model()
    before = model.get_weights()
    epochs = []
    callbacks = [scanfit.callbacks.ModelCheckpoint(filepath, save_weights_only=relative.endswith(".weights.h5")),
                 scanfit.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))]
    with pytest.raises(NotADirectoryError) as caught:
        model.fit(X, Y, epochs=2, verbose=0, callbacks=callbacks)
    message = str(caught.value)
    blocker = str(tmp_path / "blocker")
    assert message.startswith(f"[Errno 20] ModelCheckpoint cannot save to {filepath}: its folder ")
    assert f"{blocker} is a file, not a folder. Move or delete {blocker}, or choose a filepath" in message
    assert isinstance(caught.value, OSError) and epochs == []
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)
    assert (tmp_path / "blocker").read_text() == "not a folder"


def test_keras_raises_the_same_error_but_only_after_the_first_epoch(tmp_path):
    (tmp_path / "blocker").write_text("not a folder")
    for library, epochs_trained in ((keras, [0]), (scanfit, [])):
        begun = []
        callbacks = [library.callbacks.ModelCheckpoint(str(tmp_path / "blocker" / "ck.keras")),
                     library.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: begun.append(epoch))]
        with pytest.raises(NotADirectoryError, match=r"blocker"):
            _model(library).fit(X, Y, epochs=2, verbose=0, callbacks=callbacks)
        assert begun == epochs_trained, library.__name__


def test_a_folder_named_by_the_epoch_is_checked_at_each_save(tmp_path):
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "ck.keras").write_text("a file where epoch 2's folder should be")
    filepath = str(tmp_path / "{epoch}" / "ck.keras" / "model.keras")
    with pytest.raises(NotADirectoryError, match=r"ModelCheckpoint cannot save to .*/2/ck\.keras/model\.keras: its "
                                                 r"folder .*/2/ck\.keras is a file, not a folder\. Move or delete"):
        _model().fit(X, Y, epochs=3, verbose=0, callbacks=[scanfit.callbacks.ModelCheckpoint(filepath)])
    assert os.listdir(tmp_path / "1" / "ck.keras") == ["model.keras"]  # epoch 1 was saved before epoch 2 failed
    assert not (tmp_path / "3").exists()
