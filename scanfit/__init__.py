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
    dtype_policies,
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
    tree,
    utils,
)
from scanfit.device_scope import device
from scanfit.dtype_policies import FloatDTypePolicy
from scanfit.engine import compilation_cache
from scanfit.initializers import Initializer
from scanfit.layers import Input, InputSpec, KerasTensor, Layer
from scanfit.layers.operation import Operation
from scanfit.losses import Loss
from scanfit.metrics import Metric
from scanfit.mixed_precision import DTypePolicy
from scanfit.models import Model, Sequential
from scanfit.name_scopes import name_scope
from scanfit.optimizers import Optimizer
from scanfit.regularizers import Regularizer
from scanfit.sweep import Sweep
from scanfit.variables import Variable
from scanfit.version import __version__

compilation_cache.enable()


def __getattr__(name):
    """`scanfit.wrappers` is imported on first use, so that importing scanfit never imports scikit-learn."""
    if name == "wrappers":
        import importlib

        return importlib.import_module("scanfit.wrappers")
    raise AttributeError(f"module 'scanfit' has no attribute {name!r}")


__all__ = [
    "DTypePolicy", "FloatDTypePolicy", "Initializer", "Input", "InputSpec", "KerasTensor", "Layer", "Loss", "Metric",
    "Model", "Operation", "Optimizer", "Regularizer", "Sequential", "Sweep", "Variable", "activations", "backend",
    "callbacks", "config", "constraints", "datasets", "device", "distribution", "dtype_policies", "initializers",
    "layers", "losses", "metrics", "mixed_precision", "models", "name_scope", "optimizers", "preprocessing",
    "regularizers", "tree", "utils",
]
