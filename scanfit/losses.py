"""Keras losses on JAX: per-sample functions, ``Loss`` classes, and look-up.

Every function here is pure and jit-safe: ``fn(y_true, y_pred) -> losses`` of
shape ``y_pred.shape[:-1]``, computed with the same operations (and the same
``1e-7`` probability clipping) as Keras 3 on its JAX backend. The ``Loss``
classes add Keras's reductions (``"sum_over_batch_size"``, ``"sum"``, ...) and
sample weights; the training engine uses :func:`per_sample_fn`.
"""
import functools
import re
import warnings

import jax
import jax.numpy as jnp

from scanfit import config, ctc as _ctc, serialization

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# ---------------------------------------------------------------------------
# Shared helpers (also used by scanfit.metrics)
# ---------------------------------------------------------------------------

def snake_case(name):
    """``"TopKCategoricalAccuracy"`` -> ``"top_k_categorical_accuracy"`` (Keras's naming)."""
    name = re.sub(r"\W+", "", name)
    return re.sub(r"(?<=.)(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", name).lower()


def match_ranks(a, b):
    """Drop or add one trailing size-1 axis so ``a`` and ``b`` have the same rank.

    When the ranks differ by one and the bigger one ends in a size-1 axis, a
    rank-1 partner gains that axis; otherwise the size-1 axis is dropped.
    Anything else is returned unchanged (Keras's squeeze-or-expand rule).
    """
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1:
            b = jnp.expand_dims(b, -1)
        else:
            a = jnp.squeeze(a, -1)
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1:
            a = jnp.expand_dims(a, -1)
        else:
            b = jnp.squeeze(b, -1)
    return a, b


def divide_no_nan(numerator, denominator):
    """``numerator / denominator``, or 0 where the denominator is 0."""
    safe = jnp.where(denominator == 0, 1, denominator)
    return jnp.where(denominator == 0, 0, numerator / safe)


def classify_targets(y_true_shape, y_pred_shape):
    """``(is_binary, is_sparse)`` for targets/predictions of these shapes, as Keras's compile decides.

    Binary when predictions have one unit; sparse (integer labels) when the
    labels have fewer dimensions, or a last dimension of 1 while the
    predictions have more.
    """
    y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
    if not y_true_shape or not y_pred_shape:
        raise ValueError(
            f"Expected y_true and y_pred shapes of rank >= 1, got "
            f"y_true_shape={y_true_shape} and y_pred_shape={y_pred_shape}."
        )
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (
        y_true_shape[-1] == 1 and y_pred_shape[-1] > 1
    )
    return is_binary, is_sparse


def _check_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"`axis` must be an int, got axis={axis!r} of type {type(axis).__name__}.")


def _true_and_pred(y_true, y_pred):
    """``y_pred`` as an array, ``y_true`` cast to its dtype."""
    y_pred = jnp.asarray(y_pred)
    return jnp.asarray(y_true).astype(y_pred.dtype), y_pred


def _log_probabilities(y_pred, from_logits, axis):
    """Log-probabilities along ``axis``: log-softmax of logits, or clipped log of renormalized probabilities."""
    if from_logits:
        return jax.nn.log_softmax(y_pred, axis=axis)
    probabilities = y_pred / jnp.sum(y_pred, axis, keepdims=True)
    return jnp.log(jnp.clip(probabilities, config.epsilon(), 1.0 - config.epsilon()))


def _binary_to_signed(y_true):
    """Labels that are all 0/1 become -1/+1; any other labels are kept (jit-safe)."""
    all_binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(all_binary, 2.0 * y_true - 1.0, y_true)


def l2_normalize(x, axis):
    """``x`` divided by its L2 norm along ``axis`` (at most ``1e7`` times ``x``, so zero vectors stay zero)."""
    squares = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * jnp.minimum(jax.lax.rsqrt(squares), 1.0 / config.epsilon())


# ---------------------------------------------------------------------------
# Per-sample loss functions
# ---------------------------------------------------------------------------

