"""TerminateOnNaN: stop training once the loss is NaN or infinite."""
import numpy as np

from scanfit.callbacks.base import Callback
from scanfit.interactive_logging import print_msg


class TerminateOnNaN(Callback):
    """Stop training, naming the epoch and batch where the loss stopped being finite.

    It watches the epoch's ``loss``, so epochs keep running as one program.
    When an epoch's loss is NaN or infinite, the engine replays that epoch
    one step at a time from its recorded start (same data order, same random
    keys) to find the first batch whose running loss is not finite, then the
    callback prints ``Epoch E, batch B: Invalid loss, terminating training``
    and sets ``model.stop_training`` (or raises RuntimeError with
    ``raise_error=True``, skipping the other callbacks' ``on_train_end`` as
    Keras does). Unlike Keras, the rest of that epoch has already run; the
    weights are left as the epoch ended. ``self.nan_epoch`` and
    ``self.nan_batch`` hold where it happened.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error
        self.nan_epoch = None
        self.nan_batch = None

    def on_train_begin(self, logs=None):
        self.nan_epoch = self.nan_batch = None
        trainer = self.model.trainer
        if trainer is not None:
            trainer.record_epoch_start = True

    def on_train_end(self, logs=None):
        trainer = self.model.trainer
        if trainer is not None:
            trainer.record_epoch_start = False
            trainer.epoch_start = None

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        trainer = self.model.trainer
        batch = trainer.first_nonfinite_batch() if trainer is not None and trainer.epoch_start is not None else None
        self.nan_epoch, self.nan_batch = epoch, batch
        where = f"Epoch {epoch + 1}" + ("" if batch is None else f", batch {batch}")
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at {where.lower()}. Loss value: {loss}. "
                               "Terminating training immediately.")
        print_msg(f"{where}: Invalid loss, terminating training")
        self.model.stop_training = True
