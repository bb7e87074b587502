"""scanfit.metrics against Keras 3 (JAX backend) as the oracle."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras.src.trainers.compile_utils import get_metric as keras_get_metric

from scanfit import losses, metrics

RTOL = ATOL = 1e-6
N, C = 8, 4


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=RTOL, atol=ATOL)


def make_batch(kind, seed, n=N):
    """(y_true, y_pred) of one kind of problem; ties and -0.0 included where they matter."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, n)
    scores = rng.normal(size=(n, C)).astype(np.float32)
    scores[0] = [0.5, 0.5, -1.0, 0.5]  # a tie for the arg-max
    scores[1] = [-0.0, 0.0, -1.0, -2.0]  # -0.0 must lose to +0.0
    probs = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    if kind == "sparse":
        return labels, probs
    if kind == "sparse_column":
        return labels[:, None], scores
    if kind == "onehot":
        return np.eye(C, dtype=np.float32)[labels], scores
    if kind == "onehot_probs":
        return np.eye(C, dtype=np.float32)[labels], probs
    if kind == "binary":
        p = rng.random((n, 1)).astype(np.float32)
        p[:3, 0] = [0.5, 1e-9, 1.0]
        return rng.integers(0, 2, (n, 1)).astype(np.float32), p
    if kind == "binary_flat":
        return rng.integers(0, 2, n), rng.random((n, 1)).astype(np.float32)
    if kind == "binary_logits":
        return rng.integers(0, 2, (n, 1)).astype(np.float32), rng.normal(size=(n, 1)).astype(np.float32) * 4
    if kind == "exact":
        y = rng.integers(0, 3, (n, 1)).astype(np.float32)
        return y, np.where(rng.random((n, 1)) < 0.5, y, y + 1)
    if kind == "regression":
        y = rng.normal(size=(n, 3)).astype(np.float32)
        y[0, 0] = 0.0
        return y, rng.normal(size=(n, 3)).astype(np.float32)
    if kind == "regression_flat":
        return rng.normal(size=n).astype(np.float32), rng.normal(size=(n, 1)).astype(np.float32)
    if kind == "positive":
        return rng.random((n, 3)).astype(np.float32), rng.random((n, 3)).astype(np.float32) + 1e-3
    if kind == "hinge":
        return rng.integers(0, 2, (n, 3)).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32)
    if kind == "sorted_ids":
        return labels, np.argsort(-scores, axis=-1).astype(np.int32)
    raise ValueError(kind)


METRIC_CASES = [
    ("Accuracy", {}, "exact"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.3}, "binary_flat"),
    ("CategoricalAccuracy", {}, "onehot"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_column"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse_column"),
    ("SparseTopKCategoricalAccuracy", {"k": 2, "from_sorted_ids": True}, "sorted_ids"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanSquaredError", {}, "regression_flat"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("RootMeanSquaredError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression_flat"),
    ("CosineSimilarity", {}, "regression"),
    ("LogCoshError", {}, "regression"),
    ("Hinge", {}, "hinge"),
    ("SquaredHinge", {}, "hinge"),
    ("CategoricalHinge", {}, "onehot"),
    ("KLDivergence", {}, "positive"),
    ("Poisson", {}, "positive"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary_logits"),
    ("CategoricalCrossentropy", {}, "onehot_probs"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 1}, "sparse_column"),
    ("PearsonCorrelation", {}, "regression"),
    ("ConcordanceCorrelation", {}, "regression"),
]


def weights_for(weighted, seed):
    if not weighted:
        return None
    w = np.random.default_rng(seed).random(N).astype(np.float32) * 2
    w[2] = 0.0
    return w


@pytest.mark.parametrize("name,kwargs,kind", METRIC_CASES)
def test_stateful_result_over_two_updates_matches_keras(name, kwargs, kind):
    """One unweighted and one weighted update (Keras applies ignore_class only with weights: skipped)."""
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    weighted_second = kwargs.get("ignore_class") is None
    for seed, weighted in ((0, False), (1, weighted_second)):
        y_true, y_pred = make_batch(kind, seed)
        ours.update_state(y_true, y_pred, sample_weight=weights_for(weighted, seed))
        theirs.update_state(y_true, y_pred, sample_weight=weights_for(weighted, seed))
    close(ours.result(), theirs.result())
    assert ours.name == theirs.name


def test_reset_state():
    y_true, y_pred = make_batch("regression", 0)
    metric = metrics.RootMeanSquaredError()
    metric.update_state(y_true, y_pred)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state(y_true, y_pred)
    close(metric.result(), keras.metrics.RootMeanSquaredError()(y_true, y_pred))


