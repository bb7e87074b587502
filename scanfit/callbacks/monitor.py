"""Shared logic of callbacks that watch one quantity of the logs for improvement."""
import warnings

import numpy as np

from scanfit import metrics as metrics_module
from scanfit.callbacks.base import Callback

# Metric classes whose larger values are better (Keras marks them ``_direction = "up"``).
_HIGHER_IS_BETTER = (
    metrics_module.Accuracy,
    metrics_module.BinaryAccuracy,
    metrics_module.CategoricalAccuracy,
    metrics_module.SparseCategoricalAccuracy,
    metrics_module.TopKCategoricalAccuracy,
    metrics_module.SparseTopKCategoricalAccuracy,
    metrics_module.CosineSimilarity,
)


class MonitorCallback(Callback):
    """Base of EarlyStopping, ModelCheckpoint and ReduceLROnPlateau.

    ``mode='auto'`` minimizes ``loss``/``val_loss`` and, for a metric given to
    ``compile``, follows its direction (accuracies up, errors down), as Keras 3
    does; anything else needs ``mode='min'`` or ``mode='max'``.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = np.less
        elif self.mode == "max":
            self.monitor_op = np.greater
        else:
            self.monitor_op = self._auto_monitor_op()
        if self.monitor_op is np.less:
            self.min_delta = -self.min_delta

    def _auto_monitor_op(self):
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return np.less
        trainer = self.model.trainer
        for metric in getattr(trainer, "metrics", []):
            if metric.name == name:
                direction = getattr(metric, "_direction", None)
                if direction is None:
                    direction = "up" if isinstance(metric, _HIGHER_IS_BETTER) else "down"
                return np.greater if direction == "up" else np.less
        raise ValueError(
            f"{type(self).__name__} callback received monitor={self.monitor}, but scanfit can't tell whether "
            "that metric should be maximized or minimized. Pass `mode='max'` in order to monitor based on the "
            "highest metric value, or pass `mode='min'` in order to use the lowest value."
        )

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))
