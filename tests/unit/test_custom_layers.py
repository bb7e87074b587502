"""Keras-style user layers (Hands-on ML chapters 11, 12 and 17): `build` with `add_weight`, `call(self, inputs)`
reading ``self.kernel``, ``super().call`` (MCDropout), layers holding layers, tied weights, and Monte Carlo
dropout in predict, evaluate and functional models, with Keras 3 as the oracle."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(5)
X = RNG.normal(size=(96, 8)).astype("float32")
Y = (X @ RNG.normal(size=(8, 1)) + 0.1 * RNG.normal(size=(96, 1))).astype("float32")


def my_dense_class(K):
    """Hands-on ML's MyDense, as the book writes it (less the tf.TensorShape in compute_output_shape)."""

    class MyDense(K.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.activation = K.activations.get(activation)

        def build(self, batch_input_shape):
            self.kernel = self.add_weight(name="kernel", shape=[batch_input_shape[-1], self.units],
                                          initializer="glorot_normal")
            self.bias = self.add_weight(name="bias", shape=[self.units], initializer="zeros")
            super().build(batch_input_shape)

        def call(self, X):
            return self.activation(X @ self.kernel + self.bias)

        def get_config(self):
            base_config = super().get_config()
            return {**base_config, "units": self.units, "activation": K.activations.serialize(self.activation)}

    return MyDense


def residual_block_class(K):
    """Hands-on ML's ResidualBlock: a layer that holds Dense layers in a list and adds a skip connection."""

    class ResidualBlock(K.layers.Layer):
        def __init__(self, n_layers, n_neurons, **kwargs):
            super().__init__(**kwargs)
            self.hidden = [K.layers.Dense(n_neurons, activation="elu") for _ in range(n_layers)]

        def call(self, inputs):
            Z = inputs
            for layer in self.hidden:
                Z = layer(Z)
            return inputs + Z

    return ResidualBlock


def same_start(k_model, s_model):
    weights = [RNG.normal(scale=0.3, size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)


def train_both(k_model, s_model, epochs=3):
    k_model.compile(keras.optimizers.SGD(0.05), "mse")
    s_model.compile(scanfit.optimizers.SGD(0.05), "mse")
    k_hist = k_model.fit(X, Y, epochs=epochs, batch_size=16, shuffle=False, verbose=0).history
    s_hist = s_model.fit(X, Y, epochs=epochs, batch_size=16, shuffle=False, verbose=0).history
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-6)


def test_my_dense_trains_step_for_step_like_keras():
    models = [K.Sequential([K.Input((8,)), my_dense_class(K)(30, activation="relu"), my_dense_class(K)(1)])
              for K in (keras, scanfit)]
    k_model, s_model = models
    assert [w.shape for w in s_model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
    assert s_model.count_params() == k_model.count_params() == 8 * 30 + 30 + 31
    assert s_model.layers[0].output_shape == (None, 30)  # found by tracing call()
    same_start(k_model, s_model)
    np.testing.assert_allclose(s_model.predict(X, verbose=0), k_model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    train_both(k_model, s_model)


def test_a_layer_holding_layers_trains_like_keras_and_freezes_them_all():
    models = []
    for K in (keras, scanfit):
        inputs = K.Input((8,))
        block = residual_block_class(K)(2, 8)
        models.append(K.Model(inputs, K.layers.Dense(1)(block(inputs))))
    k_model, s_model = models
    block = s_model.layers[1]
    assert len(block.weights) == 4 and block.count_params() == 2 * (8 * 8 + 8)
    assert [w.shape for w in s_model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
    same_start(k_model, s_model)
    train_both(k_model, s_model)
    block.trainable = False  # freezes the Dense layers inside it, as in Keras
    assert block.trainable_weights == [] and len(s_model.trainable_weights) == 2
    frozen = [w.copy() for w in block.get_weights()]
    s_model.compile("sgd", "mse")
    s_model.fit(X, Y, epochs=1, verbose=0)
    for before, after in zip(frozen, block.get_weights()):
        np.testing.assert_array_equal(after, before)


def test_keras_style_layers_in_a_subclassed_model_train_like_keras():
    def regressor(K):
        class ResidualRegressor(K.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.hidden1 = my_dense_class(K)(8, activation="elu")
                self.block = residual_block_class(K)(2, 8)
                self.out = K.layers.Dense(1)

            def call(self, inputs):
                return self.out(self.block(self.hidden1(inputs)))

        return ResidualRegressor()

    k_model, s_model = regressor(keras), regressor(scanfit)
    k_model(X[:2])
    s_model(X[:2])
    same_start(k_model, s_model)
    train_both(k_model, s_model)


def test_tied_weights_use_the_other_layers_current_kernel():
    """Hands-on ML's DenseTranspose (chapter 17): a decoder layer reads an encoder layer's kernel."""

    def autoencoder(K):
        class DenseTranspose(K.layers.Layer):
            def __init__(self, dense, **kwargs):
                super().__init__(**kwargs)
                self.dense = dense

            def build(self, batch_input_shape):
                self.biases = self.add_weight(name="bias", shape=[self.dense.input.shape[-1]], initializer="zeros")
                super().build(batch_input_shape)

            def call(self, inputs):
                return K.ops.matmul(inputs, K.ops.transpose(self.dense.weights[0])) + self.biases

        inputs = K.Input((8,))
        dense = K.layers.Dense(3, activation="tanh")
        return K.Model(inputs, DenseTranspose(dense)(dense(inputs)))

    k_model, s_model = autoencoder(keras), autoencoder(scanfit)  # ops read the encoder's kernel of the pass
    assert s_model.count_params() == k_model.count_params() == 8 * 3 + 3 + 8
    weights = [RNG.normal(scale=0.3, size=w.shape).astype("float32") for w in k_model.get_weights()]
    for model in (k_model, s_model):
        model.set_weights(weights)
    k_model.compile(keras.optimizers.SGD(0.1), "mse")
    s_model.compile(scanfit.optimizers.SGD(0.1), "mse")
    k_model.fit(X, X, epochs=2, batch_size=16, shuffle=False, verbose=0)
    s_model.fit(X, X, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-6)
    assert not np.allclose(s_model.get_weights()[0], weights[0])  # the kernel learned through both uses


def test_call_gets_training_and_jax_operations_see_arrays():
    class ScaledTanh(scanfit.layers.Layer):
        """Weights made in __init__ without names (Keras 3's style); jnp functions on the attributes."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.w = self.add_weight(shape=(8, units), initializer="ones")
            self.scale = self.add_weight(shape=(), initializer="ones", trainable=False)

        def call(self, inputs, training=None):
            y = jnp.tanh(jnp.matmul(inputs, self.w)) * self.scale
            return y * 2.0 if training else y

    layer = ScaledTanh(2)
    assert [v.path for v in layer.weights] == [f"{layer.name}/variable", f"{layer.name}/variable_1"]
    assert len(layer.trainable_weights) == 1 and len(layer.non_trainable_weights) == 1
    model = scanfit.Sequential([scanfit.Input((8,)), layer])
    expected = np.tanh(X[:5].sum(axis=1, keepdims=True)) * np.ones((1, 2))
    np.testing.assert_allclose(model.predict(X[:5], verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model(X[:5], training=True), 2 * expected, rtol=1e-6)
    model.compile("sgd", "mse")
    loss = model.evaluate(X[:5], np.zeros((5, 2)), verbose=0)
    np.testing.assert_allclose(loss, np.mean(expected ** 2), rtol=1e-6)  # evaluate runs with training=False
    assert isinstance(layer.w, scanfit.layers.Variable)  # the attributes hold the variables again


def test_mc_dropout_subclass_draws_in_predict_evaluate_and_calls():
    """Hands-on ML's MCDropout: Dropout whose call always passes training=True."""

    class MCDropout(scanfit.layers.Dropout):
        def call(self, inputs):
            return super().call(inputs, training=True)

    model = scanfit.Sequential([scanfit.Input((200,)), MCDropout(0.25)])
    ones = np.ones((4, 200), "float32")
    first, second = model.predict(ones, verbose=0), model.predict(ones, verbose=0)
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.75)}
    assert 0.18 < np.mean(first == 0) < 0.32 and not np.array_equal(first, second)
    assert not np.array_equal(first[0], first[1])  # each sample draws its own mask
    assert not np.array_equal(np.asarray(model(ones)), np.asarray(model(ones)))
    model.compile("sgd", "mse")
    noisy = RNG.normal(size=(4, 200)).astype("float32")  # continuous values: two masks never give one loss
    losses = {model.evaluate(noisy, np.zeros((4, 200)), verbose=0) for _ in range(3)}
    assert len(losses) == 3
    scanfit.utils.set_random_seed(3)
    again = model.predict(ones, verbose=0)
    scanfit.utils.set_random_seed(3)
    np.testing.assert_array_equal(model.predict(ones, verbose=0), again)


def test_mc_dropout_mean_prediction_approaches_the_deterministic_one():
    """The book's recipe: copy a trained model's weights into one whose Dropout layers are MCDropout, and
    average 100 predictions. After a linear layer, the average tends to the prediction without dropout."""

    class MCDropout(scanfit.layers.Dropout):
        def call(self, inputs):
            return super().call(inputs, training=True)

    scanfit.utils.set_random_seed(0)
    model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(50, activation="relu"),
                                scanfit.layers.Dropout(0.2), scanfit.layers.Dense(1)])
    mc_model = scanfit.Sequential([MCDropout(layer.rate) if isinstance(layer, scanfit.layers.Dropout) else layer
                                   for layer in model.layers])
    mc_model.set_weights(model.get_weights())
    deterministic = model.predict(X[:3], verbose=0)
    samples = np.stack([mc_model.predict(X[:3], verbose=0) for _ in range(100)])
    assert samples.std(axis=0).min() > 0.01
    np.testing.assert_allclose(samples.mean(axis=0), deterministic, atol=4 * samples.std(axis=0).max() / 10)


def test_functional_call_with_training_true_applies_where_keras_3_applies_it(tmp_path):
    """Keras 3: a layer called with training=True in the graph keeps it when the model is called without
    training= (Monte Carlo dropout by calling the model); fit, evaluate, predict and an explicit training=
    override it. The call argument is saved, and read from Keras's files."""
    inputs = scanfit.Input((50,))
    outputs = scanfit.layers.Dropout(0.5)(scanfit.layers.Dense(50, kernel_initializer="ones")(inputs), training=True)
    model = scanfit.Model(inputs, outputs)
    x = np.ones((2, 50), "float32")
    model.save(tmp_path / "mc.keras")
    k_inputs = keras.Input((50,))
    k_model = keras.Model(k_inputs, keras.layers.Dropout(0.5)(keras.layers.Dense(50, kernel_initializer="ones")(
        k_inputs), training=True))
    k_model.save(tmp_path / "k.keras")
    for library in (scanfit, keras):
        for path in ("mc.keras", "k.keras"):
            loaded = library.models.load_model(tmp_path / path)
            first, second = np.asarray(loaded(x)), np.asarray(loaded(x))
            assert set(np.unique(first)) == {0.0, 100.0} and not np.array_equal(first, second), (library, path)
            np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), np.full((2, 50), 50.0))
            np.testing.assert_array_equal(np.asarray(loaded.predict(x, verbose=0)), np.full((2, 50), 50.0))
    assert scanfit.models.load_model(tmp_path / "k.keras").layers[-1].inbound_nodes[0].training is True