@pytest.mark.parametrize("name,kwargs,kind", METRIC_CASES)
def test_weighted_mean_of_per_sample_is_the_keras_result(name, kwargs, kind):
    """The engine's contract: each sample's values averaged, then sum(w * that) / sum(w), then result_from_mean."""
    y_true, y_pred = make_batch(kind, 3)
    weights = weights_for(True, 3)
    ours = getattr(metrics, name)(**kwargs)
    values = jax.jit(ours.per_sample)(y_true, y_pred)
    assert values.shape[0] == N
    per_sample = values.reshape(N, -1).mean(axis=1)
    theirs = getattr(keras.metrics, name)(**kwargs)
    if kwargs.get("ignore_class") is not None:
        weights = None  # see test above
    theirs.update_state(y_true, y_pred, sample_weight=weights)
    w = np.ones(N, np.float32) if weights is None else weights
    close(ours.result_from_mean(jnp.sum(per_sample * w) / jnp.sum(w)), theirs.result())


def test_per_timestep_values_and_weights_match_keras():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.normal(size=(N, 5, 2)), rng.normal(size=(N, 5, 2))
    for weights in (None, rng.random(N), rng.random((N, 5))):
        ours, theirs = metrics.MeanAbsoluteError(), keras.metrics.MeanAbsoluteError()
        ours.update_state(y_true, y_pred, sample_weight=weights)
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        close(ours.result(), theirs.result())


def test_mean_and_sum_match_keras():
    values = np.random.default_rng(0).normal(size=(N, 3))
    weights = np.random.default_rng(1).random(N)
    for name in ("Mean", "Sum"):
        ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
        for w in (None, weights):
            ours.update_state(values, sample_weight=w)
            theirs.update_state(values, sample_weight=w)
        ours.update_state(2.5)
        theirs.update_state(2.5)
        close(ours.result(), theirs.result())
        assert ours.name == theirs.name


def test_calling_a_metric_updates_and_returns_the_result():
    y_true, y_pred = make_batch("sparse", 0)
    ours, theirs = metrics.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy()
    close(ours(y_true, y_pred), theirs(y_true, y_pred))


FUNCTION_CASES = [
    ("accuracy", {}, "exact"),
    ("binary_accuracy", {}, "binary"),
    ("binary_accuracy", {"threshold": 0.7}, "binary_flat"),
    ("categorical_accuracy", {}, "onehot"),
    ("sparse_categorical_accuracy", {}, "sparse"),
    ("sparse_categorical_accuracy", {}, "sparse_column"),
    ("top_k_categorical_accuracy", {"k": 2}, "onehot"),
    ("sparse_top_k_categorical_accuracy", {"k": 1}, "sparse"),
    ("sparse_top_k_categorical_accuracy", {"k": 2, "from_sorted_ids": True}, "sorted_ids"),
]


