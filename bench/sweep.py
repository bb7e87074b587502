"""Eight small runs as one `scanfit.Sweep` against the same eight runs one after another.

Seed 003's optimizer benchmark: Flatten -> Dense(250, relu) -> Dense(10,
softmax), SGD / RMSprop / Adagrad / Adam with Keras defaults, two runs each
(seeds 0 and 1), 10 epochs, batch 128, validation after every epoch, on the
real MNIST digits sample (7,996 training, 2,004 validation digits). Three
contenders, each in a fresh process without a compilation cache:

- ``sweep``: ``scanfit.Sweep(build, Sweep.grid(optimizer=..., seed=[0, 1])).fit(...)``;
- ``scanfit-sequential``: ``set_random_seed(seed); build(...).fit(...)`` eight times;
- ``keras-jax-sequential``: the same eight fits in Keras 3 on JAX, also with
  ``steps_per_execution=100`` (``keras-jax-spe100-sequential``).

Each reports wall and CPU seconds for building and training all eight runs
(data loading excluded) and the mean final val_accuracy per optimizer. The
machine is shared, so the contenders run interleaved, each twice, and the
best wall and CPU seconds of each are compared; CPU seconds are less
sensitive to other processes than wall seconds.

    python bench/sweep.py [--repeats 2]   # prints the table, writes bench/results/sweep.json
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, report, run_contender  # noqa: E402

OPTIMIZERS = ["sgd", "rmsprop", "adagrad", "adam"]
SEEDS = [0, 1]
EPOCHS = 10
BATCH_SIZE = 128
MNIST_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mnist-sample"


def _data():
    import scanfit

    path = os.environ.get("SCANFIT_BENCH_MNIST", str(MNIST_SAMPLE))
    (x, y), (x_val, y_val) = scanfit.datasets.mnist.load_data(path=path)
    to_categorical, normalize = scanfit.utils.to_categorical, scanfit.utils.normalize
    return (normalize(x, axis=1).astype("float32"), to_categorical(y, 10),
            normalize(x_val, axis=1).astype("float32"), to_categorical(y_val, 10))


def _builder(library, steps_per_execution=1):
    def build(optimizer, seed):
        model = library.Sequential([
            library.layers.Input(shape=(28, 28)),
            library.layers.Flatten(),
            library.layers.Dense(250, activation="relu"),
            library.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["acc"],
                      steps_per_execution=steps_per_execution)
        return model

    return build


def contender(name):
    x, y, x_val, y_val = _data()
    fit_args = dict(batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0, validation_data=(x_val, y_val))
    if name.startswith("keras"):
        import keras as library
    else:
        import scanfit as library
    build = _builder(library, 100 if "spe100" in name else 1)
    params = [{"optimizer": optimizer, "seed": seed} for optimizer in OPTIMIZERS for seed in SEEDS]
    wall, cpu = time.perf_counter(), time.process_time()
    if name == "sweep":
        histories = library.Sweep(build, params).fit(x, y, **fit_args)
    else:
        histories = []
        for run in params:
            library.utils.set_random_seed(run["seed"])
            histories.append(build(**run).fit(x, y, **fit_args))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    val_acc = {optimizer: sum(h.history["val_acc"][-1] for h, p in zip(histories, params) if p["optimizer"] == optimizer)
               / len(SEEDS) for optimizer in OPTIMIZERS}
    return {"wall_s": wall, "cpu_s": cpu, "val_acc": val_acc}


def main(repeats):
    names = ("sweep", "scanfit-sequential", "keras-jax-sequential", "keras-jax-spe100-sequential")
    results = {name: [] for name in names}
    for _ in range(repeats):  # interleaved, so a busy spell of the machine hits every contender alike
        for name in names:
            result = run_contender(__file__, name)
            results[name].append(result)
            print(f"{name}: {result}", file=sys.stderr)
    rows = []
    for name in names:
        row = {"system": name, **best_of(results[name], ("wall_s", "cpu_s"))}
        row.update({f"val_acc_{k}": v for k, v in row.pop("val_acc", {}).items()})
        rows.append(row)
    sweep = rows[0]
    ratios = {}
    for row in rows:
        if "error" not in row and "error" not in sweep:
            row["wall_vs_sweep"] = row["wall_s"] / sweep["wall_s"]
            row["cpu_vs_sweep"] = row["cpu_s"] / sweep["cpu_s"]
            ratios[f"{row['system']}_wall_over_sweep"] = row["wall_vs_sweep"]
            ratios[f"{row['system']}_cpu_over_sweep"] = row["cpu_vs_sweep"]
    report("sweep", rows, ["system", "wall_s", "cpu_s", "wall_vs_sweep", "cpu_vs_sweep"]
           + [f"val_acc_{optimizer}" for optimizer in OPTIMIZERS],
           {"setting": "seed 003 optimizer benchmark: 4 optimizers x 2 seeds, 10 epochs, batch 128, MNIST sample; "
                       f"best of {repeats} interleaved fresh-process runs",
            "targets": {"scanfit-sequential_wall_over_sweep": ">= 3"}, **ratios})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each contender (best kept)")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender)))
    else:
        main(args.repeats)
