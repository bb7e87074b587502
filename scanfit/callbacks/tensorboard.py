"""TensorBoard: write training curves and weight histograms as TensorBoard event files."""
import os
import time
import warnings

import numpy as np

from scanfit.callbacks.base import TRAIN_BATCH_HOOKS, Callback
from scanfit.distribution import is_chief


class TensorBoard(Callback):
    """Log to ``log_dir`` in Keras's layout, readable by ``tensorboard --logdir log_dir``.

    ``log_dir/train`` gets ``epoch_loss``, ``epoch_<metric>`` and
    ``epoch_learning_rate`` (plus ``epoch_steps_per_second`` with
    `write_steps_per_second`), ``log_dir/validation`` gets the ``val_``
    values under the same tags and ``evaluation_<name>_vs_iterations`` after
    each evaluation; the step is the 0-based epoch. Every `histogram_freq`
    epochs each weight is logged as the histogram ``<model>/<layer>/<weight>/histogram``.
    `update_freq` as an int (or ``'batch'``, meaning 1) also logs
    ``batch_<name>`` running values every that many batches, which runs the
    epoch one step per program. `write_graph`, `write_images`,
    `profile_batch` and the embeddings options are accepted and ignored.
    Event files are written with tensorboardX.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq < 1):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive int, got {update_freq!r}")
        if write_images or profile_batch or embeddings_freq:
            warnings.warn("scanfit's TensorBoard callback ignores write_images, profile_batch and embeddings_freq.",
                          stacklevel=2)
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        if update_freq == "epoch":
            self._ignored_hooks = TRAIN_BATCH_HOOKS
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_start = (0.0, 0)

    def _writer(self, run):
        if run not in self._writers:
            from tensorboardX import SummaryWriter  # imported on first use: only this callback needs it

            self._writers[run] = SummaryWriter(os.path.join(self.log_dir, run),
                                               filename_suffix=f".{os.getpid()}.v2")
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq or not is_chief():
            return
        writer = self._writer("train")
        for name, value in (logs or {}).items():
            writer.add_scalar(f"batch_{name}", float(value), self._global_train_batch)

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "iterations") or not is_chief():
            return
        writer = self._writer("validation")
        for name, value in (logs or {}).items():
            writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), int(optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = (time.time(), int(getattr(self.model.optimizer, "iterations", 0)))

    def on_epoch_end(self, epoch, logs=None):
        if not is_chief():  # one writer in a multi-process run
            return
        logs = logs or {}
        train = {name: value for name, value in logs.items() if not name.startswith("val_")}
        validation = {name[4:]: value for name, value in logs.items() if name.startswith("val_")}
        optimizer = self.model.optimizer
        if hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            started, iterations = self._epoch_start
            train["steps_per_second"] = (int(optimizer.iterations) - iterations) / max(time.time() - started, 1e-9)
        for run, values in (("train", train), ("validation", validation)):
            if values:
                writer = self._writer(run)
                for name, value in values.items():
                    writer.add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for variable in self.model.weights:
                tag = variable.path.replace(":", "_")  # (Keras 3's: the path, "sequential/dense/kernel")
                writer.add_histogram(f"{tag}/histogram", np.asarray(variable.value), epoch)
        for writer in self._writers.values():
            writer.flush()
