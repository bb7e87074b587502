"""Faults during training: a loss that turns NaN or infinite, and a disk that is full or read-only at a checkpoint."""
import contextlib
import errno
import math
import os
import warnings

import numpy as np
import pytest

import scanfit
from scanfit.datasets import idx
from scanfit.saving import files

X = np.ones((8, 4), "float32")
Y = np.zeros((8, 1), "float32")


def diverging_model():
    """Each SGD step multiplies the prediction by 1 - 10 * 1e4: the loss overflows to inf after a few steps."""
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(1, kernel_initializer="ones")])
    model.compile(optimizer=scanfit.optimizers.SGD(1e4), loss="mse")
    return model


def first_bad_epoch(history):
    return next(i for i, loss in enumerate(history.history["loss"]) if not math.isfinite(loss))


# --- NaN or inf loss ------------------------------------------------------------------------------


def test_without_terminate_on_nan_the_history_shows_it_and_one_warning_names_the_epoch():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = diverging_model().fit(X, Y, epochs=8, batch_size=8, verbose=0)
    bad = first_bad_epoch(history)
    assert bad >= 2 and len(history.history["loss"]) == 8  # finite at first, then inf or NaN: training went on
    assert all(not math.isfinite(loss) for loss in history.history["loss"][bad:])
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning) and "training loss" in str(w.message)]
    assert len(runtime) == 1  # once per run, at the first bad epoch
    assert str(runtime[0].message).startswith(f"Epoch {bad + 1}: the training loss is ")
    assert "TerminateOnNaN" in str(runtime[0].message) and runtime[0].filename == __file__


def test_terminate_on_nan_stops_a_diverging_run_at_the_epoch_and_batch(capsys):
    callback = scanfit.callbacks.TerminateOnNaN()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # TerminateOnNaN reports it; the fit loop does not warn too
        history = diverging_model().fit(X, Y, epochs=8, batch_size=2, verbose=0, callbacks=[callback])
    stopped = first_bad_epoch(history)
    assert len(history.history["loss"]) == stopped + 1 < 8
    assert callback.nan_epoch == stopped and 0 <= callback.nan_batch < 4
    printed = capsys.readouterr().out
    assert f"Epoch {stopped + 1}, batch {callback.nan_batch}: Invalid loss, terminating training" in printed


# --- a full or read-only disk at a checkpoint ---------------------------------------------------------


def small_model():
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(2), scanfit.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def checkpointed(tmp_path, name):
    """A model fitted one epoch with a ModelCheckpoint at tmp_path/name, and that checkpoint's weights."""
    model = small_model()
    checkpoint = scanfit.callbacks.ModelCheckpoint(tmp_path / name, save_weights_only=name.startswith("w"))
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[checkpoint])
    return model, checkpoint, model.get_weights()


def assert_checkpoint_holds(tmp_path, name, weights):
    """The checkpoint still loads, with `weights`, and no temporary file was left beside it."""
    path = tmp_path / name
    if name.startswith("w"):
        loaded = small_model()
        loaded.load_weights(path)
    else:
        loaded = scanfit.models.load_model(path)
    for got, expected in zip(loaded.get_weights(), weights):
        np.testing.assert_array_equal(got, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


class FullDisk:
    """A file whose writes stop with ENOSPC after `room` bytes, as on a full disk."""

    def __init__(self, out, room):
        self.out, self.room = out, room

    def write(self, data):
        self.out.write(data[: self.room])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("name", ["ckpt.keras", "ckpt.h5", "w.weights.h5"])
def test_a_full_disk_during_a_checkpoint_is_a_clear_error_and_the_previous_checkpoint_loads(tmp_path, monkeypatch,
                                                                                           name):
    """Disk full is simulated inside the atomic writer: the temporary file's writes fail with ENOSPC midway."""
    model, checkpoint, weights = checkpointed(tmp_path, name)
    real_atomic_output = files.atomic_output

    @contextlib.contextmanager
    def full_disk(path):
        with real_atomic_output(path) as out:
            yield FullDisk(out, room=1000)

    monkeypatch.setattr(files, "atomic_output", full_disk)
    with pytest.raises(OSError, match=rf"Could not save .*{name}: No space left on device\. Any previous") as error:
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert error.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert_checkpoint_holds(tmp_path, name, weights)


@pytest.mark.parametrize("name", ["ckpt.keras", "w.weights.h5"])
def test_a_read_only_folder_at_a_checkpoint_is_a_clear_error_and_the_previous_checkpoint_loads(tmp_path, monkeypatch,
                                                                                              name):
    """A read-only folder: with chmod where that binds, else (as root, whom chmod does not stop) the atomic writer's
    temporary file cannot be created, as the kernel would refuse it (EACCES)."""
    model, checkpoint, weights = checkpointed(tmp_path, name)
    if os.geteuid() == 0:
        real_open = open

        def read_only_open(file, mode="r", *args, **kwargs):
            if os.path.dirname(os.fspath(file)) == str(tmp_path) and set(mode) & set("wxa+"):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(idx, "open", read_only_open, raising=False)
    else:
        tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=rf"Could not save .*{name}: Permission denied \(.*\.part\)"):
            model.fit(X, Y, epochs=1, verbose=0, callbacks=[checkpoint])
    finally:
        tmp_path.chmod(0o755)
        monkeypatch.undo()
    assert_checkpoint_holds(tmp_path, name, weights)


def test_a_checkpoint_folder_that_is_a_file_is_a_clear_error(tmp_path):
    """A path that no one can write to, root included: its parent 'folder' is a regular file."""
    (tmp_path / "blocker").write_text("not a folder")
    model = small_model()
    checkpoint = scanfit.callbacks.ModelCheckpoint(tmp_path / "blocker" / "ckpt.keras")
    with pytest.raises(OSError, match=r"blocker"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[checkpoint])
    with pytest.raises(OSError, match=r"Could not save .*blocker/m\.keras: File exists \(.*blocker\); .*blocker is a "
                                      r"file, not a folder: move it away or save somewhere else"):
        model.save(tmp_path / "blocker" / "m.keras")
    with pytest.raises(NotADirectoryError, match=r"Could not save .*blocker/sub/m\.keras: Not a directory .*; "
                                                 r".*blocker is a file, not a folder"):
        model.save(tmp_path / "blocker" / "sub" / "m.keras")
    assert (tmp_path / "blocker").read_text() == "not a folder"
