"""Connectionist temporal classification (CTC): the loss of label sequences under per-step class scores, and
decoding those scores into label sequences (greedy, or a prefix beam search), with Keras 3's arguments and results.

Label sequences are padded rows of class ids; `mask_index` is the blank class. Used by ``keras.ops.ctc_loss``,
``keras.ops.ctc_decode`` and ``keras.losses.CTC``.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax


def _paddings(lengths, size, dtype):
    """1.0 at the positions of each row past its length, 0.0 before (optax's padding masks)."""
    return (jnp.arange(size)[None, :] >= jnp.asarray(lengths, jnp.int32)[:, None]).astype(dtype)


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """The negative log-likelihood of each label row of `target` (batch, labels), its first `target_length`
    entries, under the logits `output` (batch, steps, classes), their first `output_length` steps."""
    target = jnp.asarray(target, jnp.int32)
    output = jnp.asarray(output)
    output = output.astype(jnp.result_type(output.dtype, jnp.float32))
    if target.ndim != 2 or output.ndim != 3 or target.shape[0] != output.shape[0]:
        raise ValueError(f"ctc_loss takes target (batch, labels) and output (batch, steps, classes), got shapes "
                         f"{target.shape} and {output.shape}.")
    return optax.ctc_loss(output, _paddings(output_length, output.shape[1], output.dtype), target,
                          _paddings(target_length, target.shape[1], output.dtype), blank_id=mask_index)


def greedy_decode(inputs, sequence_lengths, merge_repeated, mask_index):
    """The most likely class of each step, repeats merged (with `merge_repeated`) and blanks dropped: (1, batch,
    steps) labels padded with -1 at the end, and (batch, 1) scores, minus the sum of the chosen inputs."""
    steps = inputs.shape[1]
    classes, best = jnp.argmax(inputs, axis=-1), jnp.max(inputs, axis=-1)
    past_end = jnp.arange(steps)[None, :] >= jnp.asarray(sequence_lengths, jnp.int32)[:, None]
    classes = jnp.where(past_end, mask_index, classes)
    best = jnp.where(past_end, 0.0, best)
    if merge_repeated:
        repeated = jnp.pad(classes[:, 1:] == classes[:, :-1], ((0, 0), (1, 0)))
        classes = jnp.where(repeated, mask_index, classes)
    dropped = classes == mask_index
    order = jnp.argsort(jnp.where(dropped, steps, jnp.arange(steps)[None, :]), axis=-1, stable=True)
    labels = jnp.take_along_axis(jnp.where(dropped, -1, classes), order, axis=-1)
    return labels[None].astype(jnp.int32), -jnp.sum(best, axis=1, keepdims=True)


def _most_likely(beams, count):
    """The `count` prefixes of `beams` ({prefix: (log p ending in a blank, log p ending in a label)}) of the
    greatest total probability, best first."""
    return dict(sorted(beams.items(), key=lambda item: -np.logaddexp(*item[1]))[:count])


def _beam_search_one(log_probs, length, beam_width, top_paths, blank):
    """The `top_paths` most likely label sequences of one sample's (steps, classes) log-probabilities and their
    log-probabilities, by a prefix beam search keeping `beam_width` prefixes; the first step is always taken,
    as in Keras."""
    never = -np.inf
    beams = {(): (0.0, never)}
    for t in range(max(length, 1)):
        grown = {}

        def add(prefix, ends_in_blank, p):
            blank_p, label_p = grown.get(prefix, (never, never))
            if ends_in_blank:
                grown[prefix] = (np.logaddexp(blank_p, p), label_p)
            else:
                grown[prefix] = (blank_p, np.logaddexp(label_p, p))

        for prefix, (blank_p, label_p) in beams.items():
            for c, p in enumerate(log_probs[t]):
                if c == blank:
                    add(prefix, True, np.logaddexp(blank_p, label_p) + p)
                elif prefix and prefix[-1] == c:  # a repeat continues the label; after a blank it is a new one
                    add(prefix, False, label_p + p)
                    add(prefix + (c,), False, blank_p + p)
                else:
                    add(prefix + (c,), False, np.logaddexp(blank_p, label_p) + p)
        beams = _most_likely(grown, beam_width)
    return [(prefix, np.logaddexp(*ps)) for prefix, ps in _most_likely(beams, top_paths).items()]


def beam_search_decode(inputs, sequence_lengths, beam_width, top_paths, mask_index):
    """The `top_paths` most likely label sequences of each sample: (top_paths, batch, steps) labels padded with -1,
    and (batch, top_paths) log-probabilities. Runs on the host, on concrete arrays."""
    try:
        log_probs = np.asarray(jax.nn.log_softmax(inputs), np.float64)
        lengths = np.asarray(sequence_lengths)
    except jax.errors.TracerArrayConversionError:
        raise ValueError("ops.ctc_decode(strategy='beam_search') runs on concrete arrays, not inside compiled code: "
                         "call it on a model's predictions (or use strategy='greedy').") from None
    batch, steps, _ = log_probs.shape
    labels = np.full((top_paths, batch, steps), -1, np.int32)
    scores = np.full((batch, top_paths), -np.inf)
    for b in range(batch):
        for rank, (prefix, score) in enumerate(_beam_search_one(log_probs[b], int(lengths[b]), beam_width, top_paths,
                                                                mask_index)):
            labels[rank, b, :len(prefix)] = prefix
            scores[b, rank] = score
    return jnp.asarray(labels), jnp.asarray(scores, inputs.dtype)
