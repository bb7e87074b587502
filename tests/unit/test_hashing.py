"""Hashing, and StringLookup / IntegerLookup with several OOV indices: the hashes against the pyfarmhash package
(FarmHash's own C++), SipHash's published test vector, and the outputs Keras 3's documentation prints (Keras's
layers need TensorFlow, which is not installed here)."""
import farmhash
import numpy as np
import pytest

import scanfit as keras
from scanfit import fingerprints

LETTERS = [["A"], ["B"], ["C"], ["D"], ["E"]]


def test_fingerprint64_equals_farmhash_for_every_length_path():
    rng = np.random.default_rng(0)
    lengths = list(range(0, 200)) + [255, 256, 257, 1000, 4097]  # 0-16, 17-32, 33-64 and the 64-byte loop
    for length in lengths:
        for _ in range(3):
            data = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
            assert fingerprints.fingerprint64(data) == farmhash.fingerprint64(data), length
    for text in ["", "a", "[UNK]", "밥을 먹었다", "naïve café", "x" * 65]:
        assert fingerprints.fingerprint64(text.encode()) == farmhash.fingerprint64(text.encode())


def test_siphash24_gives_the_reference_test_vector():
    key0 = int.from_bytes(bytes(range(8)), "little")
    key1 = int.from_bytes(bytes(range(8, 16)), "little")
    assert fingerprints.siphash24(key0, key1, bytes(range(15))) == 0xA129CA6149BE45E5  # the SipHash paper's
    assert fingerprints.siphash24(key0, key1, b"") == 0x726FDB47DD0E0E31  # the reference vectors' first


def test_hashing_gives_the_outputs_of_keras_docstrings():
    np.testing.assert_array_equal(keras.layers.Hashing(num_bins=3)(LETTERS), [[1], [0], [1], [1], [2]])
    masked = keras.layers.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]])
    np.testing.assert_array_equal(masked, [[1], [1], [0], [2], [2]])
    np.testing.assert_array_equal(keras.layers.Hashing(num_bins=3, salt=[133, 137])(LETTERS), [[1], [2], [1], [0], [2]])
    np.testing.assert_array_equal(keras.layers.Hashing(num_bins=3, salt=133)(LETTERS), [[0], [0], [2], [1], [0]])


def test_integers_and_floats_hash_as_their_decimal_text():
    values = np.array([[37, -5], [0, 123456789012]])
    expected = [[farmhash.fingerprint64(str(v)) % 7 for v in row] for row in values.tolist()]
    layer = keras.layers.Hashing(num_bins=7)
    np.testing.assert_array_equal(layer(values), expected)
    np.testing.assert_array_equal(layer([[37, -5], [0, 123456789012]]), expected)
    np.testing.assert_array_equal(layer(np.array([[37.9, -5.5], [0.2, 123456789012.0]])), expected)  # truncated
    np.testing.assert_array_equal(layer(np.array([[b"37", b"-5"], [b"0", b"123456789012"]])), expected)
    masked = keras.layers.Hashing(num_bins=7, mask_value=0)(values)  # 0 to bin 0, the rest to 1 + hash % 6
    np.testing.assert_array_equal(masked, [[0 if v == 0 else 1 + farmhash.fingerprint64(str(v)) % 6 for v in row]
                                           for row in values.tolist()])
    assert layer(values).dtype == np.int32


def test_encoded_outputs_are_the_bins_encoded():
    texts = np.array([["a", "b", "b"], ["c", "a", "d"]])
    bins = np.asarray(keras.layers.Hashing(num_bins=5)(texts))
    counts = np.zeros((2, 5), np.float32)
    for row, indices in enumerate(bins):
        for index in indices:
            counts[row, index] += 1
    np.testing.assert_array_equal(keras.layers.Hashing(num_bins=5, output_mode="count")(texts), counts)
    np.testing.assert_array_equal(keras.layers.Hashing(num_bins=5, output_mode="multi_hot")(texts), counts > 0)
    one_hot = keras.layers.Hashing(num_bins=5, output_mode="one_hot")(texts[:, :1])
    np.testing.assert_array_equal(one_hot, np.eye(5)[bins[:, 0]])
    assert one_hot.shape == (2, 5) and one_hot.dtype == np.float32
    assert keras.layers.Hashing(num_bins=5, output_mode="one_hot")(texts).shape == (2, 3, 5)