def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Cross-entropy between integer labels and class probabilities (or logits).

    ``y_true`` holds class ids, shaped like ``y_pred`` without its class axis
    (a trailing axis of size 1 is also accepted). With ``ignore_class``, samples
    with that label get a loss of 0.
    """
    return _sparse_crossentropy_and_mask(y_true, y_pred, from_logits, ignore_class, axis)[0]


def _sparse_crossentropy_and_mask(y_true, y_pred, from_logits, ignore_class, axis):
    """``(losses, valid)``: ``valid`` is None, or False where the label is ``ignore_class``."""
    _check_axis(axis)
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    if y_pred.ndim < 1:
        raise ValueError(f"y_pred must have rank >= 1 (a class axis), got shape {y_pred.shape}.")
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = jnp.squeeze(y_true, axis)
    class_axis = axis % y_pred.ndim
    expected_shape = tuple(d for i, d in enumerate(y_pred.shape) if i != class_axis)
    if y_true.shape != expected_shape:
        raise ValueError(
            f"y_true must have the shape of y_pred without its class axis, {expected_shape}; "
            f"got y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}."
        )
    valid = None
    if ignore_class is not None:
        valid = y_true != jnp.asarray(ignore_class).astype(y_pred.dtype)
        y_true = jnp.where(valid, y_true, 0)
        y_pred = jnp.where(jnp.expand_dims(valid, axis), y_pred, 0)
    log_prob = _log_probabilities(y_pred, from_logits, axis)
    one_hot = jax.nn.one_hot(y_true.astype(jnp.int32), y_pred.shape[axis], axis=axis)
    losses = -jnp.sum(one_hot * log_prob, axis=axis)
    if valid is not None:
        losses = jnp.where(valid, losses, 0.0)
    return losses, valid


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy between one-hot (or soft) targets and class probabilities (or logits)."""
    _check_axis(axis)
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    if y_pred.ndim < 1 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape (rank >= 1), got "
            f"y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}."
        )
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"categorical_crossentropy got y_pred of shape {y_pred.shape}: a single class "
            "always has probability 1. Use binary_crossentropy for two classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    if label_smoothing:
        num_classes = jnp.asarray(y_true.shape[-1], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + (label_smoothing / num_classes)
    return -jnp.sum(y_true * _log_probabilities(y_pred, from_logits, axis), axis=axis)


def _binary_targets(y_true, y_pred, label_smoothing, axis):
    """Binary targets and predictions of matched ranks and equal shapes, the targets smoothed towards 0.5."""
    _check_axis(axis)
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got "
            f"y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}."
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y_true, y_pred


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over ``axis`` of the element-wise binary cross-entropy.

    Labels of shape ``(batch,)`` with predictions ``(batch, 1)`` are aligned
    first, as Keras's loss classes do.
    """
    y_true, y_pred = _binary_targets(y_true, y_pred, label_smoothing, axis)
    if from_logits:
        elementwise = -1.0 * y_true * jax.nn.log_sigmoid(y_pred) - (1.0 - y_true) * jax.nn.log_sigmoid(-y_pred)
    else:
        y_pred = jnp.clip(y_pred, config.epsilon(), 1.0 - config.epsilon())
        log_likelihood = y_true * jnp.log(y_pred)
        log_likelihood += (1.0 - y_true) * jnp.log(1.0 - y_pred)
        elementwise = -log_likelihood
    return jnp.mean(elementwise, axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Mean over ``axis`` of the binary cross-entropy scaled by the focal factor ``(1 - p_t) ** gamma`` (Lin et
    al. 2017; ``p_t`` is the probability given to the true label), and with `apply_class_balancing` by ``alpha``
    for positives and ``1 - alpha`` for negatives."""
    y_true, y_pred = _binary_targets(y_true, y_pred, label_smoothing, axis)
    if from_logits:
        y_pred = jax.nn.sigmoid(y_pred)
    clipped = jnp.clip(y_pred, config.epsilon(), 1.0 - config.epsilon())
    crossentropy = -(y_true * jnp.log(clipped) + (1.0 - y_true) * jnp.log(1.0 - clipped))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = jnp.power(1.0 - p_t, gamma) * crossentropy
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return jnp.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Sum over ``axis`` of the categorical cross-entropy terms scaled by ``alpha * (1 - p) ** gamma``, ``p`` the
    (renormalized, clipped) probability of each class."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    if label_smoothing:
        num_classes = jnp.asarray(y_true.shape[-1], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + (label_smoothing / num_classes)
    if from_logits:
        y_pred = jax.nn.softmax(y_pred, axis=axis)
    probabilities = jnp.clip(y_pred / jnp.sum(y_pred, axis=axis, keepdims=True), config.epsilon(),
                             1.0 - config.epsilon())
    terms = alpha * jnp.power(1.0 - probabilities, gamma) * (-y_true * jnp.log(probabilities))
    return jnp.sum(terms, axis=axis)


def dice(y_true, y_pred, axis=None):
    """``1 - 2 |y_true * y_pred| / (|y_true| + |y_pred|)``, the sums over `axis` (None: the whole batch, one
    number, as in Keras)."""
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    intersection = jnp.sum(y_true * y_pred, axis=axis)
    return 1 - 2.0 * intersection / (jnp.sum(y_true, axis=axis) + jnp.sum(y_pred, axis=axis) + config.epsilon())


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - tp / (tp + alpha * fp + beta * fn)`` with soft counts summed over `axis` (None: the whole batch). As
    in Keras 3.15, ``fp`` sums ``(1 - y_pred) * y_true`` and ``fn`` sums ``y_pred * (1 - y_true)``, so `alpha`
    weighs the missed positives and `beta` the false alarms."""
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    intersection = jnp.sum(y_true * y_pred, axis=axis)
    missed = jnp.sum((1 - y_pred) * y_true, axis=axis)
    false_alarms = jnp.sum(y_pred * (1 - y_true), axis=axis)
    return 1 - intersection / (intersection + missed * alpha + false_alarms * beta + config.epsilon())


def ctc(y_true, y_pred):
    """The CTC loss of each row of integer labels `y_true` (batch, labels; 0 is the blank and pads the rows)
    under the logits `y_pred` (batch, steps, classes), all steps used."""
    if jnp.ndim(y_true) != 2 or jnp.ndim(y_pred) != 3:
        raise ValueError(f"ctc takes labels y_true (batch, labels) and logits y_pred (batch, steps, classes), got "
                         f"shapes {jnp.shape(y_true)} and {jnp.shape(y_pred)}.")
    y_true = jnp.asarray(y_true, jnp.int32)
    batch, steps = jnp.shape(y_pred)[:2]
    return _ctc.ctc_loss(y_true, y_pred, jnp.sum(y_true != 0, axis=-1), jnp.full((batch,), steps), 0)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """The Circle loss (Sun et al., 2020) of each embedding of `y_pred` (batch, dim; L2-normalized), labelled
    by the integers `y_true`, against the reference embeddings and labels (by default the batch itself): the
    softplus of the log-sum-exp of the weighted positive terms plus that of the negative terms, over cosine
    distances ``max(1 - a . b, 0)``. With `remove_diagonal` an embedding is not its own positive; one with no
    positive gets 0 (which `Circle` leaves out of its mean, as Keras does)."""
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.reshape(jnp.asarray(y_true).astype(jnp.int32), (-1,))
    references = y_pred if ref_embeddings is None else jnp.asarray(ref_embeddings)
    ref_labels = y_true if ref_labels is None else jnp.reshape(jnp.asarray(ref_labels).astype(jnp.int32), (-1,))
    distances = jnp.maximum(1 - jnp.matmul(y_pred, references.T), 0.0)
    positive = y_true[:, None] == ref_labels[None, :]
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~jnp.eye(y_true.size, ref_labels.size, dtype=bool)
    positive_weights = jnp.maximum((margin + distances) * positive.astype(distances.dtype), 0.0)
    negative_weights = jnp.maximum((1 + margin - distances) * negative.astype(distances.dtype), 0.0)
    positive_terms = -gamma * positive_weights * (margin - distances)
    negative_terms = gamma * negative_weights * (1 - margin - distances)
    positive_loss = jax.scipy.special.logsumexp(jnp.where(positive, positive_terms, -jnp.inf), axis=1)
    negative_loss = jax.scipy.special.logsumexp(jnp.where(negative, negative_terms, -jnp.inf), axis=1)
    return jax.nn.softplus(positive_loss + negative_loss)


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)``."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    ratio = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), jnp.asarray(config.epsilon(), y_pred.dtype)))
    return 100.0 * jnp.mean(ratio, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean(square(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)), axis=-1)``."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    epsilon = jnp.asarray(config.epsilon(), jnp.float32)
    log_pred = jnp.log(jnp.maximum(y_pred, epsilon) + 1.0)
    log_true = jnp.log(jnp.maximum(y_true, epsilon) + 1.0)
    return jnp.mean(jnp.square(log_pred - log_true), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Mean over the last axis of ``0.5 x^2`` for ``|x| <= delta``, else ``delta |x| - 0.5 delta^2``."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    delta = jnp.asarray(delta, y_pred.dtype)
    error = y_pred - y_true
    abs_error = jnp.abs(error)
    half = jnp.asarray(0.5, abs_error.dtype)
    elementwise = jnp.where(abs_error <= delta, half * jnp.square(error), delta * abs_error - half * jnp.square(delta))
    return jnp.mean(elementwise, axis=-1)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Generalized cross-entropy ``(1 - p**q) / q`` of the probability ``p`` given to the true class (integer
    labels, shape ``(batch,)`` or ``(batch, 1)``): cross-entropy as ``q`` nears 0, the mean absolute error at 1,
    robust to noisy labels in between."""
    y_pred = jnp.asarray(y_pred)
    labels = jnp.asarray(y_true).astype(jnp.int32)
    if labels.ndim == y_pred.ndim:
        labels = labels[..., 0]
    p = jnp.sum(y_pred * jax.nn.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype), axis=-1)
    return (1.0 - jnp.power(p, q)) / q


def log_cosh(y_true, y_pred):
    """Mean over the last axis of ``log(cosh(y_pred - y_true))``, computed without overflow."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    error = y_pred - y_true
    log2 = jnp.asarray(jnp.log(2.0), y_pred.dtype)
    return jnp.mean(error + jax.nn.softplus(error * -2.0) - log2, axis=-1)


def hinge(y_true, y_pred):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels are mapped to -1/+1."""
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    y_true = _binary_to_signed(y_true)
    return jnp.mean(jnp.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; 0/1 labels are mapped to -1/+1."""
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    y_true = _binary_to_signed(y_true)
    return jnp.mean(jnp.square(jnp.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis."""
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    positive = jnp.sum(y_true * y_pred, axis=-1)
    negative = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(negative - positive + 1.0, jnp.asarray(0.0, y_pred.dtype))


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to ``[1e-7, 1]``."""
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    y_true = jnp.clip(y_true, config.epsilon(), 1)
    y_pred = jnp.clip(y_pred, config.epsilon(), 1)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``."""
    y_true, y_pred = _true_and_pred(y_true, y_pred)
    epsilon = jnp.asarray(config.epsilon(), y_pred.dtype)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + epsilon), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Negative cosine similarity along ``axis`` (-1 means identical directions; 0 for a zero vector)."""
    y_true, y_pred = match_ranks(*_true_and_pred(y_true, y_pred))
    return -jnp.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence  # the last is tf.keras 2's name (Hands-On ML, ch. 17)
bce = BCE = binary_crossentropy


# ---------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------

def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction={reduction!r}. Expected one of {list(REDUCTIONS)}.")
    return reduction


def _mask_to_weights(mask, sample_weight, reduction, dtype):
    """Fold a validity mask into the sample weights.

    For mean reductions valid entries weigh ``total / valid``, so the mean is
    taken over the valid entries only.
    """
    mask = jnp.asarray(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        mask_weight = divide_no_nan(jnp.asarray(mask.size, dtype), jnp.sum(mask.astype(dtype)))
        mask_weights = jnp.where(mask.astype(bool), mask_weight, 0).astype(dtype)
    else:
        mask_weights = mask.astype(dtype)
    if sample_weight is None:
        return mask_weights
    mask_weights, sample_weight = match_ranks(mask_weights, sample_weight)
    return sample_weight * mask_weights


def reduce_weighted(losses, sample_weight=None, mask=None, reduction="sum_over_batch_size", dtype="float32"):
    """Apply sample weights (and a validity mask) to per-sample ``losses`` and reduce them."""
    _check_reduction(reduction)
    losses = jnp.asarray(losses, dtype)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight, dtype)
    if mask is not None:
        sample_weight = _mask_to_weights(mask, sample_weight, reduction, dtype)
    if sample_weight is not None:
        losses, sample_weight = match_ranks(losses, sample_weight)
        losses = losses * sample_weight
    if reduction in (None, "none") or losses.shape in ((), (0,)):
        return losses
    total = jnp.sum(losses)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = jnp.sum(sample_weight).astype(total.dtype)
    else:
        divisor = jnp.asarray(losses.size, total.dtype)
    return divide_no_nan(total, divisor)


class Loss:
    """Base class of losses: subclasses implement ``call(y_true, y_pred)`` returning per-sample losses.

    Calling the loss applies ``sample_weight`` and the ``reduction``:
    ``"sum_over_batch_size"`` (or ``"mean"``) divides the weighted sum by the
    number of loss values, ``"sum"`` returns it, ``None``/``"none"`` returns the
    weighted per-sample values, ``"mean_with_sample_weight"`` divides by the
    sum of the weights.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self.reduction = _check_reduction(reduction)
        self.dtype = jnp.dtype(dtype or "float32").name

    def __call__(self, y_true, y_pred, sample_weight=None):
        losses, mask = self.call_with_mask(*self._as_arrays(y_true, y_pred))
        return reduce_weighted(losses, sample_weight, mask, self.reduction, self.dtype)

    def _as_arrays(self, y_true, y_pred):
        return jnp.asarray(y_true, self.dtype), jnp.asarray(y_pred, self.dtype)

    def call(self, y_true, y_pred):
        """Per-sample losses (no weighting, no reduction)."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def call_with_mask(self, y_true, y_pred):
        """``(per-sample losses, validity mask or None)``; losses that ignore entries override this."""
        return self.call(y_true, y_pred), None

    masks_entries = False  # whether `call_with_mask` leaves entries out of the mean (then `fit` weighs them)

    def per_sample(self, y_true, y_pred):
        """Per-sample losses after converting the inputs to this loss's dtype (pure, jit-safe). A loss that leaves
        entries out (`masks_entries`) gives them 0 and, under a mean reduction, the kept ones ``count / kept``
        times their value, so that the batch's mean is the mean over the kept ones, as Keras weighs them."""
        if not self.masks_entries:
            return self.call(*self._as_arrays(y_true, y_pred))
        losses, mask = self.call_with_mask(*self._as_arrays(y_true, y_pred))
        mask = jnp.asarray(mask, losses.dtype)
        if self.reduction in ("sum_over_batch_size", "mean"):
            mask = mask * (mask.size / (jnp.sum(mask) + config.epsilon()))
        return losses * mask

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A ``Loss`` computing ``fn(y_true, y_pred, **kwargs)``; ``self.fn`` has the kwargs bound."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"`fn` must be a callable loss function, got {fn!r} of type {type(fn).__name__}.")
        super().__init__(name=name or _function_name(fn), reduction=reduction, dtype=dtype)
        self._function = fn
        self._fn_kwargs = kwargs
        self.fn = functools.partial(fn, **kwargs) if kwargs else fn

    def call(self, y_true, y_pred):
        return self.fn(*match_ranks(y_true, y_pred))

    def get_config(self):
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is LossFunctionWrapper:
            config["fn"] = serialize(self._function)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize(config["fn"])
        return cls(**config)

    def __repr__(self):
        fn_name = _function_name(self._function)
        return f"<{type(self).__name__} name={self.name!r} fn={fn_name} kwargs={self._fn_kwargs}>"


def _function_name(fn):
    return snake_case(getattr(fn, "__name__", type(fn).__name__))


class _FixedFunctionLoss(LossFunctionWrapper):
    """A loss whose function takes no options: subclasses set ``function`` and ``default_name``."""

    function = None
    default_name = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(type(self).function, reduction=reduction, name=name or self.default_name, dtype=dtype)


class MeanSquaredError(_FixedFunctionLoss):
    """Mean of squared errors."""

    function, default_name = mean_squared_error, "mean_squared_error"


class MeanAbsoluteError(_FixedFunctionLoss):
    """Mean of absolute errors."""

    function, default_name = mean_absolute_error, "mean_absolute_error"


class MeanAbsolutePercentageError(_FixedFunctionLoss):
    """Mean absolute percentage error."""

    function, default_name = mean_absolute_percentage_error, "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_FixedFunctionLoss):
    """Mean squared logarithmic error."""

    function, default_name = mean_squared_logarithmic_error, "mean_squared_logarithmic_error"


class LogCosh(_FixedFunctionLoss):
    """Log of the hyperbolic cosine of the error."""

    function, default_name = log_cosh, "log_cosh"


class Hinge(_FixedFunctionLoss):
    """Hinge loss (0/1 labels become -1/+1)."""

    function, default_name = hinge, "hinge"


class SquaredHinge(_FixedFunctionLoss):
    """Squared hinge loss (0/1 labels become -1/+1)."""

    function, default_name = squared_hinge, "squared_hinge"


class CategoricalHinge(_FixedFunctionLoss):
    """Categorical hinge loss."""

    function, default_name = categorical_hinge, "categorical_hinge"


class KLDivergence(_FixedFunctionLoss):
    """Kullback-Leibler divergence."""

    function, default_name = kl_divergence, "kl_divergence"


class Poisson(_FixedFunctionLoss):
    """Poisson loss."""

    function, default_name = poisson, "poisson"


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis``."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)


class Huber(LossFunctionWrapper):
    """Huber loss: quadratic for errors up to ``delta``, linear beyond."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy for 0/1 targets and probabilities (or logits with ``from_logits=True``)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy that down-weights well-classified examples (see `binary_focal_crossentropy`)."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy that down-weights well-classified examples (see
    `categorical_focal_crossentropy`)."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.alpha, self.gamma = alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class Dice(LossFunctionWrapper):
    """The Dice loss (see `dice`)."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Tversky(LossFunctionWrapper):
    """The Tversky loss (see `tversky`); ``alpha = beta = 0.5`` is the Dice loss."""

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis)
        self.alpha, self.beta, self.axis = alpha, beta, axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for one-hot targets."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for integer labels; entries labelled ``ignore_class`` are left out of the mean."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    @property
    def masks_entries(self):
        return self.ignore_class is not None

    def call_with_mask(self, y_true, y_pred):
        y_true, y_pred = match_ranks(y_true, y_pred)
        return _sparse_crossentropy_and_mask(y_true, y_pred, self.from_logits, self.ignore_class, self.axis)


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Generalized cross-entropy for noisy labels (see `categorical_generalized_cross_entropy`); `q` in (0, 1)."""

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        if not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy needs q in (0, 1), got q={q!r}.")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, q=q)
        self.q = q


class CTC(LossFunctionWrapper):
    """The CTC loss (see `ctc`)."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)


