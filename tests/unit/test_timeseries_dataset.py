"""keras.utils.timeseries_dataset_from_array: windows, targets and batches computed by hand (Keras 3's own needs
TensorFlow, which these machines lack), shuffling, and Chollet's use of it with fit."""
import numpy as np
import pytest

import scanfit

SERIES = np.arange(20, dtype="float32")[:, None] * np.array([1.0, -1.0], "float32")  # (20, 2)
TARGETS = np.arange(20) * 10


def test_windows_and_targets_are_keras_s():
    dataset = scanfit.utils.timeseries_dataset_from_array(SERIES, TARGETS, sequence_length=3, sequence_stride=2,
                                                          sampling_rate=2, batch_size=4, start_index=1, end_index=15)
    # windows fit from 1 to 15: 15 - 1 - (3 - 1) * 2 = 10 start positions, every 2nd: 1, 3, 5, 7, 9
    assert len(dataset) == 2
    windows, targets = dataset[0]
    np.testing.assert_array_equal(windows[:, :, 0], [[1, 3, 5], [3, 5, 7], [5, 7, 9], [7, 9, 11]])
    np.testing.assert_array_equal(windows[:, :, 1], -windows[:, :, 0])
    np.testing.assert_array_equal(targets, [10, 30, 50, 70])
    last_windows, last_targets = dataset[1]
    np.testing.assert_array_equal(last_windows[:, :, 0], [[9, 11, 13]])
    np.testing.assert_array_equal(last_targets, [90])
    assert [len(batch[1]) for batch in dataset] == [4, 1]  # iterable, as Chollet's loops over it


def test_without_targets_and_shuffled():
    plain = scanfit.utils.timeseries_dataset_from_array(SERIES, None, sequence_length=5, batch_size=8)
    assert len(plain) == 2 and plain[0].shape == (8, 5, 2)  # 16 windows
    shuffled = [scanfit.utils.timeseries_dataset_from_array(SERIES, TARGETS, sequence_length=5, batch_size=8,
                                                            shuffle=True, seed=3) for _ in range(2)]
    starts = [np.concatenate([batch[1] for batch in dataset]) for dataset in shuffled]
    np.testing.assert_array_equal(starts[0], starts[1])  # the seed repeats the order
    assert sorted(starts[0]) == list(range(0, 160, 10)) and list(starts[0]) != sorted(starts[0])
    for windows, targets in shuffled[0]:
        np.testing.assert_array_equal(windows[:, 0, 0] * 10, targets)  # each window keeps its own target


def test_fits_a_forecasting_model():
    """Chollet's pattern: windows of a series predict a later value, with training and validation datasets."""
    rng = np.random.default_rng(0)
    series = np.cumsum(rng.normal(size=(400, 3)), axis=0).astype("float32")
    targets = series[6:, 0]
    train = scanfit.utils.timeseries_dataset_from_array(series[:-6], targets, sequence_length=12, batch_size=32,
                                                        shuffle=True, seed=1, end_index=300)
    val = scanfit.utils.timeseries_dataset_from_array(series[:-6], targets, sequence_length=12, batch_size=32,
                                                      start_index=300)
    model = scanfit.Sequential([scanfit.Input((12, 3)), scanfit.layers.Flatten(), scanfit.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(train, epochs=3, validation_data=val, verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("options, words", [
    ({"sequence_length": 0}, "sequence_length must be a positive int"),
    ({"sampling_rate": 30}, "sampling_rate=30 must be lower than the length"),
    ({"batch_size": None}, "give batch_size=1"),
    ({"start_index": 25}, r"start_index=25 must be in \[0, 20\)"),
    ({"start_index": 5, "end_index": 3}, "end_index=3 must be above start_index"),
    ({"sequence_length": 19, "sampling_rate": 2}, "no window of 19 steps"),
])
def test_bad_arguments_fail_clearly(options, words):
    with pytest.raises(ValueError, match=words):
        scanfit.utils.timeseries_dataset_from_array(SERIES, TARGETS, **{"sequence_length": 3, **options})
