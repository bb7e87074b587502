#!/usr/bin/env bash
# Install everything scanfit, its tests and its main job need, on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Debian packages, each installed only when missing: the data set, Graphviz for keras.utils.plot_model, g++.
DEBIAN_PACKAGES=""
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || DEBIAN_PACKAGES="$DEBIAN_PACKAGES dataset-fashion-mnist"
command -v dot >/dev/null 2>&1 || DEBIAN_PACKAGES="$DEBIAN_PACKAGES graphviz"
# A C++ compiler builds scanfit's native CPU recurrent kernels on first use (scanfit/native).
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || DEBIAN_PACKAGES="$DEBIAN_PACKAGES g++"
if [ -n "$DEBIAN_PACKAGES" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $DEBIAN_PACKAGES
fi

"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[test]"
