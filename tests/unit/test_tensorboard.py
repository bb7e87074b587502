"""TensorBoard callback: real event files in Keras's layout, read back by TensorBoard itself."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import scanfit

RNG = np.random.default_rng(5)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("int32")


def _train(log_dir, epochs=3, **kwargs):
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(3, activation="relu", name="hidden"),
                                scanfit.layers.Dense(2, activation="softmax", name="out")], name="net")
    model.compile(optimizer=scanfit.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [scanfit.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=10.0),
                 scanfit.callbacks.TensorBoard(log_dir, **kwargs)]
    history = model.fit(X, Y, epochs=epochs, batch_size=16, validation_split=0.25, verbose=0, callbacks=callbacks)
    return model, history


def _events(folder):
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


def test_event_files_have_keras_tags_runs_and_steps(tmp_path):
    model, history = _train(tmp_path / "logs", histogram_freq=2)
    train, validation = _events(tmp_path / "logs" / "train"), _events(tmp_path / "logs" / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(validation.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "evaluation_loss_vs_iterations",
                                                 "evaluation_accuracy_vs_iterations"}
    for run, prefix in ((train, ""), (validation, "val_")):
        for name in ("loss", "accuracy"):
            events = run.Scalars(f"epoch_{name}")
            assert [e.step for e in events] == [0, 1, 2]
            np.testing.assert_allclose([e.value for e in events], history.history[prefix + name], rtol=1e-6)
    # epoch_learning_rate is the rate after the epoch's callbacks ran (ReduceLROnPlateau halves it from epoch 1 on)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.1, 0.05, 0.025])
    assert [e.step for e in validation.Scalars("evaluation_loss_vs_iterations")] == [3, 6, 9]
    assert set(train.Tags()["histograms"]) == {f"net/{layer}/{weight}/histogram"
                                              for layer in ("hidden", "out") for weight in ("kernel", "bias")}
    kernel = train.Histograms("net/out/kernel/histogram")
    assert [h.step for h in kernel] == [0, 2]
    assert kernel[-1].histogram_value.num == 6
    assert kernel[-1].histogram_value.sum == pytest.approx(float(model.layers[1].get_weights()[0].sum()), abs=1e-5)
    assert model.trainer.programs.train_chunk._cache_size() == 0  # epoch-only logging keeps the one-program epoch


def test_update_freq_logs_running_batch_values(tmp_path):
    _, history = _train(tmp_path / "logs", epochs=2, update_freq=2)
    train = _events(tmp_path / "logs" / "train")
    events = train.Scalars("batch_loss")
    assert [e.step for e in events] == [2, 4, 6]  # 3 batches per epoch, global batch count
    assert events[1].value != events[0].value
    with pytest.raises(ValueError, match="update_freq"):
        scanfit.callbacks.TensorBoard(update_freq="sometimes")


def _get_json(base, path, **query):
    url = f"{base}{path}?{urllib.parse.urlencode(query)}" if query else base + path
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_tensorboard_server_serves_the_logged_scalars(tmp_path):
    _, history = _train(tmp_path / "logs", epochs=3)
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path / "logs"), "--host", "127.0.0.1",
         "--port", "0", "--load_fast", "false", "--reload_interval", "1"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    try:
        deadline = time.monotonic() + 60
        base = None
        while base is None:
            assert server.poll() is None, f"tensorboard exited: {(tmp_path / 'server.log').read_text()}"
            assert time.monotonic() < deadline, f"no URL from tensorboard: {(tmp_path / 'server.log').read_text()}"
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", (tmp_path / "server.log").read_text())
            base = f"http://127.0.0.1:{found.group(1)}" if found else None
            time.sleep(0.2)
        points = []
        while len(points) < 3:
            assert time.monotonic() < deadline, f"tensorboard served {points} after 60 s"
            try:
                points = _get_json(base, "/data/plugin/scalars/scalars", tag="epoch_loss", run="train")
            except (urllib.error.URLError, ConnectionError, ValueError):
                points = []
            time.sleep(0.3)
        assert [step for _, step, _ in points] == [0, 1, 2]
        np.testing.assert_allclose([value for _, _, value in points], history.history["loss"], rtol=1e-6)
        validation = _get_json(base, "/data/plugin/scalars/scalars", tag="epoch_accuracy", run="validation")
        np.testing.assert_allclose([value for _, _, value in validation], history.history["val_accuracy"], rtol=1e-6)
        assert sorted(_get_json(base, "/data/runs")) == ["train", "validation"]
    finally:
        server.kill()
        server.wait(timeout=10)
        log.close()
