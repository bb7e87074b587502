"""Keras metrics on JAX: stateful ``Metric`` classes, per-sample functions, and look-up.

Most metrics the training engine runs are weighted means of per-sample values:
``metric.per_sample(y_true, y_pred)`` gives the values of a batch (one per
sample, or per step of a sequence output; pure and jit-safe), the engine
averages them with the sample weights (and the output's mask), and
``metric.result_from_mean(mean)`` turns that average into the reported value
(the identity, except for ``RootMeanSquaredError``, which takes the square
root). ``update_state`` / ``result`` / ``reset_state`` give Keras's stateful
API on top of the same functions. Metrics with state variables (a user's
``Metric`` subclass, ``Precision``, ``Recall``, ``AUC``) carry their
variables' values through the compiled epoch instead.
"""
import jax
import jax.numpy as jnp
import numpy as np

from scanfit import config, initializers, losses as losses_module, serialization
from scanfit.layers.execution import binding
from scanfit.losses import (  # noqa: F401 (the focal cross-entropies: keras.metrics exports them too)
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    classify_targets,
    divide_no_nan,
    hinge,
    huber,
    kl_divergence,
    l2_normalize,
    log_cosh,
    match_ranks,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    snake_case,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from scanfit.naming import unique_name
from scanfit.variables import Variable

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error


# ---------------------------------------------------------------------------
# Per-sample metric functions
# ---------------------------------------------------------------------------

def _argmax(x):
    """Argmax over the last axis that treats -0.0 as below +0.0 (as Keras does on CPU)."""
    if jnp.issubdtype(x.dtype, jnp.floating):
        x = jnp.where((x == 0.0) & jnp.signbit(x), -jnp.finfo(x.dtype).tiny, x)
    return jnp.argmax(x, axis=-1)


def _in_top_k(labels, scores, k):
    """True where the score of ``labels`` is among the ``k`` largest (ties count as in)."""
    label_scores = jnp.take_along_axis(scores, jnp.expand_dims(labels, -1), axis=-1)
    label_scores = jnp.where(jnp.isnan(label_scores), -jnp.inf, label_scores)
    rank = 1 + jnp.sum(scores > label_scores, axis=-1)
    return rank <= k


def accuracy(y_true, y_pred):
    """1.0 where ``y_pred`` equals ``y_true`` exactly, element-wise."""
    y_pred = jnp.asarray(y_pred)
    y_true, y_pred = match_ranks(jnp.asarray(y_true).astype(y_pred.dtype), y_pred)
    return (y_true == y_pred).astype(jnp.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 label, element-wise."""
    y_true, y_pred = match_ranks(jnp.asarray(y_true), jnp.asarray(y_pred))
    predicted = (y_pred > threshold).astype(y_true.dtype)
    return (y_true == predicted).astype(jnp.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where the arg-max of ``y_pred`` is the arg-max of the one-hot ``y_true``."""
    y_pred = jnp.asarray(y_pred)
    labels = _argmax(jnp.asarray(y_true)).astype(y_pred.dtype)
    labels_shape = labels.shape
    if labels.ndim == y_pred.ndim:
        labels = jnp.squeeze(labels, -1)
    matches = (labels == _argmax(y_pred).astype(labels.dtype)).astype(jnp.float32)
    return matches.reshape(labels_shape)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the arg-max of ``y_pred`` equals the integer label ``y_true``."""
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if y_true.ndim == y_pred.ndim:
        if y_true.shape[-1] != 1:
            raise ValueError(
                f"sparse_categorical_accuracy expects integer labels of shape {y_pred.shape[:-1]} "
                f"(or with a trailing 1), got y_true.shape={y_true.shape} for y_pred.shape={y_pred.shape}."
            )
        y_true = jnp.squeeze(y_true, -1)
    matches = (y_true == _argmax(y_pred).astype(y_true.dtype)).astype(jnp.float32)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = jnp.squeeze(matches, -1)
    return matches


def _top_k(labels, y_pred, k):
    flat_scores = y_pred.reshape(-1, y_pred.shape[-1]) if y_pred.ndim > 2 else y_pred
    matches = _in_top_k(labels.reshape(-1), flat_scores, k).astype(jnp.float32)
    return matches.reshape(labels.shape)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot target's class is among the ``k`` highest scores."""
    y_pred = jnp.asarray(y_pred)
    labels = _argmax(jnp.asarray(y_true).astype(y_pred.dtype)).astype(jnp.int32)
    return _top_k(labels, y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the ``k`` highest scores.

    With ``from_sorted_ids=True``, ``y_pred`` holds class ids sorted by score
    and the label must appear among its first ``k`` columns.
    """
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    if from_sorted_ids:
        y_true = y_true.astype(y_pred.dtype)
        flat_true = y_true.reshape(-1)
        flat_ids = y_pred.reshape(-1, y_pred.shape[-1]) if y_pred.ndim > 2 else y_pred
        matches = jnp.any(flat_true[:, None] == flat_ids[:, :k], axis=1).astype(jnp.float32)
        return matches.reshape(y_true.shape)
    return _top_k(y_true.astype(jnp.int32), y_pred, k)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine similarity along ``axis`` (1 means identical directions)."""
    y_pred = jnp.asarray(y_pred)
    y_true, y_pred = match_ranks(jnp.asarray(y_true).astype(y_pred.dtype), y_pred)
    return jnp.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation coefficient of each sample's targets and predictions along ``axis``."""
    y_pred = jnp.asarray(y_pred)
    y_true, y_pred = match_ranks(jnp.asarray(y_true).astype(y_pred.dtype), y_pred)
    y_true = y_true - jnp.mean(y_true, axis=axis, keepdims=True)
    y_pred = y_pred - jnp.mean(y_pred, axis=axis, keepdims=True)
    y_true = y_true / jnp.std(y_true, axis=axis, keepdims=True)
    y_pred = y_pred / jnp.std(y_pred, axis=axis, keepdims=True)
    return jnp.mean(y_true * y_pred, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation of each sample's targets and predictions along ``axis``, as Keras 3.15
    computes it: its covariance term centres the targets on the predictions' mean (Lin's formula centres
    them on their own; the two differ when the means differ)."""
    y_pred = jnp.asarray(y_pred)
    y_true, y_pred = match_ranks(jnp.asarray(y_true).astype(y_pred.dtype), y_pred)
    true_mean = jnp.mean(y_true, axis=axis, keepdims=True)
    pred_mean = jnp.mean(y_pred, axis=axis, keepdims=True)
    true_var = jnp.var(y_true - true_mean, axis=axis, keepdims=True)
    pred_var = jnp.var(y_pred - pred_mean, axis=axis, keepdims=True)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + jnp.square(true_mean - pred_mean)
    return jnp.mean(2 * covariance / (norm + config.epsilon()), axis=axis)


def squared_error(y_true, y_pred):
    """Element-wise ``(y_pred - y_true) ** 2`` (the values ``RootMeanSquaredError`` averages)."""
    y_true, y_pred = match_ranks(jnp.asarray(y_true, jnp.float32), jnp.asarray(y_pred, jnp.float32))
    return jnp.square(y_pred - y_true)


# ---------------------------------------------------------------------------
# Stateful metrics
# ---------------------------------------------------------------------------

def weighted_totals(values, sample_weight=None, reduce=jnp.mean):
    """``(total, count)`` that one batch of ``values`` adds to a weighted mean, as Keras's ``Mean`` does.

    Values are first reduced (averaged, or summed for ``Sum``) down to the rank
    of the weights, or to one value per sample; without weights each sample
    counts once.
    """
    values = jnp.asarray(values, jnp.float32)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight, jnp.float32)
        values, sample_weight = match_ranks(values, sample_weight)
        weight_rank = sample_weight.ndim
        if values.ndim > weight_rank:
            values = reduce(values, axis=tuple(range(weight_rank, values.ndim)))
        sample_weight = jnp.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_rank > 1:
            sample_weight = reduce(sample_weight, axis=tuple(range(1, weight_rank)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    if sample_weight is not None:
        count = jnp.sum(sample_weight)
    else:
        count = jnp.asarray(values.shape[0] if values.ndim else 1, jnp.float32)
    return jnp.sum(values), count


class Metric:
    """Base class of metrics: subclasses implement ``update_state``, ``result`` and ``reset_state``.

    A user's metric is written as in Keras 3 (Hands-on ML's streaming
    ``HuberMetric``): state variables from `add_weight` / `add_variable`,
    changed with ``assign``/``assign_add`` in ``update_state(y_true, y_pred,
    sample_weight=None)``, and ``result()`` computed from them. `fit` and
    `evaluate` carry the variables' values through the compiled epoch and
    call ``result()`` on them for the logs.
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or unique_name(snake_case(type(self).__name__))  # precision, precision_1, ... as Keras
        self.dtype = jnp.dtype(dtype or "float32").name
        self._variables = []

    @property
    def variables(self):
        """The state variables made by `add_variable` / `add_weight`."""
        return list(self.__dict__.get("_variables", []))

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A new state variable (Keras 3's arguments; `aggregation` has no effect, as replicas share one state)."""
        if "_variables" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__(...) before add_variable.")
        dtype = jnp.dtype(dtype or self.dtype)
        value = initializers.get(initializer)(tuple(int(d) for d in shape), dtype=dtype)
        name = name or f"variable_{len(self._variables)}"
        variable = Variable(value, path=f"{self.name}/{name}", trainable=False)
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        """A new state variable (tf.keras 2's and Keras 3's spelling); `initializer` defaults to zeros."""
        return self.add_variable(shape, "zeros" if initializer is None else initializer, dtype=dtype, name=name)

    def build_for_shapes(self, y_true_shape, y_pred_shape):
        """Make state variables that depend on the data's shapes (the F-scores' per-class counts); `compile`
        calls it with the targets' and outputs' shapes, before the epoch is compiled."""

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self):
        """Set every state variable to zeros (Keras 3's default); metrics without variables override it."""
        if not self.variables:
            raise NotImplementedError(f"{type(self).__name__} must implement reset_state().")
        for variable in self.variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))

    def reset_states(self):
        """tf.keras 2's name of `reset_state`."""
        self.reset_state()

    @property
    def is_stateful(self):
        """Whether `fit` carries this metric's variables through the epoch (a user's Keras 3-style metric)."""
        return not hasattr(self, "per_sample") and bool(self.variables)

    def state_values(self):
        """The values of the state variables, after `reset_state` (an epoch's starting state; concrete arrays,
        also while a program is traced)."""
        with jax.ensure_compile_time_eval():
            self.reset_state()
        return tuple(variable.value for variable in self.variables)

    def updated_state(self, state, y_true, y_pred, sample_weight=None):
        """The state after ``update_state`` on one batch, from `state` (pure: the variables keep their values)."""
        with binding({id(v): value for v, value in zip(self.variables, state)}) as values:
            self.update_state(y_true, y_pred, sample_weight=sample_weight)
        return tuple(values[id(v)] for v in self.variables)

    def result_of(self, state):
        """``result()`` computed from `state`, as a float."""
        with binding({id(v): value for v, value in zip(self.variables, state)}):
            return float(np.asarray(self.result()))

    # --- Keras 3's stateless forms, for a custom train_step or a training loop written with JAX ---------
    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """The values of `variables` after ``update_state(*args, **kwargs)`` from `metric_variables` (their
        values, in order), as a new list; the variables themselves keep theirs."""
        with binding(self._bound(metric_variables, "stateless_update_state")) as values:
            self.update_state(*args, **kwargs)
        return [values[id(v)] for v in self.variables]

    def stateless_result(self, metric_variables):
        """``result()`` computed from `metric_variables` (the values of `variables`, in order)."""
        with binding(self._bound(metric_variables, "stateless_result")):
            return self.result()

    def stateless_reset_state(self):
        """The values of `variables` after `reset_state`, as a new list; the variables keep theirs."""
        with binding({id(v): v.value for v in self.variables}) as values:
            self.reset_state()
        return [values[id(v)] for v in self.variables]

    def _bound(self, metric_variables, method):
        metric_variables = list(metric_variables)
        if len(metric_variables) != len(self.variables):
            raise ValueError(f"{method} of metric {self.name!r} needs the values of its {len(self.variables)} "
                             f"variable(s) (metric.variables, in order), got {len(metric_variables)}.")
        return {id(v): value.value if isinstance(value, Variable) else value
                for v, value in zip(self.variables, metric_variables)}

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the result so far."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The (weighted) mean of the values passed to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype="float32", name="total")
        self.count = self.add_variable((), "zeros", dtype="float32", name="count")

    def update_state(self, values, sample_weight=None):
        total, count = weighted_totals(values, sample_weight)
        self.total.assign_add(total)
        self.count.assign_add(count)

    def result_from_mean(self, mean):
        """The reported value for a weighted mean of ``per_sample`` values."""
        return mean

    def result(self):
        return self.result_from_mean(divide_no_nan(jnp.asarray(self.total), jnp.asarray(self.count))).astype(self.dtype)


