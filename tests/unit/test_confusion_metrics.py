"""Precision, Recall, AUC, the four confusion counts and the rates at a constraint (PrecisionAtRecall, ...)
against Keras 3: eagerly for every argument mix, and in fit/evaluate, where their counts are carried through the
compiled epoch."""
import re

import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(8)
LABELS = (RNG.uniform(size=(40, 3)) > 0.6).astype("float32")
SCORES = np.clip(LABELS * 0.3 + RNG.uniform(size=(40, 3)) * 0.7, 0, 1).astype("float32")
WEIGHTS = RNG.uniform(0.2, 2.0, size=40).astype("float32")

def stream_both(s_metric, k_metric, y_true, y_pred, weights=None, cut=25):
    """Both metrics updated with the same two batches (split at `cut`): their state streams."""
    for part in (slice(0, cut), slice(cut, len(y_true))):
        sample_weight = None if weights is None else weights[part]
        s_metric.update_state(y_true[part], y_pred[part], sample_weight=sample_weight)
        k_metric.update_state(y_true[part], y_pred[part], sample_weight=sample_weight)


CASES = [
    ("Precision", {}), ("Precision", {"thresholds": 0.3}), ("Precision", {"thresholds": [0.2, 0.5, 0.8]}),
    ("Precision", {"top_k": 1}), ("Precision", {"class_id": 2}), ("Precision", {"top_k": 2, "class_id": 1}),
    ("Recall", {}), ("Recall", {"thresholds": [0.1, 0.9]}), ("Recall", {"top_k": 1}), ("Recall", {"class_id": 0}),
    ("AUC", {}), ("AUC", {"num_thresholds": 7}), ("AUC", {"curve": "PR"}), ("AUC", {"curve": "PR", "num_thresholds": 9}),
    ("AUC", {"summation_method": "minoring"}), ("AUC", {"curve": "PR", "summation_method": "majoring"}),
    ("AUC", {"thresholds": [0.25, 0.5, 0.75]}), ("AUC", {"from_logits": True}),
    ("TruePositives", {}), ("FalsePositives", {"thresholds": 0.3}), ("TrueNegatives", {"thresholds": [0.2, 0.7]}),
    ("FalseNegatives", {}),
    ("SensitivityAtSpecificity", {"specificity": 0.7}), ("SpecificityAtSensitivity", {"sensitivity": 0.9}),
    ("PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 13}), ("RecallAtPrecision", {"precision": 0.8}),
    ("RecallAtPrecision", {"precision": 0.6, "class_id": 1}), ("PrecisionAtRecall", {"recall": 1.0}),
    ("SensitivityAtSpecificity", {"specificity": 0.5, "num_thresholds": 1}),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
@pytest.mark.parametrize("weighted", [False, True])
def test_streaming_values_equal_keras(name, kwargs, weighted):
    s_metric, k_metric = getattr(scanfit.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    scores = SCORES * 6 - 3 if kwargs.get("from_logits") else SCORES
    stream_both(s_metric, k_metric, LABELS, scores, WEIGHTS if weighted else None)
    np.testing.assert_allclose(np.asarray(s_metric.result()), np.asarray(k_metric.result()), rtol=1e-5, atol=1e-7)
    s_config, k_config = s_metric.get_config(), k_metric.get_config()
    default = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()
    assert s_config.pop("name").startswith(default) and k_config.pop("name").startswith(default)  # both count up
    assert s_config == k_config
    s_metric.reset_state()
    assert all(not np.any(v.numpy()) for v in s_metric.variables)


def test_fit_and_evaluate_log_what_keras_logs():
    x = RNG.normal(size=(120, 5)).astype("float32")
    y = (x[:, :1] + 0.5 * RNG.normal(size=(120, 1)) > 0).astype("float32")
    histories, evaluations = [], []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((5,)), K.layers.Dense(1, activation="sigmoid")])
        model.set_weights([np.full((5, 1), 0.2, "float32"), np.zeros(1, "float32")])
        model.compile(K.optimizers.SGD(0.1), "binary_crossentropy",
                      metrics=["accuracy", K.metrics.Precision(name="precision"), K.metrics.Recall(name="recall"),
                               K.metrics.AUC(name="auc"), K.metrics.AUC(curve="PR", name="pr_auc"),
                               K.metrics.TruePositives(name="tp"), K.metrics.FalseNegatives(name="fn"),
                               K.metrics.RecallAtPrecision(0.7, name="recall_at_p70"),
                               K.metrics.SensitivityAtSpecificity(0.6, name="sensitivity_at_s60")])
        histories.append(model.fit(x, y, epochs=3, batch_size=16, shuffle=False, validation_split=0.25,
                                   verbose=0).history)
        evaluations.append(model.evaluate(x, y, batch_size=50, return_dict=True, verbose=0))
    (k_hist, s_hist), (k_eval, s_eval) = histories, evaluations
    assert sorted(s_hist) == sorted(k_hist) and sorted(s_eval) == sorted(k_eval)
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for key in k_eval:
        np.testing.assert_allclose(s_eval[key], k_eval[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_unsupported_arguments_are_refused():
    with pytest.raises(NotImplementedError, match="multi_label"):
        scanfit.metrics.AUC(multi_label=True)
    with pytest.raises(ValueError, match="curve"):
        scanfit.metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="thresholds must be numbers in"):
        scanfit.metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="`recall` must be a number in"):
        scanfit.metrics.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="num_thresholds"):
        scanfit.metrics.SpecificityAtSensitivity(0.5, num_thresholds=0)


