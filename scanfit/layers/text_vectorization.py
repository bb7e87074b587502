"""`TextVectorization`: raw text to token indices or bag-of-words vectors (Chollet chapter 11), as Keras 3 maps it.

Each text is standardized (ASCII letters lowercased and ASCII punctuation
removed, as TensorFlow's string ops do for Keras), split on ASCII whitespace
(or into characters), turned into n-grams (all 1-grams, then all 2-grams, ...
joined by a space) and looked up in the vocabulary of a `StringLookup` whose
mask token is the empty string. Like StringLookup it runs on the host, before
`fit`: ``x_train = vectorizer(texts)``.

A callable `standardize` gets a NumPy array of the texts (str) and returns one
of the same shape, as in Keras on JAX; a callable `split` gets the 1D array of
standardized texts and returns one list of tokens per text.
"""
import re

import numpy as np

from scanfit import checks, serialization
from scanfit.layers.index_lookup import HostLayer, StringLookup, adapt_batches, as_strings

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_SPACE = re.compile(r"[ \t\n\v\f\r]+")


class TextVectorization(HostLayer):
    """Maps texts to token indices (``output_mode='int'``) or to multi-hot, count or TF-IDF vectors.

    Args:
        max_tokens: the vocabulary's largest size, the OOV entry (and in 'int' mode the padding '') included.
        standardize: None, 'lower_and_strip_punctuation', 'lower', 'strip_punctuation' or a callable.
        split: None (each text is one token), 'whitespace', 'character' or a callable.
        ngrams: None, an int n (1-grams to n-grams) or a tuple of n-gram sizes.
        output_mode: 'int', 'multi_hot', 'count' or 'tf_idf'.
        output_sequence_length: in 'int' mode, pad with 0 or cut every row to this many tokens (default: pad
            to the longest row of the call).
        pad_to_max_tokens: encodings have `max_tokens` entries even when the vocabulary is smaller.
        vocabulary: a list of tokens or the path of a file with one token per line (then no `adapt` is needed).
        idf_weights: with ``'tf_idf'`` and a given vocabulary, one weight per token.
        sparse, ragged: must be False (Keras allows them only on TensorFlow).
        encoding: how bytes inputs are decoded.
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, **kwargs):
        kwargs.pop("vocabulary_size", None)  # in Keras's configs; the vocabulary itself decides it
        super().__init__(name=name, **kwargs)
        if not (standardize is None or standardize in STANDARDIZE or callable(standardize)):
            raise ValueError(f"standardize must be None, one of {STANDARDIZE} or a callable, got {standardize!r}.")
        if not (split is None or split in SPLIT or callable(split)):
            raise ValueError(f"split must be None, one of {SPLIT} or a callable, got {split!r}.")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if ngrams is not None and not (
                isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams >= 1
                or isinstance(ngrams, tuple) and ngrams and all(isinstance(n, int) and n >= 1 for n in ngrams)):
            raise ValueError(f"ngrams must be None, an int >= 1 or a tuple of them, got {ngrams!r}.")
        if ngrams is not None and split is None:
            raise ValueError("ngrams needs split: with split=None each text is a single token.")
        if output_mode not in ("int", "multi_hot", "count", "tf_idf"):
            raise ValueError(f"output_mode must be 'int', 'multi_hot', 'count' or 'tf_idf', got {output_mode!r}.")
        checks.int_at_least("output_sequence_length", output_sequence_length, 1)
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError(f"output_sequence_length is only for output_mode='int', got {output_mode!r}.")
        if ragged:
            raise ValueError("ragged=True is not supported: scanfit has no ragged tensors (Keras allows it only on "
                             "TensorFlow). Leave it False: rows are padded with 0.")
        self.standardize, self.split, self.ngrams = standardize, split, ngrams
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.encoding = encoding
        self.lookup = StringLookup(max_tokens=max_tokens, mask_token="", output_mode=output_mode,
                                   pad_to_max_tokens=pad_to_max_tokens, vocabulary=vocabulary,
                                   idf_weights=idf_weights, sparse=sparse, encoding=encoding,
                                   name=f"{self.name}_lookup")

    # Texts to tokens.

    def tokens(self, texts):
        """The tokens of `texts` (a string, or a list or array of them, 1D or (batch, 1)): one list per text when
        splitting, else the standardized array."""
        texts = as_strings(texts, self.encoding)
        texts = self._standardized(texts)
        if self.split is None:
            return texts
        if texts.ndim > 1:
            if texts.shape[-1] != 1:
                raise ValueError(f"TextVectorization splits texts given as a 1D array or as (batch, 1), got shape "
                                 f"{texts.shape}.")
            texts = texts[..., 0]
        if texts.ndim == 0:
            texts = texts[None]
        if self.split == "whitespace":
            rows = [_ASCII_SPACE.split(text.strip(" \t\n\v\f\r")) if text.strip(" \t\n\v\f\r") else []
                    for text in texts.tolist()]
        elif self.split == "character":
            rows = [list(text) for text in texts.tolist()]
        else:
            rows = [[str(token) for token in row] for row in self.split(texts)]
        if self.ngrams is not None:
            sizes = range(1, self.ngrams + 1) if isinstance(self.ngrams, int) else self.ngrams
            rows = [[" ".join(row[i:i + n]) for n in sizes for i in range(len(row) - n + 1)] for row in rows]
        return rows

    def _standardized(self, texts):
        if callable(self.standardize):
            return as_strings(self.standardize(texts), self.encoding)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            texts = np.vectorize(lambda text: text.translate(_ASCII_LOWER), otypes=[object])(texts)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            texts = np.vectorize(lambda text: _PUNCTUATION.sub("", text), otypes=[object])(texts)
        return as_strings(texts, self.encoding)

    # The vocabulary.

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from texts: a list or array of strings (one text each), or an iterable of such
        batches, of which `steps` are read if given. `batch_size` is accepted for Keras's signature; the
        vocabulary does not depend on it."""
        checks.int_at_least("batch_size", batch_size, 1)
        self.lookup.reset_state()
        for batch in adapt_batches(data, steps):
            self.update_state(batch)
        self.lookup.finalize_state()

    def update_state(self, texts):
        """Count the tokens of one batch of texts (each text is a document)."""
        tokens = self.tokens(texts)
        if self.split is None:
            tokens = [[token] for token in np.asarray(tokens).ravel().tolist()]
        self.lookup.count_documents(tokens)

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary in index order ('' and '[UNK]' first unless `include_special_tokens` is False)."""
        return self.lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        """The vocabulary's size, special tokens included."""
        return self.lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use `vocabulary` (and with 'tf_idf' its `idf_weights`) instead of adapting."""
        self.lookup.set_vocabulary(vocabulary, idf_weights)

    # Mapping.

    def host_call(self, inputs):
        tokens = self.tokens(inputs)
        if self.split is None:
            strings = np.asarray(tokens)
            if self.output_mode != "int" and strings.ndim <= 1:
                strings = strings.reshape(-1, 1)
            indices = self.lookup.indices_of(strings)
            if self.output_mode == "int" and self.output_sequence_length is not None:
                indices = _to_length(indices, self.output_sequence_length)
            return self.lookup.encode(indices)
        lengths = [len(row) for row in tokens]
        flat = np.empty(sum(lengths), dtype=object)  # object, not str: a fixed-width array of IMDB's bigrams is huge
        flat[:] = [token for row in tokens for token in row]
        indices = self.lookup.indices_of(flat)
        if self.output_mode != "int":
            return self.lookup.encode(indices, lengths)
        length = self.output_sequence_length or max(lengths, default=0)
        padded = np.zeros((len(lengths), length), dtype=np.int64)
        start = 0
        for out, count in zip(padded, lengths):
            kept = min(count, length)
            out[:kept] = indices[start:start + kept]
            start += count
        return self.lookup.encode(padded)

    # Configs.

    def get_config(self):
        lookup = self.lookup.get_config()
        return {**super().get_config(), "max_tokens": lookup["max_tokens"],
                "standardize": _function_or_name(self.standardize, "standardize"),
                "split": _function_or_name(self.split, "split"), "ngrams": self.ngrams,
                "output_mode": self.output_mode, "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": lookup["pad_to_max_tokens"], "sparse": False, "ragged": False,
                "vocabulary": lookup["vocabulary"], "idf_weights": lookup["idf_weights"],
                "encoding": self.encoding, "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("standardize", "split"):
            if isinstance(config.get(key), dict):
                config[key] = _function_from(key, config[key])
        return cls(**config)


def _function_or_name(value, what):
    if not callable(value):
        return value
    if getattr(value, "__name__", "<lambda>") == "<lambda>":
        raise TypeError(f"Cannot serialize TextVectorization's {what}={value!r}: write it as a named function "
                        "(a def), registered with keras.saving.register_keras_serializable, to save it.")
    return {**serialization.function_config(value), "registered_name": serialization.get_registered_name(value)}


def _function_from(what, config):
    """The function a config names: one registered with register_keras_serializable, or one of custom_objects."""
    registered = serialization.get_registered_object(config.get("registered_name"))
    return registered if callable(registered) else serialization.resolve(f"TextVectorization {what} function", {},
                                                                         config)


def _to_length(indices, length):
    """`indices` cut or padded with 0 along the last axis to `length`."""
    indices = indices[..., :length]
    return np.pad(indices, [(0, 0)] * (indices.ndim - 1) + [(0, length - indices.shape[-1])])