@pytest.mark.parametrize("name", ["pearson_correlation", "concordance_correlation"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_correlation_functions_match_keras(name, axis):
    y_true, y_pred = make_batch("regression", 0)
    y_true = y_true + 0.5  # targets and predictions with different means (where Keras's concordance differs)
    ours, theirs = getattr(metrics, name)(y_true, y_pred, axis=axis), getattr(keras.metrics, name)(y_true, y_pred,
                                                                                               axis=axis)
    assert ours.shape == theirs.shape
    close(ours, theirs)


@pytest.mark.parametrize("name,kwargs,kind", FUNCTION_CASES)
def test_function_matches_keras(name, kwargs, kind):
    from keras.src.metrics import accuracy_metrics

    y_true, y_pred = make_batch(kind, 0)
    ours = getattr(metrics, name)(y_true, y_pred, **kwargs)
    theirs = getattr(accuracy_metrics, name)(y_true, y_pred, **kwargs)
    assert ours.shape == theirs.shape
    close(ours, theirs)


def test_loss_functions_and_aliases_are_exported():
    assert metrics.mse is metrics.MSE is losses.mean_squared_error
    assert metrics.mae is losses.mean_absolute_error
    assert metrics.binary_crossentropy is losses.binary_crossentropy
    y_true, y_pred = make_batch("sparse", 0)
    close(metrics.sparse_categorical_crossentropy(y_true, y_pred),
          keras.metrics.sparse_categorical_crossentropy(y_true, y_pred))


# --- compile-time resolution ---------------------------------------------------

RESOLVE_CASES = [
    ("accuracy", "sparse_categorical_crossentropy", (N,), (N, 10)),
    ("accuracy", "sparse_categorical_crossentropy", (N, 1), (N, 10)),
    ("acc", "categorical_crossentropy", (N, 10), (N, 10)),
    ("accuracy", "binary_crossentropy", (N, 1), (N, 1)),
    ("acc", "binary_crossentropy", (N,), (N, 1)),
    ("Accuracy", "mse", (N, 3), (N, 3)),
    ("ACC", "sparse_categorical_crossentropy", (N, 7), (N, 7, 4)),
    ("mse", "mse", (N, 1), (N, 1)),
    ("mae", "mse", (N, 1), (N, 1)),
    ("sparse_categorical_accuracy", "sparse_categorical_crossentropy", (N,), (N, 10)),
    ("CategoricalAccuracy", "categorical_crossentropy", (N, 10), (N, 10)),
    ("root_mean_squared_error", "mse", (N, 1), (N, 1)),
    ("bce", "binary_crossentropy", (N, 1), (N, 1)),
]


@pytest.mark.parametrize("identifier,loss,y_shape,p_shape", RESOLVE_CASES)
def test_resolve_metric_picks_the_keras_class_and_keeps_the_name(identifier, loss, y_shape, p_shape):
    ours = metrics.resolve_metric(identifier, loss, y_shape, p_shape)
    theirs = keras_get_metric(identifier, np.zeros(y_shape), np.zeros(p_shape))
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.name == theirs.name == identifier


def test_resolve_metric_objects_and_functions_keep_their_names():
    y, p = np.zeros((N,)), np.zeros((N, 10))
    named = metrics.resolve_metric(metrics.SparseCategoricalAccuracy(name="sca"), None, y.shape, p.shape)
    assert named.name == keras_get_metric(keras.metrics.SparseCategoricalAccuracy(name="sca"), y, p).name == "sca"
    function = metrics.resolve_metric(metrics.sparse_categorical_accuracy, None, y.shape, p.shape)
    theirs = keras_get_metric(keras.metrics.sparse_categorical_accuracy, y, p)
    assert isinstance(function, metrics.MeanMetricWrapper) and type(theirs).__name__ == "MeanMetricWrapper"
    assert function.name == theirs.name == "sparse_categorical_accuracy"
    from_class = metrics.resolve_metric(metrics.TopKCategoricalAccuracy, None, p.shape, p.shape)
    assert from_class.name == "top_k_categorical_accuracy"

    def my_metric(y_true, y_pred):
        return jnp.abs(y_true - y_pred)

    assert metrics.resolve_metric(my_metric, None, (N, 1), (N, 1)).name == "my_metric"


@pytest.mark.parametrize("identifier,loss,y_shape,p_shape,expected", [
    ("crossentropy", "binary_crossentropy", (N, 1), (N, 1), "BinaryCrossentropy"),
    ("ce", "sparse_categorical_crossentropy", (N,), (N, 10), "SparseCategoricalCrossentropy"),
    ("crossentropy", "categorical_crossentropy", (N, 10), (N, 10), "CategoricalCrossentropy"),
])
def test_resolve_crossentropy_metric(identifier, loss, y_shape, p_shape, expected):
    metric = metrics.resolve_metric(identifier, loss, y_shape, p_shape)
    assert type(metric).__name__ == expected and metric.name == identifier and not metric.from_logits


def test_resolve_crossentropy_metric_follows_the_loss_from_logits():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert metrics.resolve_metric("ce", loss, (N,), (N, 10)).from_logits


@pytest.mark.parametrize("bad", ["accuracyy", "f1", "huber"])
def test_unknown_metric_names_are_value_errors_naming_them(bad):
    with pytest.raises(ValueError, match=bad):
        metrics.resolve_metric(bad, "mse", (N, 1), (N, 1))
    with pytest.raises(ValueError, match=bad):
        metrics.get(bad)


def test_bad_identifiers_are_clear_errors():
    with pytest.raises(ValueError, match="None"):
        metrics.resolve_metric(None, "mse", (N, 1), (N, 1))
    with pytest.raises(TypeError, match="3.5"):
        metrics.get(3.5)
    with pytest.raises(TypeError, match="Loss"):
        metrics.get(losses.Loss)


# --- get and serialization -----------------------------------------------------

@pytest.mark.parametrize("identifier", [
    "mse", "MAE", "mape", "msle", "bce", "accuracy", "binary_accuracy", "categorical_crossentropy",
    "SparseCategoricalAccuracy", "root_mean_squared_error", "top_k_categorical_accuracy", "log_cosh_error",
])
def test_get_by_name_matches_keras(identifier):
    ours, theirs = metrics.get(identifier), keras.metrics.get(identifier)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.name == theirs.name


@pytest.mark.parametrize("make_ours,make_theirs", [
    (lambda m: m.CategoricalAccuracy(), lambda m: m.CategoricalAccuracy()),
    (lambda m: m.BinaryAccuracy(threshold=0.3, name="b"), lambda m: m.BinaryAccuracy(threshold=0.3, name="b")),
    (lambda m: m.TopKCategoricalAccuracy(k=3), lambda m: m.TopKCategoricalAccuracy(k=3)),
    (lambda m: m.RootMeanSquaredError(), lambda m: m.RootMeanSquaredError()),
    (lambda m: m.BinaryCrossentropy(from_logits=True), lambda m: m.BinaryCrossentropy(from_logits=True)),
    (lambda m: m.SparseCategoricalCrossentropy(ignore_class=0), lambda m: m.SparseCategoricalCrossentropy(ignore_class=0)),
    (lambda m: m.Mean(name="avg"), lambda m: m.Mean(name="avg")),
    (lambda m: m.MeanMetricWrapper(m.mean_squared_error), lambda m: m.MeanMetricWrapper(m.mean_squared_error, name="mean_squared_error")),
])
def test_serialize_matches_keras_and_round_trips(make_ours, make_theirs):
    ours, theirs = make_ours(metrics), make_theirs(keras.metrics)
    ours_dict, theirs_dict = metrics.serialize(ours), keras.metrics.serialize(theirs)
    assert ours_dict == theirs_dict
    rebuilt = metrics.deserialize(ours_dict)
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()
    assert type(keras.metrics.deserialize(ours_dict)).__name__ == type(ours).__name__


def test_serialize_functions_like_keras():
    assert metrics.serialize(metrics.sparse_categorical_accuracy) == keras.metrics.serialize(
        keras.metrics.sparse_categorical_accuracy)
    assert metrics.deserialize(metrics.serialize(metrics.binary_accuracy)) is metrics.binary_accuracy


def test_get_passes_objects_through():
    metric = metrics.BinaryAccuracy()
    assert metrics.get(metric) is metric
    assert metrics.get(metrics.binary_accuracy) is metrics.binary_accuracy
    assert isinstance(metrics.get(metrics.Mean), metrics.Mean)
    config = {"class_name": "BinaryAccuracy", "config": {"threshold": 0.8}}
    assert metrics.get(config).threshold == 0.8


def test_a_metric_of_the_whole_batch_counts_each_batch_once_as_in_keras():
    """A metric function ending in a mean gives one value per batch: Keras's Mean counts each batch once, in
    fit and in evaluate (whose short last batch is then not padded). scanfit failed to reshape it."""
    import scanfit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    start = [rng.normal(size=(4, 1)).astype("float32"), np.zeros(1, "float32")]
    results = []
    for K in (keras, scanfit):
        def batch_mae(y_true, y_pred, K=K):
            return K.ops.mean(K.ops.abs(y_true - y_pred))

        model = K.Sequential([K.Input((4,)), K.layers.Dense(1)])
        model.set_weights(start)
        model.compile(optimizer=K.optimizers.SGD(0.01), loss="mse", metrics=[batch_mae])
        history = model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
        results.append(history["batch_mae"] + [model.evaluate(x, y, batch_size=30, verbose=0)[1]])
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)

    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", weighted_metrics=[lambda y_true, y_pred: scanfit.ops.mean(y_pred)])
    with pytest.raises(ValueError, match="one value per batch, which sample weights cannot weigh"):
        model.fit(x, y, sample_weight=np.ones(100), epochs=1, verbose=0)


def test_a_metric_in_both_metrics_and_weighted_metrics_is_logged_twice_named_as_keras_names_it():
    """Keras 3 logs `accuracy` (unweighted) and `weighted_accuracy`, and numbers repeated names `_1`, `_2`;
    scanfit logged one `accuracy`, the weighted one, and lost the other."""
    import scanfit

    rng = np.random.default_rng(2)
    x = rng.normal(size=(90, 4)).astype("float32")
    labels = rng.integers(0, 3, 90)
    start = None
    logs = []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((4,)), K.layers.Dense(3, activation="softmax")])
        start = start or [rng.normal(scale=0.5, size=v.shape).astype("float32") for v in model.get_weights()]
        model.set_weights(start)
        model.compile(optimizer=K.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", "accuracy"], weighted_metrics=["accuracy", "accuracy"])
        history = model.fit(x, labels, class_weight={0: 1.0, 1: 3.0, 2: 0.5}, epochs=2, batch_size=32,
                            shuffle=False, validation_data=(x[:30], labels[:30]), verbose=0).history
        logs.append((history, model.evaluate(x, labels, verbose=0, return_dict=True)))
    (k_history, k_eval), (s_history, s_eval) = logs
    assert sorted(s_history) == sorted(k_history)
    assert {"accuracy", "accuracy_1", "weighted_accuracy", "weighted_accuracy_1"} <= set(s_history)
    for key in k_history:
        np.testing.assert_allclose(s_history[key], k_history[key], rtol=1e-5, err_msg=key)
    assert sorted(s_eval) == sorted(k_eval)
    for key in k_eval:
        np.testing.assert_allclose(s_eval[key], k_eval[key], rtol=1e-5, err_msg=key)
