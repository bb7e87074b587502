"""The word-index processing that Keras's IMDB and Reuters loaders share: start marks, index offsets, length
limits and the vocabulary cut."""


def indexed(sequences, start_char, index_from):
    """Each sequence with its word indices raised by `index_from`, after `start_char` (unless it is None)."""
    first = [] if start_char is None else [start_char]
    offset = index_from or 0
    return [first + [word + offset for word in sequence] for sequence in sequences]


def shorter_than(maxlen, sequences, labels):
    """The sequences shorter than `maxlen` words, and their labels."""
    kept = [i for i, sequence in enumerate(sequences) if len(sequence) < maxlen]
    return [sequences[i] for i in kept], labels[kept]


def within_vocabulary(sequences, num_words, skip_top, oov_char):
    """Words outside ``[skip_top, num_words)`` replaced by `oov_char`, or dropped when it is None; `num_words`
    defaults to the largest index present."""
    if not num_words:
        num_words = max(max(sequence) for sequence in sequences)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in sequence] for sequence in sequences]
    return [[w for w in sequence if skip_top <= w < num_words] for sequence in sequences]


def test_split_of(test_split):
    """`test_split` checked: a number in [0, 1)."""
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float)) or not 0 <= test_split < 1:
        raise ValueError(f"test_split must be a number in [0, 1), got {test_split!r}.")
    return float(test_split)