class Sum(Metric):
    """The (weighted) sum of the values passed to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype="float32", name="total")

    def update_state(self, values, sample_weight=None):
        self.total.assign_add(weighted_totals(values, sample_weight, reduce=jnp.sum)[0])

    def result(self):
        return jnp.asarray(self.total).astype(self.dtype)


class MeanMetricWrapper(Mean):
    """The weighted mean over samples of ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"`fn` must be a callable metric function, got {fn!r} of type {type(fn).__name__}.")
        super().__init__(name=name or snake_case(getattr(fn, "__name__", "mean_metric_wrapper")), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def per_sample(self, y_true, y_pred):
        """``fn``'s values, batch first (pure, jit-safe): one per sample, or one per step of a sequence
        output; the training engine averages a sample's values, or weighs the steps by the output's mask."""
        return jnp.asarray(self._fn(y_true, y_pred, **self._fn_kwargs), jnp.float32)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    @property
    def is_stateful(self):
        """False: `fit` computes the weighted mean from ``per_sample``, unless a subclass overrides
        ``update_state``, which fit then runs as written."""
        return type(self).update_state is not MeanMetricWrapper.update_state

    def get_config(self):
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            config["fn"] = serialize(self._fn)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize(config["fn"])
        return cls(**config)


class _FixedFunctionMetric(MeanMetricWrapper):
    """A mean metric whose function takes no options: subclasses set ``function`` and ``default_name``."""

    function = None
    default_name = None

    def __init__(self, name=None, dtype=None):
        super().__init__(type(self).function, name=name or self.default_name, dtype=dtype)


class Accuracy(_FixedFunctionMetric):
    """How often predictions equal labels exactly."""

    function, default_name = accuracy, "accuracy"


class CategoricalAccuracy(_FixedFunctionMetric):
    """How often the arg-max prediction matches the one-hot label."""

    function, default_name = categorical_accuracy, "categorical_accuracy"


class SparseCategoricalAccuracy(_FixedFunctionMetric):
    """How often the arg-max prediction matches the integer label."""

    function, default_name = sparse_categorical_accuracy, "sparse_categorical_accuracy"


class MeanSquaredError(_FixedFunctionMetric):
    """Mean squared error."""

    function, default_name = mean_squared_error, "mean_squared_error"


class MeanAbsoluteError(_FixedFunctionMetric):
    """Mean absolute error."""

    function, default_name = mean_absolute_error, "mean_absolute_error"


class MeanAbsolutePercentageError(_FixedFunctionMetric):
    """Mean absolute percentage error."""

    function, default_name = mean_absolute_percentage_error, "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_FixedFunctionMetric):
    """Mean squared logarithmic error."""

    function, default_name = mean_squared_logarithmic_error, "mean_squared_logarithmic_error"


class LogCoshError(_FixedFunctionMetric):
    """Mean log-cosh error."""

    function, default_name = log_cosh, "logcosh"


class Hinge(_FixedFunctionMetric):
    """Mean hinge loss."""

    function, default_name = hinge, "hinge"


class SquaredHinge(_FixedFunctionMetric):
    """Mean squared hinge loss."""

    function, default_name = squared_hinge, "squared_hinge"


class CategoricalHinge(_FixedFunctionMetric):
    """Mean categorical hinge loss."""

    function, default_name = categorical_hinge, "categorical_hinge"


class KLDivergence(_FixedFunctionMetric):
    """Mean Kullback-Leibler divergence."""

    function, default_name = kl_divergence, "kl_divergence"


class Poisson(_FixedFunctionMetric):
    """Mean Poisson loss."""

    function, default_name = poisson, "poisson"


class RootMeanSquaredError(_FixedFunctionMetric):
    """Square root of the (weighted) mean squared error over everything seen."""

    function, default_name = squared_error, "root_mean_squared_error"

    def result_from_mean(self, mean):
        return jnp.sqrt(mean)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the 0/1 label."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the ``k`` highest scores."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest scores."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k, self.from_sorted_ids = k, from_sorted_ids


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity along ``axis``."""

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class PearsonCorrelation(MeanMetricWrapper):
    """Mean over samples of `pearson_correlation` along ``axis``."""

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """Mean over samples of `concordance_correlation` along ``axis``."""

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary cross-entropy."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean sparse categorical cross-entropy (samples labelled ``ignore_class`` contribute 0)."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis


# ---------------------------------------------------------------------------
# Confusion-matrix metrics: state variables carried through the epoch
# ---------------------------------------------------------------------------

def _confusion_inputs(y_true, y_pred, sample_weight, top_k=None, class_id=None):
    """Labels, predictions and weights as flat float32 vectors, as Keras 3 counts them: the ranks matched,
    the `top_k` predictions of each row kept (the others count as negative), column `class_id` taken."""
    y_true, y_pred = jnp.asarray(y_true, jnp.float32), jnp.asarray(y_pred, jnp.float32)
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if sample_weight is None:
        weights = jnp.ones_like(y_pred)
    else:  # per sample, or per step (an output's mask): broadcast over the remaining axes
        weights = jnp.asarray(sample_weight, jnp.float32)
        weights = jnp.broadcast_to(weights.reshape(weights.shape + (1,) * (y_pred.ndim - weights.ndim)), y_pred.shape)
    if top_k is not None:
        kth = jax.lax.top_k(y_pred, top_k)[0][..., -1:]
        y_pred = jnp.where(y_pred >= kth, y_pred, -jnp.inf)
    if class_id is not None:
        y_true, y_pred, weights = y_true[..., class_id], y_pred[..., class_id], weights[..., class_id]
    return y_true.reshape(-1) > 0.5, y_pred.reshape(-1), weights.reshape(-1)


def _confusion_counts(thresholds, y_true, y_pred, weights):
    """Weighted true/false positive/negative counts per threshold (a prediction above it is positive)."""
    predicted = y_pred[None, :] > jnp.asarray(thresholds, jnp.float32)[:, None]
    positive, weights = y_true[None, :], weights[None, :]
    return {
        "true_positives": jnp.sum(weights * (predicted & positive), axis=1),
        "false_positives": jnp.sum(weights * (predicted & ~positive), axis=1),
        "true_negatives": jnp.sum(weights * (~predicted & ~positive), axis=1),
        "false_negatives": jnp.sum(weights * (~predicted & positive), axis=1),
    }


class _ConfusionMetric(Metric):
    """A metric from confusion counts at `thresholds`: subclasses name the counts they keep (`kept`)."""

    kept = ()

    def __init__(self, thresholds, name=None, dtype=None, top_k=None, class_id=None):
        super().__init__(name=name, dtype=dtype)
        self.thresholds = [float(t) for t in thresholds]
        self.top_k, self.class_id = top_k, class_id
        for count in self.kept:
            setattr(self, count, self.add_variable((len(self.thresholds),), "zeros", name=count))

    def update_state(self, y_true, y_pred, sample_weight=None):
        inputs = _confusion_inputs(y_true, y_pred, sample_weight, self.top_k, self.class_id)
        counts = _confusion_counts(self.thresholds, *inputs)
        for count in self.kept:
            getattr(self, count).assign_add(counts[count])


def _thresholds(thresholds, default, metric):
    """The decision thresholds (a list of floats in [0, 1]) and whether one was given as a number."""
    if thresholds is None:
        return [default], True
    single = isinstance(thresholds, (int, float))
    values = [float(thresholds)] if single else [float(t) for t in thresholds]
    if not values or any(not 0.0 <= t <= 1.0 for t in values):
        raise ValueError(f"{metric} thresholds must be numbers in [0, 1], got thresholds={thresholds!r}.")
    return values, single


class _PrecisionOrRecall(_ConfusionMetric):
    """Precision or recall at one or more thresholds (0.5 by default; with `top_k`, its default is -inf)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        values, self.single = _thresholds(thresholds, -np.inf if top_k is not None else 0.5, type(self).__name__)
        super().__init__(values, name=name, dtype=dtype, top_k=top_k, class_id=class_id)
        self.init_thresholds = thresholds

    def result(self):
        found, missed = (getattr(self, count) for count in self.kept)
        value = divide_no_nan(found, found + missed)
        return value[0] if self.single else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionOrRecall):
    """The share of positive predictions that are right: ``tp / (tp + fp)``."""

    kept = ("true_positives", "false_positives")


