"""`StringLookup` and `IntegerLookup`: tokens to vocabulary indices or encodings (and indices back to tokens), as
Keras 3 maps them; `HostLayer`, the base of scanfit's layers that map NumPy data on the host.

Keras 3 runs these layers with TensorFlow, outside the compiled model, on
every backend but TensorFlow; scanfit runs them with NumPy on the host. As in
Keras on JAX they map data before `fit` (or inside a `PyDataset`), and cannot
be a layer of a model: calling one on a `keras.Input` is a clear error.

A vocabulary learnt by `adapt` is ordered by count, ties by the tokens
themselves from high to low, as Keras orders it. Indices come after the
special tokens: the mask token (index 0, in ``'int'`` mode, when there is
one), then the OOV tokens. Outputs are JAX arrays: int32 indices (Keras's
int64 without 64-bit JAX), float32 one-hot, multi-hot, count and TF-IDF
vectors (Keras's floatx); ``invert=True`` gives StringLookup's tokens as a NumPy array of
encoded bytes, as Keras gives them, and IntegerLookup's as int32.
"""
import collections
import heapq
import operator
import os

import jax.numpy as jnp
import numpy as np

from scanfit import checks
from scanfit.fingerprints import hash_buckets, sip_key
from scanfit.layers import execution, symbolic
from scanfit.layers.base import Layer
from scanfit.utils.py_dataset import batches_of

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_MODE_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


class HostLayer(Layer):
    """A preprocessing layer that runs on the host, on NumPy data; subclasses define `host_call`."""

    def __call__(self, inputs, *args, **kwargs):
        if symbolic.is_symbolic(inputs) or execution.current() is not None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} maps data on the host and cannot be part of a compiled "
                "model (nor can it in Keras 3 on JAX). Apply it to the data before fit, e.g. "
                "x_train = layer(texts), or inside a PyDataset's __getitem__."
            )
        if args or kwargs:
            raise TypeError(f"{type(self).__name__} {self.name!r} takes its input alone, got further arguments "
                            f"{list(args) + sorted(kwargs)}.")
        return self.host_call(inputs)

    def compute_output_shape(self, input_shape):
        raise ValueError(f"{type(self).__name__} runs on the host; it has no place in a model's graph.")


def as_strings(data, encoding):
    """`data` (strings, bytes, lists or arrays of them, or a JAX array of neither) as a NumPy unicode array."""
    array = np.asarray(data, dtype=object) if not isinstance(data, np.ndarray) else data
    if array.dtype.kind == "U":
        return array
    if array.dtype.kind == "S":
        return np.char.decode(array, encoding)
    if array.dtype.kind == "O":
        flat = [item.decode(encoding) if isinstance(item, bytes) else item for item in array.ravel()]
        if all(isinstance(item, str) for item in flat):
            return np.array(flat, dtype=str).reshape(array.shape) if flat else np.zeros(array.shape, dtype=str)
    raise TypeError(f"Expected strings (str or bytes, in a list or an array), got {array.dtype} data: "
                    f"{np.asarray(data).ravel()[:3]!r}...")


def read_vocabulary_file(path):
    """The lines of a vocabulary file (one token per line, UTF-8)."""
    if not os.path.isfile(path):
        raise ValueError(f"Vocabulary file {path!r} does not exist; give a list of tokens or a text file with one "
                         "token per line.")
    with open(path, encoding="utf-8") as file:
        return [line.rstrip("\n").removesuffix("\r") for line in file]


