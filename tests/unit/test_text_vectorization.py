"""TextVectorization and StringLookup: Keras 3's documented outputs, hand-computed ones, configs, clear errors, and a
text model trained on what they make.

Keras's own layers need TensorFlow, which is not installed here, so the oracle is the outputs printed in Keras
3's docstrings and values computed by hand from Keras's rules (its ordering of the vocabulary, its TF-IDF formula).
"""
import math

import numpy as np
import pytest

import scanfit as keras
from scanfit.saving import register_keras_serializable

VOCAB = ["a", "b", "c", "d"]
ROWS = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]


def test_string_lookup_gives_the_outputs_of_keras_docstrings():
    data = [["a", "c", "d"], ["d", "z", "b"]]
    layer = keras.layers.StringLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(layer(data), [[5, 3, 1], [1, 2, 4]])
    one_hot = keras.layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(["a", "b", "c", "d", "z"])
    np.testing.assert_array_equal(one_hot, np.eye(5)[[1, 2, 3, 4, 0]])
    multi_hot = keras.layers.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(ROWS)
    np.testing.assert_array_equal(multi_hot, [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    counts = keras.layers.StringLookup(vocabulary=VOCAB, output_mode="count")(ROWS)
    np.testing.assert_array_equal(counts, [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tf_idf = keras.layers.StringLookup(output_mode="tf_idf")
    tf_idf.set_vocabulary(VOCAB, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tf_idf(ROWS), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    tf_idf.set_vocabulary(["[UNK]"] + VOCAB, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tf_idf(ROWS), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], rtol=1e-6)
    forward = keras.layers.StringLookup(vocabulary=VOCAB)
    inverse = keras.layers.StringLookup(vocabulary=VOCAB, invert=True)
    indices = forward(data)
    np.testing.assert_array_equal(indices, [[1, 3, 4], [4, 0, 2]])
    assert inverse(indices).tolist() == [[b"a", b"c", b"d"], [b"d", b"[UNK]", b"b"]]


def test_text_vectorization_gives_the_outputs_of_keras_docstrings():
    layer = keras.layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    np.testing.assert_array_equal(layer([["foo qux bar"], ["qux baz"]]), [[4, 1, 3, 0], [1, 2, 0, 0]])
    given = keras.layers.TextVectorization(max_tokens=5000, output_sequence_length=4,
                                           vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    assert given.get_vocabulary(include_special_tokens=False) == ["earth", "wind", "and", "fire"]
    assert given.vocabulary_size() == 6


def test_standardize_and_split_follow_tensorflows_string_ops():
    layer = keras.layers.TextVectorization(vocabulary=["x"])
    # Only ASCII letters are lowercased and only ASCII punctuation removed; only ASCII whitespace splits.
    assert layer.tokens(["ÉCOLE Hello,  World!\tit's\n(fine)  ", "no\u00a0break", "", "a-b.c"]) == [
        ["École", "hello", "world", "its", "fine"], ["no\u00a0break"], [], ["abc"]]
    assert keras.layers.TextVectorization(standardize="lower", vocabulary=["x"]).tokens(["Hi, YOU"]) == [["hi,", "you"]]
    assert keras.layers.TextVectorization(standardize=None, split="character", vocabulary=["x"]).tokens(
        [b"Ab c"]) == [["A", "b", " ", "c"]]
    bigrams = keras.layers.TextVectorization(ngrams=2, vocabulary=["x"]).tokens(["the cat sat", "one"])
    assert bigrams == [["the", "cat", "sat", "the cat", "cat sat"], ["one"]]
    only = keras.layers.TextVectorization(ngrams=(2, 3), vocabulary=["x"]).tokens(["a b c"])
    assert only == [["a b", "b c", "a b c"]]
    whole = keras.layers.TextVectorization(split=None, vocabulary=["x"]).tokens(np.array([["A b!"], ["c"]]))
    np.testing.assert_array_equal(whole, [["a b"], ["c"]])


def test_adapted_vocabulary_counts_ties_max_tokens_and_padding():
    texts = ["the cat", "the dog", "a dog", "the end"]  # the:3, dog:2, then cat, end, a (ties, high to low)
    layer = keras.layers.TextVectorization()
    layer.adapt(np.array(texts))
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "dog", "end", "cat", "a"]
    np.testing.assert_array_equal(layer(["the dog ran", "a"]), [[2, 3, 1], [6, 0, 0]])
    capped = keras.layers.TextVectorization(max_tokens=4, output_sequence_length=2)
    capped.adapt(texts)
    assert capped.get_vocabulary() == ["", "[UNK]", "the", "dog"]
    np.testing.assert_array_equal(capped(["a cat dog the"]), [[1, 1]])
    multi_hot = keras.layers.TextVectorization(max_tokens=10, output_mode="multi_hot", pad_to_max_tokens=True)
    multi_hot.adapt(texts)  # no padding entry outside 'int' mode: [UNK] the dog end cat a
    np.testing.assert_array_equal(multi_hot(["the the cat zebra"]), [[1, 1, 0, 0, 1, 0, 0, 0, 0, 0]])
    counts = keras.layers.TextVectorization(output_mode="count")
    counts.adapt(texts)
    np.testing.assert_array_equal(counts(["the the cat zebra", "dog"]), [[1, 2, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0]])


def test_tf_idf_weights_follow_keras_formula():
    texts = ["the cat", "the dog", "a dog", "the end"]
    layer = keras.layers.TextVectorization(output_mode="tf_idf")
    layer.adapt(texts)
    frequencies = {"the": 3, "dog": 2, "end": 1, "cat": 1, "a": 1}
    idf = [math.log(1 + 4 / (1 + frequencies[token])) for token in ["the", "dog", "end", "cat", "a"]]
    expected = np.array([np.mean(np.float32(idf)), *idf], dtype=np.float32)
    np.testing.assert_allclose(layer(["the the zebra"]), [expected * [1, 2, 0, 0, 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(layer.lookup.idf_weights, expected, rtol=1e-6)


def test_bytes_batches_steps_and_callables():
    layer = keras.layers.TextVectorization(output_sequence_length=3)
    batches = iter([np.array([b"b b"]), np.array([b"a b"]), np.array([b"c c c"])])
    layer.adapt(batches, steps=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a"]

    def strip_html(texts):
        return np.char.replace(texts, "<br />", " ")

    def commas(texts):
        return [text.split(",") for text in texts]

    custom = keras.layers.TextVectorization(standardize=strip_html, split=commas, vocabulary=["x y", "z"])
    np.testing.assert_array_equal(custom(["x y,z<br />", "z"]), [[2, 1], [3, 0]])


@register_keras_serializable(package="TextTest")
def keep_letters(texts):
    return np.char.upper(texts)


def test_configs_round_trip_with_vocabulary_weights_and_named_functions():
    layer = keras.layers.TextVectorization(max_tokens=20, standardize=keep_letters, ngrams=2, output_mode="tf_idf",
                                           vocabulary=["A", "B"], idf_weights=[0.5, 0.25], name="vectorizer")
    config = layer.get_config()
    assert config["standardize"]["config"] == "TextTest>keep_letters"  # a registered function's name, as Keras
    assert config["vocabulary"] == ["A", "B"] and config["idf_weights"] == [0.5, 0.25]
    assert config["vocabulary_size"] == 3 and config["ngrams"] == 2 and config["name"] == "vectorizer"
    clone = keras.layers.TextVectorization.from_config(config)
    np.testing.assert_allclose(clone(["a b b c"]), layer(["a b b c"]))
    np.testing.assert_allclose(layer(["a b b c"]), [[4 * 0.375, 0.5, 2 * 0.25]])  # C and the bigrams are OOV
    lookup = keras.layers.StringLookup(mask_token="[MASK]", vocabulary=VOCAB, num_oov_indices=0)
    again = keras.layers.StringLookup.from_config(lookup.get_config())
    assert again.get_vocabulary() == ["[MASK]", "a", "b", "c", "d"]
    np.testing.assert_array_equal(again(["[MASK]", "d"]), [0, 4])


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("hello\nworld\n", encoding="utf-8")
    layer = keras.layers.TextVectorization(vocabulary=str(path))
    np.testing.assert_array_equal(layer(["World hello you"]), [[3, 2, 1]])


def test_bad_input_gets_clear_errors():
    inputs = keras.Input(shape=(1,))
    with pytest.raises(ValueError, match="cannot be part of a compiled model"):
        keras.layers.TextVectorization(vocabulary=["a"])(inputs)
    with pytest.raises(ValueError, match="ragged=True is not supported"):
        keras.layers.TextVectorization(ragged=True)
    with pytest.raises(ValueError, match="sparse=True is not supported"):
        keras.layers.TextVectorization(output_mode="multi_hot", sparse=True)
    with pytest.raises(ValueError, match="output_sequence_length is only for output_mode='int'"):
        keras.layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="give idf_weights too"):
        keras.layers.TextVectorization(output_mode="tf_idf", vocabulary=["a"])
    with pytest.raises(ValueError, match="it was given a vocabulary"):
        keras.layers.TextVectorization(vocabulary=["a"]).adapt(["a b"])
    with pytest.raises(RuntimeError, match="needs its vocabulary before it is called"):
        keras.layers.TextVectorization(output_mode="multi_hot")(["a"])
    with pytest.raises(ValueError, match="oov_method must be 'floormod' or 'farmhash'"):
        keras.layers.StringLookup(num_oov_indices=2, oov_method="sha1")
    with pytest.raises(ValueError, match=r"\['z'\] are not"):
        keras.layers.StringLookup(vocabulary=VOCAB, num_oov_indices=0)(["a", "z"])
    with pytest.raises(ValueError, match="repeats \\['b'\\]"):
        keras.layers.StringLookup(vocabulary=["a", "b", "b"])
    with pytest.raises(ValueError, match="more than max_tokens=3"):
        keras.layers.StringLookup(max_tokens=3, vocabulary=VOCAB)
    with pytest.raises(ValueError, match="batches of strings alone"):
        keras.layers.TextVectorization().adapt(iter([(np.array(["a"]), np.array([1]))]))
    with pytest.raises(ValueError, match="ngrams must be None"):
        keras.layers.TextVectorization(ngrams=0)
    with pytest.raises(TypeError, match="Expected strings"):
        keras.layers.TextVectorization(vocabulary=["a"])(np.array([1.5]))


def _reviews(count, rng):
    """Made reviews: the label says whether a good word outnumbers a bad one, among neutral filler."""
    good, bad = ["great", "superb", "lovely", "fun"], ["awful", "dull", "boring", "bad"]
    filler = ["the", "movie", "plot", "actors", "was", "and", "it", "film", "story", "ending"]
    texts, labels = [], []
    for _ in range(count):
        label = int(rng.integers(2))
        words = list(rng.choice(filler, size=8)) + list(rng.choice(good if label else bad, size=2, replace=False))
        words += list(rng.choice(bad if label else good, size=1))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + "!")
        labels.append(label)
    return np.array(texts), np.array(labels)


def test_chollets_bag_of_bigrams_and_sequence_models_learn_made_reviews():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    texts, labels = _reviews(1200, rng)
    test_texts, test_labels = _reviews(300, rng)
    bigrams = keras.layers.TextVectorization(ngrams=2, max_tokens=2000, output_mode="multi_hot")
    bigrams.adapt(texts)
    model = keras.Sequential([keras.Input(shape=(bigrams.vocabulary_size(),)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(bigrams(texts), labels, epochs=10, batch_size=32, verbose=0)
    assert model.evaluate(bigrams(test_texts), test_labels, verbose=0)[1] >= 0.9

    sequences = keras.layers.TextVectorization(max_tokens=100, output_sequence_length=12)
    sequences.adapt(texts)
    model = keras.Sequential([keras.Input(shape=(12,), dtype="int32"),
                              keras.layers.Embedding(100, 16, mask_zero=True),
                              keras.layers.Bidirectional(keras.layers.LSTM(8)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(sequences(texts), labels, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(sequences(test_texts), test_labels, verbose=0)[1] >= 0.9


def test_tf_keras_2_experimental_preprocessing_path_names_the_same_layers():
    from scanfit.layers.experimental.preprocessing import StringLookup, TextVectorization

    preprocessing = keras.layers.experimental.preprocessing
    assert TextVectorization is keras.layers.TextVectorization and StringLookup is keras.layers.StringLookup
    for name in preprocessing.__all__:
        assert getattr(preprocessing, name) is getattr(keras.layers, name)


def test_integer_lookup_gives_the_outputs_of_keras_docstrings():
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(keras.layers.IntegerLookup(vocabulary=vocab)(data), [[1, 3, 4], [4, 0, 2]])
    adapted = keras.layers.IntegerLookup()
    adapted.adapt(data)
    assert adapted.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    np.testing.assert_array_equal(adapted(data), [[5, 2, 1], [1, 3, 4]])
    two_oov = keras.layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(two_oov(np.array([[12, 1138, 42], [37, 1000, 36]])), [[2, 4, 5], [1, 0, 3]])
    floormod = keras.layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4)
    np.testing.assert_array_equal(floormod(np.array([100, 300, 700, 1100, 1700, 2000])), [0] * 6)
    one_hot = keras.layers.IntegerLookup(vocabulary=vocab, output_mode="one_hot")(np.array([12, 36, 1138, 42, 7]))
    np.testing.assert_array_equal(one_hot, np.eye(5)[[1, 2, 3, 4, 0]])
    rows = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    multi_hot = keras.layers.IntegerLookup(vocabulary=vocab, output_mode="multi_hot")(rows)
    np.testing.assert_array_equal(multi_hot, [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    counts = keras.layers.IntegerLookup(vocabulary=vocab, output_mode="count")(rows)
    np.testing.assert_array_equal(counts, [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tf_idf = keras.layers.IntegerLookup(output_mode="tf_idf", vocabulary=vocab, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tf_idf(rows), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    tf_idf = keras.layers.IntegerLookup(output_mode="tf_idf", vocabulary=[-1] + vocab,
                                        idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tf_idf(rows), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], rtol=1e-6)
    forward = keras.layers.IntegerLookup(vocabulary=vocab)
    inverse = keras.layers.IntegerLookup(vocabulary=forward.get_vocabulary(), invert=True)
    np.testing.assert_array_equal(inverse(forward(data)), [[12, 1138, 42], [42, -1, 36]])


def test_integer_lookup_masks_configs_files_and_errors(tmp_path):
    layer = keras.layers.IntegerLookup(mask_token=0, vocabulary=[5, 9])
    assert layer.get_vocabulary() == [0, -1, 5, 9]
    np.testing.assert_array_equal(layer([[0, 9, 4]]), [[0, 3, 1]])
    clone = keras.layers.IntegerLookup.from_config(layer.get_config())
    assert clone.get_config()["vocabulary_dtype"] == "int64" and clone.get_vocabulary() == [0, -1, 5, 9]
    path = tmp_path / "ids.txt"
    path.write_text("7\n3\n")
    np.testing.assert_array_equal(keras.layers.IntegerLookup(vocabulary=str(path))([3, 7, 8]), [2, 1, 0])
    with pytest.raises(TypeError, match="IntegerLookup maps integers"):
        layer(np.array(["a"]))
    with pytest.raises(ValueError, match="only vocabulary_dtype='int64'"):
        keras.layers.IntegerLookup(vocabulary_dtype="int32")
    with pytest.raises(ValueError, match="pass oov_method='farmhash' with it"):
        keras.layers.IntegerLookup(num_oov_indices=2, salt=7)
    with pytest.raises(TypeError, match="mask_token must be an int"):
        keras.layers.IntegerLookup(mask_token="0")
    with pytest.raises(ValueError, match=r"\[8\] are not"):
        keras.layers.IntegerLookup(vocabulary=[3], num_oov_indices=0)([3, 8])
