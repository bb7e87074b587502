"""The state that training carries from step to step, with named fields (a JAX pytree).

`TrainState` is what every run of training steps takes and returns: the
trainable weights and the non-trainable state (one ``{short_name: array}``
dict per weight layer each), the optimizer state, the epoch's random key
and the running sums of loss and metrics. `EpochPosition` marks a point
inside an epoch, which `BackupAndRestore` saves and resumes from.
"""
from typing import Any, NamedTuple


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
