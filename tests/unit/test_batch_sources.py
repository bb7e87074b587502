"""fit / evaluate / predict on batches from Python: PyDataset, generators, iterables of batches."""
import threading
import warnings

import numpy as np
import pytest

import scanfit as keras

BATCH = 16


def _data(n=88, seed=0):  # 5 full batches and one of 8
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 4, 3), dtype=np.uint8), rng.integers(0, 3, n)


def _model(dropout=0.25, seed=3):
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Input(shape=(4, 3)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Batches(keras.utils.PyDataset):
    """The batches arrays of x and y give with shuffle=False."""

    def __init__(self, x, y, weights=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.weights = x, y, weights
        self.calls = {"begin": 0, "end": 0}
        self.threads = set()

    def __len__(self):
        return -(-len(self.x) // BATCH)

    def __getitem__(self, index):
        self.threads.add(threading.current_thread().name)
        rows = slice(index * BATCH, (index + 1) * BATCH)
        if self.weights is None:
            return self.x[rows], self.y[rows]
        return self.x[rows], self.y[rows], self.weights[rows]

    def on_epoch_begin(self):
        self.calls["begin"] += 1

    def on_epoch_end(self):
        self.calls["end"] += 1


def _assert_same_weights(a, b):
    for left, right in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(left, right)


def _assert_close_history(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, err_msg=name)


def test_a_pydataset_trains_exactly_as_the_same_arrays():
    x, y = _data()
    val_x, val_y = _data(40, seed=1)
    arrays = _model()
    expected = arrays.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, validation_data=(val_x, val_y),
                          verbose=0).history
    dataset = Batches(x, y)
    model = _model()
    history = model.fit(dataset, epochs=3, validation_data=Batches(val_x, val_y), shuffle=False, verbose=0).history
    _assert_same_weights(model, arrays)
    assert history["loss"] == expected["loss"] and history["accuracy"] == expected["accuracy"]
    _assert_close_history(history, expected)  # validation sums are added per group: last-digit differences
    assert dataset.calls == {"begin": 3, "end": 3}
    np.testing.assert_array_equal(model.predict(dataset, verbose=0), arrays.predict(x, verbose=0))
    np.testing.assert_allclose(model.evaluate(dataset, verbose=0), arrays.evaluate(x, y, verbose=0), rtol=1e-6)


def test_sample_weights_and_class_weights_from_batches():
    x, y = _data()
    weights = np.random.default_rng(5).uniform(0, 2, len(x)).astype(np.float32)
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    arrays = _model()
    expected = arrays.fit(x, y, sample_weight=weights, class_weight=class_weight, batch_size=BATCH, epochs=2,
                          shuffle=False, verbose=0).history
    model = _model()
    history = model.fit(Batches(x, y, weights), class_weight=class_weight, epochs=2, shuffle=False, verbose=0).history
    _assert_same_weights(model, arrays)
    assert history == expected


def test_shuffle_reorders_a_pydataset_batches_each_epoch_as_keras_does():
    """fit(shuffle=True), the default, reads a PyDataset's batches in a new order each epoch (Keras 3 does the
    same; scanfit read them in order before): every batch once per epoch, orders drawn from the run's keys,
    so set_random_seed repeats them; validation reads in order."""
    x, y = _data()

    class Recorded(Batches):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.read = []

        def __getitem__(self, index):
            self.read.append(index)
            return super().__getitem__(index)

    orders = []
    for _ in range(2):
        keras.utils.set_random_seed(4)
        dataset, validation = Recorded(x, y), Recorded(x[:24], y[:24])
        _model().fit(dataset, epochs=3, validation_data=validation, verbose=0)
        epochs = [dataset.read[-18:][i * 6:(i + 1) * 6] for i in range(3)]  # after the first batch, read to build
        assert all(sorted(order) == list(range(6)) for order in epochs)
        assert len({tuple(order) for order in epochs}) == 3
        assert validation.read[-6:] == [0, 1] * 3
        orders.append(epochs)
    assert orders[0] == orders[1]


def test_worker_threads_keep_the_batch_order():
    x, y = _data()
    one = _model()
    one.fit(Batches(x, y), epochs=2, verbose=0)
    dataset = Batches(x, y, workers=3, max_queue_size=4)
    many = _model()  # the same seed, drawn again: the same weights and training keys
    many.fit(dataset, epochs=2, verbose=0)
    _assert_same_weights(one, many)
    assert len(dataset.threads) > 1


def test_a_generator_with_steps_per_epoch_goes_on_through_its_pass():
    x, y = _data(96)  # 6 batches per pass; 3 per epoch

    def endless():
        while True:
            for start in range(0, len(x), BATCH):
                yield x[start:start + BATCH], y[start:start + BATCH]

    arrays = _model(dropout=0)  # keys differ between the two step counts only where dropout draws them
    expected = arrays.fit(x, y, batch_size=BATCH, epochs=4, steps_per_epoch=3, shuffle=False, verbose=0).history
    model = _model(dropout=0)
    history = model.fit(endless(), epochs=4, steps_per_epoch=3, verbose=0).history
    _assert_same_weights(model, arrays)
    assert history == expected


def test_an_iterable_starts_a_new_pass_each_epoch():
    x, y = _data()

    class Loader:
        def __iter__(self):
            return ((x[s:s + BATCH], y[s:s + BATCH]) for s in range(0, len(x), BATCH))

    arrays = _model()
    expected = arrays.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0).history
    model = _model()
    assert model.fit(Loader(), epochs=3, verbose=0).history == expected
    _assert_same_weights(model, arrays)


def test_a_generator_that_runs_out_stops_training_with_a_warning():
    x, y = _data()
    model = _model()
    one_pass = ((x[s:s + BATCH], y[s:s + BATCH]) for s in range(0, len(x), BATCH))
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(one_pass, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    assert model.optimizer.iterations == 6


def test_batch_hooks_see_every_batch_of_a_source():
    x, y = _data()
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    model = _model()
    model.fit(Batches(x, y), epochs=1, callbacks=[Record()], verbose=0)
    assert seen == [0, 1, 2, 3, 4, 5]


def test_predict_ignores_targets_and_takes_bare_inputs():
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    bare = (x[s:s + BATCH] for s in range(0, len(x), BATCH))
    np.testing.assert_array_equal(model.predict(bare, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(Batches(x, y), steps=2, verbose=0), expected[:2 * BATCH])


def test_image_folder_dataset_trains(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(["cats", "dogs"]):
        (tmp_path / name).mkdir()
        for i in range(6):
            pixels = np.full((8, 8, 3), 40 + 160 * label, np.uint8) + rng.integers(0, 30, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    dataset = keras.utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=4, shuffle=False,
                                                       verbose=False)
    images = np.concatenate([dataset[i][0] for i in range(len(dataset))])
    labels = np.concatenate([dataset[i][1] for i in range(len(dataset))])

    def trained(data, **arguments):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.layers.Input(shape=(8, 8, 3)), keras.layers.Lambda(lambda t: t / 127.5 - 1),
                                  keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model, model.fit(data, epochs=15, verbose=0, **arguments).history

    model, history = trained(dataset)
    arrays, expected = trained(images, y=labels, batch_size=4, shuffle=False)
    assert history == expected and history["accuracy"][-1] == 1.0
    _assert_same_weights(model, arrays)


def test_an_endless_pydataset_needs_steps_per_epoch():
    x, y = _data()

    class Endless(keras.utils.PyDataset):
        def __getitem__(self, index):
            start = index % 5 * BATCH
            return x[start:start + BATCH], y[start:start + BATCH]

    model = _model()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(Endless(), epochs=1, verbose=0)
    assert len(model.fit(Endless(), epochs=2, steps_per_epoch=7, verbose=0).history["loss"]) == 2
    assert model.optimizer.iterations == 14


# --- bad batches and arguments -------------------------------------------------------------------------------
def _with_bad_batch(index, bad):
    x, y = _data()

    def batches():
        for i, s in enumerate(range(0, len(x), BATCH)):
            yield bad if i == index else (x[s:s + BATCH], y[s:s + BATCH])

    return batches()


@pytest.mark.parametrize("index, bad, error, message", [
    (2, (np.zeros((16, 4, 2)), np.zeros(16, int)), ValueError, r"batch 2 .*shape \(4, 2\).*\(4, 3\)"),
    (1, (np.zeros((16, 4, 3)), np.zeros(16, int), np.ones(16), np.ones(16)), ValueError, "batch 1 .*4 parts"),
    (3, (np.full((16, 4, 3), "a"), np.zeros(16, int)), TypeError, "batch 3 .*numbers"),
    (1, (np.zeros((16, 4, 3)), np.full(16, 7)), ValueError, r"batch 1 .*class indices in \[0, 2\]"),
    (0, np.zeros((16, 4, 3)), ValueError, "batch 0 .*no targets"),
    (4, (np.zeros((16, 4, 3)), np.zeros(12, int)), ValueError, "batch 4 .*same number of samples"),
])
def test_a_bad_batch_is_named_in_the_error(index, bad, error, message):
    with pytest.raises(error, match=message):
        _model().fit(_with_bad_batch(index, bad), epochs=1, verbose=0)


@pytest.mark.parametrize("arguments, name", [
    ({"y": np.zeros(3)}, "y"),
    ({"batch_size": 8}, "batch_size"),
    ({"sample_weight": np.ones(3)}, "sample_weight"),
    ({"validation_split": 0.2}, "validation_split"),
])
def test_arguments_a_source_sets_itself_are_refused(arguments, name):
    x, y = _data()
    with pytest.raises(ValueError, match=rf"fit\({name}=\.\.\.\) cannot be given"):
        _model().fit(Batches(x, y), epochs=1, verbose=0, **arguments)


def test_pydataset_options_are_checked():
    with pytest.raises(ValueError, match="use_multiprocessing"):
        Batches(*_data(), use_multiprocessing=True)
    with pytest.raises(ValueError, match="workers"):
        Batches(*_data(), workers=0)
    late = Batches(*_data())
    late.use_multiprocessing = True  # set after construction, as tf.keras 2 Sequence subclasses did
    with pytest.raises(ValueError, match="use_multiprocessing"):
        _model().fit(late, verbose=0)
    x, y = _data()
    with pytest.raises(ValueError, match="validation_batch_size"):
        _model().fit(x, y, validation_data=Batches(x, y), validation_batch_size=8, verbose=0)


def test_a_source_is_read_one_group_ahead_while_training():
    """The reading thread stops when fit stops early; no thread is left behind."""
    x, y = _data()
    before = threading.active_count()
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="batch 3"):
            model.fit(_with_bad_batch(3, "not a batch"), epochs=1, verbose=0)
    assert threading.active_count() == before


class Shuffled(Batches):
    """Batches that a seeded generator reshuffles after every epoch, as image folder datasets do."""

    def __init__(self, x, y):
        super().__init__(x, y)
        self.rng = np.random.default_rng(11)
        self.order = np.arange(len(x))

    def __getitem__(self, index):
        rows = self.order[index * BATCH:(index + 1) * BATCH]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


class Crash(Exception):
    pass


@pytest.mark.parametrize("save_freq, crash_at", [("epoch", (2, None)), (2, (2, 3))])
def test_backup_and_restore_resumes_a_pydataset_fit_bit_identically(tmp_path, save_freq, crash_at):
    x, y = _data()

    class CrashAt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            if crash_at == (epoch, None):
                raise Crash()

        def on_train_batch_end(self, batch, logs=None):
            if crash_at == (self.epoch, batch):
                raise Crash()

    def train(folder, extra=()):
        model = _model()
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / folder), save_freq=save_freq)
        history = model.fit(Shuffled(x, y), epochs=4, verbose=0, callbacks=[*extra, backup])
        return model, history.history

    reference, expected = train("reference")
    with pytest.raises(Crash):
        train("backup", [CrashAt()])
    resumed, history = train("backup")  # a new model and a new dataset: the order comes from the replay
    assert history == expected
    _assert_same_weights(resumed, reference)
    assert resumed.optimizer.iterations == reference.optimizer.iterations


def test_backup_and_restore_refuses_a_generator():
    x, y = _data()
    batches = ((x[s:s + BATCH], y[s:s + BATCH]) for s in range(0, len(x), BATCH))
    with pytest.raises(ValueError, match="generator or an iterable"):
        _model().fit(batches, callbacks=[keras.callbacks.BackupAndRestore("unused")], verbose=0)
