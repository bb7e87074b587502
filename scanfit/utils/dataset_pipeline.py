"""tf.data's `map`, `cache`, `prefetch` and `take` on the datasets scanfit returns where Keras returns a
`tf.data.Dataset` (the folder datasets), so that Chollet's chapter 11 pipelines run as written:

    text_only_train_ds = train_ds.map(lambda x, y: x)
    text_vectorization.adapt(text_only_train_ds)
    binary_1gram_train_ds = train_ds.map(lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    model.fit(binary_1gram_train_ds.cache(), validation_data=binary_1gram_val_ds.cache(), epochs=10)

Each is a `PyDataset` of the same batches: `map` calls its function on every batch (a tuple's parts as
separate arguments, as tf.data does), on `num_parallel_calls` worker threads in `fit`; `cache` keeps each batch
the first time it is read and replays it afterwards (so a shuffled dataset keeps its first order, as in
tf.data); `prefetch(n)` lets `fit` fetch up to `n` batches ahead; `take(n)` keeps the first `n` batches.
"""
import numbers

from scanfit.utils.py_dataset import PyDataset

AUTOTUNE = -1  # tf.data.AUTOTUNE: scanfit's defaults


class Pipeline(PyDataset):
    """A `PyDataset` with tf.data's `map`, `cache`, `prefetch` and `take`."""

    keeps_batch_order = True  # a tf.data.Dataset in Keras, whose batches fit(shuffle=True) leaves in order

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """The dataset of `map_func` applied to each batch, run on `num_parallel_calls` threads in `fit`."""
        if not callable(map_func):
            raise TypeError(f"map() takes a function of a batch, got {map_func!r}.")
        workers = self.workers if num_parallel_calls in (None, AUTOTUNE) else _count("num_parallel_calls",
                                                                                  num_parallel_calls)
        return _Mapped(self, map_func, workers)

    def cache(self, filename="", name=None):
        """The dataset that keeps each batch the first time it is read (in memory) and replays it afterwards."""
        if filename:
            raise ValueError(f"cache(filename={filename!r}) is not supported: scanfit caches batches in memory. "
                             "Call cache() without a filename.")
        return _Cached(self)

    def prefetch(self, buffer_size, name=None):
        """The same batches, `fit` fetching up to `buffer_size` of them ahead (AUTOTUNE: scanfit's default)."""
        queue = self.max_queue_size if buffer_size == AUTOTUNE else _count("buffer_size", buffer_size)
        return _View(self, self.workers, queue)

    def take(self, count, name=None):
        """The first `count` batches (all of them for -1)."""
        return _Taken(self, len(self) if count == -1 else _count("count", count))


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int (or tf.data.AUTOTUNE, -1), got {value!r}.")
    return int(value)


class _View(Pipeline):
    """The batches of `source`, fetched with `workers` threads, `max_queue_size` ahead."""

    def __init__(self, source, workers, max_queue_size):
        super().__init__(workers=workers, max_queue_size=max_queue_size)
        self.source = source

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        return self.source[index]

    def on_epoch_begin(self):
        self.source.on_epoch_begin()

    def on_epoch_end(self):
        self.source.on_epoch_end()


class _Mapped(_View):
    def __init__(self, source, function, workers):
        super().__init__(source, workers, source.max_queue_size)
        self.function = function

    def __getitem__(self, index):
        batch = self.source[index]
        return self.function(*batch) if isinstance(batch, tuple) else self.function(batch)


class _Cached(_View):
    def __init__(self, source):
        super().__init__(source, source.workers, source.max_queue_size)
        self.batches = {}

    def __getitem__(self, index):
        index = index % len(self) if -len(self) <= index < len(self) else index
        if index not in self.batches:
            self.batches[index] = self.source[index]
        return self.batches[index]

    def on_epoch_end(self):
        """Nothing: the cached batches replay in their first order, as tf.data's cache does."""


class _Taken(_View):
    def __init__(self, source, count):
        super().__init__(source, source.workers, source.max_queue_size)
        self.count = min(count, len(source))

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if not -self.count <= index < self.count:
            raise IndexError(f"batch index {index} out of range for {self.count} batches")
        return self.source[index % self.count]
