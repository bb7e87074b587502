"""Compact input dtypes (cast per batch inside the programs) and staging reuse across calls."""
import numpy as np
import pytest

import scanfit as keras
from scanfit.engine import data as data_module


def _images(n=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 6, 6), dtype=np.uint8), rng.integers(0, 3, n)


def _model(seed=1):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.layers.Input(shape=(6, 6)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _run(x, y):
    model = _model()
    history = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, verbose=0)
    return model, history.history, model.evaluate(x, y, verbose=0), model.predict(x, verbose=0)


def test_uint8_input_trains_exactly_as_its_float32_copy():
    x, y = _images()
    model_u8, history_u8, evaluation_u8, predictions_u8 = _run(x, y)
    model_f32, history_f32, evaluation_f32, predictions_f32 = _run(x.astype(np.float32), y)
    for a, b in zip(model_u8.get_weights(), model_f32.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history_u8 == history_f32
    assert evaluation_u8 == evaluation_f32
    np.testing.assert_array_equal(predictions_u8, predictions_f32)
    model_u8.fit(x, y, batch_size=16, epochs=1, verbose=0)
    staged = model_u8.staging.staged("fit")[4][0]  # the x the programs read
    assert staged.dtype == np.uint8  # kept compact on the device


@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.bool_, np.float64, np.float16])
def test_other_dtypes_train_as_their_float32_copy(dtype):
    x, y = _images(48, seed=2)
    x = (x > 127) if dtype is np.bool_ else (x.astype(dtype) / (4 if dtype in (np.float64, np.float16) else 1))
    model_a, history_a, _, predictions_a = _run(x, y)
    model_b, history_b, _, predictions_b = _run(x.astype(np.float32), y)
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history_a == history_b
    np.testing.assert_array_equal(predictions_a, predictions_b)


def test_compact_keeps_small_dtypes_and_narrows_wide_ones():
    small = np.arange(6, dtype=np.uint8).reshape(3, 2)
    assert data_module.compact(small) is small
    fits = np.array([[1, -2], [2 ** 31 - 1, 0]], np.int64)
    narrowed = data_module.compact(fits)
    assert narrowed.dtype == np.int32 and narrowed.tolist() == fits.tolist()
    too_wide = np.array([[2 ** 40, 1]], np.int64)
    assert data_module.compact(too_wide).dtype == np.float32
    wide_float = np.linspace(0, 1, 35).reshape(7, 5)
    np.testing.assert_array_equal(data_module.compact(wide_float), wide_float.astype(np.float32))


def test_float64_converts_in_row_chunks(monkeypatch):
    monkeypatch.setattr(data_module, "CHUNK_ELEMENTS", 10)  # 2 rows of 5 per chunk
    wide_float = np.random.default_rng(0).normal(size=(7, 5))
    converted = data_module.compact(wide_float)
    assert converted.dtype == np.float32
    np.testing.assert_array_equal(converted, wide_float.astype(np.float32))


def test_nonfinite_found_in_a_later_chunk_names_its_index(monkeypatch):
    monkeypatch.setattr(data_module, "CHUNK_ELEMENTS", 8)  # 2 rows of 4 per chunk
    x = np.zeros((10, 4), np.float32)
    x[7, 2] = np.nan
    x[9, 0] = np.inf
    with pytest.raises(ValueError, match=r"x contains 2 NaN or infinite value\(s\), the first at index \(7, 2\)"):
        data_module.check_finite(x, "x", allow_nonfinite=False)


def test_a_repeated_call_with_the_same_arrays_reuses_the_staged_data():
    x, y = _images()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.fit(x[:], y[:], batch_size=16, epochs=1, verbose=0)  # new views of the same memory
    assert model.staging.stagings == 1
    x[0, 0, 0] ^= 1  # changed in place: staged again
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.staging.stagings == 2
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, class_weight={0: 2.0, 1: 1.0, 2: 1.0})
    assert model.staging.stagings == 3  # other options, other staged weights
    model.evaluate(x, y, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    assert model.staging.stagings == 5
    model.predict(x.tolist(), verbose=0)  # not a NumPy array: staged every time
    model.predict(x.tolist(), verbose=0)
    assert model.staging.stagings == 7


def test_reused_staging_gives_the_results_of_fresh_staging():
    x, y = _images()
    reused = _model()
    for _ in range(3):
        reused.fit(x, y, batch_size=16, epochs=1, validation_split=0.25, verbose=0)
    fresh = _model()  # the same seed: the same weights and the same training keys
    copies = [(x.copy(), y.copy()) for _ in range(3)]  # kept alive, so each lives at its own address
    for x_copy, y_copy in copies:
        fresh.fit(x_copy, y_copy, batch_size=16, epochs=1, validation_split=0.25, verbose=0)
    assert reused.staging.stagings == 1 and fresh.staging.stagings == 3
    for a, b in zip(reused.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_one_data_set_is_kept_at_a_time():
    x, y = _images()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.staging.staged("fit") is not None
    model.evaluate(x, y, verbose=0)  # another kind of call: the fit's copy is freed first
    assert model.staging.staged("fit") is None and model.staging.staged("evaluate") is not None
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.staging.stagings == 3
