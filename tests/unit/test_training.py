"""Sequential models and the compiled training engine, with Keras 3 as the oracle."""
import io
import warnings

import jax
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(1)
X = RNG.normal(size=(203, 12)).astype("float32")
Y = (X[:, :3].sum(axis=1) > 0).astype("int64") + (X[:, 3] > 0.5)  # 3 classes
XV = RNG.normal(size=(50, 12)).astype("float32")
YV = (XV[:, :3].sum(axis=1) > 0).astype("int64") + (XV[:, 3] > 0.5)


def _architecture(L, regularized=False):
    """Dense + BatchNormalization stack, in Keras (L = keras.layers) or scanfit."""
    library = keras if L is keras.layers else scanfit
    first = {}
    if regularized:
        first = dict(kernel_regularizer=library.regularizers.l2(0.01),
                     activity_regularizer=library.regularizers.l1(0.001),
                     kernel_constraint=library.constraints.MaxNorm(1.5))
    return [
        L.Dense(16, activation="relu", input_shape=(12,), **first),
        L.BatchNormalization(),
        L.Dense(8, activation="tanh"),
        L.Dense(3, activation="softmax"),
    ]


def _with_dropout(rate):
    layers = _architecture(scanfit.layers)
    return layers[:-1] + [scanfit.layers.Dropout(rate), layers[-1]]


def _twin_models(regularized=False):
    k_model = keras.Sequential(_architecture(keras.layers, regularized))
    s_model = scanfit.Sequential(_architecture(scanfit.layers, regularized))
    s_model.set_weights(k_model.get_weights())
    return k_model, s_model


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
@pytest.mark.parametrize("regularized", [False, True])
def test_training_matches_keras_step_for_step(optimizer, regularized):
    """Same weights, unshuffled batches (with a partial last batch): same weights and history."""
    k_model, s_model = _twin_models(regularized)
    for model in (k_model, s_model):
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kwargs = dict(epochs=3, batch_size=32, shuffle=False, verbose=0, validation_data=(XV, YV))
    k_hist = k_model.fit(X, Y, **kwargs).history
    s_hist = s_model.fit(X, Y, **kwargs).history
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=2e-5)
    assert list(s_hist) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    for key in s_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_sample_and_class_weights_match_keras():
    k_model, s_model = _twin_models()
    sample_weight = RNG.uniform(0.5, 2.0, size=len(X)).astype("float32")
    for model in (k_model, s_model):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], weighted_metrics=["accuracy"])
    for kwargs in ({"sample_weight": sample_weight}, {"class_weight": {0: 1.0, 1: 3.0, 2: 0.5}}):
        k_hist = k_model.fit(X, Y, epochs=1, shuffle=False, verbose=0, **kwargs).history
        s_hist = s_model.fit(X, Y, epochs=1, shuffle=False, verbose=0, **kwargs).history
        np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
        for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
            np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=2e-5)


def test_evaluate_and_predict_match_keras_and_return_keras_forms():
    k_model, s_model = _twin_models()
    for model in (k_model, s_model):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    k_result = k_model.evaluate(XV, YV, verbose=0)
    s_result = s_model.evaluate(XV, YV, verbose=0)
    np.testing.assert_allclose(s_result, k_result, rtol=1e-5)
    assert s_model.evaluate(XV, YV, verbose=0, return_dict=True).keys() == {"loss", "acc"}
    np.testing.assert_allclose(s_model.predict(XV, verbose=0), k_model.predict(XV, verbose=0), atol=1e-5)
    assert s_model.predict(XV, batch_size=7, verbose=0).shape == (50, 3)
    s_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(s_model.evaluate(XV, YV, verbose=0), float)


def test_history_uses_the_metric_name_the_user_wrote():
    model = scanfit.Sequential(_architecture(scanfit.layers))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="acc")
    history = model.fit(X, Y, epochs=2, verbose=0, validation_split=0.2)
    assert list(history.history) == ["loss", "acc", "val_loss", "val_acc"]
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 6}
    assert history.model is model and model.history is history
    assert all(isinstance(v, float) for values in history.history.values() for v in values)


def test_validation_split_holds_out_the_last_samples_before_shuffling():
    model = scanfit.Sequential(_architecture(scanfit.layers))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, Y, epochs=1, verbose=0, validation_split=0.25)
    split_at = int(np.floor(len(X) * 0.75))
    expected = model.evaluate(X[split_at:], Y[split_at:], verbose=0)
    np.testing.assert_allclose([history.history["val_loss"][0], history.history["val_accuracy"][0]], expected, rtol=1e-5)


