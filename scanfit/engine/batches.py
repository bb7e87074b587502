"""Batches from Python: a generator, a `keras.utils.PyDataset`, or any iterable of batches.

Each batch is ``(x, y)``, ``(x, y, sample_weight)`` or ``x`` alone (for
`predict`), with x and y as `fit` takes them. A background thread takes batches from the source (a `PyDataset`'s
``workers`` threads fetch them, at most ``max_queue_size`` ahead), checks
and converts each as `fit` checks arrays, stacks runs of them into *groups*
and puts each group on the device, while the device trains on the group
before. Every group runs as one compiled multi-step program, the steps of
an epoch keyed by their place in it, so batches equal to those an array
would give (``shuffle=False``) train to the same weights.

Passes: a `PyDataset` serves ``len(dataset)`` batches per pass (index 0,
1, ...), an iterable starts a new pass with ``iter(source)``, and a
generator (an iterator) is one pass that ends when it is exhausted. As for
arrays, ``steps_per_epoch`` takes that many batches and the next epoch goes
on through the same pass; without it an epoch is the rest of the pass.

Arrays that stay on the host (`should_stream`: memmaps, data over
`keras.config.device_data_limit`) go the same way: `ArraySource` gathers
the batches of the epoch's permutation from `HostArrays`, already checked.
"""
import collections
import concurrent.futures
import queue
import threading

import jax
import numpy as np

from scanfit import config, distribution
from scanfit.engine.data import as_sample_weights, check_inputs, data_shapes
from scanfit.engine.staging import is_file_backed
from scanfit.utils.py_dataset import PyDataset

GROUP_BYTES = 64 << 20  # a group of batches holds about this much data at most
GROUP_STEPS = 64  # and at most this many steps


def is_batch_source(value):
    """Whether `value` is a source of batches rather than array data."""
    if isinstance(value, PyDataset):
        return True
    if value is None or isinstance(value, (np.ndarray, list, tuple, dict, str, bytes)) \
            or hasattr(value, "__array__") or hasattr(value, "shape"):
        return False
    return hasattr(value, "__iter__") or hasattr(value, "__next__")


def should_stream(x):
    """Whether input arrays `x` stay on the host and stream: a memmap, or more bytes than `device_data_limit`."""
    leaves = jax.tree.leaves(x)
    limit = config.device_data_limit()
    return any(is_file_backed(leaf) for leaf in leaves) or (
        limit is not None and sum(leaf.nbytes for leaf in leaves) > limit)


class HostArrays:
    """Checked arrays ``(x, y, sample_weight)`` (or ``(x,)``) that stay on the host and stream in groups."""

    def __init__(self, arrays):
        self.arrays = arrays


class ArraySource:
    """The batches of `HostArrays` in `order` (an epoch's permutation, or the part of it to run), gathered on
    the host batch by batch; all the rows in turn without an order."""

    what = "x"

    def __init__(self, host, batch_size, order=None):
        self.arrays = host.arrays
        self.batch_size = batch_size
        self.order = order
        self.steps_read = 0

    def raw_batches(self, steps):
        num_samples = len(jax.tree.leaves(self.arrays)[0]) if self.order is None else len(self.order)
        for index, start in enumerate(range(0, num_samples, self.batch_size)):
            if steps is not None and index >= steps:
                return
            end = min(start + self.batch_size, num_samples)
            rows = slice(start, end) if self.order is None else self.order[start:end]
            yield index, jax.tree.map(lambda array: np.asarray(array[rows]), self.arrays)


def unchanged(_index, batch):
    """The `convert` of an `ArraySource`: its arrays were checked and converted before streaming."""
    return batch


class _Failure:
    """An exception raised by the background thread, handed to the consumer."""

    def __init__(self, error):
        self.error = error


_END = object()


