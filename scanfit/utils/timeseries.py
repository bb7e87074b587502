"""`keras.utils.timeseries_dataset_from_array`: sliding windows over a time series as a `PyDataset` of batches
(Chollet's temperature-forecasting chapter feeds `fit` with it).

Window ``i`` starts at ``start_index + positions[i]`` and takes
`sequence_length` timesteps `sampling_rate` apart; its target is the target at
its start. The windows are cut when a batch is asked for, so the series is
held once, not once per window. With ``shuffle=True`` the windows come in an
order drawn once from `seed`, each once per epoch (Keras's tf.data form also
shuffles within a buffer at every pass, an order scanfit cannot reproduce).
"""
import math

import numpy as np

from scanfit.utils.py_dataset import PyDataset


class TimeseriesDataset(PyDataset):
    """Batches ``(windows, targets)`` (or ``windows`` alone) of a series: see the module docstring."""

    keeps_batch_order = True  # a tf.data.Dataset in Keras, whose batches fit(shuffle=True) leaves in order

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size):
        super().__init__()
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(sequence_length) * sampling_rate
        self.batch_size = batch_size

    def __len__(self):
        return math.ceil(len(self.starts) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        starts = self.starts[index * self.batch_size:(index + 1) * self.batch_size]
        windows = self.data[starts[:, None] + self.offsets]
        return windows if self.targets is None else (windows, self.targets[starts])


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                                  shuffle=False, seed=None, start_index=None, end_index=None):
    """Windows of `data` (an array whose first axis is time) and their `targets` (or None), as Keras 3 makes
    them, in batches of `batch_size`: see the module docstring."""
    data = np.asarray(data)
    length = len(data)
    for name, value in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                        ("sampling_rate", sampling_rate), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"timeseries_dataset_from_array: {name} must be a positive int, got {value!r}."
                             + (" (scanfit needs batches: give batch_size=1 for single windows)"
                                if name == "batch_size" and value is None else ""))
    for name, value in (("sequence_stride", sequence_stride), ("sampling_rate", sampling_rate)):
        if value >= length:
            raise ValueError(f"timeseries_dataset_from_array: {name}={value} must be lower than the length of the "
                             f"data ({length}).")
    start = 0 if start_index is None else int(start_index)
    end = length if end_index is None else int(end_index)
    if not 0 <= start < length:
        raise ValueError(f"timeseries_dataset_from_array: start_index={start_index} must be in [0, {length}).")
    if end_index is not None and not start < end < length:
        raise ValueError(f"timeseries_dataset_from_array: end_index={end_index} must be above start_index ({start}) "
                         f"and below the length of the data ({length}).")
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets) - start)
    if count <= 0:
        raise ValueError(f"timeseries_dataset_from_array: no window of {sequence_length} steps {sampling_rate} apart "
                         f"fits between start_index {start} and end_index {end}.")
    positions = np.arange(0, count, sequence_stride)
    if shuffle:
        np.random.RandomState(np.random.randint(1e6) if seed is None else seed).shuffle(positions)
    return TimeseriesDataset(data, targets, start + positions, sequence_length, sampling_rate, batch_size)