class Circle(LossFunctionWrapper):
    """The Circle loss of integer labels and L2-normalized embeddings (see `circle`); as in Keras, the mean
    leaves out the embeddings whose loss is 0 (those with no positive in the batch)."""

    masks_entries = True

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size", name="circle",
                 dtype=None):
        super().__init__(circle, reduction=reduction, name=name, dtype=dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)
        self.gamma, self.margin, self.remove_diagonal = gamma, margin, remove_diagonal

    def call_with_mask(self, y_true, y_pred):
        losses = self.call(y_true, y_pred)
        return losses, losses > 0


# ---------------------------------------------------------------------------
# Look-up and serialization
# ---------------------------------------------------------------------------

FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy, mean_squared_error,
        mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, huber, log_cosh,
        hinge, squared_hinge, categorical_hinge, kl_divergence, poisson, cosine_similarity,
        binary_focal_crossentropy, categorical_focal_crossentropy, dice, tversky, ctc,
        categorical_generalized_cross_entropy, circle,
    )
}
ALIASES = {
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
    "kld": kl_divergence, "KLD": kl_divergence,
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
}
CLASSES = {
    cls.__name__: cls
    for cls in (
        Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError, CosineSimilarity, Huber, LogCosh, Hinge, SquaredHinge, CategoricalHinge,
        KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
        BinaryFocalCrossentropy, CategoricalFocalCrossentropy, Dice, Tversky, CTC,
        CategoricalGeneralizedCrossEntropy, Circle,
    )
}
REGISTRY = {**FUNCTIONS, **ALIASES, **CLASSES}


