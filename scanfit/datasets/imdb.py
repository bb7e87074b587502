"""IMDB movie reviews: 25,000 training and 25,000 test reviews as word-index sequences, labelled 0/1."""
import json

import numpy as np

from scanfit.datasets import _source, safe_pickle, word_sequences


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3):
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras does.

    Each x is an object array of lists of word indices (index ``i + index_from``
    is the ``i``-th most frequent word; `start_char` begins each review),
    shuffled with `seed`. Reviews of `maxlen` words or more are dropped;
    words outside ``[skip_top, num_words)`` become `oov_char` (or are dropped
    when it is None). `path` is Keras's ``imdb.npz`` or a folder holding it;
    without it the file is looked for in $SCANFIT_DATA_DIR, the cache, then
    downloaded (unless SCANFIT_OFFLINE=1), always checked by SHA-256.
    """
    file = _source.fetch_file("imdb", "imdb.npz", path)
    try:
        arrays = safe_pickle.load_npz(file)
    except Exception as err:
        raise ValueError(f"{str(file)!r} is not a readable imdb.npz ({err}); get it again.") from err
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise ValueError(f"{str(file)!r} lacks the arrays {missing}.")
    rng = np.random.RandomState(seed)
    splits = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        order = np.arange(len(x))
        rng.shuffle(order)
        splits.append((x[order], y[order]))
    splits = [(word_sequences.indexed(x, start_char, index_from), y) for x, y in splits]
    if maxlen:
        splits = [word_sequences.shorter_than(maxlen, x, y) for x, y in splits]
        if not splits[0][0] or not splits[1][0]:
            raise ValueError(f"No review is shorter than maxlen={maxlen}; raise maxlen.")
    reviews = word_sequences.within_vocabulary(splits[0][0] + splits[1][0], num_words, skip_top, oov_char)
    count = len(splits[0][0])
    x_train, x_test = np.array(reviews[:count], dtype=object), np.array(reviews[count:], dtype=object)
    labels = np.concatenate([splits[0][1], splits[1][1]])
    return (x_train, labels[:count]), (x_test, labels[count:])


def get_word_index(path=None):
    """The ``{word: index}`` dict of Keras's ``imdb_word_index.json`` (index 1 is the most frequent word)."""
    file = _source.fetch_file("imdb", "imdb_word_index.json", path)
    with open(file, encoding="utf-8") as handle:
        return json.load(handle)