class Recall(_PrecisionOrRecall):
    """The share of positive labels predicted positive: ``tp / (tp + fn)``."""

    kept = ("true_positives", "false_negatives")


class _ConfusionCount(_ConfusionMetric):
    """One weighted confusion count at one or more thresholds (0.5 by default): a prediction above a
    threshold is positive."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        values, self.single = _thresholds(thresholds, 0.5, type(self).__name__)
        super().__init__(values, name=name, dtype=dtype)
        self.init_thresholds = thresholds

    def result(self):
        value = getattr(self, self.kept[0])
        return value[0] if self.single else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    """The (weighted) number of positive labels predicted positive."""

    kept = ("true_positives",)


class FalsePositives(_ConfusionCount):
    """The (weighted) number of negative labels predicted positive."""

    kept = ("false_positives",)


class TrueNegatives(_ConfusionCount):
    """The (weighted) number of negative labels predicted negative."""

    kept = ("true_negatives",)


class FalseNegatives(_ConfusionCount):
    """The (weighted) number of positive labels predicted negative."""

    kept = ("false_negatives",)


class FBetaScore(Metric):
    """The F-beta score of multi-class or multi-label predictions (batch, classes) against one-hot or
    multi-hot labels: per class (`average` None), or its 'micro', 'macro' or 'weighted' average. A prediction
    counts as positive above `threshold`, or, without one, where it is its row's largest."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__} average must be None, 'micro', 'macro' or 'weighted', "
                             f"got {average!r}.")
        if not isinstance(beta, float) or not beta > 0:
            raise ValueError(f"{type(self).__name__} beta must be a float above 0, got {beta!r}.")
        if threshold is not None and (not isinstance(threshold, float) or not 0 < threshold <= 1):
            raise ValueError(f"{type(self).__name__} threshold must be None or a float in (0, 1], got {threshold!r}.")
        self.average, self.beta, self.threshold = average, beta, threshold

    def build_for_shapes(self, y_true_shape, y_pred_shape):
        if self.variables:
            return
        if len(y_true_shape) != 2 or len(y_pred_shape) != 2 or y_pred_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} needs labels and predictions of shape (batch, classes) with a "
                             f"known number of classes (one-hot labels), got {tuple(y_true_shape)} and "
                             f"{tuple(y_pred_shape)}.")
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        for count in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            setattr(self, count, self.add_variable(shape, "zeros", name=count))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = jnp.asarray(y_true, self.dtype), jnp.asarray(y_pred, self.dtype)
        self.build_for_shapes(y_true.shape, y_pred.shape)
        if self.threshold is None:
            predicted = (y_pred >= jnp.max(y_pred, axis=-1, keepdims=True)) & (jnp.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(self.dtype)
        axis = None if self.average == "micro" else 0

        def weighted_sum(value):
            if sample_weight is not None:
                value = value * jnp.asarray(sample_weight, self.dtype)[:, None]
            return jnp.sum(value, axis=axis)

        self.true_positives.assign_add(weighted_sum(predicted * y_true))
        self.false_positives.assign_add(weighted_sum(predicted * (1 - y_true)))
        self.false_negatives.assign_add(weighted_sum((1 - predicted) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self):
        epsilon = config.epsilon()
        found = jnp.asarray(self.true_positives)
        precision = found / (found + jnp.asarray(self.false_positives) + epsilon)
        recall = found / (found + jnp.asarray(self.false_negatives) + epsilon)
        squared = self.beta ** 2
        score = (1 + squared) * precision * recall / (squared * precision + recall + epsilon)
        if self.average == "weighted":
            weights = jnp.asarray(self.intermediate_weights)
            return jnp.sum(score * weights / (jnp.sum(weights) + epsilon))
        return score if self.average is None else jnp.mean(score)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score: `FBetaScore` with beta 1."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("beta")
        return config


def _column_shapes(y_true_shape, y_pred_shape):
    """The shapes of labels and predictions as Keras matches their ranks: a vector beside a (batch, 1) array
    becomes a column."""
    y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
    if len(y_true_shape) == 1 and len(y_pred_shape) == 2 and y_pred_shape[-1] == 1:
        return y_true_shape + (1,), y_pred_shape
    if len(y_pred_shape) == 1 and len(y_true_shape) == 2 and y_true_shape[-1] == 1:
        return y_true_shape, y_pred_shape + (1,)
    return y_true_shape, y_pred_shape


class R2Score(Metric):
    """The coefficient of determination, 1 - (residual sum of squares) / (total sum of squares), per output
    column; `class_aggregation` averages the columns ('uniform_average', 'variance_weighted_average', or None
    for one score each). `num_regressors` > 0 gives the adjusted R2."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}.")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, int) or num_regressors < 0:
            raise ValueError(f"R2Score num_regressors must be an int >= 0, got {num_regressors!r}.")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.num_samples = self.add_variable((), "zeros", name="num_samples")

    def build_for_shapes(self, y_true_shape, y_pred_shape):
        if len(self.variables) > 1:
            return
        y_true_shape, y_pred_shape = _column_shapes(y_true_shape, y_pred_shape)
        if len(y_true_shape) != 2 or len(y_pred_shape) != 2:
            raise ValueError(f"R2Score needs labels and predictions of shape (batch, outputs), got {y_true_shape} "
                             f"and {y_pred_shape}.")
        for count in ("squared_sum", "sum", "residual", "count"):
            setattr(self, count, self.add_variable((y_pred_shape[-1],), "zeros", name=count))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = jnp.asarray(y_true, self.dtype), jnp.asarray(y_pred, self.dtype)
        true_shape, pred_shape = _column_shapes(y_true.shape, y_pred.shape)
        y_true, y_pred = y_true.reshape(true_shape), y_pred.reshape(pred_shape)
        self.build_for_shapes(true_shape, pred_shape)
        weight = jnp.ones((), self.dtype) if sample_weight is None else jnp.asarray(sample_weight, self.dtype)
        if weight.ndim == 1:
            weight = weight[:, None]
        weight = jnp.broadcast_to(weight, y_true.shape)
        self.sum.assign_add(jnp.sum(y_true * weight, axis=0))
        self.squared_sum.assign_add(jnp.sum(y_true * y_true * weight, axis=0))
        self.residual.assign_add(jnp.sum(jnp.square(y_true - y_pred) * weight, axis=0))
        self.count.assign_add(jnp.sum(weight, axis=0))
        self.num_samples.assign_add(jnp.asarray(y_true.size, self.dtype))

    def result(self):
        total_sum = jnp.asarray(self.sum)
        total = jnp.asarray(self.squared_sum) - total_sum * (total_sum / jnp.asarray(self.count))
        scores = 1 - jnp.asarray(self.residual) / total
        scores = jnp.where(jnp.isinf(scores), 0.0, scores)
        if self.class_aggregation == "uniform_average":
            score = jnp.mean(scores)
        elif self.class_aggregation == "variance_weighted_average":
            score = jnp.sum(total * scores) / jnp.sum(total)
        else:
            score = scores
        samples = float(np.asarray(self.num_samples))
        if 0 < self.num_regressors < samples - 1:  # else Keras falls back to the plain score, with a warning
            score = 1 - (1 - score) * (samples - 1) / (samples - self.num_regressors - 1)
        return score

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class AUC(_ConfusionMetric):
    """The area under the ROC or precision-recall curve, from confusion counts at `num_thresholds`
    thresholds spread over [0, 1] (or the given `thresholds`), summed by `summation_method` as in Keras 3."""

    kept = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve not in ("ROC", "PR") or summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC curve must be 'ROC' or 'PR' and summation_method 'interpolation', 'minoring' or "
                             f"'majoring'; got curve={curve!r}, summation_method={summation_method!r}.")
        if multi_label or num_labels is not None or label_weights is not None:
            raise NotImplementedError("AUC(multi_label=True) and label_weights are not supported by scanfit yet: "
                                      "use one AUC per label with Precision/Recall's class_id, or flatten the labels.")
        epsilon = 1e-7
        if thresholds is None:
            if num_thresholds <= 1:
                raise ValueError(f"AUC num_thresholds must be > 1, got {num_thresholds}.")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        else:
            inner = sorted(_thresholds(thresholds, None, "AUC")[0])
        self.num_thresholds, self.curve, self.summation_method = len(inner) + 2, curve, summation_method
        self.from_logits, self.init_thresholds = from_logits, thresholds
        super().__init__([0.0 - epsilon] + inner + [1.0 + epsilon], name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, jax.nn.sigmoid(y_pred) if self.from_logits else y_pred, sample_weight)

    def result(self):
        tp, fp, tn, fn = (jnp.asarray(getattr(self, count)) for count in self.kept)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _interpolated_pr_auc(tp, fp, fn)
        recall = divide_no_nan(tp, tp + fn)
        x, y = (divide_no_nan(fp, fp + tn), recall) if self.curve == "ROC" else (recall, divide_no_nan(tp, tp + fp))
        pick_height = {"interpolation": lambda a, b: (a + b) / 2, "minoring": jnp.minimum, "majoring": jnp.maximum}
        return jnp.sum((x[:-1] - x[1:]) * pick_height[self.summation_method](y[:-1], y[1:]))

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": False, "num_labels": None,
                  "label_weights": None, "from_logits": self.from_logits}
        if self.init_thresholds is not None:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class _AtConstraint(_ConfusionMetric):
    """The best value of one rate among the `num_thresholds` thresholds spread over [0, 1] where another rate is
    at least `value` (0 where none is): subclasses name the two (`constrained`, `maximized`) and `value`'s
    argument (`value_name`)."""

    kept = ("true_positives", "false_positives", "true_negatives", "false_negatives")
    value_name = constrained = maximized = None

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{type(self).__name__}: `{self.value_name}` must be a number in [0, 1], "
                             f"got {self.value_name}={value!r}.")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError(f"{type(self).__name__}: `num_thresholds` must be an int > 0, "
                             f"got num_thresholds={num_thresholds!r}.")
        self.value, self.num_thresholds = value, num_thresholds
        thresholds = [0.5] if num_thresholds == 1 else [i / (num_thresholds - 1) for i in range(num_thresholds)]
        super().__init__(thresholds, name=name, dtype=dtype, class_id=class_id)

    def _rates(self):
        tp, fp, tn, fn = (jnp.asarray(getattr(self, count)) for count in self.kept)
        recall = divide_no_nan(tp, tp + fn)
        return {"sensitivity": recall, "recall": recall, "specificity": divide_no_nan(tn, tn + fp),
                "precision": divide_no_nan(tp, tp + fp)}

    def result(self):
        rates = self._rates()
        feasible = rates[self.constrained] >= self.value
        return jnp.max(jnp.where(feasible, rates[self.maximized], 0.0), initial=0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self.value_name: self.value}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall, ``tp / (tp + fn)``) where the specificity (``tn / (tn + fp)``) is at least
    `specificity`."""

    value_name, constrained, maximized = "specificity", "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity where the sensitivity is at least `sensitivity`."""

    value_name, constrained, maximized = "sensitivity", "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """The best precision where the recall is at least `recall`."""

    value_name, constrained, maximized = "recall", "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall where the precision is at least `precision`."""

    value_name, constrained, maximized = "precision", "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


class IoU(Metric):
    """Intersection over union, ``tp / (tp + fp + fn)`` of each class in `target_class_ids`, from a confusion
    matrix summed over the batches; their mean, leaving out classes neither present nor predicted.

    As in Keras 3 the labels, predictions and weights are cast to `dtype`, int32 by default: class scores need
    ``sparse_y_pred=False`` (their argmax along `axis` is taken; ``sparse_y_true=False`` does the same for
    one-hot labels), and fractional sample weights need ``dtype="float32"``. Labels or predictions outside
    ``[0, num_classes)``, and labels equal to `ignore_class`, are not counted.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype or "int32")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{type(self).__name__}: `num_classes` must be an int >= 1, got {num_classes!r}.")
        target_class_ids = [int(i) for i in target_class_ids]
        if not target_class_ids or not all(0 <= i < num_classes for i in target_class_ids):
            raise ValueError(f"{type(self).__name__}: `target_class_ids` must be class ids in [0, {num_classes}), "
                             f"got {target_class_ids}.")
        self.num_classes, self.target_class_ids, self.ignore_class = num_classes, target_class_ids, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros", name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.sparse_y_true:
            y_true = jnp.argmax(jnp.asarray(y_true), axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = jnp.argmax(jnp.asarray(y_pred), axis=self.axis)
        y_true = jnp.asarray(y_true).astype(self.dtype).reshape(-1)
        y_pred = jnp.asarray(y_pred).astype(self.dtype).reshape(-1)
        weight = jnp.ones((), self.dtype) if sample_weight is None else jnp.asarray(sample_weight).astype(self.dtype)
        weight = jnp.broadcast_to(weight.reshape(-1) if weight.ndim > 1 else weight, y_true.shape)
        counted = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            counted = counted & (y_true != self.ignore_class)
        rows, columns = jnp.where(counted, y_true, 0).astype(jnp.int32), jnp.where(counted, y_pred, 0).astype(jnp.int32)
        batch_cm = jnp.zeros((self.num_classes,) * 2, self.dtype).at[rows, columns].add(jnp.where(counted, weight, 0))
        self.total_cm.assign(jnp.asarray(self.total_cm) + batch_cm)

    def result(self):
        cm = jnp.asarray(self.total_cm)
        true_positives = jnp.diagonal(cm)
        denominator = jnp.sum(cm, axis=0) + jnp.sum(cm, axis=1) - true_positives
        targets = jnp.asarray(self.target_class_ids, jnp.int32)
        true_positives = true_positives[targets].astype(jnp.float32)
        denominator = denominator[targets].astype(jnp.float32)
        valid = denominator > 1e-9
        iou = jnp.where(valid, true_positives / (denominator + config.epsilon()), 0.0)
        return jnp.sum(iou, axis=self.axis) / (jnp.sum(valid.astype(jnp.float32)) + config.epsilon())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """The mean `IoU` over all `num_classes` classes."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)) if isinstance(num_classes, int) else [], name=name,
                         dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """`IoU` of binary labels and scores: a score at or above `threshold` predicts class 1."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = (jnp.asarray(y_pred, jnp.float32) >= self.threshold).astype(self.dtype)
        super().update_state(y_true, predicted, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class OneHotIoU(IoU):
    """`IoU` of one-hot labels (their argmax along `axis` is the class) and class scores."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """`MeanIoU` of one-hot labels and class scores."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


def _interpolated_pr_auc(tp, fp, fn):
    """The area under the precision-recall curve with precision interpolated between thresholds, as Davis and
    Goadrich (2006) describe: within each step, precision is taken as linear in the count of positives."""
    predicted = tp + fp
    step_tp, step_predicted = tp[:-1] - tp[1:], predicted[:-1] - predicted[1:]
    slope = divide_no_nan(step_tp, jnp.maximum(step_predicted, 0))
    intercept = tp[1:] - slope * predicted[1:]
    both_positive = (predicted[:-1] > 0) & (predicted[1:] > 0)
    ratio = jnp.where(both_positive, divide_no_nan(predicted[:-1], jnp.maximum(predicted[1:], 0)), 1.0)
    return jnp.sum(divide_no_nan(slope * (step_tp + intercept * jnp.log(ratio)), jnp.maximum(tp[1:] + fn[1:], 0)))


# ---------------------------------------------------------------------------
# Look-up, compile-time resolution and serialization
# ---------------------------------------------------------------------------

CLASSES = {
    cls.__name__: cls
    for cls in (
        Metric, Mean, Sum, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
        SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
        MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, RootMeanSquaredError,
        CosineSimilarity, LogCoshError, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
        BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Precision, Recall, AUC,
        TruePositives, FalsePositives, TrueNegatives, FalseNegatives, FBetaScore, F1Score, R2Score,
        SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision,
        PearsonCorrelation, ConcordanceCorrelation, IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU,
    )
}
REGISTRY = {
    **CLASSES,
    **{snake_case(name): cls for name, cls in CLASSES.items()},
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "auc": AUC,
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
}
FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
        sparse_top_k_categorical_accuracy, cosine_similarity, mean_squared_error, mean_absolute_error,
        mean_absolute_percentage_error, mean_squared_logarithmic_error, binary_crossentropy,
        categorical_crossentropy, sparse_categorical_crossentropy, kl_divergence, poisson, hinge, squared_hinge,
        categorical_hinge, log_cosh, huber, pearson_correlation, concordance_correlation,
    )
}
AUTO_NAMES = ("accuracy", "acc", "crossentropy", "ce")