class _BatchRecorder(scanfit.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((batch, dict(logs)))


def test_batch_hooks_see_every_batch_and_training_is_unchanged():
    """Running the epoch one step per program (for batch hooks) gives the one-program result."""
    results = []
    for callbacks in ([], [_BatchRecorder()]):
        scanfit.utils.set_random_seed(7)
        model = scanfit.Sequential(_with_dropout(0.2))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(X, Y, epochs=2, batch_size=32, verbose=0, callbacks=callbacks)
        results.append((model.get_weights(), history.history))
    recorder = callbacks[0]
    assert [b for b, _ in recorder.batches] == list(range(7)) * 2
    np.testing.assert_allclose(recorder.batches[6][1]["loss"], results[1][1]["loss"][0], rtol=1e-6)
    for a, b in zip(results[0][0], results[1][0]):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for key in results[0][1]:
        np.testing.assert_allclose(results[0][1][key], results[1][1][key], rtol=1e-5)


def test_set_random_seed_makes_runs_repeatable():
    runs = []
    for _ in range(2):
        scanfit.utils.set_random_seed(123)
        model = scanfit.Sequential(_with_dropout(0.3))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(X, Y, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_changes_between_epochs_take_effect_without_recompiling():
    compiled_later = []  # the programs lowered for compiling (from the persistent cache too) after the first epoch

    def lowered(event, seconds, **info):
        if event.endswith("jaxpr_to_mlir_module_duration"):
            compiled_later.append(info.get("fun_name", ""))

    class Halve(scanfit.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.optimizer.learning_rate = self.model.optimizer.learning_rate * 0.5

    k_model, s_model = _twin_models()
    s_model.compile(optimizer=scanfit.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    k_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")

    class KerasHalve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.optimizer.learning_rate = float(self.model.optimizer.learning_rate) * 0.5

    s_model.fit(X, Y, epochs=1, shuffle=False, verbose=0)  # the epoch program compiles here
    jax.monitoring.register_event_duration_secs_listener(lowered)
    try:
        s_model.fit(X, Y, epochs=3, initial_epoch=1, shuffle=False, verbose=0, callbacks=[Halve()])
    finally:
        jax.monitoring.unregister_event_duration_listener(lowered)
    k_model.fit(X, Y, epochs=1, shuffle=False, verbose=0)
    k_model.fit(X, Y, epochs=3, initial_epoch=1, shuffle=False, verbose=0, callbacks=[KerasHalve()])
    assert s_model.optimizer.learning_rate == pytest.approx(0.025)
    assert not [name for name in compiled_later if "train" in name], compiled_later
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=2e-5)


def test_stop_training_from_a_callback_ends_the_run():
    class StopAfterTwo(scanfit.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    model = scanfit.Sequential(_architecture(scanfit.layers))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(X, Y, epochs=10, verbose=0, callbacks=[StopAfterTwo()])
    assert history.epoch == [0, 1]


def test_frozen_layers_stay_bit_identical_and_take_effect_at_compile():
    model = scanfit.Sequential(_architecture(scanfit.layers))
    frozen = model.layers[:2]
    for layer in frozen:
        layer.trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for layer in frozen for w in layer.get_weights()]
    model.fit(X, Y, epochs=2, verbose=0)
    after = [w for layer in frozen for w in layer.get_weights()]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 6


def test_summary_matches_the_seed_table_and_counts():
    model = scanfit.Sequential([
        scanfit.layers.Flatten(input_shape=[28, 28]),
        scanfit.layers.BatchNormalization(),
        scanfit.layers.Dense(300, activation="relu"),
        scanfit.layers.BatchNormalization(),
        scanfit.layers.Dense(100, activation="relu"),
        scanfit.layers.BatchNormalization(),
        scanfit.layers.Dense(10, activation="softmax"),
    ], name="패션 MNIST 모델")
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == 'Model: "패션 MNIST 모델"'
    assert lines[-4:-1] == ["Total params: 271,346", "Trainable params: 268,978", "Non-trainable params: 2,368"]
    dense_row = next(line for line in lines if "(Dense)" in line)
    assert dense_row.endswith("235500    ") and "(None, 300)" in dense_row
    assert all(len(line) == 65 for line in lines[1:-4])


def test_seed_000_summary_is_reproduced_exactly():
    model = scanfit.Sequential(name="sequential")
    model.add(scanfit.layers.Flatten(input_shape=(28, 28), name="flatten"))
    model.add(scanfit.layers.Dense(100, activation="relu", name="dense"))
    model.add(scanfit.layers.Dense(10, activation="softmax", name="dense_1"))
    out = io.StringIO()
    model.summary(print_fn=lambda line: out.write(line + "\n"))
    expected = """Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #   
=================================================================
 flatten (Flatten)           (None, 784)               0         
                                                                 
 dense (Dense)               (None, 100)               78500     
                                                                 
 dense_1 (Dense)             (None, 10)                1010      
                                                                 
=================================================================
Total params: 79,510
Trainable params: 79,510
Non-trainable params: 0
_________________________________________________________________
"""
    assert out.getvalue() == expected


def test_sequential_construction_forms():
    single = scanfit.Sequential(scanfit.layers.Dense(10, activation="softmax", input_shape=(784,)))
    assert single.built and single.output_shape == (None, 10)
    via_input = scanfit.Sequential([scanfit.Input(shape=(28, 28)), scanfit.layers.Flatten()])
    assert via_input.output_shape == (None, 784)
    lazy = scanfit.Sequential([scanfit.layers.Dense(4)])
    assert not lazy.built
    with pytest.raises(ValueError, match="not yet been built"):
        lazy.summary()
    lazy.compile(optimizer="sgd", loss="mse")
    lazy.fit(X, np.zeros((len(X), 4)), verbose=0)
    assert lazy.built and lazy.input_shape == (None, 12)
    popped = lazy.pop()
    assert isinstance(popped, scanfit.layers.Dense) and lazy.layers == []
    model = scanfit.Sequential([scanfit.layers.Dense(4, name="hidden", input_dim=3), scanfit.layers.Dense(1, name="output")])
    assert model.get_layer("output") is model.layers[1] and model.get_layer(index=0).name == "hidden"
    with pytest.raises(ValueError, match="No layer named"):
        model.get_layer("missing")


class ShapeCounted(scanfit.layers.Layer):
    """An identity layer that records every shape inference made for it."""

    inferences = []

    def compute_output_shape(self, input_shape):
        ShapeCounted.inferences.append(self.name)
        return tuple(input_shape)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x, {}


def test_a_list_or_an_add_loop_infers_each_layer_shape_once(monkeypatch):
    """Was: each layer rebuilt the whole model, so n layers took n**2 / 2 shape inferences."""
    monkeypatch.setattr(ShapeCounted, "inferences", [])
    n = 300
    listed = scanfit.Sequential([scanfit.Input((3,))] + [ShapeCounted() for _ in range(n)])
    assert listed.built and listed.output_shape == (None, 3)
    assert sorted(ShapeCounted.inferences) == sorted(layer.name for layer in listed.layers)
    ShapeCounted.inferences.clear()
    added = scanfit.Sequential([scanfit.Input((3,))])
    for _ in range(n):
        added.add(ShapeCounted())
    assert added.built and len(ShapeCounted.inferences) == n
    ShapeCounted.inferences.clear()
    lazy = scanfit.Sequential([ShapeCounted() for _ in range(n)])
    assert not lazy.built and ShapeCounted.inferences == []
    lazy.build((None, 5))
    assert lazy.output_shape == (None, 5) and len(ShapeCounted.inferences) == n


def test_adding_to_a_built_model_keeps_it_built_as_in_keras():
    """Only the new layer is built, from the model's output shape; a model built from data stays built too."""
    for library in (keras, scanfit):
        declared = library.Sequential([library.Input((6,)), library.layers.Dense(4)])
        declared.add(library.layers.Dense(2))
        from_data = library.Sequential([library.layers.Dense(4)])
        from_data(X)
        from_data.add(library.layers.Dense(2))
        for model, features in ((declared, 6), (from_data, 12)):  # (Keras keeps the batch size of the data)
            assert model.built and model.input_shape[1:] == (features,) and model.output_shape[1:] == (2,)
            assert model.count_params() == features * 4 + 4 + 4 * 2 + 2
    assert np.asarray(from_data(X)).shape == (len(X), 2)


def test_a_bad_layer_in_a_list_is_refused_and_add_leaves_the_model_as_it_was():
    dense = scanfit.layers.Dense(2, name="same")
    with pytest.raises(ValueError, match="unique names; 'same' is already used"):
        scanfit.Sequential([scanfit.Input((3,)), dense, scanfit.layers.Dense(2, name="same")])
    twice = scanfit.Sequential([dense, dense])  # one layer run twice, as Keras allows (Hands-on ML's ResidualBlock)
    with pytest.raises(ValueError, match="cannot be a layer of itself"):
        twice.add(twice)
    with pytest.raises(ValueError, match="only be the first element"):
        scanfit.Sequential([scanfit.layers.Dense(2), scanfit.Input((3,))])
    with pytest.raises(TypeError, match="Only scanfit layers"):
        scanfit.Sequential([scanfit.layers.Dense(2), "dense"])
    model = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(2, name="first")])
    with pytest.raises(ValueError, match="unique names"):
        model.add(scanfit.layers.Dense(2, name="first"))
    assert [layer.name for layer in model.layers] == ["first"] and model.built and model.output_shape == (None, 2)


def test_wrong_input_shape_and_uncompiled_model_give_clear_errors():
    model = scanfit.Sequential([scanfit.layers.Dense(3, input_shape=(5,))])
    with pytest.raises(RuntimeError, match="must be compiled"):
        model.fit(X, Y, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expects samples of shape \(5,\)"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(X[:, :5], Y[:10], verbose=0)


def test_progress_output_has_the_keras_2_format(capsys):
    model = scanfit.Sequential(_architecture(scanfit.layers))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    model.fit(X, Y, epochs=2, validation_data=(XV, YV))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("7/7 [==============================] - ")
    assert " - loss: " in lines[1] and " - accuracy: " in lines[1] and lines[1].rstrip().split(" - ")[-2].startswith("val_loss")
    model.fit(X, Y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_predict_pads_a_short_last_batch_and_returns_exactly_the_samples():
    """37 samples at batch 16: the last batch of 5 runs padded to 16, in one compiled scan; only the 37 come back."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(37, 6)).astype("float32")
    inputs = scanfit.Input(shape=(6,))
    hidden = scanfit.layers.Dense(5, activation="relu")(inputs)
    model = scanfit.Model(inputs, [scanfit.layers.Dense(3, activation="softmax")(hidden), scanfit.layers.Dense(1)(hidden)])
    first, second = model.predict(x, batch_size=16, verbose=0)
    assert first.shape == (37, 3) and second.shape == (37, 1)
    direct = model(x)
    np.testing.assert_allclose(first, np.asarray(direct[0]), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(second, np.asarray(direct[1]), rtol=1e-6, atol=1e-7)

    class Batches(scanfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.sizes = []

        def on_predict_batch_end(self, batch, logs=None):
            self.sizes.append(len(logs["outputs"][0]))

    batches = Batches()
    by_batch = model.predict(x, batch_size=16, verbose=0, callbacks=[batches])
    assert batches.sizes == [16, 16, 5]
    np.testing.assert_allclose(by_batch[0], first, rtol=1e-6, atol=1e-7)


def test_a_model_that_mixes_samples_keeps_its_short_last_batch():
    """A Lambda (or a subclassed model's own call) may mix the samples of a batch: no padding there, so the
    last batch of 5 is computed alone, as Keras computes it."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(37, 4)).astype("float32")
    model = scanfit.Sequential([scanfit.Input(shape=(4,)),
                                scanfit.layers.Lambda(lambda t: t - t.mean(axis=0, keepdims=True))])
    model.compile(optimizer="sgd", loss="mse")
    out = model.predict(x, batch_size=16, verbose=0)
    np.testing.assert_allclose(out[32:], x[32:] - x[32:].mean(axis=0), rtol=1e-5, atol=1e-6)
    model.evaluate(x, x, batch_size=16, verbose=0)
    assert not model.trainer.programs.pad_evaluation
    plain = scanfit.Sequential([scanfit.Input(shape=(4,)), scanfit.layers.Dense(2)])
    plain.compile(optimizer="sgd", loss="mse")
    plain.evaluate(x, x[:, :2], batch_size=16, verbose=0)
    assert plain.trainer.programs.pad_evaluation


def test_a_trainable_flag_changed_after_compile_is_warned_about_and_takes_effect_at_the_next_compile():
    """As in tf.keras 2 (Hands-On ML's GAN relies on it): training goes by the flags compile() saw, with a warning
    naming the layer; compiling again applies the change. (Keras 3 instead reads the flags at the first fit and
    refuses a change after it with an error about the optimizer's variables.)"""
    model = scanfit.Sequential([scanfit.Input((12,)), scanfit.layers.Dense(4, name="first"), scanfit.layers.Dense(3)])
    model.compile(optimizer=scanfit.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)
    model.get_layer("first").trainable = False
    before = model.get_layer("first").get_weights()[0]
    with pytest.warns(UserWarning, match=r"Model 'sequential.*': the trainable flag of layer\(s\) \['first'\] "
                                         r"changed since compile\(\)"):
        model.fit(X, Y, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer("first").get_weights()[0], before)  # trained, as compile() saw it
    model.compile(optimizer=scanfit.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = model.get_layer("first").get_weights()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, Y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_layer("first").get_weights()[0], before)