def serialize(loss):
    """Keras 3's serialized form: a config dict for a ``Loss``, a ``"function"`` dict for a function."""
    if isinstance(loss, Loss):
        return serialization.object_config("keras.losses", loss, CLASSES, loss.get_config())
    if callable(loss) and hasattr(loss, "__name__"):
        return serialization.function_config(loss)
    raise TypeError(f"Cannot serialize loss {loss!r} of type {type(loss).__name__}: expected a Loss or a function.")


def deserialize(config, custom_objects=None):
    """Rebuild a loss from a name or a serialized dict (see :func:`serialize`)."""
    if isinstance(config, dict) and config.get("class_name") == "function":
        return serialization.lookup("loss", REGISTRY, config.get("config"), custom_objects)
    return serialization.resolve("loss", REGISTRY, config, custom_objects)


def get(identifier):
    """A loss from a name, a config dict, a ``Loss`` class or instance, or a function.

    Function names (``"categorical_crossentropy"``, ``"mse"``) give the
    function; class names give a new instance, as in Keras.
    """
    if isinstance(identifier, type):
        if not issubclass(identifier, Loss):
            raise TypeError(f"Expected a Loss subclass, got the class {identifier.__name__}.")
        return identifier()
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if identifier is None or callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret loss {identifier!r} (a {type(identifier).__name__}): "
        "expected a name, a config dict, a Loss, or a function."
    )