def test_custom_layers_save_and_load_with_custom_objects_in_both_libraries(tmp_path):
    s_model = scanfit.Sequential([scanfit.Input((8,)), my_dense_class(scanfit)(4, activation="relu"),
                                  my_dense_class(scanfit)(1)])
    s_model.compile("adam", "mse")
    s_model.fit(X, Y, epochs=1, verbose=0)
    expected = s_model.predict(X, verbose=0)
    s_model.save(tmp_path / "m.keras")
    s_loaded = scanfit.models.load_model(tmp_path / "m.keras", custom_objects={"MyDense": my_dense_class(scanfit)})
    k_loaded = keras.models.load_model(tmp_path / "m.keras", custom_objects={"MyDense": my_dense_class(keras)})
    assert s_loaded.layers[0].get_config() == s_model.layers[0].get_config()
    for loaded in (s_loaded, k_loaded):
        np.testing.assert_allclose(np.asarray(loaded.predict(X, verbose=0)), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="MyDense"):
        scanfit.models.load_model(tmp_path / "m.keras")  # an unknown class is not guessed


def test_a_layer_without_get_config_saves_its_plain_constructor_arguments(tmp_path):
    class Shift(scanfit.layers.Layer):
        def __init__(self, amount, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.amount, self.scale = amount, scale

        def call(self, inputs):
            return (inputs + self.amount) * self.scale

    layer = Shift(2.0, scale=3.0, name="shift")
    assert layer.get_config()["amount"] == 2.0 and layer.get_config()["scale"] == 3.0

    class KerasShift(keras.layers.Layer):
        def __init__(self, amount, scale=1.0, **kwargs):
            super().__init__(**kwargs)

    # A default not given is in the config too, as Keras 3 records it (a later change of the default leaves the
    # saved layer as it was).
    assert Shift(2.0, name="s").get_config() == KerasShift(2.0, name="s").get_config() == {
        "name": "s", "trainable": True, "dtype": Shift(2.0).get_config()["dtype"], "amount": 2.0, "scale": 1.0}
    model = scanfit.Sequential([scanfit.Input((8,)), layer])
    model.save(tmp_path / "shift.keras")
    loaded = scanfit.models.load_model(tmp_path / "shift.keras", custom_objects={"Shift": Shift})
    np.testing.assert_allclose(loaded.predict(X[:3], verbose=0), (X[:3] + 2.0) * 3.0, rtol=1e-6)

    class Holding(scanfit.layers.Layer):
        def __init__(self, table, **kwargs):
            super().__init__(**kwargs)
            self.table = table

        def call(self, inputs):
            return inputs * self.table

    model = scanfit.Sequential([scanfit.Input((8,)), Holding(np.ones(8, "float32"))])
    (tmp_path / "kept.keras").write_bytes(b"saved before")
    with pytest.raises(NotImplementedError, match=r"arguments \['table'\].*get_config"):
        model.save(tmp_path / "kept.keras")
    assert (tmp_path / "kept.keras").read_bytes() == b"saved before"


def test_output_shapes_of_variable_length_inputs_are_traced():
    layer = my_dense_class(scanfit)(5)
    inputs = scanfit.Input((None, 8))
    assert layer(inputs).shape == (None, None, 5)
    assert layer.output_shape == (None, None, 5)


def test_errors_are_clear():
    class NoCall(scanfit.layers.Layer):
        pass

    with pytest.raises(NotImplementedError, match="define call"):
        scanfit.Sequential([scanfit.Input((8,)), NoCall()])
    layer = scanfit.layers.Dense(2)
    with pytest.raises(TypeError, match="shape first.*name='kernel'"):
        layer.add_weight("kernel", (2, 2))
    with pytest.raises(ValueError, match="aggregation"):
        layer.add_weight(shape=(2,), aggregation="sum")


def test_mc_dropout_models_in_a_sweep_draw_at_evaluation():
    class MCDropout(scanfit.layers.Dropout):
        def call(self, inputs):
            return super().call(inputs, training=True)

    def build(rate):
        model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(4), MCDropout(rate),
                                    scanfit.layers.Dense(1)])
        model.compile("sgd", "mse")
        return model

    sweep = scanfit.Sweep(build, scanfit.Sweep.grid(rate=[0.0, 0.5]))
    sweep.fit(X, Y, epochs=1, verbose=0)
    first, second = sweep.evaluate(X, Y), sweep.evaluate(X, Y)
    assert first[0]["loss"] == second[0]["loss"]  # rate 0 draws nothing
    assert first[1]["loss"] != second[1]["loss"]


