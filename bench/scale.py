"""Data at scale: 600,000 uint8 images of 28x28, the seed MLP at batch 256, scanfit beside Keras 3 + JAX.

Each contender runs in a fresh process, all on the same data (Fashion-MNIST's 60,000 training images
tiled ten times, 0.44 GiB of uint8):

- ``repeat``: three calls of ``fit(x, y, batch_size=256, epochs=1)`` on the uint8 arrays; seconds of the
  later calls (the first compiles) and the peak resident memory over the process's baseline (the data
  already loaded), as a multiple of the data set's size.
- ``pydataset``: the same batches from one `PyDataset` class (each library's own base class), two
  epochs; the second is timed. ``pydataset:32`` is the same at the seeds' batch size of 32.
- ``memmap`` (scanfit only): the images in a ``.npy`` memmap with `keras.config.set_device_data_limit`
  at a quarter of the data set, so the epoch streams from the file, against the in-memory epoch.

    python bench/scale.py [--repeats 2]   # prints the table, writes bench/results/scale.json
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, ranged_row, report, rss, run_contender  # noqa: E402

TILES = int(os.environ.get("BENCH_SCALE_TILES", 10))  # a smaller value makes a quick check of the script
BATCH = 256
def _data():
    import numpy as np

    import scanfit

    (x, y), _ = scanfit.datasets.fashion_mnist.load_data()
    return np.tile(x, (TILES, 1, 1)), np.tile(y, TILES).astype("int64")


def _library(name):
    if name.startswith("scanfit"):
        import scanfit as library
    else:
        import keras as library
    return library


def _model(library):
    model = library.Sequential([
        library.layers.Input(shape=(28, 28)),
        library.layers.Flatten(),
        library.layers.Lambda(lambda t: t / 255.0),
        library.layers.Dense(100, activation="relu"),
        library.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _timed(call):
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def contender(name):
    system, workload, *batch = name.split(":")
    batch = int(batch[0]) if batch else BATCH
    library = _library(system)
    x, y = _data()
    size = x.nbytes
    model = _model(library)
    if workload == "repeat":
        baseline = rss()
        with PeakMemory() as memory:
            calls = [_timed(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0))[0] for _ in range(3)]
        return {"first_call_s": calls[0], "repeat_call_s": min(calls[1:]), "calls_s": calls,
                "peak_over_baseline_gib": (memory.peak - baseline) / 2**30,
                "peak_over_data": (memory.peak - baseline) / size, "data_gib": size / 2**30}
    if workload == "pydataset":
        class Batches(library.utils.PyDataset):
            def __len__(self):
                return -(-len(x) // batch)

            def __getitem__(self, index):
                return x[index * batch:(index + 1) * batch], y[index * batch:(index + 1) * batch]

        epochs = [_timed(lambda: model.fit(Batches(), epochs=1, verbose=0))[0] for _ in range(2)]
        return {"first_epoch_s": epochs[0], "epoch_s": epochs[1]}
    if workload == "memmap":
        import numpy as np

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "x.npy")
            np.save(path, x)
            stored = np.load(path, mmap_mode="r")
            in_memory = [_timed(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0))[0] for _ in range(2)]
            library.config.set_device_data_limit(size // 4)
            baseline = rss()
            with PeakMemory() as memory:
                streamed = [_timed(lambda: model.fit(stored, y, batch_size=batch, epochs=1, verbose=0))[0]
                            for _ in range(2)]
        return {"in_memory_epoch_s": in_memory[1], "memmap_epoch_s": streamed[1],
                "memmap_over_in_memory": streamed[1] / in_memory[1],
                "memmap_peak_over_baseline_gib": (memory.peak - baseline) / 2**30}
    raise ValueError(f"unknown contender {name!r}")


CONTENDERS = ("scanfit:repeat", "keras-jax:repeat", "scanfit:pydataset", "keras-jax:pydataset", "scanfit:pydataset:32",
              "keras-jax:pydataset:32", "scanfit:memmap")


def main(repeats):
    runs = {name: [] for name in CONTENDERS}
    for _ in range(repeats):  # interleaved, so a slow spell of the shared machine hits all alike
        for name in CONTENDERS:
            runs[name].append(run_contender(__file__, name, timeout=1200))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    keys = ("repeat_call_s", "epoch_s", "memmap_epoch_s", "memmap_over_in_memory", "peak_over_data")
    rows = [ranged_row(name, results, keys) for name, results in runs.items()]
    by_name = {row["contender"]: row for row in rows}
    ratios = {}
    try:
        ratios["repeat_call_keras_over_scanfit"] = (by_name["keras-jax:repeat"]["repeat_call_s"]
                                                    / by_name["scanfit:repeat"]["repeat_call_s"])
        ratios["pydataset_epoch_keras_over_scanfit"] = (by_name["keras-jax:pydataset"]["epoch_s"]
                                                        / by_name["scanfit:pydataset"]["epoch_s"])
        ratios["pydataset_batch32_epoch_keras_over_scanfit"] = (by_name["keras-jax:pydataset:32"]["epoch_s"]
                                                                / by_name["scanfit:pydataset:32"]["epoch_s"])
    except KeyError:
        pass
    report("scale", rows, ["contender", "first_call_s", "repeat_call_s", "peak_over_data", "peak_over_baseline_gib",
                           "epoch_s", "in_memory_epoch_s", "memmap_epoch_s", "memmap_over_in_memory"],
           {"setting": f"seed MLP (scaled by 1/255 in a Lambda layer), RMSprop, batch {BATCH}, 600,000 uint8 images; "
                       f"best of {repeats} interleaved fresh-process runs",
            "targets": {"peak_over_data": "<= 2.5", "repeat_call_keras_over_scanfit": ">= 1",
                        "pydataset_epoch_keras_over_scanfit": ">= 1.5", "memmap_over_in_memory": "<= 1.3"},
            **ratios})
    print(json.dumps(ratios, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved fresh-process runs of each contender")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender)))
    else:
        main(args.repeats)
