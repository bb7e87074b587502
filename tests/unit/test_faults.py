"""Faults during training: a loss that turns NaN or infinite, a disk that is full or read-only at a checkpoint, and\nsaves killed halfway."""
import contextlib
import errno
import math
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import scanfit
from scanfit import atomic_files
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

        monkeypatch.setattr(atomic_files, "open", read_only_open, raising=False)
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


# --- temporary files left by killed saves ---------------------------------------------------------------------------


def test_a_save_removes_the_temporaries_of_dead_writers_and_keeps_the_others(tmp_path):
    """Only a temporary file whose writer ran on this machine and has exited goes; in-flight and foreign ones stay."""
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    machine = atomic_files.machine_tag()
    other_machine = "00000000" if machine != "00000000" else "11111111"
    dead = tmp_path / f".m.keras.{exited.pid}-{machine}.0123abcd.part"
    kept = [
        tmp_path / f".m.keras.{running.pid}-{machine}.0123abcd.part",  # a live process's save in flight
        tmp_path / f".w.h5.{os.getpid()}-{machine}.0123abcd.part",  # this process's own
        tmp_path / f".m.keras.{exited.pid}-{other_machine}.0123abcd.part",  # another host's PID
        tmp_path / f".notes.{exited.pid}.part",  # not a name scanfit gives
        tmp_path / f".m.keras.{10**30}-{machine}.0123abcd.part",  # no process can have that PID
    ]
    try:
        for path in [dead, *kept]:
            path.write_bytes(b"half a file")
        small_model().save(tmp_path / "m.keras")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.keras", *(p.name for p in kept)])
    finally:
        running.kill()
        running.wait()
    scanfit.models.load_model(tmp_path / "m.keras")


SAVE_FOREVER = """
import sys
import numpy as np
import scanfit

model = scanfit.Sequential([scanfit.Input((1000,)), scanfit.layers.Dense(1000), scanfit.layers.Dense(10)])
model.set_weights([np.full(w.shape, float(sys.argv[2]), "float32") for w in model.weights])
print("ready", flush=True)
sys.stdin.readline()
model.save(sys.argv[1])
print("saved", flush=True)
while True:
    model.save(sys.argv[1])
"""


def temporaries(folder):
    return [path for path in folder.iterdir() if path.name.endswith(".part")]


def test_saves_killed_at_random_moments_leave_at_most_one_temporary_and_the_file_always_loads(tmp_path):
    """10 processes each save a 4 MiB model in a loop until SIGKILL stops them at a random moment.

    Each next save removes what the previous kill left, so at most one temporary file is ever there, and the
    model file always loads with the weights of the last complete save.
    """
    target = tmp_path / "model.keras"
    rng = np.random.default_rng(0)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "SCANFIT_COMPILATION_CACHE": "0"}
    writers = [subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(target), str(index + 1)], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for index in range(10)]
    left = []
    try:
        for index, writer in enumerate(writers):
            assert writer.stdout.readline().strip() == "ready"
            writer.stdin.write("go\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "saved"
            time.sleep(rng.uniform(0.0, 0.2))
            writer.send_signal(signal.SIGKILL)
            assert writer.wait(timeout=30) == -signal.SIGKILL
            left.append(len(temporaries(tmp_path)))
            assert left[-1] <= 1, left
            weights = scanfit.models.load_model(target).get_weights()
            assert np.all(weights[0] == index + 1)
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
            writer.stdin.close()
            writer.stdout.close()
    print("temporary files left after each kill:", left)
    small_model().save(target)
    assert temporaries(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]
    scanfit.models.load_model(target)
