"""scanfit: the Keras API on JAX, one compiled program per epoch.

    import scanfit as keras      # instead of: from tensorflow import keras
"""
from scanfit import (
    activations,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from scanfit.layers import Input
from scanfit.models import Sequential

__version__ = "0.1.0"

__all__ = [
    "Input", "Sequential", "activations", "callbacks", "constraints", "datasets", "initializers",
    "layers", "losses", "metrics", "models", "optimizers", "regularizers", "utils",
]
