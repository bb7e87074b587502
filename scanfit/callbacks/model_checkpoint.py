"""ModelCheckpoint: save the model or its weights during training."""
import os
import warnings

import numpy as np

from scanfit.callbacks.base import TRAIN_BATCH_HOOKS
from scanfit.callbacks.monitor import MonitorCallback
from scanfit.distribution import is_chief
from scanfit.interactive_logging import print_msg
from scanfit.saving import files

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5")


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) after epochs or batches.

    `filepath` may hold format fields filled from the logs and the 1-based
    epoch (and batch, with an integer `save_freq`), e.g.
    ``"./model/{epoch:02d}-{val_loss:.4f}.keras"``; its folder is created when
    missing. Whole models go to ``.keras``, ``.h5`` or ``.hdf5`` files,
    weights to ``.weights.h5`` (or the tf.keras 2 names ``.h5``/``.hdf5``).
    With `save_best_only`, a file is written only when `monitor` improved on
    the best value so far (which starts at `initial_value_threshold`). Every
    write is atomic. An integer `save_freq` saves every that many batches and
    runs the epoch one step per program.

    A folder of `filepath` that cannot be created because a regular file
    stands in its place is a NotADirectoryError naming both and what to do.
    ``on_train_begin`` checks the part of the folder that has no format
    fields, so such a run stops before its first epoch instead of after it:
    Keras 3 raises the same error type, but only at the first save, once an
    epoch of training is done (and names only the path). A folder that
    depends on the epoch or the logs can only be checked at each save, which
    raises the same error.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a positive integer.")
        if save_freq == "epoch":
            self._ignored_hooks = TRAIN_BATCH_HOOKS
        suffixes = WEIGHTS_SUFFIXES if save_weights_only else MODEL_SUFFIXES
        if not self.filepath.endswith(suffixes):
            what = "weights (save_weights_only=True)" if save_weights_only else "a whole model"
            raise ValueError(f"ModelCheckpoint filepath for {what} must end in one of {', '.join(suffixes)}. "
                             f"Received: filepath={self.filepath}")

    def on_train_begin(self, logs=None):
        if is_chief():  # only the chief writes (see _save)
            files.check_folder_can_be_made(self.filepath, "ModelCheckpoint", _fixed_folder(self.filepath))

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1  # a new epoch
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath) or not is_chief():  # one writer in a multi-process run
            return
        files.check_folder_can_be_made(filepath, "ModelCheckpoint")  # then model.save creates the folder
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"Please specify a non-directory filepath for ModelCheckpoint. "
                                    f"Filepath used is an existing directory: {filepath}")
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if np.ndim(current) > 0:
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. Received: {current}. "
                          "Falling back to `save_best_only=False`.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                          f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _file_path(self, epoch, batch, logs):
        fields = dict(logs, epoch=epoch + 1)
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}. '
                           f"Available fields: {sorted(fields)}") from None

    def backup_state(self):
        return {"best": self.best, "batches_seen_since_last_saving": self._batches_seen_since_last_saving,
                "last_batch_seen": self._last_batch_seen}

    def restore_backup_state(self, state):
        self.best = state["best"]
        self._batches_seen_since_last_saving = state["batches_seen_since_last_saving"]
        self._last_batch_seen = state["last_batch_seen"]


def _fixed_folder(filepath):
    """The leading folders of `filepath` that hold no format field (all of its folder when it has none)."""
    folder = os.path.dirname(filepath)
    field = folder.find("{")
    if field < 0:
        return folder
    separators = [sep for sep in (os.sep, os.altsep) if sep]
    cut = max(folder.rfind(sep, 0, field) for sep in separators)
    return folder[:cut] if cut > 0 else (folder[:1] if cut == 0 else "")
