"""GPU benchmark: scanfit beside Keras 3 (JAX by default and at steps_per_execution=100, torch backend) and
a hand-written PyTorch loop, on one GPU, with no downloads.

Data: the 10,000 real MNIST digits the repository ships (data/mnist-sample), tiled to 48,000 images; the
text model's sequences are made (as bench/rnn.py makes them). Workloads, each trained for a first epoch
(compile included) and two steady epochs:

- ``mlp32`` / ``mlp256``: the seed MLP (Flatten -> Dense(100, relu) -> Dense(10, softmax), RMSprop) at
  batch 32 and 256;
- ``cnn32``: seed 004's CNN (two Conv2D(3x3)+MaxPooling2D, Dense(100), Dropout(0.4), Adam) at batch 32;
- ``cnn256``, ``cnn256-bf16``, ``cnn256-fp16``: the same CNN at batch 256 in float32 and under the
  ``mixed_bfloat16`` and ``mixed_float16`` policies (the last layer in float32, as Keras's guide has it;
  PyTorch: ``torch.autocast`` to the same dtype, with a ``GradScaler`` for float16);
- ``lstm``: Embedding(500, 16) -> LSTM(8) -> Dense(1, sigmoid), 20,000 sequences of 100, batch 64;
- ``sweep64`` (scanfit only): seed 003's optimizer comparison as a 64-run `Sweep` (4 optimizers x 16 seeds,
  2 epochs, batch 128) against 8 of the same runs fitted one after another, scaled by 8.

Each contender runs in a fresh process and reports its steady epoch (the faster of the two), first epoch
and final training accuracy per workload. The table gives each workload's steady epoch per contender and
the ratio of each to scanfit's; bench/results/gpu.json holds everything with the device name and the
library versions. The JSON is written again after each contender, and a contender that would start after
``--budget`` seconds (default 480) is skipped, so one call of at most 10 minutes brings back every figure
measured in it. ``--contenders`` and ``--workloads`` run a part (to finish in a second call).

On a machine with a registry, ``bash bench/gpu_wheels.sh`` fetches the wheels Keras needs into
bench/wheels/ (carry it to the GPU machine); there, ``pip install --no-index --find-links bench/wheels
keras`` installs Keras, and the script runs this checkout's scanfit in place.

    bash bench/gpu_device.sh       # on the GPU machine: installs Keras from bench/wheels, runs the script,
                                   # copies the JSON to $OUT (about 5 minutes)
    python bench/gpu.py            # the script alone
    python bench/gpu.py --quick    # small sizes, to check the script on a CPU (writes results/gpu-quick.json)
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))  # this checkout's scanfit, not an installed one
from common import report  # noqa: E402

CONTENDERS = ("scanfit", "keras-jax", "keras-jax-spe100", "keras-torch", "torch")
RUN_ORDER = ("scanfit", "torch", "keras-jax-spe100", "keras-jax", "keras-torch")  # the most wanted first
WORKLOADS = ("mlp32", "mlp256", "cnn32", "cnn256", "cnn256-bf16", "cnn256-fp16", "lstm", "sweep64")
POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
SIZES = {"full": {"images": 48_000, "sequences": 20_000, "sweep_runs": 64},
         "quick": {"images": 2_000, "sequences": 1_000, "sweep_runs": 8}}
EPOCHS = 3  # a first epoch and two steady ones


def _images(count):
    import numpy as np

    from scanfit.datasets import mnist

    (x, y), _ = mnist.load_data(path=str(ROOT / "data" / "mnist-sample"))
    reps = -(-count // len(x))
    return (np.tile(x, (reps, 1, 1))[:count] / 255.0).astype("float32"), np.tile(y, reps)[:count].astype("int64")


def _sequences(count):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(1, 500, size=(count, 100)).astype("int32")
    return x, (x[:, 5] % 2).astype("float32")


def _timed_epochs(train_epoch):
    times = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        accuracy = train_epoch()
        times.append(time.perf_counter() - start)
    return {"first_epoch_s": times[0], "steady_epoch_s": min(times[1:]), "accuracy": float(accuracy)}


# --- Keras-API contenders (scanfit and Keras on either backend) --------------------------------------------
def _batch_size(workload):
    return 64 if workload == "lstm" else 256 if workload.startswith(("mlp256", "cnn256")) else 32


def _policy(workload):
    """The dtype policy of a workload: 'float32', or the mixed policy its name ends with."""
    return POLICIES.get(workload.rsplit("-", 1)[-1], "float32")


def _keras_model(library, workload, steps_per_execution):
    layers = library.layers
    if workload.startswith("mlp"):
        stack = [layers.Input(shape=(28, 28)), layers.Flatten(), layers.Dense(100, activation="relu"),
                 layers.Dense(10, activation="softmax")]
        optimizer, loss = "rmsprop", "sparse_categorical_crossentropy"
    elif workload.startswith("cnn"):
        last = {"dtype": "float32"} if _policy(workload) != "float32" else {}
        stack = [layers.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu", padding="same"),
                 layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu", padding="same"),
                 layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(100, activation="relu"),
                 layers.Dropout(0.4), layers.Dense(10, activation="softmax", **last)]
        optimizer, loss = "adam", "sparse_categorical_crossentropy"
    else:
        stack = [layers.Input(shape=(100,)), layers.Embedding(500, 16), layers.LSTM(8),
                 layers.Dense(1, activation="sigmoid")]
        optimizer, loss = "adam", "binary_crossentropy"
    model = library.Sequential(stack)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def _keras_workload(library, workload, sizes, steps_per_execution):
    if workload == "lstm":
        x, y = _sequences(sizes["sequences"])
    else:
        x, y = _images(sizes["images"])
        x = x[..., None] if workload.startswith("cnn") else x
    library.mixed_precision.set_global_policy(_policy(workload))
    try:
        model = _keras_model(library, workload, steps_per_execution)
    finally:
        library.mixed_precision.set_global_policy("float32")
    batch = _batch_size(workload)
    return _timed_epochs(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0).history["accuracy"][-1])


def _sweep_workload(library, sizes):
    x, y = _images(sizes["images"])

    def build(optimizer, seed):
        model = library.Sequential([library.layers.Input(shape=(28, 28)), library.layers.Flatten(),
                                    library.layers.Dense(250, activation="relu"),
                                    library.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    optimizers = ["sgd", "rmsprop", "adagrad", "adam"]
    params = [{"optimizer": o, "seed": s} for s in range(sizes["sweep_runs"] // 4) for o in optimizers]
    start = time.perf_counter()
    library.Sweep(build, params).fit(x, y, batch_size=128, epochs=2, verbose=0)
    sweep_s = time.perf_counter() - start
    start = time.perf_counter()
    sample = params[:8]
    for run in sample:
        library.utils.set_random_seed(run["seed"])
        build(**run).fit(x, y, batch_size=128, epochs=2, verbose=0)
    sequential_s = (time.perf_counter() - start) * len(params) / len(sample)
    return {"sweep_s": sweep_s, "sequential_s_scaled": sequential_s, "runs": len(params),
            "sweep_speedup": sequential_s / sweep_s}


# --- the hand-written PyTorch loop -------------------------------------------------------------------------
def _torch_workload(workload, sizes):
    import torch
    from torch import nn

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    if workload == "lstm":
        x, y = (torch.as_tensor(a, device=device) for a in _sequences(sizes["sequences"]))

        class Text(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding, self.lstm, self.out = nn.Embedding(500, 16), nn.LSTM(16, 8, batch_first=True), nn.Linear(8, 1)

            def forward(self, tokens):
                return self.out(self.lstm(self.embedding(tokens))[0][:, -1]).squeeze(-1)

        model, loss_fn = Text().to(device), nn.BCEWithLogitsLoss()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    else:
        x, y = (torch.as_tensor(a, device=device) for a in _images(sizes["images"]))
        if workload.startswith("cnn"):
            x = x[:, None]
            model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(64 * 7 * 7, 100), nn.ReLU(), nn.Dropout(0.4), nn.Linear(100, 10))
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        else:
            model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
            optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        model, loss_fn = model.to(device), nn.CrossEntropyLoss()

    batch = _batch_size(workload)
    policy = _policy(workload)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16 if policy == "mixed_bfloat16" else torch.float16,
                              enabled=policy != "float32")
    scaler = torch.amp.GradScaler(device.type, enabled=policy == "mixed_float16")

    def epoch():
        order = torch.randperm(len(x), device=device)
        correct = torch.zeros((), device=device)
        for start in range(0, len(x), batch):
            rows = order[start:start + batch]
            with autocast:
                output = model(x[rows])
                loss = loss_fn(output.float(), y[rows])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            with torch.no_grad():
                hits = (output > 0).float() == y[rows] if workload == "lstm" else output.argmax(-1) == y[rows]
                correct += hits.sum()
        return float(correct) / len(x)

    return _timed_epochs(epoch)


def contender(name, size, workloads):
    sizes = SIZES[size]
    results = {}
    if name == "torch":
        import torch

        results["versions"] = {"torch": torch.__version__}
        results["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
        run = lambda workload: _torch_workload(workload, sizes)  # noqa: E731
    else:
        if name == "scanfit":
            import scanfit as library
        else:
            import keras as library
        results["versions"] = {library.__name__: library.__version__}
        results["device"] = _device()
        spe = 100 if name.endswith("spe100") else 1
        run = lambda workload: _keras_workload(library, workload, sizes, spe)  # noqa: E731
    for workload in workloads:
        if workload == "sweep64" and name != "scanfit":
            continue
        try:
            results[workload] = _sweep_workload(library, sizes) if workload == "sweep64" else run(workload)
        except Exception as error:  # noqa: BLE001 - one failed workload is a row's error, not the run's end
            results[workload] = {"error": f"{type(error).__name__}: {error}"[:300]}
        print(f"{name} {workload}: {results[workload]}", file=sys.stderr, flush=True)
    return results


def _run(name, size, workloads, seconds_left):
    backend = "torch" if name == "keras-torch" else "jax"
    env = {**os.environ, "KERAS_BACKEND": backend, "SCANFIT_COMPILATION_CACHE": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, __file__, "--contender", name, "--size", size, "--workloads", ",".join(workloads)]
    try:
        process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds_left)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {seconds_left:.0f} s, at the end of the time budget"}
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        return {"error": ((process.stderr or process.stdout).strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def _device():
    """The device JAX computes on, in a contender's process (this one never starts JAX, which would take
    most of the GPU's memory from the contenders)."""
    import jax

    device = jax.devices()[0]
    return {"platform": device.platform, "device": getattr(device, "device_kind", str(device)), "jax": jax.__version__}


