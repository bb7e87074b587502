"""An output that carries a mask (a masked sequence model's per-step output) is trained and measured on the
kept steps only, as Keras 3 does: the loss, the metrics (weighted ones too) and a streaming metric."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(50)
TOKENS = RNG.integers(1, 12, size=(40, 6))
TOKENS[:, 4:] = 0
TOKENS[::4, 2:] = 0
TARGETS = RNG.integers(0, 3, size=(40, 6))


def build(K, functional):
    layers = [K.layers.Embedding(12, 5, mask_zero=True), K.layers.GRU(5, return_sequences=True),
              K.layers.Dense(3, activation="softmax")]
    if not functional:
        return K.Sequential([K.Input((6,))] + layers)
    inputs = K.Input((6,))
    x = inputs
    for layer in layers:
        x = layer(x)
    return K.Model(inputs, x)


@pytest.mark.parametrize("functional", [False, True])
def test_loss_and_metrics_over_kept_steps_equal_keras(functional):
    k_model, s_model = build(keras, functional), build(scanfit, functional)
    weights = [RNG.normal(scale=0.4, size=w.shape).astype("float32") for w in k_model.get_weights()]
    for model, K in ((k_model, keras), (s_model, scanfit)):
        model.set_weights(weights)
        model.compile(K.optimizers.SGD(0.2), "sparse_categorical_crossentropy",
                      metrics=["accuracy", K.metrics.SparseCategoricalCrossentropy(name="ce")])
    k_hist = k_model.fit(TOKENS, TARGETS, epochs=3, batch_size=8, shuffle=False, verbose=0,
                         validation_data=(TOKENS[:12], TARGETS[:12])).history
    s_hist = s_model.fit(TOKENS, TARGETS, epochs=3, batch_size=8, shuffle=False, verbose=0,
                         validation_data=(TOKENS[:12], TARGETS[:12])).history
    # Keras 3 on JAX drops the mask from the training-time metrics (not from their validation values, nor
    # from the loss); scanfit measures the kept steps in both, so only those are compared with Keras here.
    for key in ("loss", "val_loss", "val_accuracy", "val_ce"):
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)
    # by hand: the mean cross-entropy over the kept steps only
    probabilities = s_model.predict(TOKENS, verbose=0)
    ce = -np.log(np.take_along_axis(probabilities, TARGETS[..., None], -1)[..., 0])
    kept = TOKENS != 0
    np.testing.assert_allclose(s_model.evaluate(TOKENS, TARGETS, batch_size=40, verbose=0)[0], ce[kept].mean(),
                               rtol=1e-5)


def test_sample_weights_and_streaming_metrics_see_the_mask():
    class KeptSteps(scanfit.metrics.Metric):
        """Counts the weight the metric is given: the kept steps times the sample weights."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.total = self.add_weight(name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(scanfit.ops.sum(sample_weight))

        def result(self):
            return self.total

    model = build(scanfit, functional=True)
    weights = RNG.uniform(0.5, 2.0, size=40).astype("float32")
    model.compile("sgd", "sparse_categorical_crossentropy", weighted_metrics=["accuracy", KeptSteps(name="kept")])
    logs = model.evaluate(TOKENS, TARGETS, sample_weight=weights, batch_size=40, return_dict=True, verbose=0)
    kept = TOKENS != 0
    np.testing.assert_allclose(logs["kept"], np.sum(kept * weights[:, None]), rtol=1e-5)
    probabilities = model.predict(TOKENS, verbose=0)
    right = probabilities.argmax(-1) == TARGETS
    np.testing.assert_allclose(logs["accuracy"], np.sum(right * kept * weights[:, None]) /
                               np.sum(kept * weights[:, None]), rtol=1e-5)
    ce = -np.log(np.take_along_axis(probabilities, TARGETS[..., None], -1)[..., 0])
    np.testing.assert_allclose(logs["loss"], np.sum(ce * kept * weights[:, None]) / kept.sum(), rtol=1e-5)


def test_training_metrics_measure_the_kept_steps():
    model = build(scanfit, functional=False)
    model.set_weights([np.random.default_rng(7).normal(scale=0.5, size=w.shape).astype("float32")
                       for w in model.get_weights()])  # fixed, so the test does not depend on the tests before it
    model.compile(scanfit.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    right = model.predict(TOKENS, verbose=0).argmax(-1) == TARGETS
    history = model.fit(TOKENS, TARGETS, epochs=1, batch_size=40, verbose=0).history
    kept = TOKENS != 0
    np.testing.assert_allclose(history["accuracy"][0], right[kept].mean(), rtol=1e-6)
    assert right[kept].mean() != right.mean()  # the padding steps would change it


def test_confusion_metrics_of_a_masked_output_count_the_kept_steps():
    """Precision, Recall and AUC count the kept steps too. Keras 3's evaluate does not mask these three (it masks
    mean metrics such as accuracy); the oracle is Keras's metric given the mask as sample weights."""
    binary = (TARGETS > 0).astype("float32")[..., None]
    model = scanfit.Sequential([scanfit.Input((6,)), scanfit.layers.Embedding(12, 5, mask_zero=True),
                                scanfit.layers.GRU(5, return_sequences=True),
                                scanfit.layers.Dense(1, activation="sigmoid")])
    model.set_weights([np.full(w.shape, 0.3, "float32") * (1 + np.arange(w.size).reshape(w.shape) % 3) / 3
                       for w in model.get_weights()])
    model.compile("sgd", "binary_crossentropy", metrics=[scanfit.metrics.Precision(name="p"),
                                                         scanfit.metrics.Recall(name="r"),
                                                         scanfit.metrics.AUC(name="auc")])
    logs = model.evaluate(TOKENS, binary, batch_size=16, return_dict=True, verbose=0)
    predictions, kept = model.predict(TOKENS, verbose=0), (TOKENS != 0).astype("float32")
    for key, metric in (("p", keras.metrics.Precision()), ("r", keras.metrics.Recall()), ("auc", keras.metrics.AUC())):
        metric.update_state(binary, predictions, sample_weight=kept)
        np.testing.assert_allclose(logs[key], float(metric.result()), rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("batch_size", [8, 5])
def test_ignore_class_entries_are_left_out_of_fit_and_evaluate_as_in_keras(batch_size):
    """SparseCategoricalCrossentropy(ignore_class=0): each batch's loss is the mean over its other entries, in
    fit's history and evaluate (a short last batch too, with sample weights), as Keras computes it."""
    x = RNG.normal(size=(13, 3)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2, 0, 0, 2, 1, 0, 0, 0])
    w = RNG.uniform(0.5, 2.0, size=13).astype("float32")
    histories, evaluations = [], []
    for lib in (keras, scanfit):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(3, kernel_initializer="ones", name="d")])
        model.compile(lib.optimizers.SGD(0.1), lib.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                                         ignore_class=0))
        model.layers[-1].kernel.assign(np.linspace(-1, 1, 9, dtype="float32").reshape(3, 3))
        histories.append(model.fit(x, y, sample_weight=w, batch_size=batch_size, epochs=2, shuffle=False,
                                   verbose=0).history["loss"])
        evaluations.append(model.evaluate(x, y, batch_size=batch_size, verbose=0))
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    np.testing.assert_allclose(evaluations[1], evaluations[0], rtol=1e-5)
