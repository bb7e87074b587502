"""scanfit: the Keras API on JAX, one compiled program per epoch.

    import scanfit as keras      # instead of: from tensorflow import keras
"""
from scanfit import (
    activations,
    applications,
    backend,
    callbacks,
    config,
    constraints,
    datasets,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    preprocessing,
    random,
    regularizers,
    utils,
)
from scanfit.engine import compilation_cache
from scanfit.layers import Input
from scanfit.mixed_precision import DTypePolicy
from scanfit.models import Model, Sequential
from scanfit.sweep import Sweep
from scanfit.version import __version__

compilation_cache.enable()


def __getattr__(name):
    """`scanfit.wrappers` is imported on first use, so that importing scanfit never imports scikit-learn."""
    if name == "wrappers":
        import importlib

        return importlib.import_module("scanfit.wrappers")
    raise AttributeError(f"module 'scanfit' has no attribute {name!r}")


__all__ = [
    "DTypePolicy", "Input", "Model", "Sequential", "activations", "backend", "callbacks", "config", "constraints", "datasets",
    "distribution", "initializers", "layers", "losses", "metrics", "mixed_precision", "models", "optimizers", "preprocessing",
    "regularizers", "utils",
]
