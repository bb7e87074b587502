"""`keras.utils.PyDataset` (tf.keras 2's `keras.utils.Sequence`): batches made by Python code.

A subclass defines ``__getitem__(index)``, which returns the batch ``index``
as ``(x, y)`` or ``(x, y, sample_weight)`` (or ``x`` alone for `predict`),
and ``__len__``, the number of batches per epoch. `fit`, `evaluate` and
`predict` take it in place of arrays; it sets the batch size, so leave
`batch_size` out. `on_epoch_begin` / `on_epoch_end` run around each epoch
(shuffle there, as Keras's examples do).

``workers`` threads call ``__getitem__`` ahead of the training, at most
``max_queue_size`` batches ahead; ``use_multiprocessing=True`` is refused,
since scanfit does not start worker processes.
"""


class PyDataset:
    """Base class for a data set whose batches come from ``__getitem__`` (see the module docstring)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PyDataset({name}=...) must be a positive int, got {value!r}")
        if use_multiprocessing:
            raise ValueError("PyDataset(use_multiprocessing=True) is not supported: scanfit fetches batches with "
                             "`workers` threads. Leave use_multiprocessing out (threads suit NumPy and Pillow "
                             "code, which release the GIL).")
        self._workers = workers
        self._use_multiprocessing = False
        self._max_queue_size = max_queue_size

    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(self, index), returning batch "
                                  "`index` as (x, y) or (x, y, sample_weight).")

    @property
    def num_batches(self):
        """The number of batches per epoch: ``len(self)``, or None when the class defines no ``__len__``."""
        if type(self).__len__ is PyDataset.__len__:
            return None
        return len(self)

    def __len__(self):
        raise TypeError(f"{type(self).__name__} defines no __len__: give fit(steps_per_epoch=...) to say how "
                        "many batches make an epoch.")

    def on_epoch_begin(self):
        """Called before each epoch's first batch is fetched."""

    def on_epoch_end(self):
        """Called after each epoch's last batch (shuffle the data here)."""


Sequence = PyDataset