def serialize(metric):
    """Keras 3's serialized form: a config dict for a ``Metric``, a ``"function"`` dict for a function."""
    if isinstance(metric, Metric):
        return serialization.object_config("keras.metrics", metric, CLASSES, metric.get_config())
    if callable(metric) and hasattr(metric, "__name__"):
        return serialization.function_config(metric)
    raise TypeError(
        f"Cannot serialize metric {metric!r} of type {type(metric).__name__}: expected a Metric or a function."
    )


def deserialize(config, custom_objects=None):
    """Rebuild a metric from a name or a serialized dict (see :func:`serialize`)."""
    if isinstance(config, dict) and config.get("class_name") == "function":
        return serialization.lookup("metric function", FUNCTIONS, config.get("config"), custom_objects)
    return serialization.resolve("metric", REGISTRY, config, custom_objects)


def get(identifier):
    """A metric from a name (``"mse"``, ``"categorical_accuracy"``), a config dict, a class, an instance or a function.

    Names give a new ``Metric`` instance, as in Keras 3; functions are returned
    unchanged. The compile-time names ``"accuracy"``/``"acc"`` are resolved by
    :func:`resolve_metric`, which knows the shapes.
    """
    if isinstance(identifier, type):
        if not issubclass(identifier, Metric):
            raise TypeError(f"Expected a Metric subclass, got the class {identifier.__name__}.")
        return identifier()
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret metric {identifier!r} (a {type(identifier).__name__}): "
        "expected a name, a config dict, a Metric, or a function."
    )


