"""HashedCrossing: the bins and one-hot rows Keras 3's documentation and tests print (Keras's layer needs
TensorFlow, which is not installed here, so those printed outputs are the oracle), the config Keras's
get_config writes, and the inputs Keras refuses."""
import numpy as np
import pytest

import scanfit as keras

LETTERS = np.array(["A", "B", "A", "B", "A"])
NUMBERS = np.array([101, 101, 101, 102, 102])
ONE_HOT = [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0]]


def test_bins_equal_the_keras_documentation():
    layer = keras.layers.HashedCrossing(num_bins=5)
    np.testing.assert_array_equal(layer((LETTERS, NUMBERS)), [1, 4, 1, 1, 3])
    np.testing.assert_array_equal(layer([list(LETTERS), NUMBERS.tolist()]), [1, 4, 1, 1, 3])  # plain lists
    np.testing.assert_array_equal(layer((LETTERS.astype(bytes), NUMBERS.astype("int32"))), [1, 4, 1, 1, 3])
    column = layer((LETTERS[:, None], NUMBERS[:, None]))
    assert column.shape == (5, 1) and column.dtype == np.int32
    np.testing.assert_array_equal(column[:, 0], [1, 4, 1, 1, 3])
    scalar = keras.layers.HashedCrossing(num_bins=10)(("A", 101))  # Keras's test_tf_string: 1
    assert scalar.shape == () and int(scalar) == 1


def test_one_hot_rows_equal_the_keras_documentation():
    layer = keras.layers.HashedCrossing(num_bins=5, output_mode="one_hot")
    for inputs in ((LETTERS, NUMBERS), (LETTERS[:, None], NUMBERS[:, None])):
        rows = layer(inputs)
        assert rows.shape == (5, 5) and rows.dtype == np.float32
        np.testing.assert_array_equal(rows, ONE_HOT)
    np.testing.assert_array_equal(layer(("B", 101)), ONE_HOT[1])
    assert keras.layers.HashedCrossing(5, output_mode="one_hot", dtype="float16")((LETTERS, NUMBERS)).dtype == "float16"


def test_the_order_of_features_and_their_kind_count():
    """FingerprintCat64 is not symmetric, and an integer hashes as its own bits, not as its decimal text."""
    layer = keras.layers.HashedCrossing(num_bins=1000)
    forwards = np.asarray(layer((LETTERS, NUMBERS)))
    assert not np.array_equal(forwards, np.asarray(layer((NUMBERS, LETTERS))))
    assert not np.array_equal(forwards, np.asarray(layer((LETTERS, NUMBERS.astype(str)))))
    three = np.asarray(layer((LETTERS, NUMBERS, np.array([7, 7, 7, 7, 7]))))
    assert three.shape == (5,) and not np.array_equal(three, forwards)
    assert three[0] == three[2] and np.all((three >= 0) & (three < 1000))  # equal rows, equal bins


def test_config_is_the_one_keras_writes():
    """Keras's get_config holds the arguments, the name and the dtype as a plain string ('int64' for bins)."""
    layer = keras.layers.HashedCrossing(num_bins=5, name="cross")
    assert layer.get_config() == {"num_bins": 5, "output_mode": "int", "sparse": False, "name": "cross",
                                  "dtype": "int64"}
    one_hot = keras.layers.HashedCrossing(num_bins=5, output_mode="one_hot", name="cross2")
    assert one_hot.get_config() == {"num_bins": 5, "output_mode": "one_hot", "sparse": False, "name": "cross2",
                                    "dtype": "float32"}
    clone = keras.layers.HashedCrossing.from_config(one_hot.get_config())
    np.testing.assert_array_equal(clone((LETTERS, NUMBERS)), ONE_HOT)


@pytest.mark.parametrize("make, inputs, message", [
    (lambda: keras.layers.HashedCrossing(5), np.array([1, 2]), "at least two inputs"),
    (lambda: keras.layers.HashedCrossing(5), [np.array([1, 2])], "at least two inputs"),
    (lambda: keras.layers.HashedCrossing(5), (np.array([[1, 2]]), np.array([[1, 2]])), r"\(batch, 1\)"),
    (lambda: keras.layers.HashedCrossing(5), (np.array([1, 2]), np.array([1, 2, 3])), "same shape"),
    (lambda: keras.layers.HashedCrossing(5), (np.array([1.0]), np.array([1.0])), "integers or strings"),
])
def test_bad_inputs_are_refused(make, inputs, message):
    with pytest.raises(ValueError, match=message):
        make()(inputs)


@pytest.mark.parametrize("options, message", [
    ({"output_mode": "multi_hot"}, "output_mode"),
    ({"output_mode": "one_hot", "sparse": True}, "sparse"),
    ({"dtype": "float32"}, "dtype"),
    ({"num_bins": 0}, "num_bins"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        keras.layers.HashedCrossing(**{"num_bins": 5, **options})


def test_it_refuses_a_place_in_a_compiled_model():
    with pytest.raises(ValueError, match="before fit"):
        keras.layers.HashedCrossing(5)([keras.Input((1,)), keras.Input((1,))])


def test_tf_keras_2_experimental_path_names_the_same_layer():
    assert keras.layers.experimental.preprocessing.HashedCrossing is keras.layers.HashedCrossing
