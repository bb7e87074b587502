"""`keras.utils.PyDataset` (tf.keras 2's `keras.utils.Sequence`): batches made by Python code.

A subclass defines ``__getitem__(index)``, which returns the batch ``index``
as ``(x, y)`` or ``(x, y, sample_weight)`` (or ``x`` alone for `predict`),
and ``__len__``, the number of batches per epoch. `fit`, `evaluate` and
`predict` take it in place of arrays; it sets the batch size, so leave
`batch_size` out. `on_epoch_begin` / `on_epoch_end` run around each epoch
(shuffle there, as Keras's examples do). `fit` with ``shuffle=True`` (its
default) also reads the batches of a dataset of known length in a new order
each epoch, as Keras 3 does (``shuffle=False`` keeps index order).

``workers`` threads call ``__getitem__`` ahead of the training, at most
``max_queue_size`` batches ahead; ``use_multiprocessing=True`` is refused,
since scanfit does not start worker processes.
"""
import itertools


class PyDataset:
    """Base class for a data set whose batches come from ``__getitem__`` (see the module docstring).

    The class attributes are the defaults a subclass gets when its ``__init__`` does not call this one's.
    """

    workers = 1
    use_multiprocessing = False
    max_queue_size = 10
    keeps_batch_order = False  # True where Keras gives a tf.data.Dataset, whose batches fit does not reorder

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size
        self.check_options()

    def check_options(self):
        """Refuse a `workers`, `use_multiprocessing` or `max_queue_size` that scanfit cannot honour (`fit` checks
        again, for attributes set after construction)."""
        for name in ("workers", "max_queue_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PyDataset({name}=...) must be a positive int, got {value!r}")
        if self.use_multiprocessing:
            raise ValueError("PyDataset(use_multiprocessing=True) is not supported: scanfit fetches batches with "
                             "`workers` threads. Leave use_multiprocessing out (threads suit NumPy and Pillow "
                             "code, which release the GIL).")

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


def batches_of(data, steps=None):
    """The batches an `adapt` method reads from `data`: an iterable's items, or a `PyDataset`'s batches by index
    (``len(data)`` of them); the first `steps` of them, or all for None."""
    if isinstance(data, PyDataset) or not hasattr(data, "__iter__"):
        return itertools.islice(map(data.__getitem__, range(len(data))), steps)
    return itertools.islice(data, steps)
