"""What the seed examples share: their command line, epoch counts, Fashion-MNIST split, model and results file."""
import argparse
import json
from pathlib import Path

import scanfit as keras


def parse_args(argv, doc, name, quick_help="fewer images and epochs (for tests)", mnist_path_help=None):
    """OUTPUT (created; default examples-output/NAME) and --quick, and --mnist-path when it has a help text."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=Path("examples-output") / name)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if mnist_path_help:
        parser.add_argument("--mnist-path", type=Path, help=mnist_path_help)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    return args


def epoch_counter(quick, divisor, least=2):
    """``epochs(n)``: the seed's n epochs, or with --quick ``n // divisor`` (at least `least`)."""
    def epochs(n):
        return max(least, n // divisor) if quick else n

    return epochs


def train_validation_split(images, targets):
    """Images scaled to [0, 1], a fifth held out (seed 42): ``train, validation, train targets, validation targets``."""
    return keras.utils.train_test_split(images / 255.0, targets, test_size=0.2, seed=42)


def fashion_mnist_split(quick):
    """Fashion-MNIST's training images split by `train_validation_split`, and its raw test set.

    Returns ``(train_scaled, train_target), (val_scaled, val_target), (test_input, test_target)``;
    --quick keeps the first 6,400 training images.
    """
    (train_input, train_target), test = keras.datasets.fashion_mnist.load_data()
    if quick:
        train_input, train_target = train_input[:6400], train_target[:6400]
    train_scaled, val_scaled, train_target, val_target = train_validation_split(train_input, train_target)
    return (train_scaled, train_target), (val_scaled, val_target), test


def model_fn(a_layer=None):
    """The seeds' Fashion-MNIST network: Flatten, Dense(100, relu), `a_layer` if given, Dense(10, softmax)."""
    model = keras.Sequential()
    model.add(keras.layers.Flatten(input_shape=(28, 28)))
    model.add(keras.layers.Dense(100, activation="relu"))
    if a_layer:
        model.add(a_layer)
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def write_results(out, results):
    """Write `results` to OUTPUT/results.json and print them."""
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
