"""What training works from: the settings `compile` recorded, and the state carried from step to step.

`CompileSettings` holds a model's compile arguments as given, and the
layers' trainable flags as they were at compile (what the optimizer may
change until the next compile). `TrainState` is what every run of training
steps takes and returns (a JAX pytree): the
trainable weights and the non-trainable state (one ``{short_name: array}``
dict per weight layer each), the optimizer state, the epoch's random key
and the running sums of loss and metrics. `EpochPosition` marks a point
inside an epoch, which `BackupAndRestore` saves and resumes from.
"""
from typing import Any, NamedTuple


class CompileSettings(NamedTuple):
    """``model.compile(...)``'s loss, loss weights and metrics as given, and ``{id(layer): bool}`` for the
    model's weight layers: whether each was trainable (with every model around it) at compile."""

    loss: Any
    loss_weights: Any
    metrics: Any
    weighted_metrics: Any
    trainable: dict


class TrainState(NamedTuple):
    """Weights, optimizer state, random key and running sums, as a run of training steps carries them."""

    trainable: Any
    fixed: Any
    opt_state: Any
    rng: Any
    sums: Any


class EpochPosition(NamedTuple):
    """A point inside an epoch: `step` steps done, the carried random key and the running sums; `samples`,
    the samples those steps took, when batches come from Python (whose sizes are not known beforehand)."""

    epoch: int
    step: int
    rng: Any
    sums: Any
    samples: Any = None
