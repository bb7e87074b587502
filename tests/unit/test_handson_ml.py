"""Code of Aurélien Géron's "Hands-On Machine Learning" (3rd edition) notebooks that scanfit got wrong, each run in
both libraries on small synthetic data of the book's shapes (chapters 11 and 12; tf.* calls written with keras.ops)."""
import keras
import numpy as np
import pytest

import scanfit

LIBS = pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])
RNG = np.random.default_rng(11)
X = RNG.normal(size=(64, 8)).astype("float32")  # California housing's 8 features
Y = (X[:, :1] + 0.5 * RNG.normal(size=(64, 1)) + 2.0).astype("float32")


def create_huber(lib, threshold=1.0):
    ops = lib.ops

    def huber_fn(y_true, y_pred):
        error = y_true - y_pred
        is_small_error = ops.abs(error) < threshold
        squared_loss = ops.square(error) / 2
        linear_loss = threshold * ops.abs(error) - threshold ** 2 / 2
        return ops.where(is_small_error, squared_loss, linear_loss)
    return huber_fn


def huber_metric_class(lib):
    """Chapter 12's streaming HuberMetric (a Metric subclass)."""
    class HuberMetric(lib.metrics.Metric):
        def __init__(self, threshold=1.0, **kwargs):
            super().__init__(**kwargs)
            self.threshold = threshold
            self.huber_fn = create_huber(lib, threshold)
            self.total = self.add_weight(name="total", initializer="zeros")
            self.count = self.add_weight(name="count", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(lib.ops.sum(self.huber_fn(y_true, y_pred)))
            self.count.assign_add(lib.ops.cast(lib.ops.size(y_true), "float32"))

        def result(self):
            return self.total / self.count

        def get_config(self):
            return {**super().get_config(), "threshold": self.threshold}
    return HuberMetric


def huber_mean_class(lib):
    """Chapter 12's second HuberMetric: a Mean subclass whose update_state feeds the mean the Huber values."""
    class HuberMetric(lib.metrics.Mean):
        def __init__(self, threshold=1.0, name="HuberMetric", dtype=None):
            self.threshold = threshold
            self.huber_fn = create_huber(lib, threshold)
            super().__init__(name=name, dtype=dtype)

        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(self.huber_fn(y_true, y_pred), sample_weight)

        def get_config(self):
            return {**super().get_config(), "threshold": self.threshold}
    return HuberMetric


def regression_model(lib):
    model = lib.Sequential([lib.layers.Dense(6, activation="relu", kernel_initializer="he_normal", input_shape=(8,)),
                            lib.layers.Dense(1)])
    model.set_weights([np.linspace(-0.5, 0.5, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
    return model


@LIBS
def test_metric_variables_read_as_numbers(lib):
    metric = huber_metric_class(lib)(2.0)
    assert float(metric(np.array([[2.0]]), np.array([[10.0]]))) == 14.0  # 2 * |10 - 2| - 2**2 / 2
    assert float(metric(np.array([[0.0], [5.0]]), np.array([[1.0], [9.25]]))) == 7.0  # (14 + 0.5 + 6.5) / 3
    total, count = metric.variables
    assert (float(total), int(count), round(total)) == (21.0, 3, 21)
    assert float(total % 4) == 1.0 and float(-total) == -21.0
    metric.reset_state()
    assert [float(v) for v in metric.variables] == [0.0, 0.0]


def test_metric_instances_without_names_count_up_as_in_keras():
    """Keras names each unnamed metric from a counter shared with the layers (precision, precision_1, ...):
    the history of the notebook's second HuberMetric instance logs 'huber_metric_1'."""
    for lib in (keras, scanfit):
        lib.backend.clear_session(free_memory=False)
        first, second = huber_metric_class(lib)(2.0), huber_metric_class(lib)(2.0)
        assert (first.name, second.name) == ("huber_metric", "huber_metric_1")
        assert [lib.metrics.Precision().name for _ in range(2)] == ["precision", "precision_1"]
        assert [lib.metrics.Mean().name for _ in range(2)] == ["mean", "mean"]  # a default name is not counted
        model = regression_model(lib)
        model.compile(loss=create_huber(lib, 2.0), optimizer="nadam", metrics=[second])
        history = model.fit(X, Y, epochs=1, verbose=0)
        assert sorted(history.history) == ["huber_metric_1", "loss"]


def test_a_mean_subclass_with_its_own_update_state_is_weighted_like_keras(tmp_path):
    weights = np.random.default_rng(42).random(len(Y))
    histories, reloaded = [], []
    for lib in (keras, scanfit):
        model = regression_model(lib)
        model.compile(loss=lib.losses.Huber(2.0), optimizer="nadam", weighted_metrics=[huber_mean_class(lib)(2.0)])
        histories.append(model.fit(X, Y, epochs=2, sample_weight=weights, verbose=0, shuffle=False).history)
        model.save(tmp_path / f"{lib.__name__}.keras")
        loaded = lib.models.load_model(tmp_path / f"{lib.__name__}.keras",
                                       custom_objects={"HuberMetric": huber_mean_class(lib)})
        reloaded.append(loaded.evaluate(X, Y, verbose=0, return_dict=True))
    for key in ("loss", "HuberMetric"):
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-5)
    # the notebook's check: the loss is the weighted sum over the batch size, the metric the weighted mean
    np.testing.assert_allclose(histories[1]["loss"][0], histories[1]["HuberMetric"][0] * weights.mean(), rtol=1e-5)
    np.testing.assert_allclose(reloaded[1]["HuberMetric"], reloaded[0]["HuberMetric"], rtol=1e-5)
    # Keras 3.15's Huber.get_config leaves out delta, so its reloaded loss is Huber(1.0); scanfit keeps 2.0,
    # and without sample weights the loss then equals the Huber(2.0) metric
    np.testing.assert_allclose(reloaded[1]["loss"], reloaded[1]["HuberMetric"], rtol=1e-5)


def residual_block_class(lib):
    class ResidualBlock(lib.layers.Layer):
        def __init__(self, n_layers, n_neurons, **kwargs):
            super().__init__(**kwargs)
            self.hidden = [lib.layers.Dense(n_neurons, activation="relu", kernel_initializer="he_normal")
                           for _ in range(n_layers)]

        def call(self, inputs):
            z = inputs
            for layer in self.hidden:
                z = layer(z)
            return inputs + z

        def get_config(self):
            return {**super().get_config(), "n_layers": len(self.hidden), "n_neurons": self.hidden[0].units}
    return ResidualBlock


def test_a_sequential_may_run_one_layer_several_times(tmp_path):
    """Chapter 12: ``block1`` four times in one Sequential, its weights shared."""
    histories = []
    for lib in (keras, scanfit):
        block_class = residual_block_class(lib)
        block1 = block_class(2, 6)
        model = lib.Sequential([lib.layers.Dense(6, activation="relu"), block1, block1, block1, block1,
                                block_class(2, 6), lib.layers.Dense(1)])
        model.build((None, 8))
        assert len(model.layers) == 7 and len(model.weights) == 12 and model.count_params() == 54 + 4 * 42 + 7
        model.set_weights([np.linspace(-0.4, 0.4, w.size, dtype="float32").reshape(w.shape)
                           for w in model.get_weights()])
        model.compile(loss="mse", optimizer="nadam")
        histories.append(model.fit(X, Y, epochs=2, verbose=0, shuffle=False).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    # Keras 3.15 writes the block once in the config and cannot load its own file back; scanfit's config lists
    # the layer at each place and the loader makes them one layer again
    model.save(tmp_path / "m.keras")
    loaded = scanfit.models.load_model(tmp_path / "m.keras", custom_objects={"ResidualBlock": block_class})
    assert loaded.layers[1] is loaded.layers[4] and loaded.layers[1] is not loaded.layers[5]
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="cannot be a layer of itself"):
        model.add(model)


@LIBS
def test_building_a_built_layer_again_is_refused(lib):
    class ScaledDense(lib.layers.Dense):  # weights added after super().build() are still part of the build
        def build(self, input_shape):
            super().build(input_shape)
            self.scale = self.add_weight(shape=(self.units,), name="scale", initializer="ones")

    dense = ScaledDense(3)
    dense.build((None, 4))
    assert len(dense.weights) == 3
    with pytest.raises(ValueError, match="already built|cannot add new elements"):
        dense.build((None, 4))  # Keras locks the layer's state; scanfit used to add a second kernel
    assert len(dense.weights) == 3


def test_a_layer_as_activation_is_saved_and_loaded_by_both(tmp_path):
    """Chapter 11: ``Dense(50, activation=LeakyReLU(alpha=0.2))``."""
    x = np.linspace(-2, 2, 12, dtype="float32").reshape(3, 4)
    configs, outputs = [], []
    for lib in (keras, scanfit):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation=lib.layers.LeakyReLU(alpha=0.2)),
                                lib.layers.Dense(2, activation=lib.layers.ReLU(max_value=0.5))])
        model.set_weights([np.linspace(-1, 1, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
        configs.append(model.layers[0].get_config()["activation"])
        outputs.append(np.asarray(model.predict(x, verbose=0)))
        model.save(tmp_path / f"{lib.__name__}.keras")
    assert configs[1] == configs[0]
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-6)
    for writer in (keras, scanfit):
        for reader in (keras, scanfit):
            loaded = reader.models.load_model(tmp_path / f"{writer.__name__}.keras")
            assert type(loaded.layers[0].activation).__name__ == "LeakyReLU"
            np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), outputs[0], rtol=1e-6)