class BatchSource:
    """A source of batches for `fit`, `evaluate` or `predict`, read pass by pass (see the module docstring).

    `what` names it in errors ("x", "validation_data").
    """

    def __init__(self, source, what):
        self.source = source
        self.what = what
        self.is_dataset = isinstance(source, PyDataset)
        if self.is_dataset:
            source.check_options()
        self._pass = None  # the iterator of the running pass (not for a PyDataset)
        self._index = 0  # the next batch of the running pass
        self._shuffle_key = None  # a PyDataset's passes read their batches in an order drawn from it (shuffle_by)
        self._order = None  # the running pass's order of batch indices, once drawn
        self._peeked = None
        self._sample_shapes = None
        self._first_batch_samples = None  # the first batch's number of samples, once samples_in read it
        self.steps_read = 0  # the batches the last `groups` call read

    def batches_per_pass(self):
        """The number of batches in a pass, or None when unknown (a generator, an endless PyDataset)."""
        if self.is_dataset:
            return self.source.num_batches
        if hasattr(self.source, "__len__") and not hasattr(self.source, "__next__"):
            return len(self.source)
        return None

    def first_batch(self):
        """The first batch of the first pass, raw (to build the model from); a generator's is kept for training."""
        if self.is_dataset:
            return self.source[0]
        if self._peeked is None:
            self._start_pass()
            try:
                self._peeked = next(self._pass)
            except StopIteration:
                raise ValueError(f"{self.what} yielded no batches: give a generator or iterable that yields "
                                 "(x, y) or (x, y, sample_weight) batches.") from None
        return self._peeked

    def samples_in(self, steps):
        """About how many samples `steps` batches hold, going by the first batch (None when `steps` is None)."""
        if not steps:
            return None
        if self._first_batch_samples is None:  # a PyDataset loads its first batch anew on each first_batch()
            self._first_batch_samples = len(jax.tree.leaves(unpack_batch(self.first_batch())[0])[0])
        return steps * self._first_batch_samples

    def _start_pass(self):
        self._index = 0
        if not self.is_dataset:
            self._pass = iter(self.source)  # a generator (its own iterator) serves one pass only

    def raw_batches(self, steps):
        """Up to `steps` raw batches (all the rest of the pass when None), from where the last call stopped."""
        if self.is_dataset:
            yield from self._dataset_batches(steps)
            return
        if self._pass is None:
            self._start_pass()
        taken = 0
        while steps is None or taken < steps:
            if self._peeked is not None:
                batch, self._peeked = self._peeked, None
            else:
                try:
                    batch = next(self._pass)
                except StopIteration:
                    self._start_pass()
                    return
            taken += 1
            self._index += 1
            yield self._index - 1, batch

    def _dataset_batches(self, steps):
        dataset, total = self.source, self.source.num_batches
        if total is None and steps is None:
            raise ValueError(f"{self.what} is a PyDataset without __len__: give steps_per_epoch (validation_steps "
                             "for validation_data, steps for evaluate/predict).")
        end = self._index + steps if total is None else min(total, self._index + (steps or total))
        indices = range(self._index, end)
        order = range(total or end)
        if self._shuffle_key is not None and total is not None:
            if self._order is None:
                self._order = np.random.default_rng(np.asarray(self._shuffle_key)).permutation(total)
            order = self._order
        self._index = 0 if total is not None and end >= total else end
        if self._index == 0:
            self._order = None  # the next pass draws its own
        if dataset.workers == 1:
            for index in indices:
                yield index, dataset[int(order[index])]
            return
        with concurrent.futures.ThreadPoolExecutor(dataset.workers) as pool:
            pending = collections.deque()
            for index in indices:
                pending.append((index, pool.submit(dataset.__getitem__, int(order[index]))))
                if len(pending) >= dataset.max_queue_size:
                    done_index, future = pending.popleft()
                    yield done_index, future.result()
            while pending:
                done_index, future = pending.popleft()
                yield done_index, future.result()

    def shuffle_by(self, key):
        """Read the batches of a `PyDataset` of known length in an order drawn from `key` (a raw key) in each pass
        that starts from now on, or that has not read a batch yet, as Keras's ``fit(shuffle=True)`` reorders a
        PyDataset's batches; a resumed pass (`skip_to`) draws the order its key gave it before. The datasets that
        stand in for Keras's tf.data ones (``keeps_batch_order``: folder and time-series datasets) keep theirs."""
        if self.is_dataset and not self.source.keeps_batch_order:
            self._shuffle_key = key

    def skip_to(self, index):
        """Go on from batch `index` of a `PyDataset`'s pass (a BackupAndRestore resume inside an epoch)."""
        self._index = index

    def replay_epochs(self, count):
        """Run a `PyDataset`'s epoch hooks for `count` epochs already trained (a BackupAndRestore resume), so a
        dataset that reshuffles in `on_epoch_end` comes to the order the interrupted run had."""
        for _ in range(count):
            self.on_epoch_begin()
            self.on_epoch_end()

    def on_epoch_begin(self):
        if self.is_dataset:
            self.source.on_epoch_begin()

    def on_epoch_end(self):
        if self.is_dataset:
            self.source.on_epoch_end()

    # --- checking and converting -------------------------------------------------------------
    def convert(self, model, index, batch, need_targets, class_weight=None, allow_nonfinite=False,
                check_targets=None):
        """``(x, y, sample_weight)`` host arrays of one batch, checked as fit checks arrays (y None when the
        batch has none and `need_targets` is False; ``check_targets(y)`` checks y against the losses); errors
        name the batch."""
        try:
            x, y, weights = unpack_batch(batch)
            if y is None and need_targets:
                raise ValueError("it has no targets, but the loss needs them: yield (x, y) or (x, y, sample_weight).")
            x, y = check_inputs(model, x, y, allow_nonfinite)
            shapes = data_shapes(x)
            sample_shapes = [s[1:] for s in shapes] if isinstance(shapes, list) else shapes[1:]
            if self._sample_shapes is None:
                self._sample_shapes = sample_shapes
            elif sample_shapes != self._sample_shapes:
                raise ValueError(f"its samples have shape {sample_shapes}, but those of the first batch had "
                                 f"{self._sample_shapes}: every batch must hold samples of one shape.")
            if y is not None:
                weights = as_sample_weights(y, weights, class_weight, len(jax.tree.leaves(x)[0]))
                if check_targets is not None:
                    check_targets(y)
        except (ValueError, TypeError) as error:
            raise type(error)(f"{self.what}: batch {index} is not usable: {error}") from None
        return x, y, weights