class IndexLookup(HostLayer):
    """What StringLookup and IntegerLookup share; subclasses say what a token is (`as_tokens`, `token_of_line`,
    `checked_token`) and what ``invert=True`` returns (`inverted`)."""

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                 output_mode, pad_to_max_tokens, sparse, oov_method="floormod", salt=None, **kwargs):
        super().__init__(**kwargs)
        self.max_tokens = checks.int_at_least("max_tokens", max_tokens, 2)
        self.num_oov_indices = checks.int_at_least("num_oov_indices", num_oov_indices, 0, allow_none=False)
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"oov_method must be 'floormod' or 'farmhash', got {oov_method!r}.")
        self.oov_method, self.salt = oov_method, sip_key(salt)
        output_mode = _MODE_ALIASES.get(output_mode, output_mode)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}.")
        if invert and output_mode != "int":
            raise ValueError(f"invert=True needs output_mode='int', got output_mode={output_mode!r}.")
        if sparse:
            raise ValueError("sparse=True is not supported: scanfit has no sparse tensors (Keras allows it only on "
                             "TensorFlow). Leave sparse=False.")
        if pad_to_max_tokens and self.max_tokens is None:
            raise ValueError("pad_to_max_tokens=True needs max_tokens, the length to pad the encodings to.")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"idf_weights are only for output_mode='tf_idf', got output_mode={output_mode!r}.")
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError("With a given vocabulary and output_mode='tf_idf', give idf_weights too (one per token).")
        self.mask_token = None if mask_token is None else self.checked_token("mask_token", mask_token)
        self.oov_token = None if oov_token is None else self.checked_token("oov_token", oov_token)
        self.invert, self.output_mode = bool(invert), output_mode
        self.pad_to_max_tokens, self.sparse = bool(pad_to_max_tokens), False
        self.input_vocabulary = vocabulary
        self.input_idf_weights = idf_weights
        self.has_input_vocabulary = vocabulary is not None
        self._tokens, self._index, self.idf_weights = [], {}, None
        self._has_vocabulary = False  # set (or adapted), even if to special tokens alone
        self.reset_state()
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    def as_tokens(self, data):
        """`data` as a NumPy array of tokens."""
        raise NotImplementedError

    def token_of_line(self, line):
        """The token a line of a vocabulary file holds."""
        raise NotImplementedError

    def checked_token(self, name, token):
        """`token`, the `name` argument (mask_token or oov_token), or a TypeError."""
        raise NotImplementedError

    def inverted(self, tokens):
        """What ``invert=True`` returns for an array of tokens."""
        raise NotImplementedError

    def oov_index(self, tokens):
        """Which of the several OOV indices each unknown token takes (0-based), as Keras picks it: FarmHash's
        Fingerprint64 of its text (SipHash-2-4 keyed by `salt`) modulo their count; IntegerLookup's default
        'floormod' takes the value modulo the count."""
        return hash_buckets(tokens, self.num_oov_indices, self.salt)

    # The vocabulary.

    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def vocabulary_size(self):
        """The vocabulary's size, the mask and OOV entries included."""
        return self._token_start() + len(self._tokens)

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary in index order; without the mask and OOV entries if `include_special_tokens` is False."""
        if not include_special_tokens:
            return list(self._tokens)
        return [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices + list(self._tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use `vocabulary` (a list or 1D array of tokens, with or without the special tokens first, or a file path),
        and with ``output_mode='tf_idf'`` its `idf_weights`."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("set_vocabulary needs idf_weights with output_mode='tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"idf_weights are only for output_mode='tf_idf', got output_mode={self.output_mode!r}.")
        if isinstance(vocabulary, (str, os.PathLike)):
            if self.output_mode == "tf_idf":
                raise ValueError("output_mode='tf_idf' cannot read its vocabulary from a file; give a list of tokens.")
            vocabulary = [self.token_of_line(line) for line in read_vocabulary_file(os.fspath(vocabulary))]
        vocabulary = self.as_tokens(vocabulary).ravel().tolist()
        if not vocabulary:
            raise ValueError("Cannot set an empty vocabulary.")
        special = self.get_vocabulary()[:self._token_start()]
        has_special = vocabulary[:len(special)] == special
        tokens = vocabulary[len(special):] if has_special else vocabulary
        repeated = sorted(token for token, count in collections.Counter(tokens).items() if count > 1)
        if repeated:
            raise ValueError(f"The vocabulary repeats {repeated}; give each token once.")
        reserved = [self.mask_token] + ([self.oov_token] if self.invert else [])
        for token in reserved:
            if token is not None and token in tokens:
                raise ValueError(f"The vocabulary holds the reserved token {token!r} among its tokens. Leave the mask "
                                 f"and OOV tokens out, or put them first in exactly this order: {special}.")
        if self.max_tokens is not None and len(special) + len(tokens) > self.max_tokens:
            raise ValueError(f"The vocabulary has {len(special) + len(tokens)} entries (special tokens included), "
                             f"more than max_tokens={self.max_tokens}.")
        if idf_weights is not None:
            idf_weights = np.asarray(idf_weights, dtype=np.float64)
            if idf_weights.ndim != 1 or len(idf_weights) != len(vocabulary):
                raise ValueError(f"idf_weights needs one weight per vocabulary entry ({len(vocabulary)}), got shape "
                                 f"{idf_weights.shape}.")
            if not has_special:  # the special tokens weigh the average, as in Keras
                idf_weights = np.concatenate([np.full(len(special), np.average(idf_weights)), idf_weights])
            self.idf_weights = self._padded(idf_weights.astype(np.float32))
        self._use(tokens)
        self.has_input_vocabulary = True

    def _use(self, tokens):
        self._tokens = list(tokens)
        self._index = {token: self._token_start() + i for i, token in enumerate(self._tokens)}
        self._has_vocabulary = True

    def _padded(self, weights):
        if self.pad_to_max_tokens:
            return np.pad(weights, (0, self.max_tokens - len(weights)))
        return weights

    # Learning it.

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and with ``'tf_idf'`` the document frequencies) from `data`: strings in a list or
        an array (each row of a 2D array, or the whole of a 1D one, is a document), or an iterable of such batches,
        of which `steps` are read if given. `batch_size` is accepted for Keras's signature; the vocabulary does
        not depend on it."""
        checks.int_at_least("batch_size", batch_size, 1)
        self.reset_state()
        for batch in adapt_batches(data, steps):
            self.update_state(batch)
        self.finalize_state()

    def reset_state(self):
        """Forget the counts gathered so far."""
        self._counts, self._document_counts, self._documents = collections.Counter(), collections.Counter(), 0

    def update_state(self, data):
        """Count the tokens of one batch (a 1D batch is one document)."""
        self.count_documents(_documents(self.as_tokens(data)))

    def count_documents(self, documents):
        """Count the tokens of `documents`, lists of tokens."""
        if self.has_input_vocabulary:
            raise ValueError(f"Cannot adapt {type(self).__name__} {self.name!r}: it was given a vocabulary (by the "
                             "vocabulary argument or set_vocabulary).")
        for document in documents:
            self._counts.update(document)
            if self.output_mode == "tf_idf":
                self._document_counts.update(set(document))
                self._documents += 1

    def finalize_state(self):
        """Make the vocabulary from the counts: the most frequent tokens first, ties by token, high to low."""
        if not self._counts:
            return
        for token in (self.mask_token, self.oov_token):
            self._counts.pop(token, None)
        by_count = operator.itemgetter(1, 0)  # (count, token), compared in C: IMDB's bigrams number millions
        if self.max_tokens is None:
            ranked = sorted(self._counts.items(), key=by_count, reverse=True)
        else:
            ranked = heapq.nlargest(self.max_tokens - self._token_start(), self._counts.items(), key=by_count)
        ranked = [token for token, _ in ranked]
        self._use(ranked)
        if self.output_mode == "tf_idf":
            frequencies = np.array([self._document_counts[token] for token in ranked], dtype=np.float64)
            weights = np.log(1 + self._documents / (1 + frequencies)).astype(np.float32)
            average = np.mean(weights, dtype=np.float32) if len(weights) else np.float32(0)
            self.idf_weights = self._padded(np.concatenate([np.full(self._token_start(), average), weights]))
        self.reset_state()

    # Mapping.

    def host_call(self, inputs):
        if self.invert:
            return self.inverted(self.tokens_at(np.asarray(inputs)))
        return self.encode(self.indices_of(self.as_tokens(inputs)))

    def indices_of(self, tokens):
        """The vocabulary index of each token (the mask token's is 0 in 'int' mode, -2 in the others). Unknown
        tokens get the OOV index, or with several OOV indices one picked by `oov_index`."""
        flat = tokens.ravel()
        indices = np.array([self._index.get(token, -1) for token in flat.tolist()], dtype=np.int64)
        masked = flat == self.mask_token if self.mask_token is not None else np.zeros(flat.shape, dtype=bool)
        unknown = (indices == -1) & ~masked
        if not self.num_oov_indices and unknown.any():
            missing = sorted({token.item() if hasattr(token, "item") else token for token in flat[unknown]})[:10]
            raise ValueError(f"With num_oov_indices=0 every input must be in the vocabulary; {missing} are not. "
                             "Set num_oov_indices=1 to map unknown inputs to the OOV index.")
        if self.num_oov_indices == 1:
            indices[unknown] = self._oov_start()
        elif self.num_oov_indices > 1:
            indices[unknown] = self._oov_start() + self.oov_index(flat[unknown])
        indices[masked] = 0 if self.output_mode == "int" else -2
        return indices.reshape(tokens.shape)

    def encode(self, indices, lengths=None):
        """Indices in this layer's output mode: an array (1D: one document, or one value each for 'one_hot'; 2D: a
        document per row), or with `lengths` the flat indices of documents of those lengths."""
        if self.output_mode == "int":
            return jnp.asarray(np.asarray(indices), dtype=jnp.int32)
        if not self.pad_to_max_tokens and not self._has_vocabulary:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} with output_mode={self.output_mode!r} needs its "
                               "vocabulary before it is called: pass vocabulary= or call adapt() first.")
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        single = False
        if lengths is None:
            indices, single = _documents_of(indices, self.output_mode)
            lengths = np.full(len(indices), indices.shape[1])
        indices = np.asarray(indices, dtype=np.int64).ravel()
        rows = np.repeat(np.arange(len(lengths)), lengths)
        kept = (indices >= 0) & (indices < depth)  # the mask token's -2 drops out
        counts = np.bincount(rows[kept] * depth + indices[kept], minlength=len(lengths) * depth)
        counts = counts.reshape(len(lengths), depth).astype(np.float32)
        if self.output_mode in ("one_hot", "multi_hot"):
            counts = np.minimum(counts, 1)
        counts = counts[0] if single else counts
        if self.output_mode == "tf_idf":
            counts = counts * self.idf_weights
        return jnp.asarray(counts, dtype=jnp.float32)

    def tokens_at(self, indices):
        """The vocabulary's tokens at `indices` (the OOV token past its end, the mask token at 0 if any)."""
        if indices.dtype.kind not in "iu":
            raise TypeError(f"{type(self).__name__}(invert=True) maps int indices to tokens, got {indices.dtype} data.")
        vocabulary = self.get_vocabulary()
        flat = indices.ravel().tolist()
        tokens = [vocabulary[i] if 0 <= i < len(vocabulary) else self.oov_token for i in flat]
        if self.mask_token is not None:
            tokens = [self.mask_token if i == 0 else token for i, token in zip(flat, tokens)]
        found = np.empty(len(tokens), dtype=object)
        found[:] = tokens
        return found.reshape(indices.shape)

    # Configs.

    def get_config(self):
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token, "mask_token": self.mask_token,
                "oov_method": self.oov_method, "salt": self.salt,
                "output_mode": self.output_mode, "sparse": False, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary": _listed(self.input_vocabulary), "idf_weights": _listed(self.input_idf_weights),
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("vocabulary_size", None)  # Keras records it; the vocabulary itself decides it
        return cls(**config)


