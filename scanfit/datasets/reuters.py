"""Reuters newswires: 11,228 word-index sequences labelled with one of 46 topics (Chollet's multiclass example)."""
import json

import numpy as np

from scanfit.datasets import _source, safe_pickle, word_sequences


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1, oov_char=2,
              index_from=3):
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras does.

    The newswires are shuffled with `seed`, encoded as `imdb.load_data` does
    (`start_char`, `index_from`, `maxlen`, `num_words`, `skip_top`,
    `oov_char`), then the last `test_split` of them are the test set. `path`
    is Keras's ``reuters.npz`` or a folder holding it; without it the file is
    looked for in $SCANFIT_DATA_DIR, the cache, then downloaded (unless
    SCANFIT_OFFLINE=1), always checked by SHA-256.
    """
    test_split = word_sequences.test_split_of(test_split)
    file = _source.fetch_file("reuters", "reuters.npz", path)
    try:
        arrays = safe_pickle.load_npz(file)
    except Exception as err:
        raise ValueError(f"{str(file)!r} is not a readable reuters.npz ({err}); get it again.") from err
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ValueError(f"{str(file)!r} lacks the arrays {missing}.")
    order = np.arange(len(arrays["x"]))
    np.random.RandomState(seed).shuffle(order)
    wires, labels = word_sequences.indexed(arrays["x"][order], start_char, index_from), arrays["y"][order]
    if maxlen:
        wires, labels = word_sequences.shorter_than(maxlen, wires, labels)
        labels = list(labels)  # as Keras keeps them here: an empty test split is then float64, as Keras's
        if not wires:
            raise ValueError(f"No newswire is shorter than maxlen={maxlen}; raise maxlen.")
    wires = word_sequences.within_vocabulary(wires, num_words, skip_top, oov_char)
    count = int(len(wires) * (1 - test_split))
    return ((np.array(wires[:count], dtype=object), np.array(labels[:count])),
            (np.array(wires[count:], dtype=object), np.array(labels[count:])))


def get_word_index(path=None):
    """The ``{word: index}`` dict of Keras's ``reuters_word_index.json`` (index 1 is the most frequent word)."""
    file = _source.fetch_file("reuters", "reuters_word_index.json", path)
    with open(file, encoding="utf-8") as handle:
        return json.load(handle)
