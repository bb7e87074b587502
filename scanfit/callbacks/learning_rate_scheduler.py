"""LearningRateScheduler: set the learning rate from a function of the epoch."""
import numpy as np

from scanfit.callbacks.base import Callback
from scanfit.interactive_logging import print_msg


class LearningRateScheduler(Callback):
    """Before each epoch, set the learning rate to ``schedule(epoch, lr)``.

    `epoch` is 0-based and `lr` is the current rate; a one-argument
    ``schedule(epoch)`` (the old form) works too. The schedule must return a
    float (a NumPy/JAX scalar of a float type is accepted). Adds
    ``learning_rate`` to each epoch's logs (the History records it as ``lr`` too).
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # the one-argument form, as Keras allows
            learning_rate = self.schedule(epoch)
        optimizer.learning_rate = _as_float(learning_rate)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def _as_float(value):
    if isinstance(value, float) or (np.ndim(value) == 0 and np.asarray(value).dtype.kind == "f"):
        return float(value)
    raise ValueError(f"The output of the `schedule` function should be a float. Got: {value!r}")
