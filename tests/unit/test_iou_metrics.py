"""IoU, MeanIoU, BinaryIoU, OneHotIoU and OneHotMeanIoU against Keras 3: streamed over two batches for every
argument mix (int32 confusion matrix by default, as Keras keeps it), their configs, and in fit/evaluate of a
per-pixel classifier, where the matrix is carried through the compiled epoch."""
import re

import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(21)
LABELS = RNG.integers(0, 3, 50)
LABELS[[3, 17]] = 255  # a "void" label outside [0, num_classes): not counted
SCORES = RNG.uniform(size=(50, 3)).astype("float32")
PREDICTED = np.argmax(SCORES, -1).astype("float32") + RNG.uniform(0, 0.9, 50).astype("float32")  # truncated to ids
WEIGHTS = RNG.uniform(0.2, 3.0, 50).astype("float32")
ONE_HOT = np.eye(3, dtype="float32")[RNG.integers(0, 3, 50)]
BINARY = RNG.integers(0, 2, 50).astype("float32")
PIXEL_LABELS = RNG.integers(0, 4, (6, 5, 5))
PIXEL_SCORES = RNG.uniform(size=(6, 5, 5, 4)).astype("float32")

CASES = [
    ("MeanIoU", {"num_classes": 3}, LABELS, PREDICTED),
    ("MeanIoU", {"num_classes": 3, "sparse_y_pred": False}, LABELS, SCORES),
    ("MeanIoU", {"num_classes": 3, "ignore_class": 0, "dtype": "float32"}, LABELS, PREDICTED),
    ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False}, PIXEL_LABELS, PIXEL_SCORES),
    ("IoU", {"num_classes": 3, "target_class_ids": [0, 2]}, LABELS, PREDICTED),
    ("IoU", {"num_classes": 3, "target_class_ids": [1], "sparse_y_true": False, "sparse_y_pred": False},
     ONE_HOT, SCORES),
    ("BinaryIoU", {}, BINARY, SCORES[:, 0]),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, BINARY, SCORES[:, 1]),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [0, 2]}, ONE_HOT, SCORES),
    ("OneHotMeanIoU", {"num_classes": 3}, ONE_HOT, SCORES),
    ("OneHotMeanIoU", {"num_classes": 3, "dtype": "float32"}, ONE_HOT, SCORES),
]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("weighted", [False, True])
def test_streamed_values_and_configs_equal_keras(name, kwargs, y_true, y_pred, weighted):
    ours, theirs = getattr(scanfit.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    per_pixel = np.ones(y_true.shape, "float32") * 2  # Keras takes per-pixel weights of a per-pixel label map
    weights = (per_pixel if y_true.ndim == 3 else WEIGHTS[:len(y_true)]) if weighted else None
    for part in (slice(0, 20), slice(20, None)):
        sample_weight = None if weights is None else weights[part]
        ours.update_state(y_true[part], y_pred[part], sample_weight=sample_weight)
        theirs.update_state(y_true[part], y_pred[part], sample_weight=sample_weight)
    np.testing.assert_array_equal(np.asarray(ours.total_cm.numpy()), np.asarray(theirs.total_cm.value))
    np.testing.assert_allclose(np.asarray(ours.result()), np.asarray(theirs.result()), rtol=1e-6)
    our_config, their_config = ours.get_config(), theirs.get_config()
    assert re.sub(r"_\d+$", "", our_config.pop("name")) == re.sub(r"_\d+$", "", their_config.pop("name"))  # count up
    assert our_config == their_config
    ours.reset_state()
    assert not np.any(ours.total_cm.numpy())


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="target_class_ids"):
        scanfit.metrics.IoU(3, [3])
    with pytest.raises(ValueError, match="num_classes"):
        scanfit.metrics.MeanIoU(0)


def test_mean_iou_of_a_per_pixel_classifier_in_fit_and_evaluate_equals_keras():
    x = RNG.normal(size=(24, 6, 6, 2)).astype("float32")
    y = (x[..., 0] > 0).astype("int64") + (x[..., 1] > 0.5)
    histories, evaluations = [], []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((6, 6, 2)), K.layers.Conv2D(3, 1, activation="softmax")])
        model.set_weights([np.full((1, 1, 2, 3), 0.1, "float32") * np.arange(1, 4), np.zeros(3, "float32")])
        model.compile(K.optimizers.SGD(0.5), "sparse_categorical_crossentropy",
                      metrics=[K.metrics.MeanIoU(3, sparse_y_pred=False, name="miou"),
                               K.metrics.IoU(3, [2], sparse_y_pred=False, name="iou_2")])
        histories.append(model.fit(x, y, epochs=3, batch_size=8, shuffle=False, validation_split=0.25,
                                   verbose=0).history)
        evaluations.append(model.evaluate(x, y, batch_size=10, return_dict=True, verbose=0))
    (k_hist, s_hist), (k_eval, s_eval) = histories, evaluations
    assert sorted(s_hist) == sorted(k_hist)
    assert len(set(np.round(k_hist["miou"], 4))) > 1  # the metric moves as the model learns
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for key in k_eval:
        np.testing.assert_allclose(s_eval[key], k_eval[key], rtol=1e-4, atol=1e-6, err_msg=key)
