"""Memory a training epoch takes beyond the weights and optimizer state: scanfit beside Keras 3 + JAX.

A wide MLP (Input(1024) -> Dense(4096, relu) -> Dense(4096, relu) -> Dense(10, softmax), 21.0 million
weights: 84 MB, Adam's state twice that) trains on 512 random samples at batch 256. After a first fit
(compiles, creates the optimizer state), the peak resident memory of a second ``fit(epochs=2)`` is taken
over the process's memory just before it: what an epoch needs besides the model it updates. A program
that donates the weights and optimizer state writes the new ones into their buffers; one that does not
holds both (about 252 MB more here).

    python bench/weights_memory.py [--repeats 2]   # prints the table, writes bench/results/weights_memory.json
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, ranged_row, report, rss, run_contender  # noqa: E402

WIDTH, INPUTS, SAMPLES = 4096, 1024, 512


def contender(name):
    import numpy as np

    if name == "scanfit":
        import scanfit as library
    else:
        import keras as library
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, INPUTS)).astype("float32")
    y = rng.integers(0, 10, size=SAMPLES)
    model = library.Sequential([library.layers.Input(shape=(INPUTS,)),
                                library.layers.Dense(WIDTH, activation="relu"),
                                library.layers.Dense(WIDTH, activation="relu"),
                                library.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=256, epochs=1, verbose=0)
    weights = model.count_params()
    baseline = rss()
    with PeakMemory() as memory:
        model.fit(x, y, batch_size=256, epochs=2, verbose=0)
    return {"weights": int(weights), "state_mb": weights * 4 * 3 / 1e6, "epoch_peak_over_baseline_mb":
            (memory.peak - baseline) / 1e6}


def main(repeats):
    runs = {"scanfit": [], "keras-jax": []}
    for _ in range(repeats):
        for name in runs:
            runs[name].append(run_contender(__file__, name))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    rows = [ranged_row(name, results, ["epoch_peak_over_baseline_mb"]) for name, results in runs.items()]
    report("weights_memory", rows, ["contender", "weights", "state_mb", "epoch_peak_over_baseline_mb"],
           {"setting": "MLP 1024-4096-4096-10, Adam, 512 samples, batch 256; peak RSS of a second fit(epochs=2) "
                       "over the RSS before it"})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender)))
    else:
        main(args.repeats)
