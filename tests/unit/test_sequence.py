"""pad_sequences against Keras 3 on random ragged input, for every argument mix."""
import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scanfit

ragged = st.lists(st.lists(st.integers(-50, 50), max_size=8), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(sequences=ragged, maxlen=st.one_of(st.none(), st.integers(1, 10)), padding=st.sampled_from(["pre", "post"]),
       truncating=st.sampled_from(["pre", "post"]), dtype=st.sampled_from(["int32", "float32", "int64", "float64"]),
       value=st.sampled_from([0.0, -1, 2.5]), as_arrays=st.booleans())
def test_pad_sequences_equals_keras(sequences, maxlen, padding, truncating, dtype, value, as_arrays):
    if maxlen is None and not any(sequences):
        maxlen = 3  # Keras's np.max of lengths needs a non-empty sequence to infer maxlen from
    if as_arrays:
        sequences = [np.asarray(s, dtype="int64") for s in sequences]
    kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating, dtype=dtype, value=value)
    expected = keras.utils.pad_sequences(sequences, **kwargs)
    got = scanfit.utils.pad_sequences(sequences, **kwargs)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=5), maxlen=st.integers(1, 7),
       padding=st.sampled_from(["pre", "post"]), truncating=st.sampled_from(["pre", "post"]))
def test_pad_sequences_of_vectors_equals_keras(lengths, maxlen, padding, truncating):
    rng = np.random.default_rng(sum(lengths))
    sequences = [rng.normal(size=(n, 2)) for n in lengths]
    kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating, dtype="float32", value=-9.0)
    np.testing.assert_array_equal(scanfit.utils.pad_sequences(sequences, **kwargs),
                                  keras.utils.pad_sequences(sequences, **kwargs))


def test_tf_keras_2_spelling_and_string_sequences():
    assert scanfit.preprocessing.sequence.pad_sequences is scanfit.utils.pad_sequences
    words = [["a", "b"], ["c"]]
    np.testing.assert_array_equal(scanfit.utils.pad_sequences(words, dtype=object, value="<pad>"),
                                  keras.utils.pad_sequences(words, dtype=object, value="<pad>"))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        scanfit.utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating must be"):
        scanfit.utils.pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match="needs dtype=object"):
        scanfit.utils.pad_sequences([[1]], value="x")
    with pytest.raises(ValueError, match="maxlen must be a positive int"):
        scanfit.utils.pad_sequences([[1]], maxlen=0)
    with pytest.raises(ValueError, match="sequence 1 is not a list"):
        scanfit.utils.pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="have shape"):
        scanfit.utils.pad_sequences([np.zeros((2, 3)), np.zeros((1, 4))])