def _auto_metric(identifier, loss, y_true_shape, y_pred_shape):
    """The accuracy or cross-entropy metric that fits these shapes (and the loss's ``from_logits``)."""
    is_binary, is_sparse = classify_targets(y_true_shape, y_pred_shape)
    if identifier.lower() in ("accuracy", "acc"):
        if is_binary:
            return BinaryAccuracy(name=identifier)
        if is_sparse:
            return SparseCategoricalAccuracy(name=identifier)
        return CategoricalAccuracy(name=identifier)
    from_logits = bool(getattr(losses_module.get(loss), "from_logits", False)) if loss is not None else False
    if is_binary:
        return BinaryCrossentropy(name=identifier, from_logits=from_logits)
    if is_sparse:
        return SparseCategoricalCrossentropy(name=identifier, from_logits=from_logits)
    return CategoricalCrossentropy(name=identifier, from_logits=from_logits)


def resolve_metric(identifier, loss, y_true_shape, y_pred_shape):
    """The ``Metric`` that ``compile(metrics=[identifier])`` runs, as Keras 3 chooses it.

    ``"accuracy"``/``"acc"`` (any case) become binary, sparse categorical or
    categorical accuracy from the shapes; ``"crossentropy"``/``"ce"`` likewise
    pick a cross-entropy, taking ``from_logits`` from ``loss``. A string keeps
    exactly the name the user wrote; a metric object keeps its own name; a
    function is wrapped in ``MeanMetricWrapper`` and named after itself.
    """
    if identifier is None:
        raise ValueError("Expected a metric, got None.")
    if isinstance(identifier, str):
        if identifier.lower() in AUTO_NAMES:
            return _auto_metric(identifier, loss, y_true_shape, y_pred_shape)
        if identifier not in REGISTRY:
            usable = {name for name in REGISTRY if name[0].islower()} - {"metric", "mean_metric_wrapper"}
            known = ", ".join(sorted(usable.union(AUTO_NAMES)))
            raise ValueError(f"Unknown metric {identifier!r}. Known metric names: {known}.")
    metric = get(identifier)
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    if isinstance(identifier, str):
        metric.name = identifier
    metric.build_for_shapes(y_true_shape, y_pred_shape)
    if metric.is_stateful:
        shape = jax.eval_shape(lambda: jnp.asarray(metric.result())).shape  # result() may return a variable
        if shape != ():
            raise ValueError(
                f"Metric {metric.name!r} gives a result of shape {shape} (as an F-score or R2Score without an "
                "average gives one score per class), and scanfit logs one number per metric; compile it with an "
                "average (F-scores: average='macro', 'micro' or 'weighted'; R2Score: a class_aggregation), or one "
                "threshold. Per-class scores work on their own: metric.update_state(...), metric.result()."
            )
    return metric
