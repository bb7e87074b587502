"""Shared benchmark plumbing: run each contender in a fresh process, print a table, write JSON.

Each contender is a function in a bench script, run as
``python bench/<script>.py --contender NAME`` in its own process (so no
compile cache or warm state carries over) and printing one JSON line of
timings. Results are measured side by side in one run and reported as
ratios, since the machines are shared and noisy.
"""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    """This process's resident memory in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakMemory:
    """The highest resident memory seen while it runs, sampled every millisecond."""

    def __init__(self):
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def time_epochs(train_one_epoch, epochs):
    """(wall seconds, process CPU seconds) for each call of `train_one_epoch()` (which must block)."""
    times = []
    for _ in range(epochs):
        start, start_cpu = time.perf_counter(), time.process_time()
        train_one_epoch()
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    return times


def epoch_summary(times):
    """First epoch (compile included), steady epoch (best of the rest), compile estimate; wall and CPU.

    CPU seconds (all threads of the process) are less disturbed by other
    processes on a shared machine than wall seconds, so both are reported.
    """
    wall = [t for t, _ in times]
    cpu = [c for _, c in times]
    steady = min(wall[1:]) if len(wall) > 1 else wall[0]
    steady_cpu = min(cpu[1:]) if len(cpu) > 1 else cpu[0]
    return {"first_epoch_s": wall[0], "steady_epoch_s": steady, "compile_s": max(0.0, wall[0] - steady),
            "first_epoch_cpu_s": cpu[0], "steady_epoch_cpu_s": steady_cpu, "epoch_times_s": wall}


def run_contender(script, name, extra_env=None, timeout=1800):
    """Run one contender in a fresh process; return its JSON result (or an error record)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "SCANFIT_COMPILATION_CACHE": "0", **(extra_env or {})}
    proc = subprocess.run([sys.executable, script, "--contender", name], capture_output=True, text=True,
                          env=env, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]}
    return json.loads(lines[-1])


def best_of(results, keys):
    """One contender's repeated runs as one row: the least value of each of `keys`, the other fields of
    the last good run, and every good run under ``"runs"``; the last error record when none succeeded."""
    good = [r for r in results if "error" not in r]
    if not good:
        return results[-1]
    return {**good[-1], **{key: min(r[key] for r in good) for key in keys}, "runs": good}


def ranged_row(contender, results, keys):
    """One contender's repeated runs as a row: the last good run's fields, the least value of each of `keys`
    with its range over the good runs (``<key>_range``), and every run, errors included, under ``"runs"``."""
    good = [r for r in results if "error" not in r]
    row = {"contender": contender, **(good[-1] if good else results[-1]), "runs": results}
    for key in keys:
        if good and key in good[0]:
            row[key] = min(r[key] for r in good)
            row[key + "_range"] = [min(r[key] for r in good), max(r[key] for r in good)]
    return row


def report(name, rows, columns, extra=None):
    """Print `rows` (dicts) as a table of `columns` and save everything to results/<name>.json."""
    widths = [max(len(col), *(len(_fmt(row.get(col))) for row in rows)) for col in columns]
    print("  ".join(col.ljust(w) for col, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(_fmt(row.get(col)).ljust(w) for col, w in zip(columns, widths)))
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
               "rows": rows, **(extra or {})}
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)
    print(f"\nsaved {path}")


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)
