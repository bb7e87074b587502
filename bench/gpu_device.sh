#!/usr/bin/env bash
# On the GPU machine (no package registry): install Keras from the wheels that bench/gpu_wheels.sh fetched
# into bench/wheels/ (carried along, as git ignores it), run bench/gpu.py, and copy its JSON into $OUT (the
# folder the device tool brings back). Arguments go to bench/gpu.py (e.g. --contenders, --workloads, --budget).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -d bench/wheels ]; then
    python -m pip install --quiet --no-index --find-links bench/wheels keras tensorboardX 2>&1 | tail -3
else
    echo "bench/wheels/ is missing: the Keras contenders will fail (run bench/gpu_wheels.sh where a registry is reachable)"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python bench/gpu.py "$@"
status=$?
if [ -n "${OUT:-}" ]; then
    cp bench/results/gpu*.json "$OUT"/ 2>/dev/null || true
fi
exit $status