def test_evaluate_lists_a_multi_output_models_values_in_keras_order():
    """Chapter 10's Wide & Deep with an auxiliary output: ``weighted_sum_of_losses, main_loss, aux_loss =
    eval_results[:3]``; Keras 3 then lists the other values by name (aux_... before main_...)."""
    wide, deep, y = X[:, :5], X[:, 2:], Y[:, 0]
    results = []
    for lib in (keras, scanfit):
        input_wide, input_deep = lib.Input(shape=[5]), lib.Input(shape=[6])
        hidden = lib.layers.Dense(4, activation="relu")(input_deep)
        output = lib.layers.Dense(1, name="main")(lib.layers.concatenate([input_wide, hidden]))
        aux_output = lib.layers.Dense(1, name="aux")(hidden)
        model = lib.Model(inputs=[input_wide, input_deep], outputs=[output, aux_output])
        model.set_weights([np.linspace(-0.5, 0.7, w.size, dtype="float32").reshape(w.shape)
                           for w in model.get_weights()])
        model.compile(loss=("mse", "mse"), loss_weights=(0.9, 0.1), optimizer="sgd",
                      metrics=[["RootMeanSquaredError", "mae"], ["RootMeanSquaredError"]])
        results.append([model.evaluate((wide, deep), (y, y), verbose=0),
                        model.test_on_batch((wide, deep), (y, y)), model.train_on_batch((wide, deep), (y, y))])
    np.testing.assert_allclose(np.array(results[1]), np.array(results[0]), rtol=1e-5)
    assert results[1][0][3] != results[1][0][4]  # aux's and main's RMSE differ: the order is tested