def test_variables_act_as_arrays_of_the_running_pass():
    layer = scanfit.layers.Dense(3)
    layer.build((None, 2))
    kernel = layer.weights[0]
    x = jnp.ones((4, 2))
    np.testing.assert_allclose(x @ kernel, x @ kernel.value)
    np.testing.assert_allclose(1.0 - kernel, 1.0 - kernel.value)
    np.testing.assert_allclose(kernel.T, kernel.value.T)
    assert len(kernel) == 2 and len(list(kernel)) == 2  # iteration stops at the end (JAX indexing would clamp)
    doubled = {"kernel": 2 * kernel.value, "bias": layer.weights[1].value}
    running = scanfit.layers.execution.Execution({id(layer): doubled}, False, None)
    with scanfit.layers.execution.executing(running):
        np.testing.assert_allclose(jax.jit(lambda x: x @ kernel)(x), x @ doubled["kernel"])
        np.testing.assert_allclose(kernel.value, doubled["kernel"])  # as Keras's variable.value in a stateless scope


def test_weights_of_a_layer_holding_layers_go_through_every_file_format(tmp_path):
    def build():
        inputs = scanfit.Input((8,))
        return scanfit.Model(inputs, scanfit.layers.Dense(1)(residual_block_class(scanfit)(2, 8)(inputs)))

    model = build()
    model.compile("adam", "mse")
    model.fit(X, Y, epochs=1, verbose=0)
    expected = model.predict(X, verbose=0)
    for name in ("w.weights.h5", "w.h5"):
        model.save_weights(tmp_path / name)
        fresh = build()
        fresh.load_weights(tmp_path / name)
        np.testing.assert_allclose(fresh.predict(X, verbose=0), expected, rtol=1e-6, err_msg=name)
    model.save(tmp_path / "m.keras")
    loaded = scanfit.models.load_model(tmp_path / "m.keras",
                                       custom_objects={"ResidualBlock": residual_block_class(scanfit)})
    np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, rtol=1e-6)