class StringLookup(IndexLookup):
    """Maps strings to indices in a vocabulary (learnt by `adapt`, or given), or to one-hot, multi-hot, count or
    TF-IDF vectors over it; with ``invert=True`` maps indices back to strings.

    Args:
        max_tokens: the vocabulary's largest size, special tokens included (None: no limit).
        num_oov_indices: how many OOV indices: 0 (unknown strings are an error), 1, or more (an unknown string
            takes the one its FarmHash Fingerprint64 picks, as in Keras).
        mask_token: a string that maps to index 0 in ``'int'`` mode (and is left out of encodings); None: none.
        oov_token: the vocabulary's entry for unknown strings (what ``invert=True`` gives for unknown indices).
        vocabulary: a list or 1D array of tokens, or the path of a file with one token per line.
        idf_weights: with ``output_mode='tf_idf'`` and a given vocabulary, one weight per token.
        invert: map indices to strings instead.
        output_mode: 'int', 'one_hot', 'multi_hot', 'count' or 'tf_idf'.
        pad_to_max_tokens: encodings have `max_tokens` entries even when the vocabulary is smaller.
        sparse: must be False (scanfit has no sparse tensors, nor has Keras on JAX).
        encoding: how bytes inputs are decoded.
        oov_method: 'floormod' or 'farmhash'; strings are always hashed with FarmHash (as in Keras).
        salt: an int or a pair: unknown strings are hashed with SipHash-2-4 under this key instead.
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", oov_method="floormod", salt=None, **kwargs):
        self.encoding = encoding
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, oov_method, salt, **kwargs)

    def as_tokens(self, data):
        return as_strings(data, self.encoding)

    def token_of_line(self, line):
        return line

    def checked_token(self, name, token):
        if not isinstance(token, str):
            raise TypeError(f"{name} must be a string or None, got {token!r}.")
        return token

    def inverted(self, tokens):
        encoded = np.empty(tokens.size, dtype=object)
        encoded[:] = [token.encode(self.encoding) for token in tokens.ravel()]
        return encoded.reshape(tokens.shape)

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding}


class IntegerLookup(IndexLookup):
    """Maps integers to indices in a vocabulary (learnt by `adapt`, or given), or to one-hot, multi-hot, count or
    TF-IDF vectors over it; with ``invert=True`` maps indices back to the integers.

    Args:
        max_tokens: the vocabulary's largest size, special tokens included (None: no limit).
        num_oov_indices: how many OOV indices: 0 (unknown values are an error), 1, or more (an unknown value
            ``v`` maps to OOV index ``v mod num_oov_indices`` by Keras's 'floormod', or by 'farmhash' to the one
            FarmHash's Fingerprint64 of its decimal text picks).
        mask_token: an int that maps to index 0 in ``'int'`` mode (and is left out of encodings); None: none.
        oov_token: the vocabulary's entry for unknown values (what ``invert=True`` gives for unknown indices).
        vocabulary: a list or 1D array of ints, or the path of a file with one int per line.
        vocabulary_dtype: 'int64', the only one Keras supports.
        idf_weights: with ``output_mode='tf_idf'`` and a given vocabulary, one weight per token.
        invert: map indices to the integers instead.
        output_mode: 'int', 'one_hot', 'multi_hot', 'count' or 'tf_idf'.
        sparse: must be False (scanfit has no sparse tensors, nor has Keras on JAX).
        pad_to_max_tokens: encodings have `max_tokens` entries even when the vocabulary is smaller.
        oov_method: 'floormod' (default) or 'farmhash', how several OOV indices are picked.
        salt: with 'farmhash', an int or a pair: SipHash-2-4 under this key instead of Fingerprint64.
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ValueError(f"IntegerLookup supports only vocabulary_dtype='int64' (as Keras), got "
                             f"{vocabulary_dtype!r}.")
        if salt is not None and oov_method != "farmhash":
            raise ValueError(f"IntegerLookup's salt keys the 'farmhash' OOV hash; pass oov_method='farmhash' with it "
                             f"(got oov_method={oov_method!r}).")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, oov_method, salt, **kwargs)

    def as_tokens(self, data):
        array = np.asarray(data)
        if array.dtype.kind not in "iu" and not (array.dtype.kind == "O" and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in array.ravel())):
            raise TypeError(f"IntegerLookup maps integers, got {array.dtype} data: {array.ravel()[:3]!r}...")
        return array.astype(np.int64)

    def token_of_line(self, line):
        try:
            return int(line)
        except ValueError:
            raise ValueError(f"IntegerLookup's vocabulary file holds {line!r}, not an int; write one int per "
                             "line.") from None

    def checked_token(self, name, token):
        if isinstance(token, bool) or not isinstance(token, (int, np.integer)):
            raise TypeError(f"{name} must be an int or None, got {token!r}.")
        return int(token)

    def inverted(self, tokens):
        return jnp.asarray(tokens.astype(np.int64), dtype=jnp.int32)

    def oov_index(self, tokens):
        if self.oov_method == "floormod":
            return tokens.astype(np.int64) % self.num_oov_indices
        return super().oov_index(tokens)

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": "int64"}


