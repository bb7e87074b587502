"""The examples reproduce their seed documents: each runs with --quick on real data, in a subprocess.

Each test checks that the example wrote its figures (real PNGs) and that the
accuracies it reports land in the range a short run on that data gives. The
selected examples start together, two at a time (longest first), and share
the JAX compilation cache of the other tests (scanfit's), keeping every
program: a program that several of them compile (the seeds' MLP on the same
data) compiles once, and a later run of the tests loads it.
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import pytest

pytestmark = pytest.mark.seed

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MNIST_SAMPLE = REPO / "data" / "mnist-sample"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPTS = {  # test name -> example script and extra arguments, longest run first
    "test_seed_003_training_deep_networks": ("seed_003_training_deep_networks.py", "--mnist-path", MNIST_SAMPLE),
    "test_seed_002_best_model": ("seed_002_best_model.py",),
    "test_seed_004_convolutional_networks": ("seed_004_convolutional_networks.py",),
    "test_seed_000_loss_curves_dropout_callbacks": ("seed_000_loss_curves_dropout_callbacks.py",),
    "test_seed_001_first_neural_networks": ("seed_001_first_neural_networks.py",),
}


def run_example(output, script, *extra):
    env = dict(os.environ, MPLBACKEND="Agg", SCANFIT_OFFLINE="1")
    if jax.config.jax_compilation_cache_dir:  # (unless the tests run without the cache)
        env.update(JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    result = subprocess.run([sys.executable, str(EXAMPLES / script), str(output), "--quick", *map(str, extra)],
                            capture_output=True, text=True, env=env, timeout=900, cwd=REPO)
    return output, result


@pytest.fixture(scope="module")
def example_runs(request, tmp_path_factory):
    """Start the examples whose tests are selected; map test name -> Future of (output folder, process)."""
    selected = {item.name for item in request.session.items if item.module is request.module}
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {
            name: pool.submit(run_example, tmp_path_factory.mktemp(name), *script)
            for name, script in SCRIPTS.items()
            if name in selected
        }


def results_of(example_runs, name):
    output, result = example_runs[name].result()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return output, json.loads((output / "results.json").read_text())


def assert_figures(folder, names):
    import matplotlib.image

    for name in names:
        path = folder / name
        assert path.is_file(), f"{name} was not written; the folder holds {sorted(p.name for p in folder.iterdir())}"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        height, width = matplotlib.image.imread(path).shape[:2]
        assert height > 100 and width > 100, name


def test_seed_000_loss_curves_dropout_callbacks(example_runs):
    tmp_path, results = results_of(example_runs, "test_seed_000_loss_curves_dropout_callbacks")
    assert_figures(tmp_path, [
        "01-loss-accuracy.png", "02-loss-20-epochs.png", "03-validation-rmsprop-10.png",
        "03-validation-rmsprop-20.png", "03-validation-adam.png", "04-dropout.png",
        "05-compare-optimizers-dropout.png", "06-early-stopping.png"])
    for name, accuracy in results["val_accuracy"].items():
        assert 0.72 <= accuracy <= 0.90, name
    assert results["restored_weights_val_accuracy"] == pytest.approx(results["val_accuracy"]["adam+dropout"], abs=1e-4)
    assert 0.72 <= results["best_model_val_accuracy"] <= 0.90
    assert 0.72 <= results["early_stopping"]["val_accuracy"] <= 0.90
    assert (tmp_path / "model-weights.h5").is_file() and (tmp_path / "model-whole.h5").is_file()


def test_seed_001_first_neural_networks(example_runs):
    tmp_path, results = results_of(example_runs, "test_seed_001_first_neural_networks")
    assert_figures(tmp_path, ["01-samples.png", "02-sigmoid-vs-relu.png", "03-validation-loss.png",
                              "04-dropout.png", "05-early-stopping.png"])
    assert 0.70 <= results["dense_softmax_val_accuracy"] <= 0.88
    assert 0.65 <= results["sigmoid_val_accuracy"] <= 0.88
    assert 0.72 <= results["relu_val_accuracy"] <= 0.90
    assert 0.72 <= results["dropout_val_accuracy"] <= 0.90
    assert 0.72 <= results["best_model_val_accuracy"] <= 0.90


def test_seed_002_best_model(example_runs):
    tmp_path, results = results_of(example_runs, "test_seed_002_best_model")
    assert_figures(tmp_path, ["01-learning-curves.png", "02-early-stopping.png", "03-regularization.png"])
    assert 0.25 <= results["footwear_share"] <= 0.35
    assert results["checkpoint_files"], "ModelCheckpoint saved no file"
    assert all(name.endswith(".hdf5") and name[:2].isdigit() for name in results["checkpoint_files"])
    assert 0.95 <= results["long_run"]["val_accuracy"] <= 1.0
    assert results["early_stopping"]["epochs_run"] >= 2
    assert 0.95 <= results["regularization_accuracy"]["plain"] <= 1.0
    for name, accuracy in results["regularization_accuracy"].items():
        assert 0.5 <= accuracy <= 1.0, name


def test_seed_003_training_deep_networks(example_runs):
    tmp_path, results = results_of(example_runs, "test_seed_003_training_deep_networks")
    assert_figures(tmp_path, ["01-sigmoid-saturation.png", "02-leaky-relu-learning-curves.png",
                              "03-batch-normalization.png", "04-transfer-learning.png", "05-optimizers-mnist.png"])
    assert 0.45 <= results["leaky_relu_test_accuracy"] <= 0.85
    assert 0.55 <= results["bn_after_activation_test_accuracy"] <= 0.88
    assert 0.50 <= results["bn_before_activation_test_accuracy"] <= 0.88
    assert results["model_B_on_A_test_accuracy"] >= 0.85
    optimizers = results["optimizers"]
    for name in ("rmsprop", "adam"):  # the adaptive optimizers lead, as in the seed
        assert 0.85 <= optimizers[name]["val_acc"] <= 1.0, name
        assert optimizers[name]["val_acc"] > optimizers["sgd"]["val_acc"], name
        assert optimizers[name]["val_acc"] > optimizers["adagrad"]["val_acc"], name


def test_seed_004_convolutional_networks(example_runs):
    tmp_path, results = results_of(example_runs, "test_seed_004_convolutional_networks")
    assert_figures(tmp_path, ["01-loss-accuracy.png", "02-dense-early-stopping.png", "03-cnn-early-stopping.png",
                              "04-cnn-predictions.png"])
    assert results["conv_output_shape"] == [None, 6, 6, 10]
    assert 0.72 <= results["dense_val_accuracy"] <= 0.90
    assert 0.75 <= results["cnn_val_accuracy"] <= 0.93
    assert results["cnn_first_20_test_correct"] >= 12
