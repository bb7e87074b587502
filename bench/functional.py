"""Functional against Sequential: the seed MLP and CNN written both ways, and the Sequential form before the
functional-model change, side by side.

The seed MLP (Flatten, Dense(100, relu), Dense(10, softmax), RMSprop, batch 32,
48,000 Fashion-MNIST images) and the seed CNN (Conv2D 32, pool, Conv2D 64,
pool, Dense 100, Dropout 0.4, Dense 10, Adam, batch 32, 12,000 images), each
contender in a fresh process, interleaved. ``--base DIR`` adds the Sequential
forms run from another checkout of scanfit (the code before a change).

    python bench/functional.py [--repeats 3] [--base /path/to/old/checkout]
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, epoch_summary, report, run_contender, time_epochs  # noqa: E402

EPOCH_KEYS = ("first_epoch_s", "steady_epoch_s", "first_epoch_cpu_s", "steady_epoch_cpu_s")
WORKLOADS = {"mlp": (48_000, 4), "cnn": (12_000, 3)}  # samples, epochs


def _layers(keras, workload):
    L = keras.layers
    if workload == "mlp":
        return [L.Flatten(), L.Dense(100, activation="relu"), L.Dense(10, activation="softmax")], (28, 28)
    return [L.Conv2D(32, 3, activation="relu", padding="same"), L.MaxPooling2D(2),
            L.Conv2D(64, 3, activation="relu", padding="same"), L.MaxPooling2D(2), L.Flatten(),
            L.Dense(100, activation="relu"), L.Dropout(0.4), L.Dense(10, activation="softmax")], (28, 28, 1)


def _build(keras, workload, form):
    layers, shape = _layers(keras, workload)
    if form == "sequential":
        model = keras.Sequential([keras.Input(shape)] + layers)
    else:
        inputs = x = keras.Input(shape)
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
    model.compile(optimizer="rmsprop" if workload == "mlp" else "adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def contender(name):
    import scanfit

    workload, form = name.split("-")[:2]
    samples, epochs = WORKLOADS[workload]
    (x, y), _ = scanfit.datasets.fashion_mnist.load_data()
    x = (x[:samples] / 255.0).astype("float32")
    if workload == "cnn":
        x = x[..., None]
    model = _build(scanfit, workload, form)
    times = time_epochs(lambda: model.fit(x, y[:samples], batch_size=32, epochs=1, verbose=0), epochs)
    return epoch_summary(times)


def main(repeats, base):
    names = [f"{w}-{form}" for w in WORKLOADS for form in ("sequential", "functional")]
    runs = {name: [] for name in names}
    if base:
        runs.update({f"{w}-sequential-base": [] for w in WORKLOADS})
    for _ in range(repeats):  # interleaved, so a slow spell of the shared machine hits all alike
        for name in runs:
            env = {"PYTHONPATH": os.pathsep.join([str(Path(base).resolve()), os.environ.get("PYTHONPATH", "")])} \
                if name.endswith("-base") else None
            runs[name].append(run_contender(__file__, name, env))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    rows = [{"system": name, **best_of(results, EPOCH_KEYS)} for name, results in runs.items()]
    by_name = {row["system"]: row for row in rows}
    ratios = {}
    for workload in WORKLOADS:
        reference = by_name[f"{workload}-sequential"]
        for row in rows:
            if row["system"].startswith(workload) and "error" not in row and "error" not in reference:
                row["steady_vs_sequential"] = row["steady_epoch_s"] / reference["steady_epoch_s"]
                row["first_vs_sequential"] = row["first_epoch_s"] / reference["first_epoch_s"]
        functional = by_name[f"{workload}-functional"]
        if "error" not in functional and "error" not in reference:
            ratios[f"{workload}_functional_over_sequential_steady"] = functional["steady_vs_sequential"]
    report("functional", rows, ["system", "first_epoch_s", "steady_epoch_s", "steady_epoch_cpu_s",
                                "steady_vs_sequential", "first_vs_sequential"],
           {"setting": f"seed MLP (48,000 images) and CNN (12,000), batch 32; best of {repeats} interleaved "
                       "fresh-process runs; '-base' rows run the checkout given by --base",
            "targets": {"functional_over_sequential_steady": "<= 1.05"}, **ratios})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base", help="another scanfit checkout to run the Sequential forms from")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender)))
    else:
        main(args.repeats, args.base)
