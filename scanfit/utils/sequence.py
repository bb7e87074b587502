"""`pad_sequences`: ragged lists of sequences to one (samples, maxlen, ...) array, as Keras makes it."""
import numpy as np

_SIDES = ("pre", "post")


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (and cut) each sequence to `maxlen` steps.

    Args:
        sequences: a list (or array) of sequences; each a list or array of steps (scalars or equal-shaped arrays).
        maxlen: steps kept per sequence; None for the longest sequence's length.
        dtype: dtype of the result (``object`` or a string dtype for string sequences).
        padding: 'pre' or 'post': which side gets the padding `value`.
        truncating: 'pre' or 'post': which end of a longer sequence is cut off.
        value: the padding value.

    Returns:
        A NumPy array of shape ``(len(sequences), maxlen) + step_shape``.
    """
    if padding not in _SIDES:
        raise ValueError(f"pad_sequences padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in _SIDES:
        raise ValueError(f"pad_sequences truncating must be 'pre' or 'post', got {truncating!r}")
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences needs a list of sequences (something with len()), got "
                         f"{type(sequences).__name__}.")
    lengths, step_shape = [], None
    for index, sequence in enumerate(sequences):
        if not hasattr(sequence, "__len__"):
            raise ValueError(f"pad_sequences: sequence {index} is not a list or array: {sequence!r:.80}")
        lengths.append(len(sequence))
        if step_shape is None and len(sequence):
            step_shape = np.asarray(sequence).shape[1:]
    step_shape = step_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not hasattr(maxlen, "__index__") or int(maxlen) < 1:
        raise ValueError(f"pad_sequences maxlen must be a positive int or None, got {maxlen!r}")
    maxlen = int(maxlen)
    text_dtype = dtype is object or np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.bytes_)
    if isinstance(value, str) and not text_dtype:
        raise ValueError(f"pad_sequences: a string value {value!r} needs dtype=object (or a string dtype), "
                         f"not {dtype!r}.")
    result = np.full((len(lengths), maxlen) + tuple(step_shape), value, dtype=dtype)
    for index, (sequence, length) in enumerate(zip(sequences, lengths)):
        if not length:
            continue
        kept = np.asarray(sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(step_shape):
            raise ValueError(f"pad_sequences: the steps of sequence {index} have shape {kept.shape[1:]}, "
                             f"those of the first non-empty sequence {tuple(step_shape)}.")
        if padding == "post":
            result[index, :len(kept)] = kept
        else:
            result[index, maxlen - len(kept):] = kept
    return result