def test_add_loss_in_call_trains_and_evaluates_like_keras():
    """Hands-on ML's ReconstructingRegressor: a layer made in build(), an auxiliary loss added in call()."""

    def regressor(K):
        class ReconstructingRegressor(K.Model):
            def __init__(self, output_dim, **kwargs):
                super().__init__(**kwargs)
                self.hidden = [K.layers.Dense(30, activation="selu", kernel_initializer="lecun_normal")
                               for _ in range(2)]
                self.out = K.layers.Dense(output_dim)

            def build(self, batch_input_shape):
                self.reconstruct = K.layers.Dense(batch_input_shape[-1])
                super().build(batch_input_shape)

            def call(self, inputs, training=None):
                Z = inputs
                for layer in self.hidden:
                    Z = layer(Z)
                reconstruction = self.reconstruct(Z)
                self.add_loss(0.05 * K.ops.mean(K.ops.square(reconstruction - inputs)))
                return self.out(Z)

        return ReconstructingRegressor(1)

    k_model, s_model = regressor(keras), regressor(scanfit)
    k_model(X[:2])
    s_model(X[:2])
    same_start(k_model, s_model)
    train_both(k_model, s_model, epochs=2)
    np.testing.assert_allclose(s_model.evaluate(X, Y, verbose=0), k_model.evaluate(X, Y, verbose=0), rtol=1e-5)
    plain = np.mean((s_model.predict(X, verbose=0) - Y) ** 2)
    assert s_model.evaluate(X, Y, verbose=0) > plain * 1.001  # the reconstruction term is in the loss
    with pytest.raises(RuntimeError, match="inside call"):
        s_model.add_loss(1.0)


