"""Run every benchmark in `bench/`, one after another, each in its own process (`make bench`).

Each script prints its table and writes its JSON file in bench/results/.
    python bench/run.py [name ...]    # e.g. python bench/run.py mlp cnn
"""
import subprocess
import sys
from pathlib import Path

BENCHMARKS = ("mlp", "cnn", "functional", "sweep", "rnn", "scale", "latency", "weights_memory")


def main(names):
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    failed = []
    for name in names or BENCHMARKS:
        print(f"== bench/{name}.py", flush=True)
        if subprocess.run([sys.executable, str(Path(__file__).parent / f"{name}.py")]).returncode:
            failed.append(name)
    if failed:
        raise SystemExit(f"failed: {failed}")


if __name__ == "__main__":
    main(sys.argv[1:])