def translation_model(lib):
    """Chapter 16's encoder-decoder: a bidirectional encoder whose states start the decoder, its one output in
    a list."""
    encoder_inputs, decoder_inputs = lib.Input(shape=[None], dtype="int32"), lib.Input(shape=[None], dtype="int32")
    encoder_embeddings = lib.layers.Embedding(12, 4, mask_zero=True)(encoder_inputs)
    decoder_embeddings = lib.layers.Embedding(12, 4, mask_zero=True)(decoder_inputs)
    encoder_outputs, *encoder_state = lib.layers.Bidirectional(lib.layers.LSTM(3, return_state=True))(
        encoder_embeddings)
    encoder_state = [lib.ops.concatenate(encoder_state[::2], axis=-1),  # short-term (0 & 2)
                     lib.ops.concatenate(encoder_state[1::2], axis=-1)]  # long-term (1 & 3)
    decoder_outputs = lib.layers.LSTM(6, return_sequences=True)(decoder_embeddings, initial_state=encoder_state)
    y_proba = lib.layers.Dense(12, activation="softmax")(decoder_outputs)
    model = lib.Model(inputs=[encoder_inputs, decoder_inputs], outputs=[y_proba])
    model.set_weights([np.linspace(-0.6, 0.6, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
    return model


def test_a_model_built_with_outputs_in_a_one_element_list_returns_one_array():
    """Chapters 10, 15 and 16 build ``Model(inputs=[...], outputs=[Y_proba])`` and index the predictions:
    ``model.predict((X, X_dec))[0, word_idx]``; Keras 3 unpacks the one-element list (call and predict)."""
    sentence, translation = np.array([[3, 5, 7, 0]]), np.array([[1, 4, 0]])
    predictions = []
    for lib in (keras, scanfit):
        model = translation_model(lib)
        predicted = model.predict((sentence, translation), verbose=0)
        assert isinstance(predicted, np.ndarray) and predicted.shape == (1, 3, 12)
        called = model((sentence, translation))
        assert not isinstance(called, (list, tuple))
        np.testing.assert_allclose(np.asarray(called)[0, 1], predicted[0, 1], rtol=1e-5)
        predictions.append(predicted[0, 1])
    np.testing.assert_allclose(predictions[1], predictions[0], rtol=1e-5)


def my_dense_class(lib):
    """Chapter 12's MyDense, its get_config written as the book writes it."""
    class MyDense(lib.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.activation = lib.activations.get(activation)

        def build(self, batch_input_shape):
            self.kernel = self.add_weight(name="kernel", shape=[batch_input_shape[-1], self.units],
                                          initializer="he_normal")
            self.bias = self.add_weight(name="bias", shape=[self.units], initializer="zeros")

        def call(self, x):
            return self.activation(x @ self.kernel + self.bias)

        def get_config(self):
            return {**super().get_config(), "units": self.units,
                    "activation": lib.activations.serialize(self.activation)}
    return MyDense


def test_a_first_layer_given_input_shape_is_saved_as_keras_3_saves_it(tmp_path):
    """``MyDense(30, activation="relu", input_shape=input_shape)`` first in a Sequential: Keras 3 keeps the
    shape in the model's InputLayer, not in the layer's config (its layers refuse ``batch_input_shape``), so
    Keras could not load scanfit's file."""
    configs = []
    for lib in (keras, scanfit):
        model = lib.Sequential([my_dense_class(lib)(6, activation="relu", input_shape=(8,)), lib.layers.Dense(1)])
        configs.append(model.layers[0].get_config())
        model.set_weights([np.linspace(-0.5, 0.5, w.size, dtype="float32").reshape(w.shape)
                           for w in model.get_weights()])
    assert configs[1] == {**configs[0], "name": configs[1]["name"]}
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", custom_objects={"MyDense": my_dense_class(keras)})
    assert tuple(loaded.input_shape) == (None, 8)
    np.testing.assert_allclose(np.asarray(loaded.predict(X, verbose=0)), model.predict(X, verbose=0), atol=1e-6)
