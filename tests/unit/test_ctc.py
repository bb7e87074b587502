"""CTC: `keras.losses.CTC` / `keras.losses.ctc` and `ops.ctc_decode` against Keras 3 (JAX backend) as the oracle;
`ops.ctc_loss` and `ops.ctc_decode`'s results are in test_ops.py's CASES."""
import jax
import keras
import numpy as np
import pytest

import scanfit
from scanfit import losses, ops

RNG = np.random.default_rng(8)
LABELS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 4, 4, 1], [2, 0, 0, 0]])  # 0: the blank, padding the rows
LOGITS = RNG.normal(size=(4, 9, 5)).astype("float32")


def test_ctc_function_and_class_equal_keras():
    np.testing.assert_allclose(losses.ctc(LABELS, LOGITS), keras.losses.ctc(LABELS, LOGITS), rtol=1e-6)
    weights = np.array([1.0, 0.5, 0.0, 2.0], "float32")
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", None):
        for sample_weight in (None, weights):
            got = scanfit.losses.CTC(reduction=reduction)(LABELS, LOGITS, sample_weight=sample_weight)
            want = keras.losses.CTC(reduction=reduction)(LABELS, LOGITS, sample_weight=sample_weight)
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_ctc_loss_is_named_serialized_and_looked_up_as_in_keras():
    loss = scanfit.losses.CTC(reduction="sum")
    assert loss.name == keras.losses.CTC().name == "ctc"
    assert loss.get_config() == {k: v for k, v in keras.losses.CTC(reduction="sum").get_config().items()
                                 if k != "dtype"}
    assert scanfit.losses.get("ctc") is losses.ctc
    assert isinstance(scanfit.losses.get("CTC"), scanfit.losses.CTC)
    again = scanfit.losses.deserialize(scanfit.losses.serialize(loss))
    assert isinstance(again, scanfit.losses.CTC) and again.reduction == "sum"


def test_ctc_gradients_equal_keras():
    got = jax.grad(lambda logits: scanfit.losses.CTC()(LABELS, logits))(LOGITS)
    want = jax.grad(lambda logits: keras.losses.CTC()(LABELS, logits))(LOGITS)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_ctc_function_refuses_wrong_ranks():
    with pytest.raises(ValueError, match="y_true \\(batch, labels\\) and logits y_pred \\(batch, steps, classes\\)"):
        losses.ctc(LABELS[:, :, None], LOGITS)


def test_greedy_decode_compiles_and_beam_search_finds_the_exact_best_path():
    lengths = np.array([9, 6, 3, 1])
    want = keras.ops.ctc_decode(LOGITS, lengths)
    for got, expected in zip(jax.jit(lambda x, n: ops.ctc_decode(x, n))(LOGITS, lengths), want):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    # a beam wide enough keeps every prefix: the best path's score is then the largest exact log-probability
    # of a label sequence, computed here by enumerating the ctc_loss of every candidate sequence
    logits = LOGITS[:1, :3, :3]
    labels, scores = ops.ctc_decode(logits, np.array([3]), strategy="beam_search", beam_width=50, top_paths=3)
    candidates = [()] + [(a,) for a in (1, 2)] + [(a, b) for a in (1, 2) for b in (1, 2)] + [
        (a, b, c) for a in (1, 2) for b in (1, 2) for c in (1, 2)]
    exact = {}
    for sequence in candidates:
        row = np.array([list(sequence) + [0] * (3 - len(sequence))])
        exact[sequence] = -float(keras.ops.ctc_loss(row, logits, np.array([len(sequence)]), np.array([3]))[0])
    best = sorted(exact, key=exact.get, reverse=True)[:3]
    assert [tuple(int(v) for v in path[0] if v >= 0) for path in np.asarray(labels)] == best
    np.testing.assert_allclose(scores[0], [exact[s] for s in best], rtol=1e-4)


def test_ctc_decode_refuses_arguments_it_cannot_honour():
    with pytest.raises(ValueError, match="strategy must be 'greedy' or 'beam_search'"):
        ops.ctc_decode(LOGITS, np.array([9] * 4), strategy="exhaustive")
    with pytest.raises(ValueError, match="top_paths and beam_width are for strategy='beam_search'"):
        ops.ctc_decode(LOGITS, np.array([9] * 4), top_paths=2)
    with pytest.raises(ValueError, match="merge_repeated=False is for strategy='greedy'"):
        ops.ctc_decode(LOGITS, np.array([9] * 4), strategy="beam_search", merge_repeated=False)
    with pytest.raises(ValueError, match="not inside compiled code"):
        jax.jit(lambda x: ops.ctc_decode(x, np.array([9] * 4), strategy="beam_search"))(LOGITS)


def test_ctc_operations_on_keras_inputs_build_a_model_as_in_keras():
    lengths = np.array([9, 6, 3, 1])
    for library in (scanfit, keras):
        labels, logits = library.Input((4,), dtype="int32"), library.Input((9, 5))
        label_lengths, logit_lengths = library.Input((), dtype="int32"), library.Input((), dtype="int32")
        loss = library.Model([labels, logits, label_lengths, logit_lengths],
                             library.ops.ctc_loss(labels, logits, label_lengths, logit_lengths))
        decoded = library.Model([logits, logit_lengths], list(library.ops.ctc_decode(logits, logit_lengths)))
        if library is scanfit:
            got = loss([LABELS, LOGITS, np.array([3, 2, 4, 1]), lengths]), decoded([LOGITS, lengths])
    np.testing.assert_allclose(got[0], loss([LABELS, LOGITS, np.array([3, 2, 4, 1]), lengths]), rtol=1e-6)
    for g, w in zip(got[1], decoded([LOGITS, lengths])):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_a_model_trains_with_the_ctc_loss_as_in_keras():
    """Labels (batch, labels) against outputs (batch, steps, classes): shapes that differ, as CTC's do."""
    x, y = RNG.normal(size=(16, 9, 4)).astype("float32"), RNG.integers(1, 5, size=(16, 3))
    histories, weights = [], None
    for library in (keras, scanfit):
        model = library.Sequential([library.Input((9, 4)), library.layers.Dense(5)])
        weights = weights or [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]
        model.set_weights(weights)
        model.compile(library.optimizers.SGD(0.1), loss=library.losses.CTC())
        histories.append(model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
