"""to_categorical and normalize against Keras's; the split helpers."""
import numpy as np
import pytest

from scanfit.data_utils import normalize, split_validation, to_categorical, train_test_split

keras = pytest.importorskip("keras")


@pytest.mark.parametrize("shape", [(7,), (7, 1), (3, 4), (2, 3, 1)])
@pytest.mark.parametrize("num_classes", [None, 12])
def test_to_categorical_matches_keras(shape, num_classes):
    labels = np.random.default_rng(len(shape)).integers(0, 10, shape)
    ours = to_categorical(labels, num_classes)
    theirs = keras.utils.to_categorical(labels, num_classes)
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_to_categorical_inputs():
    np.testing.assert_array_equal(to_categorical([0.0, 2.0]), [[1, 0, 0], [0, 0, 1]])
    assert to_categorical([1, 0], dtype="uint8").dtype == np.uint8
    with pytest.raises(ValueError, match="num_classes=5 or more"):
        to_categorical([4, 1], num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        to_categorical([-1, 1])
    with pytest.raises(ValueError, match="whole-number"):
        to_categorical([0.5])
    with pytest.raises(TypeError, match="numeric"):
        to_categorical(["cat"])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("order", [1, 2, np.inf])
@pytest.mark.parametrize("shape, axis", [((5, 4), -1), ((5, 4), 1), ((2, 3, 4), 1), ((2, 3, 4), -2)])
def test_normalize_matches_keras(dtype, order, shape, axis):
    x = np.random.default_rng(0).normal(size=shape) * 5
    x[0] = 0  # zero norms stay zero
    x = x.astype(dtype)
    ours = normalize(x, axis=axis, order=order)
    theirs = keras.utils.normalize(x, axis=axis, order=order)
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_normalize_axis_zero_and_bad_axis():
    x = np.array([[3.0, 1.0], [4.0, 0.0]])
    np.testing.assert_allclose(normalize(x, axis=0), [[0.6, 1.0], [0.8, 0.0]])
    with pytest.raises(TypeError, match="integer axis"):
        normalize(x, axis=None)


def test_train_test_split_pairs_and_sizes():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, seed=3)
    assert len(x_test) == 3 and len(x_train) == 7  # ceil(2.5), as scikit-learn rounds
    np.testing.assert_array_equal(x_train[:, 0] // 2, y_train)
    np.testing.assert_array_equal(x_test[:, 0] // 2, y_test)
    assert sorted(np.concatenate([y_train, y_test])) == list(range(10))
    again = train_test_split(x, y, test_size=0.25, seed=3)
    np.testing.assert_array_equal(again[3], y_test)
    assert [len(part) for part in train_test_split(y, test_size=4)] == [6, 4]
    a_train, a_test = train_test_split(y, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(a_test, [7, 8, 9])


def test_train_test_split_errors():
    with pytest.raises(ValueError, match="same length.*\\[3, 4\\]"):
        train_test_split(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="both parts need at least one"):
        train_test_split(np.zeros(3), test_size=3)
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        train_test_split(np.zeros(3), test_size=1.5)
    with pytest.raises(ValueError, match="at least one array"):
        train_test_split()


@pytest.mark.parametrize(
    "count, fraction, train_count", [(10, 0.2, 8), (10, 0.25, 7), (7, 0.1, 6), (3, 0.5, 1)]
)
def test_split_validation_takes_the_tail_with_keras_rounding(count, fraction, train_count):
    x, y = np.arange(count * 2).reshape(count, 2), np.arange(count)
    (x_train, y_train), (x_val, y_val) = split_validation(x, y, fraction)
    np.testing.assert_array_equal(y_train, np.arange(train_count))
    np.testing.assert_array_equal(y_val, np.arange(train_count, count))
    np.testing.assert_array_equal(x_val, x[train_count:])
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    _, (_, keras_y_val) = train_validation_split((x, y), validation_split=fraction)
    np.testing.assert_array_equal(y_val, keras_y_val)


def test_split_validation_errors_and_no_labels():
    (x_train, y_train), (x_val, y_val) = split_validation(np.arange(4), None, 0.5)
    assert y_train is None and y_val is None and list(x_val) == [2, 3]
    with pytest.raises(ValueError, match="too few"):
        split_validation(np.arange(1), np.arange(1), 0.5)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        split_validation(np.arange(4), None, 1.0)
    with pytest.raises(TypeError, match="validation_split must be a float"):
        split_validation(np.arange(4), None, "0.2")
