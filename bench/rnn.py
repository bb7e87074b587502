"""Text RNN epoch time: scanfit against Keras 3 + JAX, side by side.

Embedding(500, 16) -> LSTM(8) | GRU(8) | SimpleRNN(8) -> Dense(1, sigmoid), Adam, batch 64,
20,000 made sequences of 100 tokens (label: a token near the start). Each contender trains a few
epochs, then evaluates the 20,000 sequences, in a fresh process; Keras runs by default and with
``compile(steps_per_execution=100)``.
scanfit also runs with its native CPU time loops switched off (``scanfit-scan``: the XLA time scan).

    python bench/rnn.py [--repeats 2]   # prints the table, writes bench/results/rnn.json
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's scanfit, not an installed one
from common import best_of, epoch_summary, report, run_contender, time_epochs  # noqa: E402

EPOCHS = 3
EVALUATIONS = 3  # the first compiles; the best of the others is reported
EPOCH_KEYS = ("first_epoch_s", "steady_epoch_s", "first_epoch_cpu_s", "steady_epoch_cpu_s", "evaluate_s")
SAMPLES, MAXLEN, VOCAB = 20_000, 100, 500
CELLS = ("LSTM", "GRU", "SimpleRNN")
SYSTEMS = ("scanfit", "scanfit-scan", "keras-jax", "keras-jax-spe100")


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, size=(SAMPLES, MAXLEN)).astype("int32")
    y = (x[:, 5] % 2).astype("float32")
    return x, y


def contender(name):
    cell, system = name.split(":")
    x, y = _data()
    if system.startswith("scanfit"):
        if system == "scanfit-scan":
            os.environ["SCANFIT_NATIVE_KERNELS"] = "0"
        import scanfit as library
    else:
        import keras as library
    model = library.Sequential([
        library.layers.Input(shape=(MAXLEN,)),
        library.layers.Embedding(VOCAB, 16),
        getattr(library.layers, cell)(8),
        library.layers.Dense(1, activation="sigmoid"),
    ])
    options = {"steps_per_execution": 100} if system == "keras-jax-spe100" else {}
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], **options)
    times = time_epochs(lambda: model.fit(x, y, batch_size=64, epochs=1, verbose=0), EPOCHS)
    evaluations = time_epochs(lambda: model.evaluate(x, y, batch_size=64, verbose=0), EVALUATIONS)
    return {**epoch_summary(times), "evaluate_s": min(wall for wall, _ in evaluations[1:])}


def main(repeats):
    runs = {f"{cell}:{system}": [] for cell in CELLS for system in SYSTEMS}
    for _ in range(repeats):  # interleaved, so a slow spell of the shared machine hits all alike
        for name in runs:
            runs[name].append(run_contender(__file__, name))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    rows = [{"model": name.split(":")[0], "system": name.split(":")[1], **best_of(results, EPOCH_KEYS)}
            for name, results in runs.items()]
    ratios = {}
    for cell in CELLS:
        by_system = {row["system"]: row for row in rows if row["model"] == cell}
        keras_row = by_system["keras-jax"]
        for row in by_system.values():
            if "error" not in row and "error" not in keras_row:
                row["compile_s"] = row["first_epoch_s"] - row["steady_epoch_s"]
                row["speedup"] = keras_row["steady_epoch_s"] / row["steady_epoch_s"]
        if "speedup" in by_system["scanfit"]:
            ratios[f"{cell}_steady_speedup_vs_keras_jax"] = by_system["scanfit"]["speedup"]
            spe = by_system["keras-jax-spe100"]
            if "error" not in spe:
                ratios[f"{cell}_steady_speedup_vs_keras_jax_spe100"] = spe["steady_epoch_s"] / by_system["scanfit"]["steady_epoch_s"]
                ratios[f"{cell}_evaluate_speedup_vs_keras_best"] = min(
                    keras_row["evaluate_s"], spe["evaluate_s"]) / by_system["scanfit"]["evaluate_s"]
    report("rnn", rows, ["model", "system", "first_epoch_s", "steady_epoch_s", "compile_s", "first_epoch_cpu_s",
                         "steady_epoch_cpu_s", "speedup", "evaluate_s"],
           {"setting": f"Embedding(500,16)-RNN(8)-Dense(1), Adam, batch 64, {SAMPLES:,} sequences of {MAXLEN}; "
                       f"best of {repeats} interleaved runs", "targets": {"steady_speedup_vs_keras_jax": ">= 2"},
            **ratios})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender")
    parser.add_argument("--repeats", type=int, default=2, help="fresh-process runs of each contender (best kept)")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender)))
    else:
        main(args.repeats)