ONE_HOT = np.eye(4, dtype="float32")[RNG.integers(0, 4, 40)]
CLASS_SCORES = RNG.uniform(size=(40, 4)).astype("float32")


@pytest.mark.parametrize("name, kwargs", [
    ("FBetaScore", {}), ("FBetaScore", {"beta": 2.0, "average": "weighted"}), ("F1Score", {"average": "micro"}),
    ("F1Score", {"average": "macro", "threshold": 0.4}), ("F1Score", {}),
])
def test_f_scores_equal_keras(name, kwargs):
    s_metric, k_metric = getattr(scanfit.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    stream_both(s_metric, k_metric, ONE_HOT, CLASS_SCORES, WEIGHTS)
    np.testing.assert_allclose(np.asarray(s_metric.result()), np.asarray(k_metric.result()), rtol=1e-6, atol=1e-7)
    assert s_metric.get_config() == k_metric.get_config()


def test_f1_score_in_fit_and_evaluate_equals_keras():
    x = RNG.normal(size=(120, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)]
    results = []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((5,)), K.layers.Dense(3, activation="softmax")])
        model.set_weights([np.full((5, 3), 0.1, "float32") * np.arange(1, 4), np.zeros(3, "float32")])
        model.compile(K.optimizers.SGD(0.1), "categorical_crossentropy",
                      metrics=[K.metrics.F1Score(average="macro", name="f1")])
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
        results.append((history["f1"], model.evaluate(x, y, batch_size=40, return_dict=True, verbose=0)["f1"]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-4)
    model = scanfit.Sequential([scanfit.Input((5,)), scanfit.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="without an average gives one score per class"):
        model.compile("sgd", "categorical_crossentropy", metrics=[scanfit.metrics.F1Score()])
        model.fit(x, y, epochs=1, verbose=0)


@pytest.mark.parametrize("kwargs", [{}, {"class_aggregation": "variance_weighted_average"},
                                    {"class_aggregation": None}, {"num_regressors": 2}])
@pytest.mark.parametrize("columns", [None, 1, 3])
def test_r2_score_equals_keras(kwargs, columns):
    targets = RNG.normal(size=(30,) if columns is None else (30, columns)).astype("float32")
    predictions = (0.8 * targets + 0.5 * RNG.normal(size=targets.shape)).astype("float32")
    if columns is None:
        predictions = predictions[:, None]  # a regression model's (batch, 1) output beside a vector of targets
    s_metric, k_metric = scanfit.metrics.R2Score(**kwargs), keras.metrics.R2Score(**kwargs)
    stream_both(s_metric, k_metric, targets, predictions, WEIGHTS[:30], cut=12)
    np.testing.assert_allclose(np.asarray(s_metric.result()), np.asarray(k_metric.result()), rtol=1e-5, atol=1e-6)
    assert s_metric.get_config() == k_metric.get_config()


def test_r2_score_in_fit_equals_keras():
    x = RNG.normal(size=(96, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], "float32") + 0.3 * RNG.normal(size=96)).astype("float32")
    histories = []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((4,)), K.layers.Dense(1)])
        model.set_weights([np.full((4, 1), 0.1, "float32"), np.zeros(1, "float32")])
        model.compile(K.optimizers.SGD(0.05), "mse", metrics=[K.metrics.R2Score(name="r2")])
        histories.append(model.fit(x, y, epochs=3, batch_size=16, shuffle=False, validation_split=0.25,
                                   verbose=0).history)
    for key in ("r2", "val_r2"):
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-4, err_msg=key)