def test_hands_on_ml_residual_unit_with_batch_normalization_trains_like_keras():
    """Hands-on ML's ResNet-34 ResidualUnit (chapter 14): Conv2D and BatchNormalization layers held in lists,
    a strided skip path; the moving statistics update inside the compiled epoch as in Keras."""

    def residual_unit_class(K):
        class ResidualUnit(K.layers.Layer):
            def __init__(self, filters, strides=1, activation="relu", **kwargs):
                super().__init__(**kwargs)
                self.activation = K.activations.get(activation)
                self.main_layers = [
                    K.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False),
                    K.layers.BatchNormalization(),
                    self.activation,  # (a function among the layers, as the book holds it)
                    K.layers.Conv2D(filters, 3, strides=1, padding="same", use_bias=False),
                    K.layers.BatchNormalization()]
                self.skip_layers = []
                if strides > 1:
                    self.skip_layers = [
                        K.layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=False),
                        K.layers.BatchNormalization()]

            def call(self, inputs):
                Z = inputs
                for layer in self.main_layers:
                    Z = layer(Z)
                skip_Z = inputs
                for layer in self.skip_layers:
                    skip_Z = layer(skip_Z)
                return self.activation(Z + skip_Z)

        return ResidualUnit

    images = RNG.normal(size=(32, 6, 6, 2)).astype("float32")
    labels = RNG.integers(0, 3, size=32)
    models = [K.Sequential([K.Input((6, 6, 2)), residual_unit_class(K)(4, strides=2), K.layers.GlobalAvgPool2D(),
                            K.layers.Dense(3, activation="softmax")]) for K in (keras, scanfit)]
    k_model, s_model = models
    assert [w.shape for w in s_model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
    assert s_model.layers[0].output_shape == (None, 3, 3, 4)
    weights = [RNG.normal(scale=0.3, size=w.shape).astype("float32") for w in k_model.get_weights()]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, k_model.weights)]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    for model, K in ((k_model, keras), (s_model, scanfit)):
        model.compile(K.optimizers.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    k_hist = k_model.fit(images, labels, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    s_hist = s_model.fit(images, labels, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):  # moving statistics included
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s_model.predict(images, verbose=0), k_model.predict(images, verbose=0),
                               rtol=1e-4, atol=1e-5)
