"""Arrays that stay on the host (memmaps, data over keras.config.device_data_limit) stream through the programs."""
import numpy as np
import pytest

import scanfit as keras
from scanfit.engine import training
from scanfit.engine.batches import HostArrays


@pytest.fixture(autouse=True)
def no_limit():
    yield
    keras.config.set_device_data_limit(None)


def _model(seed=4):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.layers.Input(shape=(5, 4)), keras.layers.Flatten(), keras.layers.Dense(12, activation="relu"),
        keras.layers.Dropout(0.3), keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _memmap(path, array):
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=array.dtype, shape=array.shape)
    stored[:] = array
    stored.flush()
    return np.load(path, mmap_mode="r")


def _data(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 5, 4), dtype=np.uint8), rng.integers(0, 3, n)


def _train(x, y, val, **fit_arguments):
    model = _model()
    history = model.fit(x, y, batch_size=16, epochs=3, validation_data=val, verbose=0, **fit_arguments).history
    return model, history


def _assert_same(a, b):
    (model_a, history_a), (model_b, history_b) = a, b
    for left, right in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(left, right)
    assert history_a["loss"] == history_b["loss"] and history_a["accuracy"] == history_b["accuracy"]
    for name in ("val_loss", "val_accuracy"):  # validation sums are added per group: last-digit differences
        np.testing.assert_allclose(history_a[name], history_b[name], rtol=1e-6)


def test_a_memmap_streams_with_the_in_memory_shuffle_and_results(tmp_path, monkeypatch):
    x, y = _data(150, 0)
    val_x, val_y = _data(40, 1)
    stored_x = _memmap(tmp_path / "x.npy", x)
    stored_val = _memmap(tmp_path / "val.npy", val_x)
    streams = []

    class CountedSource(training.ArraySource):
        def __init__(self, host, batch_size, order=None):
            super().__init__(host, batch_size, order)
            streams.append(len(host.arrays[0]))

    monkeypatch.setattr(training, "ArraySource", CountedSource)
    streamed = _train(stored_x, y, (stored_val, val_y))
    assert streams == [150, 40] * 3  # each epoch streams x, then the validation data
    monkeypatch.undo()
    in_memory = _train(x, y, (val_x, val_y))
    _assert_same(streamed, in_memory)
    model = streamed[0]
    np.testing.assert_array_equal(model.predict(stored_x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(model.evaluate(stored_x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_data_over_the_device_limit_streams_with_the_same_results():
    x, y = _data(150, 2)
    val_x, val_y = _data(40, 3)
    whole = _train(x, y, (val_x, val_y))
    keras.config.set_device_data_limit(1000)  # x holds 3,000 bytes
    streamed = _train(x, y, (val_x, val_y))
    assert isinstance(streamed[0].staging.staged("fit")[4], HostArrays)
    _assert_same(streamed, whole)
    np.testing.assert_array_equal(streamed[0].predict(x, verbose=0), whole[0].predict(x, verbose=0))


def test_streamed_epochs_run_the_batch_hooks_in_order(tmp_path):
    x, y = _data(70, 4)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    _model().fit(_memmap(tmp_path / "x.npy", x), y, batch_size=16, epochs=1, callbacks=[Record()], verbose=0)
    assert seen == [0, 1, 2, 3, 4]


def test_steps_per_epoch_streams_through_the_same_pass(tmp_path):
    x, y = _data(100, 5)  # 7 batches of 16 per pass; 3 per epoch
    arguments = dict(batch_size=16, epochs=4, steps_per_epoch=3, verbose=0)
    in_memory = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        expected = in_memory.fit(x, y, **arguments).history
    streamed = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = streamed.fit(_memmap(tmp_path / "x.npy", x), y, **arguments).history
    assert history == expected
    for left, right in zip(streamed.get_weights(), in_memory.get_weights()):
        np.testing.assert_array_equal(left, right)


def test_the_device_limit_is_checked():
    with pytest.raises(ValueError, match="set_device_data_limit"):
        keras.config.set_device_data_limit(0)
    assert keras.config.device_data_limit() is None
