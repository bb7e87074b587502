"""Compile latency on CPU: short runs, where compiling is most of the time. scanfit beside Keras 3 + JAX.

Two workloads, each contender in a fresh process with no compilation cache:

- ``cell``: the seeds' everyday notebook cell on 48,000 Fashion-MNIST images: build Flatten ->
  Dense(100, relu) -> Dropout(0.3) -> Dense(10, softmax), compile with Adam, fit 20 epochs (batch 32)
  with validation_data (12,000 images); wall seconds of the whole cell, and of its first epoch.
- ``loop``: a hyperparameter search's loop of `--fits` small fits (default 40), each a new model whose
  hidden width differs (16, 20, 24, ...): 2,000 samples, 2 epochs with validation_split=0.2, then
  evaluate and predict on 500 test samples; wall seconds of the whole loop.
- ``pretrained``: building InceptionV3 and ResNet50 (75 x 75, no weights file; models that repeat their layers)
  and the first `predict` of 2 images through each; wall seconds of the predict alone and of building and
  predicting (Keras's building runs JAX programs that warm up its compiler before the predict).

Keras runs by default and at ``steps_per_execution=100`` (which `predict` does not use, so only by default in
``pretrained``).

    python bench/latency.py [--fits 40] [--repeats 1]   # prints the table, writes bench/results/latency.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ranged_row, report, run_contender  # noqa: E402

SYSTEMS = ("scanfit", "keras-jax", "keras-jax-spe100")


def _library(system):
    if system == "scanfit":
        import scanfit as library
    else:
        import keras as library
    return library


def _model(library, width, dropout, steps_per_execution):
    layers = [library.layers.Input(shape=(28, 28)), library.layers.Flatten(),
              library.layers.Dense(width, activation="relu")]
    if dropout:
        layers.append(library.layers.Dropout(dropout))
    model = library.Sequential(layers + [library.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    return model


class EpochClock:
    """The wall seconds at the end of each epoch, from the start of the cell."""

    def __init__(self, library, start):
        class Clock(library.callbacks.Callback):
            def on_epoch_end(inner, epoch, logs=None):  # noqa: N805 - the callback's own self is `inner`
                self.ends.append(time.perf_counter() - start)

        self.ends = []
        self.callback = Clock()


def contender(name):
    system, workload, fits = name.split(":")
    fits = int(fits)
    library = _library(system)
    steps_per_execution = 100 if system.endswith("spe100") else 1
    (x, y), (x_test, y_test) = _library("scanfit").datasets.fashion_mnist.load_data()
    x, x_test = (x / 255.0).astype("float32"), (x_test / 255.0).astype("float32")
    if workload == "cell":
        start = time.perf_counter()
        clock = EpochClock(library, start)
        model = _model(library, 100, 0.3, steps_per_execution)
        history = model.fit(x[:48000], y[:48000], epochs=20, batch_size=32, verbose=0,
                            validation_data=(x[48000:], y[48000:]), callbacks=[clock.callback])
        return {"cell_s": time.perf_counter() - start, "first_epoch_s": clock.ends[0],
                "val_accuracy": float(history.history["val_accuracy"][-1])}
    if workload == "loop":
        start = time.perf_counter()
        accuracies = []
        for index in range(fits):
            model = _model(library, 16 + 4 * index, 0.0, steps_per_execution)
            model.fit(x[:2000], y[:2000], epochs=2, batch_size=32, validation_split=0.2, verbose=0)
            accuracies.append(float(model.evaluate(x_test[:500], y_test[:500], verbose=0)[1]))
            model.predict(x_test[:500], verbose=0)
        return {"loop_s": time.perf_counter() - start, "per_fit_s": (time.perf_counter() - start) / fits,
                "mean_test_accuracy": sum(accuracies) / fits}
    if workload == "pretrained":
        times = {}
        for key, build in (("inception", library.applications.InceptionV3), ("resnet", library.applications.ResNet50)):
            start = time.perf_counter()
            model = build(weights=None, input_shape=(75, 75, 3), classes=10)
            built = time.perf_counter()
            model.predict(np.zeros((2, 75, 75, 3), "float32"), verbose=0)
            times[f"{key}_predict_s"] = time.perf_counter() - built
            times[f"{key}_build_predict_s"] = time.perf_counter() - start
        return times
    raise ValueError(f"unknown contender {name!r}")


def main(fits, repeats):
    names = [f"{system}:{workload}" for workload in ("cell", "loop") for system in SYSTEMS]
    names += [f"{system}:pretrained" for system in SYSTEMS[:2]]
    runs = {name: [] for name in names}
    for _ in range(repeats):  # interleaved, so a slow spell of the shared machine hits all alike
        for name in names:
            runs[name].append(run_contender(__file__, f"{name}:{fits}", timeout=3600))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    keys = ("cell_s", "first_epoch_s", "loop_s", "inception_predict_s", "inception_build_predict_s", "resnet_predict_s",
            "resnet_build_predict_s")
    rows = [ranged_row(name, results, keys) for name, results in runs.items()]
    by_name = {row["contender"]: row for row in rows}
    ratios = {}
    for workload, key in (("cell", "cell_s"), ("cell", "first_epoch_s"), ("loop", "loop_s"),
                          *(("pretrained", f"{model}_{what}_s") for model in ("inception", "resnet")
                            for what in ("predict", "build_predict"))):
        ours = by_name[f"scanfit:{workload}"].get(key)
        best = min((by_name[f"{system}:{workload}"].get(key) for system in SYSTEMS[1:]
                    if f"{system}:{workload}" in by_name), default=None,
                   key=lambda value: float("inf") if value is None else value)
        if ours and best:
            ratios[f"{key}_keras_best_over_scanfit"] = best / ours
    report("latency", rows, ["contender", "cell_s", "first_epoch_s", "loop_s", "val_accuracy", "mean_test_accuracy",
                             "inception_predict_s", "inception_build_predict_s", "resnet_predict_s",
                             "resnet_build_predict_s"],
           {"setting": f"no compilation cache; loop of {fits} fits; best of {repeats} interleaved runs",
            "targets": {"first_epoch_s_keras_best_over_scanfit": ">= 1/0.7", "cell_s_keras_best_over_scanfit": ">= 2",
                        "loop_s": "half of the 2026-12 baseline"}, **ratios})
    print(json.dumps(ratios, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", help="SYSTEM:WORKLOAD:FITS (run by main in a fresh process)")
    parser.add_argument("--fits", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender)))
    else:
        main(args.fits, args.repeats)