def _listed(value):
    if value is None or isinstance(value, (str, os.PathLike)):
        return value
    return np.asarray(value).tolist()


def adapt_batches(data, steps):
    """The batches `adapt` reads from `data` (see `StringLookup.adapt`)."""
    if isinstance(data, (str, bytes, list, tuple, np.ndarray)) or hasattr(data, "__jax_array__"):
        if steps is not None:
            raise ValueError("adapt(steps=...) is for an iterable of batches; give arrays and lists whole.")
        yield data
        return
    if not hasattr(data, "__iter__") and not hasattr(data, "__getitem__"):
        raise TypeError(f"adapt takes strings in a list or an array, or an iterable of such batches; got "
                        f"{type(data).__name__}.")
    for batch in batches_of(data, checks.int_at_least("steps", steps, 1)):
        if isinstance(batch, tuple):
            raise ValueError("adapt takes batches of strings alone, got a tuple (inputs, targets?); pass the texts, "
                             "e.g. adapt([x for x, y in dataset]).")
        yield batch


def _documents(strings):
    """The documents of a batch of tokens: a 1D (or scalar) batch is one document, each row of a 2D one is one."""
    if strings.ndim <= 1:
        return [strings.ravel().tolist()]
    return [row.ravel().tolist() for row in strings]


def _documents_of(indices, output_mode):
    """(a 2D array with a document per row, whether the output drops the batch axis), as Keras shapes them: a
    scalar or 1D input is one document ('one_hot' encodes each value); a 2D input has a document per row."""
    indices = np.asarray(indices)
    if indices.ndim == 0:
        indices = indices[None]
    if output_mode == "one_hot" and indices.shape[-1] != 1:
        indices = indices[..., None]
    if indices.ndim > 2:
        raise ValueError(f"With output_mode={output_mode!r} the input can have at most 2 axes (a batch of "
                         f"documents), got shape {indices.shape}.")
    if indices.ndim == 1:
        return indices[None], True
    return indices, False