def test_hashing_config_and_errors():
    layer = keras.layers.Hashing(num_bins=4, mask_value="", salt=9, output_mode="multi_hot", name="h")
    config = layer.get_config()
    assert {k: config[k] for k in ("num_bins", "mask_value", "salt", "output_mode", "sparse")} == {
        "num_bins": 4, "mask_value": "", "salt": [9, 9], "output_mode": "multi_hot", "sparse": False}
    clone = keras.layers.Hashing.from_config(config)
    np.testing.assert_array_equal(clone([["x", ""]]), layer([["x", ""]]))
    assert keras.layers.experimental.preprocessing.Hashing is keras.layers.Hashing
    with pytest.raises(ValueError, match="num_bins` must be an int >= 1"):
        keras.layers.Hashing(num_bins=0)
    with pytest.raises(ValueError, match="output_mode must be one of"):
        keras.layers.Hashing(num_bins=3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="sparse=True"):
        keras.layers.Hashing(num_bins=3, output_mode="count", sparse=True)
    with pytest.raises(ValueError, match="salt must be an int or a pair"):
        keras.layers.Hashing(num_bins=3, salt=[1, 2, 3])
    assert keras.layers.Hashing(num_bins=3, dtype="int64")(["a"]).dtype == np.int32  # no 64-bit integers in JAX
    assert keras.layers.Hashing.from_config({"num_bins": 3, "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                                                      "config": {"name": "int64"}}}).num_bins == 3
    with pytest.raises(ValueError, match="dtype='float16' is not supported"):
        keras.layers.Hashing(num_bins=3, output_mode="count", dtype="float16")
    with pytest.raises(ValueError, match="at most 2 axes"):
        keras.layers.Hashing(num_bins=3, output_mode="count")(np.array([[["a"]]]))
    with pytest.raises(ValueError, match="cannot be part of a compiled model"):
        keras.layers.Hashing(num_bins=3)(keras.Input((1,), dtype="int32"))


def test_lookups_hash_unknown_tokens_into_several_oov_indices_as_keras_docstrings():
    strings = keras.layers.StringLookup(vocabulary=["a", "b", "c", "d"], num_oov_indices=2)
    np.testing.assert_array_equal(strings([["a", "c", "d"], ["m", "z", "b"]]), [[2, 4, 5], [0, 1, 3]])
    farm = keras.layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4, oov_method="farmhash")
    np.testing.assert_array_equal(farm(np.array([100, 300, 700, 1100, 1700, 2000])), [3, 3, 2, 2, 0, 1])
    salted = keras.layers.StringLookup(vocabulary=["a"], num_oov_indices=3, salt=[133, 137], mask_token="")
    unknown = ["B", "C", "D", "E"]
    keyed = [fingerprints.siphash24(133, 137, token.encode()) % 3 for token in unknown]
    np.testing.assert_array_equal(salted(["", "a"] + unknown), [0, 4] + [1 + k for k in keyed])
    config = salted.get_config()
    assert config["salt"] == [133, 137] and config["oov_method"] == "floormod"
    np.testing.assert_array_equal(keras.layers.StringLookup.from_config(config)(unknown), salted(unknown))
    integers = keras.layers.IntegerLookup(vocabulary=[1], num_oov_indices=3, oov_method="farmhash", salt=5)
    np.testing.assert_array_equal(integers([7, 1]), [fingerprints.siphash24(5, 5, b"7") % 3, 3])
