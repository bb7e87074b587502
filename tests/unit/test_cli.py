"""The `scanfit` command line: each command in a subprocess, usage and other errors in-process."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scanfit as keras
from scanfit import cli
from scanfit.callbacks.csv_logger import read_history

REPO = Path(__file__).resolve().parents[2]
MNIST_SAMPLE = REPO / "data" / "mnist-sample"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(*args, env=None, timeout=600):
    environment = dict(os.environ, SCANFIT_OFFLINE="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "scanfit", *map(str, args)], capture_output=True, text=True,
                          env=environment, timeout=timeout, cwd=REPO)


def one_line_error(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scanfit: error: "), stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    result = run_cli("train", "--epochs", "2", "--limit", "2000", "--output", run, "--seed", "0")
    assert result.returncode == 0, result.stderr
    return run, result.stdout


def test_train_writes_a_run_folder(trained):
    run, stdout = trained
    assert "Epoch 1/2" in stdout and "Epoch 2/2" in stdout
    assert f"Run folder: {run}" in stdout
    for name in (cli.BEST_MODEL, cli.HISTORY_CSV, cli.CURVES_PNG, cli.REPORT):
        assert (run / name).is_file(), name
    assert (run / cli.CURVES_PNG).read_bytes()[:8] == PNG_SIGNATURE
    assert list((run / cli.LOG_DIR).rglob("events.out.tfevents.*"))
    history = read_history(run / cli.HISTORY_CSV)
    assert history.epoch == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.history)
    report = (run / cli.REPORT).read_text()
    accuracy = float(re.search(r"Test accuracy: (\d\.\d+)", report).group(1))
    assert 0.6 <= accuracy <= 1.0
    assert f"Test accuracy {accuracy:.4f}" in stdout
    assert "1,600 training and 400 validation images" in report
    assert "Dropout(0.3)" in report and "79,510 parameters" in report
    assert "scanfit train --epochs 2 --limit 2000" in report
    assert f"![learning curves]({cli.CURVES_PNG})" in report


def test_summary_prints_the_saved_model(trained):
    run, _ = trained
    result = run_cli("summary", run / cli.BEST_MODEL)
    assert result.returncode == 0, result.stderr
    assert "Total params: 79,510" in result.stdout
    assert "dropout" in result.stdout.lower()


def test_evaluate_on_fashion_mnist_and_the_mnist_sample(trained):
    run, _ = trained
    result = run_cli("evaluate", run / cli.BEST_MODEL, "--dataset", "fashion_mnist", "--limit", "2000")
    assert result.returncode == 0, result.stderr
    assert "Fashion-MNIST test split (2,000 images)" in result.stdout
    accuracy = float(re.search(r"accuracy: (\d\.\d+)", result.stdout).group(1))
    assert 0.6 <= accuracy <= 1.0
    result = run_cli("evaluate", run / cli.BEST_MODEL, "--dataset", "mnist", "--data-dir", MNIST_SAMPLE)
    assert result.returncode == 0, result.stderr
    assert "MNIST test split (2,004 images)" in result.stdout


def test_plot_writes_the_learning_curves(trained, tmp_path, capsys):
    run, _ = trained
    result = run_cli("plot", run / cli.HISTORY_CSV, "-o", tmp_path / "out" / "curves.png", "--title", "two epochs")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    csv = tmp_path / "history.csv"
    shutil.copy(run / cli.HISTORY_CSV, csv)
    assert cli.main(["plot", str(csv)]) == 0  # the PNG goes next to the CSV by default
    assert (tmp_path / "history.png").read_bytes()[:8] == PNG_SIGNATURE
    assert capsys.readouterr().out.strip() == f"Wrote {tmp_path / 'history.png'}"


def test_datasets_says_where_each_data_set_is(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist").symlink_to(MNIST_SAMPLE)
    result = run_cli("datasets", env={"SCANFIT_DATA_DIR": str(tmp_path / "data"),
                                      "SCANFIT_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert f"mnist (MNIST): {tmp_path / 'data' / 'mnist'}" in result.stdout
    assert "found in SCANFIT_DATA_DIR" in result.stdout
    assert "fashion_mnist (Fashion-MNIST):" in result.stdout
    monkeypatch.setenv("SCANFIT_OFFLINE", "1")
    monkeypatch.setenv("SCANFIT_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("SCANFIT_CACHE_DIR", str(tmp_path / "cache"))
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist (MNIST): not found" in out and "To get it:" in out


def test_errors_are_one_line_without_traceback(tmp_path):
    result = run_cli("evaluate", tmp_path / "missing.keras", "--dataset", "mnist")
    assert result.returncode == 1
    assert one_line_error(result.stderr) == f"scanfit: error: no such model file: {tmp_path / 'missing.keras'}"
    assert "Traceback" not in result.stderr


def test_console_script():
    script = shutil.which("scanfit")
    if script is None:
        pytest.skip("the scanfit console script is not installed")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("scanfit ")


@pytest.mark.parametrize("argv, message", [
    ([], "required: COMMAND"),
    (["train", "--epochs", "0"], "--epochs: expected a positive integer, got '0'"),
    (["train", "--dataset", "cifar10"], "unknown data set 'cifar10'"),
    (["train", "--dropout", "1.5"], "--dropout: expected a number in [0, 1)"),
    (["train", "--validation-split", "0"], "--validation-split: expected a number between 0 and 1"),
    (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["evaluate", "model.keras"], "--dataset"),
    (["plot"], "HISTORY.csv"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_usage_errors_exit_with_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_data_is_reported_on_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCANFIT_OFFLINE", "1")
    monkeypatch.setenv("SCANFIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SCANFIT_DATA_DIR", raising=False)
    assert cli.main(["train", "--dataset", "mnist", "--output", str(tmp_path / "run")]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "MNIST was not found" in line and "To get it" in line
    assert not (tmp_path / "run").exists()
    assert cli.main(["train", "--data-dir", str(tmp_path / "nowhere"), "--output", str(tmp_path / "run")]) == 1
    assert "nowhere" in one_line_error(capsys.readouterr().err)


def test_bad_files_are_reported_on_one_line(tmp_path, capsys):
    (tmp_path / "notes.csv").write_text("just some text\n")
    assert cli.main(["plot", str(tmp_path / "notes.csv")]) == 1
    assert "'epoch' column" in one_line_error(capsys.readouterr().err)
    (tmp_path / "model.keras").write_bytes(b"not a model")
    assert cli.main(["summary", str(tmp_path / "model.keras")]) == 1
    assert "model.keras" in one_line_error(capsys.readouterr().err)


def test_a_new_run_replaces_old_tensorboard_logs_only(tmp_path):
    logs = tmp_path / "logs"
    (logs / "train").mkdir(parents=True)
    (logs / "train" / "events.out.tfevents.1.host").write_bytes(b"old")
    cli._clear_old_logs(logs)
    assert not list(logs.rglob("events.*"))
    (logs / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="choose another --output"):
        cli._clear_old_logs(logs)
    assert (logs / "notes.txt").exists()


def test_evaluate_adapts_images_and_labels_to_the_model():
    class Model:
        input_shape = (None, 784)

    images = np.zeros((3, 28, 28), np.float32)
    assert cli._fit_input(Model, images).shape == (3, 784)
    Model.input_shape = (None, 28, 28, 1)
    assert cli._fit_input(Model, images).shape == (3, 28, 28, 1)
    Model.input_shape = (None, 32, 32, 3)
    with pytest.raises(ValueError, match=r"\(32, 32, 3\)"):
        cli._fit_input(Model, images)
    assert cli._wants_one_hot("categorical_crossentropy")
    assert cli._wants_one_hot(keras.losses.categorical_crossentropy)
    assert not cli._wants_one_hot("sparse_categorical_crossentropy")
    assert not cli._wants_one_hot(keras.losses.SparseCategoricalCrossentropy())
