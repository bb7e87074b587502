"""Seed 004's CNN: seconds per epoch and compile time, scanfit next to Keras 3 + JAX.

Both systems (Keras by default and at steps_per_execution=100) train the same model code (`build(keras)`), from the same data
(the first N Fashion-MNIST training images), batch 32, Adam, verbose=0. The
first epoch of each includes tracing and compilation; the steady epochs then
alternate between the two systems so that both see the same load on a shared
machine. Compile time is JAX's own record (trace + lowering + XLA compile) of
the programs each system builds. Wall and CPU seconds are both reported: on a
busy machine the CPU seconds are the steadier figure.

    python bench/cnn.py [--samples 12000] [--epochs 3] [--out bench/results/cnn.json]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["SCANFIT_COMPILATION_CACHE"] = "0"  # cold compiles for both systems

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # measure this checkout

import jax  # noqa: E402
import keras  # noqa: E402

import scanfit  # noqa: E402

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


def build(k, steps_per_execution=1):
    """Seed 004's CNN, written once for either `keras` module."""
    model = k.Sequential([
        k.Input(shape=(28, 28, 1)),
        k.layers.Conv2D(32, kernel_size=3, activation="relu", padding="same"),
        k.layers.MaxPooling2D(2),
        k.layers.Conv2D(64, kernel_size=3, activation="relu", padding="same"),
        k.layers.MaxPooling2D(2),
        k.layers.Flatten(),
        k.layers.Dense(100, activation="relu"),
        k.layers.Dropout(0.4),
        k.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    return model


class CompileClock:
    """Sums JAX's compile-duration events while `active`."""

    def __init__(self):
        self.seconds = 0.0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event, duration, **kwargs):
        if self.active and event in COMPILE_EVENTS:
            self.seconds += duration


def timed_epoch(model, x, y, clock=None):
    """(wall seconds, CPU seconds, compile seconds, loss) of one epoch."""
    before = clock.seconds if clock else 0.0
    if clock:
        clock.active = True
    wall, cpu = time.perf_counter(), time.process_time()
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if clock:
        clock.active = False
    return wall, cpu, (clock.seconds - before if clock else 0.0), float(history.history["loss"][-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3, help="steady-state epochs per system")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cnn.json"))
    args = parser.parse_args(argv)

    (x, y), _ = scanfit.datasets.fashion_mnist.load_data()
    x = (x[: args.samples] / 255.0).reshape(-1, 28, 28, 1).astype("float32")
    y = y[: args.samples]

    clock = CompileClock()
    systems = {"scanfit": (scanfit, 1), "keras3+jax": (keras, 1), "keras3+jax spe100": (keras, 100)}
    models, results = {}, {}
    for name, (module, steps_per_execution) in systems.items():
        module.utils.set_random_seed(0)
        models[name] = build(module, steps_per_execution)
        wall, cpu, compile_s, loss = timed_epoch(models[name], x, y, clock)
        results[name] = {"first_epoch_s": wall, "first_epoch_cpu_s": cpu, "compile_s": compile_s,
                         "losses": [loss], "epoch_s": [], "epoch_cpu_s": []}
        print(f"{name}: first epoch {wall:.2f} s (compile {compile_s:.2f} s), loss {loss:.4f}", flush=True)
    for epoch in range(args.epochs):
        for name in systems:
            wall, cpu, _, loss = timed_epoch(models[name], x, y)
            results[name]["epoch_s"].append(wall)
            results[name]["epoch_cpu_s"].append(cpu)
            results[name]["losses"].append(loss)
            print(f"{name}: epoch {epoch + 2}: {wall:.2f} s wall, {cpu:.2f} s CPU, loss {loss:.4f}", flush=True)

    for r in results.values():
        r["steady_epoch_s"] = statistics.median(r["epoch_s"])
        r["steady_epoch_cpu_s"] = statistics.median(r["epoch_cpu_s"])
    ours = results["scanfit"]
    best = min(("keras3+jax", "keras3+jax spe100"), key=lambda name: results[name]["steady_epoch_s"])
    theirs = results[best]
    speedup = {
        "against": best,
        "steady_epoch_wall": theirs["steady_epoch_s"] / ours["steady_epoch_s"],
        "steady_epoch_cpu": theirs["steady_epoch_cpu_s"] / ours["steady_epoch_cpu_s"],
        "first_epoch_wall": theirs["first_epoch_s"] / ours["first_epoch_s"],
    }

    print()
    print(f"Seed 004 CNN, {args.samples} samples per epoch, batch 32, Adam ({jax.default_backend()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    header = f"{'system':<18} {'s/epoch':>8} {'CPU s/epoch':>12} {'first epoch s':>14} {'compile s':>10}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(f"{name:<18} {r['steady_epoch_s']:>8.2f} {r['steady_epoch_cpu_s']:>12.2f} "
              f"{r['first_epoch_s']:>14.2f} {r['compile_s']:>10.2f}")
    print(f"scanfit speed-up over {best} per steady epoch: {speedup['steady_epoch_wall']:.1f}x wall, "
          f"{speedup['steady_epoch_cpu']:.1f}x CPU; first epoch {speedup['first_epoch_wall']:.1f}x")

    report = {
        "benchmark": "seed 004 CNN",
        "samples_per_epoch": args.samples,
        "batch_size": 32,
        "steady_epochs": args.epochs,
        "conv_lowering": scanfit.layers.lowering.default_lowering(),
        "machine": {"backend": jax.default_backend(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_end": os.getloadavg()[0]},
        "versions": {"python": sys.version.split()[0], "jax": jax.__version__, "keras": keras.__version__,
                     "scanfit": scanfit.__version__},
        "results": results,
        "speedup": speedup,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"saved {args.out}")
    return report


if __name__ == "__main__":
    main()
