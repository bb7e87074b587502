"""BackupAndRestore: an interrupted run, restarted, ends bit-identical to one never interrupted."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import scanfit
from backup_restore_worker import build_and_train, final_state

WORKER = Path(__file__).with_name("backup_restore_worker.py")
BACKUP_FILE = "training_state.npz"


def _assert_same_final_state(a, b):
    assert sorted(a) == sorted(b)
    summary_a, summary_b = (json.loads(bytes(arrays["summary"]).decode()) for arrays in (a, b))
    assert summary_a == summary_b
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        assert a[name].dtype == b[name].dtype


class Crash(Exception):
    pass


class _Interrupt(scanfit.callbacks.Callback):
    """Crashes `fit` as an epoch begins, or after a given batch of that epoch."""

    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None
        if batch is None:
            self._ignored_hooks = scanfit.callbacks.base.TRAIN_BATCH_HOOKS

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if (epoch, self.batch) == (self.epoch, None):
            raise Crash(f"crashed at epoch {epoch}")

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            raise Crash(f"crashed after batch {batch}")


@pytest.mark.parametrize("save_freq, interrupt, streamed", [
    ("epoch", (3, None), False), (5, (3, 7), False), (5, (3, 7), True)])
def test_an_interrupted_run_resumes_bit_identical(tmp_path, save_freq, interrupt, streamed):
    """Also for data that streams from the host (over keras.config.device_data_limit)."""
    epochs = 5
    reference_model, reference_history = build_and_train(str(tmp_path / "reference"), epochs, save_freq,
                                                          streamed=streamed)
    reference = final_state(reference_model, reference_history)
    assert not (tmp_path / "reference").exists()  # delete_checkpoint removed the backup and its folder

    with pytest.raises(Crash):
        build_and_train(str(tmp_path / "backup"), epochs, save_freq, [_Interrupt(*interrupt)], streamed=streamed)
    assert (tmp_path / "backup" / BACKUP_FILE).exists()
    # Restarted with a different seed: everything that matters must come from the backup.
    model, history = build_and_train(str(tmp_path / "backup"), epochs, save_freq, seed=99, streamed=streamed)
    _assert_same_final_state(final_state(model, history), reference)
    assert history.epoch == list(range(epochs))


def test_a_backup_write_that_dies_leaves_the_previous_backup(tmp_path, monkeypatch):
    backup_dir = tmp_path / "backup"
    with pytest.raises(Crash):
        build_and_train(str(backup_dir), 5, "epoch", [_Interrupt(3)])
    before = (backup_dir / BACKUP_FILE).read_bytes()

    def dying_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise Crash("killed while writing")

    monkeypatch.setattr(np, "savez", dying_savez)
    with pytest.raises(Crash, match="killed while writing"):
        build_and_train(str(backup_dir), 5, "epoch")
    monkeypatch.undo()
    assert (backup_dir / BACKUP_FILE).read_bytes() == before
    assert sorted(os.listdir(backup_dir)) == [BACKUP_FILE]
    (backup_dir / f".{BACKUP_FILE}.1234.abcd.part").write_bytes(b"stale")  # as a SIGKILL would leave it
    model, history = build_and_train(str(backup_dir), 5, "epoch")
    assert history.epoch == list(range(5)) and not backup_dir.exists()


def test_bad_backups_give_clear_errors_and_delete_checkpoint_false_keeps_the_file(tmp_path):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / BACKUP_FILE).write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"training_state\.npz: the file is not a readable scanfit backup"):
        build_and_train(str(backup_dir), 2, "epoch")

    kept = scanfit.callbacks.BackupAndRestore(str(tmp_path / "kept"), delete_checkpoint=False)
    model = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 2)), epochs=2, verbose=0, callbacks=[kept])
    assert (tmp_path / "kept" / BACKUP_FILE).exists()
    other = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(2), scanfit.layers.Dense(2)])
    other.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="Was the model changed"):
        other.fit(np.ones((8, 3)), np.ones((8, 2)), epochs=3, verbose=0, callbacks=[kept])
    with pytest.raises(ValueError, match="save_freq"):
        scanfit.callbacks.BackupAndRestore(str(tmp_path), save_freq=0)


def _start_worker(tmp_path, name, backup_dir, epochs, save_freq):
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(backup_dir), str(tmp_path / f"{name}.npz"), str(epochs), str(save_freq)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def _finish(process, timeout=120):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out


@pytest.mark.parametrize("save_freq", ["epoch", 4])
def test_a_sigkilled_run_restarted_matches_an_uninterrupted_run(tmp_path, save_freq):
    epochs = 10
    reference = _start_worker(tmp_path, "reference", tmp_path / "reference_backup", epochs, save_freq)
    victim = _start_worker(tmp_path, "victim", tmp_path / "backup", epochs, save_freq)
    try:
        deadline = time.monotonic() + 120
        while True:  # wait for the third epoch to end, then kill at a random moment of what follows
            line = victim.stdout.readline()
            assert line, f"the worker ended early: {victim.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline
            if line.strip() == "epoch 2":
                break
        time.sleep(random.uniform(0.0, 0.15))  # each epoch takes 50 ms or more: this lands in epochs 3 to 5
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "victim.npz").exists()
    resumed_output = _finish(_start_worker(tmp_path, "victim", tmp_path / "backup", epochs, save_freq))
    _finish(reference)
    resumed_epochs = [int(line.split()[1]) for line in resumed_output.splitlines()]
    assert resumed_epochs[-1] == epochs - 1 and resumed_epochs[0] >= 2  # it continued, not restarted
    with np.load(tmp_path / "reference.npz") as a, np.load(tmp_path / "victim.npz") as b:
        _assert_same_final_state(dict(a), dict(b))
    assert not (tmp_path / "backup").exists()


def test_epoch_backups_beside_a_callback_with_batch_hooks(tmp_path):
    """Another callback's batch hooks make fit call them; BackupAndRestore(save_freq="epoch") sits them out."""
    seen = []
    hook = scanfit.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    model, history = build_and_train(str(tmp_path / "backup"), 2, "epoch", [hook])
    assert len(history.epoch) == 2 and seen[:3] == [0, 1, 2] and len(seen) == 24  # 384 samples, batch 32


def test_a_run_interrupted_in_a_later_fit_call_resumes_with_that_calls_keys(tmp_path):
    """A fit call after another draws the keys after the first's (Keras's seed state goes on); a restarted
    process has trained nothing, so the backup carries where the interrupted call's keys began."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)

    def model(seed=0):
        scanfit.utils.set_random_seed(seed)
        made = scanfit.Sequential([scanfit.Input(shape=(4,)), scanfit.layers.Dense(8, activation="relu"),
                                   scanfit.layers.Dropout(0.5), scanfit.layers.Dense(3, activation="softmax")])
        made.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return made

    def backup():
        return scanfit.callbacks.BackupAndRestore(str(tmp_path / "backup"))

    reference = model()
    reference.fit(x, y, batch_size=16, epochs=1, verbose=0)
    expected = reference.fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
    interrupted = model()
    interrupted.fit(x, y, batch_size=16, epochs=1, verbose=0)
    with pytest.raises(Crash):
        interrupted.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[backup(), _Interrupt(2)])
    history = model(seed=99).fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[backup()])
    assert history.history["loss"] == expected
