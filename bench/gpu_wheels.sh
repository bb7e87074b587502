#!/usr/bin/env bash
# Download the wheels bench/gpu.py needs on a GPU machine that reaches no package registry, into
# bench/wheels/ (ignored by git; give it to the machine with the checkout, e.g. the device tool's carry).
# There: pip install --no-index --find-links bench/wheels keras tensorboardX
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p wheels
PYTHON=${PYTHON:-python3}
# Pure-Python wheels: any Python 3.
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d wheels \
    keras namex rich markdown-it-py mdurl pygments tensorboardX protobuf absl-py packaging
# optree is compiled: one wheel per Python version the GPU machine may run.
for version in 3.11 3.12 3.13; do
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d wheels \
        --platform manylinux_2_17_x86_64 --python-version "$version" optree typing-extensions
done
ls wheels