def _rows(results, workloads):
    """The table: each workload's steady epoch per contender and its ratio to scanfit's; the sweep's row last."""
    rows = []
    for workload in (w for w in workloads if w != "sweep64"):
        ours = results.get("scanfit", {}).get(workload, {}).get("steady_epoch_s")
        row = {"workload": workload}
        for name in CONTENDERS:
            outcome = results.get(name, {"error": "not run"})
            entry = outcome.get(workload, outcome if "error" in outcome else {})
            steady = entry.get("steady_epoch_s")
            row[name] = steady if steady is not None else entry.get("error", "-")
            if steady and ours:
                row[f"{name}/scanfit"] = steady / ours
        rows.append(row)
    if "sweep64" in workloads:
        sweep = results.get("scanfit", {}).get("sweep64", {})
        rows.append({"workload": "sweep64", "scanfit": sweep.get("sweep_s"), "scanfit sequential (scaled)":
                     sweep.get("sequential_s_scaled"), "speedup": sweep.get("sweep_speedup")})
    return rows


def main(size, contenders, workloads, budget):
    started = time.perf_counter()
    columns = ["workload", *CONTENDERS, *(f"{name}/scanfit" for name in CONTENDERS[1:]), "scanfit sequential (scaled)",
               "speedup"]
    targets = {"mlp32 keras-jax/scanfit": ">= 10", "mlp32 keras-jax-spe100/scanfit": ">= 3",
               "cnn32 fastest keras/scanfit": ">= 3", "torch/scanfit": "> 1 everywhere", "sweep64 speedup": ">= 20"}
    results = {}
    for name in (n for n in RUN_ORDER if n in contenders):
        seconds_left = budget - (time.perf_counter() - started)
        results[name] = (_run(name, size, workloads, seconds_left) if seconds_left > 10 else
                         {"error": f"skipped: the {budget:.0f} s budget was spent"})
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
        done = len(results) == len(contenders)
        report("gpu" if size == "full" else f"gpu-{size}", _rows(results, workloads), columns,
               {"size": size, "device": results.get("scanfit", {}).get("device"), "seconds": time.perf_counter() - started, "complete": done,
                "workloads": list(workloads), "contenders": results, "targets": targets})


def _choice(text, known, what):
    chosen = tuple(text.split(",")) if text else known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; choose from {list(known)}")
    return chosen


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", help="run one contender in this process and print its JSON line")
    parser.add_argument("--contenders", help=f"comma-separated, from {','.join(CONTENDERS)} (default: all)")
    parser.add_argument("--workloads", help=f"comma-separated, from {','.join(WORKLOADS)} (default: all)")
    parser.add_argument("--budget", type=float, default=480.0,
                        help="seconds after which no contender starts and a running one is stopped (default 480)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--quick", action="store_true", help="small sizes (same as --size quick)")
    args = parser.parse_args()
    size = "quick" if args.quick else args.size
    workloads = _choice(args.workloads, WORKLOADS, "workloads")
    if args.contender:
        print(json.dumps(contender(args.contender, size, workloads)))
    else:
        main(size, _choice(args.contenders, CONTENDERS, "contenders"), workloads, args.budget)
