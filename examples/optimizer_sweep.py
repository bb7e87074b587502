"""Seed 003's optimizer benchmark as one sweep: SGD, RMSprop, Adagrad and Adam, two runs each, trained together.

The seed trains Flatten -> Dense(250, relu) -> Dense(10, softmax) on MNIST
eight times in a loop (4 optimizers x 2 runs, 10 epochs, batch 128) and
plots the mean curves. Here the eight runs are one `scanfit.Sweep`: one
compiled program per epoch trains all of them. It writes into OUTPUT:

- ``optimizers-mnist.png``: the seed's four panels (training and validation
  accuracy and loss per epoch, the mean of the two runs per optimizer);
- ``results.json``: per optimizer, the mean over its runs of the final
  training and validation accuracy and loss (``model.evaluate`` on the
  training and test sets, as the seed prints them), and each run's row.

    python examples/optimizer_sweep.py [OUTPUT] [--mnist-path DIR] [--epochs N]

--mnist-path is a folder with MNIST's IDX files or mnist.npz (e.g. the
10,000-digit sample data/mnist-sample); without it scanfit's
loader finds or downloads the full MNIST.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

import scanfit as keras
from scanfit import plot

OPTIMIZERS = ["sgd", "rmsprop", "adagrad", "adam"]
KEYS = ["acc", "val_acc", "loss", "val_loss"]


def load_mnist(path=None):
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=path)
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    x_train = keras.utils.normalize(x_train, axis=1)
    x_test = keras.utils.normalize(x_test, axis=1)
    return (x_train, y_train), (x_test, y_test)


def build(optimizer, seed):
    """The seed's `train_mnist` model; the sweep seeds each run with its `seed` before calling this."""
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(250, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=optimizer, loss=keras.losses.categorical_crossentropy, metrics=["acc"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=Path("examples-output/optimizer_sweep"))
    parser.add_argument("--mnist-path", type=Path, help="folder (or .npz) with MNIST")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    (x_train, y_train), (x_test, y_test) = load_mnist(args.mnist_path)
    print(x_train.shape, y_train.shape, x_test.shape, y_test.shape)
    sweep = keras.Sweep(build, keras.Sweep.grid(optimizer=OPTIMIZERS, seed=[0, 1]))
    started = time.perf_counter()
    sweep.fit(x_train, y_train, batch_size=128, epochs=args.epochs, verbose=2, shuffle=True,
              validation_data=(x_test, y_test))
    seconds = time.perf_counter() - started

    train = sweep.evaluate(x_train, y_train, batch_size=128)  # every model at once, one program per data set
    test = sweep.evaluate(x_test, y_test, batch_size=128)
    finals = [{"acc": tr["acc"], "val_acc": te["acc"], "loss": tr["loss"], "val_loss": te["loss"]}
              for tr, te in zip(train, test)]
    summary = {}
    for optimizer in OPTIMIZERS:
        runs = [final for final, params in zip(finals, sweep.params) if params["optimizer"] == optimizer]
        summary[optimizer] = {key: float(np.mean([run[key] for run in runs])) for key in KEYS}
        for key in KEYS:
            print(optimizer, key, summary[optimizer][key])

    figure = sweep.plot("optimizer", dataset="MNIST", path=args.output / "optimizers-mnist.png")
    plot.pyplot().close(figure)
    table = sweep.results()
    print(table.to_string() if hasattr(table, "to_string") else table)
    results = {"optimizers": summary, "fit_seconds": seconds,
               "runs": [{**params, **final} for params, final in zip(sweep.params, finals)]}
    (args.output / "results.json").write_text(json.dumps(results, indent=2))
    return sweep, results


if __name__ == "__main__":
    main()
