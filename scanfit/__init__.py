"""scanfit: the Keras API on JAX, one compiled program per epoch.

    import scanfit as keras      # instead of: from tensorflow import keras
"""
from scanfit import (
    activations,
    callbacks,
    constraints,
    datasets,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
    regularizers,
    utils,
)
from scanfit.engine import compilation_cache
from scanfit.layers import Input
from scanfit.models import Sequential
from scanfit.sweep import Sweep

compilation_cache.enable()

__version__ = "0.1.0"

__all__ = [
    "Input", "Sequential", "activations", "callbacks", "constraints", "datasets", "distribution", "initializers",
    "layers", "losses", "metrics", "models", "optimizers", "preprocessing", "regularizers", "utils",
]