def unpack_batch(batch):
    """``(x, y, sample_weight)`` of a raw batch: a tuple or list of 1 to 3 parts, or x alone."""
    if isinstance(batch, (tuple, list)):
        if not 1 <= len(batch) <= 3:
            raise ValueError(f"it is a {type(batch).__name__} of {len(batch)} parts; a batch is (x, y) or "
                             "(x, y, sample_weight), or x alone.")
        return tuple(batch) + (None,) * (3 - len(batch))
    return batch, None, None


def segments_of(sizes):
    """Static segments ``((count, batch_size), ...)`` for consecutive batches of `sizes`."""
    segments = []
    for size in sizes:
        if segments and segments[-1][1] == size:
            segments[-1] = (segments[-1][0] + 1, size)
        else:
            segments.append((1, size))
    return tuple(segments)


def stack_group(batches):
    """One group's data from its converted batches: the arrays joined along the batch axis, and segments."""
    sizes = [len(jax.tree.leaves(batch[0])[0]) for batch in batches]
    parts = [tuple(part for part in batch if part is not None) for batch in batches]
    joined = jax.tree.map(lambda *pieces: np.concatenate(pieces), *parts)
    return joined, segments_of(sizes)


def groups(source, steps, convert, group_steps=None):
    """The groups of up to `steps` batches (the rest of the pass when None), each ``(device data, segments,
    first batch index)``, read, converted (``convert(index, batch)``) and placed on the device by a background
    thread one group ahead of the consumer."""
    budget = group_steps or GROUP_STEPS
    source.steps_read = 0
    ready = queue.Queue(maxsize=2)  # the group being trained on, and the next one
    stop = threading.Event()

    def produce():
        try:
            group, group_bytes, first = [], 0, None
            for index, batch in source.raw_batches(steps):
                if stop.is_set():
                    return
                converted = convert(index, batch)
                source.steps_read += 1
                first = index if first is None else first
                group.append(converted)
                group_bytes += sum(leaf.nbytes for leaf in jax.tree.leaves(converted))
                if len(group) >= budget or (group_steps is None and group_bytes >= GROUP_BYTES):
                    _put(ready, stop, _placed(group, first))
                    group, group_bytes, first = [], 0, None
            if group:
                _put(ready, stop, _placed(group, first))
            _put(ready, stop, _END)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            _put(ready, stop, _Failure(error))

    thread = threading.Thread(target=produce, name=f"scanfit batches of {source.what}", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass


def _placed(group, first):
    data, segments = stack_group(group)
    return distribution.place_data(data), segments, first


def _put(ready, stop, item):
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return
        except queue.Full:
            pass