def as_loss_object(identifier):
    """A ``Loss`` for any accepted identifier; functions are wrapped, named after themselves."""
    loss = get(identifier)
    if loss is None:
        raise ValueError("Expected a loss, got None.")
    if isinstance(loss, Loss):
        return loss
    return LossFunctionWrapper(loss, name=identifier if isinstance(identifier, str) else None)


def per_sample_fn(loss):
    """``fn(y_true, y_pred) -> per-sample losses`` for any accepted loss (pure, jit-safe).

    Inputs are converted to the loss's dtype and, for functions, labels of shape
    ``(batch,)`` are aligned with predictions of shape ``(batch, 1)``, exactly as
    ``Loss.__call__`` does before reducing.
    """
    return as_loss_object(loss).per_sample


def resolve_loss(identifier, y_true_shape, y_pred_shape):
    """The ``Loss`` that Keras 3's ``compile(loss=identifier)`` would use, named as the user wrote it.

    ``"crossentropy"``/``"ce"`` pick binary, sparse categorical or categorical
    cross-entropy from the shapes (see :func:`classify_targets`).
    """
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        is_binary, is_sparse = classify_targets(y_true_shape, y_pred_shape)
        if is_binary:
            function = binary_crossentropy
        elif is_sparse:
            function = sparse_categorical_crossentropy
        else:
            function = categorical_crossentropy
        return LossFunctionWrapper(function, name=identifier)
    return as_loss_object(identifier)
