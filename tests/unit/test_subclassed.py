"""Subclassed models against Keras 3, calls with training=True (Monte Carlo dropout, batch statistics),
feature maps of a trained CNN, and functional models inside Sweep, DataParallel and callbacks."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(11)
X = RNG.normal(size=(64, 6)).astype("float32")
Y = RNG.integers(0, 3, size=(64,))


def residual_class(K):
    """A subclassed model: layers as attributes (one in a list, one in a dict), a skip connection."""

    class Residual(K.Model):
        def __init__(self, units=6, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.blocks = [K.layers.Dense(units, activation="relu"), K.layers.Dense(units)]
            self.heads = {"out": K.layers.Dense(3, activation="softmax")}

        def call(self, inputs, training=None):
            x = inputs
            for block in self.blocks:
                x = block(x)
            return self.heads["out"](inputs + x)

        def get_config(self):
            return {"units": self.units, "name": self.name}

    return Residual


def test_subclassed_model_matches_keras_in_outputs_and_training():
    k_model, s_model = residual_class(keras)(), residual_class(scanfit)()
    k_model(X[:2])
    s_model(X[:2])  # built on first call
    assert len(s_model.layers) == 3 and s_model.built
    weights = [RNG.normal(scale=0.4, size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    np.testing.assert_allclose(s_model.predict(X, verbose=0), k_model.predict(X, verbose=0), atol=1e-5)
    for model, library in ((k_model, keras), (s_model, scanfit)):
        model.compile(library.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    k_hist = k_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    s_hist = s_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)
    lines = []
    s_model.summary(print_fn=lines.append)
    assert any("Total params: 105" in line for line in lines)  # 6*6+6 + 6*6+6 + 6*3+3


def wide_and_deep_class(K):
    """Hands-on ML's subclassed WideAndDeepModel: two inputs in call(), two outputs, a merge made inside call()."""

    class WideAndDeepModel(K.Model):
        def __init__(self, units=8, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.hidden1 = K.layers.Dense(units, activation=activation)
            self.hidden2 = K.layers.Dense(units, activation=activation)
            self.main_output = K.layers.Dense(1)
            self.aux_output = K.layers.Dense(1)

        def call(self, inputs):
            input_wide, input_deep = inputs
            hidden2 = self.hidden2(self.hidden1(input_deep))
            concat = K.layers.concatenate([input_wide, hidden2])
            return self.main_output(concat), self.aux_output(hidden2)

    return WideAndDeepModel


def test_subclassed_model_of_two_inputs_and_two_outputs_trains_like_keras():
    wide, deep, target = X[:, :5], X[:, 2:], X[:, :1] * 2 + X[:, 1:2]
    k_model, s_model = wide_and_deep_class(keras)(), wide_and_deep_class(scanfit)()
    k_model((wide[:2], deep[:2]))
    s_model((wide[:2], deep[:2]))
    assert s_model.input_names == ["input_1", "input_2"] and s_model.output_names == ["output_1", "output_2"]
    weights = [RNG.normal(scale=0.4, size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    k_pred, s_pred = k_model.predict((wide, deep), verbose=0), s_model.predict([wide, deep], verbose=0)
    assert isinstance(s_pred, tuple) and len(s_pred) == 2
    for ours, theirs in zip(s_pred, k_pred, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    for model, library in ((k_model, keras), (s_model, scanfit)):
        model.compile(library.optimizers.SGD(0.01), loss=["mse", "mse"], loss_weights=[0.9, 0.1])
    k_hist = k_model.fit((wide, deep), (target, target), epochs=3, batch_size=16, shuffle=False, verbose=0).history
    s_hist = s_model.fit((wide, deep), (target, target), epochs=3, batch_size=16, shuffle=False, verbose=0,
                         validation_data=((wide[:16], deep[:16]), (target[:16], target[:16]))).history
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
    for ours, theirs in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    # per-output losses by tf.keras 2's names (Keras 3 keys both by the loss, "mse_loss", and keeps one)
    assert sorted(s_hist) == ["loss", "output_1_loss", "output_2_loss",
                              "val_loss", "val_output_1_loss", "val_output_2_loss"]
    main, aux = k_model.predict((wide, deep), verbose=0)
    result = s_model.evaluate((wide, deep), (target, target), verbose=0, return_dict=True)
    np.testing.assert_allclose(result["output_1_loss"], np.mean((main - target) ** 2), rtol=1e-4)
    np.testing.assert_allclose(result["output_2_loss"], np.mean((aux - target) ** 2), rtol=1e-4)
    np.testing.assert_allclose(result["loss"], 0.9 * result["output_1_loss"] + 0.1 * result["output_2_loss"],
                               rtol=1e-5)


def test_a_subclass_built_on_first_fit_takes_several_inputs():
    wide, deep, target = X[:, :5], X[:, 2:], X[:, :1]
    model = wide_and_deep_class(scanfit)()
    model.compile("adam", loss="mse")  # one loss for both outputs
    history = model.fit([wide, deep], [target, target], epochs=2, verbose=0)
    assert model.built and sorted(history.history) == ["loss", "output_1_loss", "output_2_loss"]
    with pytest.raises(ValueError, match="takes 2 inputs, but the data has 1"):
        model.predict(wide, verbose=0)


def test_a_subclass_that_makes_its_layers_in_build_without_super_build_is_built_on_its_first_call():
    """Keras builds such a model's layers on its first call; scanfit traces that call after the user's build()."""
    def made_in_build(K):
        class MadeInBuild(K.Model):
            def build(self, input_shape):
                self.dense = K.layers.Dense(2)

            def call(self, x):
                return self.dense(x)
        return MadeInBuild()

    ours, theirs = made_in_build(scanfit), made_in_build(keras)
    assert ours(X[:3]).shape == tuple(theirs(X[:3]).shape) == (3, 2)
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile("sgd", "mse")
    histories = [model.fit(X, X[:, :2], batch_size=16, shuffle=False, verbose=0).history["loss"]
                 for model in (ours, theirs)]
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)


def test_several_input_arrays_for_a_model_of_one_input_get_a_clear_error():
    sequential = scanfit.Sequential([scanfit.Input((6,)), scanfit.layers.Dense(3)])
    sequential.compile("adam", "mse")
    with pytest.raises(ValueError, match=r"takes one input, but x is a list of 2 arrays of shapes "
                                         r"\[\(64, 5\), \(64, 1\)\]\. Give one array"):
        sequential.predict([X[:, :5], X[:, 5:]], verbose=0)
    # a list of equal rows is still one input
    assert sequential.predict(list(X[:4]), verbose=0).shape == (4, 3)


def test_subclassed_model_weights_files_and_save(tmp_path):
    cls = residual_class(scanfit)
    model = cls(name="res")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    other = cls()
    other(X[:1])
    other.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(other.predict(X, verbose=0), model.predict(X, verbose=0))
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="Residual"):
        scanfit.models.load_model(tmp_path / "m.keras")  # the class is nowhere to be found: refused
    loaded = scanfit.models.load_model(tmp_path / "m.keras", custom_objects={"Residual": cls})
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))

    class NoConfig(scanfit.Model):
        def __init__(self):
            super().__init__()
            self.dense = scanfit.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    bare = NoConfig()
    bare(X[:1])
    bare.save(tmp_path / "bare.keras")  # no arguments, no get_config: Keras 3 saves it too
    again = scanfit.models.load_model(tmp_path / "bare.keras", custom_objects={"NoConfig": NoConfig})
    np.testing.assert_array_equal(again.predict(X, verbose=0), bare.predict(X, verbose=0))


def test_registered_subclass_loads_without_custom_objects(tmp_path):
    @scanfit.saving.register_keras_serializable(package="tests")
    class Tiny(scanfit.Model):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = scanfit.layers.Dense(units)

        def call(self, inputs):
            return self.dense(inputs)

        def get_config(self):
            return {"units": self.units}

    model = Tiny(units=3)
    model(X[:1])
    model.save(tmp_path / "t.keras")
    loaded = scanfit.models.load_model(tmp_path / "t.keras")
    assert type(loaded) is Tiny and loaded.units == 3
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_monte_carlo_dropout_draws_fresh_masks_and_averages_to_inference():
    scanfit.utils.set_random_seed(0)
    inputs = scanfit.Input((6,))
    outputs = scanfit.layers.Dense(4)(scanfit.layers.Dropout(0.5)(inputs))
    model = scanfit.Model(inputs, outputs)
    x = X[:8]
    inference = np.asarray(model(x))
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), inference)
    samples = np.stack([np.asarray(model(x, training=True)) for _ in range(400)])
    assert not np.allclose(samples[0], samples[1])
    assert len({sample.tobytes() for sample in samples}) == len(samples)
    # The mean of 400 samples is within a few standard errors of the inference output.
    standard_error = samples.std(axis=0) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(axis=0) - inference) < 5 * standard_error + 1e-6)


def test_training_call_uses_batch_statistics_and_updates_the_moving_ones():
    model = scanfit.Sequential([scanfit.Input((6,)), scanfit.layers.BatchNormalization(momentum=0.9)])
    layer = model.layers[0]
    batch = X[:16] * 3 + 1
    trained = np.asarray(model(batch, training=True))
    expected = (batch - batch.mean(0)) / np.sqrt(batch.var(0) + 1e-3)
    np.testing.assert_allclose(trained, expected, rtol=1e-4, atol=1e-4)
    moving_mean = layer.get_weights()[2]
    np.testing.assert_allclose(moving_mean, 0.1 * batch.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(batch)), (batch - moving_mean) / np.sqrt(layer.get_weights()[3] + 1e-3),
                               rtol=1e-4, atol=1e-4)


def test_feature_maps_of_a_trained_cnn_equal_a_hand_computation():
    scanfit.utils.set_random_seed(2)
    images = RNG.uniform(size=(32, 8, 8, 1)).astype("float32")
    labels = RNG.integers(0, 2, size=(32,))
    model = scanfit.Sequential([
        scanfit.Input((8, 8, 1)),
        scanfit.layers.Conv2D(3, 3, activation="relu", padding="same"),
        scanfit.layers.MaxPooling2D(2),
        scanfit.layers.Flatten(),
        scanfit.layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.layers[0].get_weights()[0].copy()
    model.fit(images, labels, epochs=2, verbose=0)
    kernel, bias = model.layers[0].get_weights()
    assert not np.allclose(kernel, before)  # the feature maps come from the trained weights
    conv_maps = scanfit.Model(model.inputs, model.layers[0].output).predict(images, verbose=0)
    padded = np.pad(images[..., 0], ((0, 0), (1, 1), (1, 1)))
    expected = np.zeros((32, 8, 8, 3), np.float32)
    for i in range(8):
        for j in range(8):
            patch = padded[:, i:i + 3, j:j + 3]
            expected[:, i, j, :] = np.einsum("nab,abc->nc", patch, kernel[..., 0, :]) + bias
    np.testing.assert_allclose(conv_maps, np.maximum(expected, 0), rtol=1e-4, atol=1e-5)
    pooled = scanfit.Model(model.input, model.layers[1].output).predict(images, verbose=0)
    np.testing.assert_allclose(pooled, conv_maps.reshape(32, 4, 2, 4, 2, 3).max(axis=(2, 4)), rtol=1e-6)


def functional_mlp(optimizer="adam", seed=None):
    inputs = scanfit.Input((6,))
    hidden = scanfit.layers.Dense(8, activation="relu")(inputs)
    model = scanfit.Model(inputs, scanfit.layers.Dense(3, activation="softmax")(hidden))
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_functional_models_in_a_sweep_equal_their_own_fits():
    sweep = scanfit.Sweep(functional_mlp, scanfit.Sweep.grid(optimizer=["sgd", "adam"], seed=[0]))
    histories = sweep.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    for params, history in zip(sweep.params, histories):
        scanfit.utils.set_random_seed(params["seed"])
        alone = functional_mlp(**params)
        expected = alone.fit(X, Y, epochs=2, batch_size=16, verbose=0).history
        np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=1e-5)


def test_functional_models_with_callbacks_and_checkpoints(tmp_path):
    model = functional_mlp()
    path = tmp_path / "best.keras"
    model.fit(X, Y, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[scanfit.callbacks.ModelCheckpoint(path, save_best_only=True),
                         scanfit.callbacks.EarlyStopping(patience=1, restore_best_weights=True)])
    best = scanfit.models.load_model(path)
    assert type(best) is scanfit.Model
    assert np.isfinite(best.evaluate(X, Y, verbose=0)[0])


def test_a_subclass_without_get_config_saves_its_constructor_arguments(tmp_path):
    """Hands-on ML's WideAndDeepModel has no get_config: as in Keras 3, its plain constructor arguments are
    the config, so save() works and load_model rebuilds it from custom_objects."""

    class Wide(scanfit.Model):
        def __init__(self, units=30, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.hidden = scanfit.layers.Dense(units, activation=activation)
            self.out = scanfit.layers.Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    model = Wide(units=5, activation="tanh", name="wide")
    model.compile("sgd", "mse")
    model.fit(X, X[:, :1], epochs=1, verbose=0)
    assert model.get_config() == {"name": "wide", "trainable": True, "units": 5, "activation": "tanh"}
    model.save(tmp_path / "wide.keras")
    loaded = scanfit.models.load_model(tmp_path / "wide.keras", custom_objects={"Wide": Wide})
    assert loaded.hidden.units == 5 and loaded.name == "wide"
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)

    class Holding(scanfit.Model):
        def __init__(self, table):
            super().__init__()
            self.table = table
            self.out = scanfit.layers.Dense(1)

        def call(self, inputs):
            return self.out(inputs * self.table)

    holding = Holding(np.ones(6, "float32"))
    holding(X[:2])
    with pytest.raises(NotImplementedError, match=r"\['table'\].*get_config"):
        holding.save(tmp_path / "holding.keras")
    assert not (tmp_path / "holding.keras").exists()


def test_masks_travel_through_a_subclass_call_as_in_keras():
    """Inside call(), the embedding's output carries its mask to the recurrent layer (Keras 3 attaches masks
    to tensors), so the padding steps keep the state: outputs equal Keras's, and differ without the mask."""
    tokens = np.array([[3, 5, 7, 0, 0], [2, 4, 0, 0, 0], [1, 2, 3, 4, 5]])

    def build(K, mask_zero=True):
        class Encoder(K.Model):
            def __init__(self):
                super().__init__()
                self.embedding = K.layers.Embedding(10, 4, mask_zero=mask_zero)
                self.rnn = K.layers.GRU(3)

            def call(self, inputs):
                return self.rnn(self.embedding(inputs))

        model = Encoder()
        model(tokens)
        return model

    k_model, s_model, unmasked = build(keras), build(scanfit), build(scanfit, mask_zero=False)
    weights = [np.random.default_rng(2).normal(size=w.shape).astype("float32") for w in k_model.get_weights()]
    for model in (k_model, s_model, unmasked):
        model.set_weights(weights)
    expected = np.asarray(k_model(tokens))
    np.testing.assert_allclose(np.asarray(s_model(tokens)), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(unmasked(tokens))[:2], expected[:2], atol=1e-3)


def test_the_global_custom_objects_and_registered_names(tmp_path, monkeypatch):
    """keras.utils.get_custom_objects() is the live global dict that loading consults, as in Keras."""

    class Doubling(scanfit.layers.Layer):
        def call(self, inputs):
            return 2.0 * inputs

    inputs = scanfit.Input(X.shape[1:])
    model = scanfit.Model(inputs, Doubling()(inputs))
    model.save(tmp_path / "d.keras")
    with pytest.raises(ValueError, match="Doubling"):
        scanfit.models.load_model(tmp_path / "d.keras")
    monkeypatch.setitem(scanfit.utils.get_custom_objects(), "Doubling", Doubling)
    loaded = scanfit.models.load_model(tmp_path / "d.keras")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), 2.0 * X)
    assert scanfit.saving.get_registered_object("Doubling") is Doubling
    assert scanfit.saving.get_registered_object("Unknown", module_objects={"Unknown": int}) is int

    @scanfit.utils.register_keras_serializable(package="tests")
    class Tripling(Doubling):
        pass

    try:
        assert scanfit.utils.get_custom_objects()["tests>Tripling"] is Tripling
        assert scanfit.utils.get_registered_name(Tripling) == "tests>Tripling"
        assert scanfit.utils.get_registered_name(Tripling()) == "tests>Tripling"
        assert scanfit.utils.get_registered_name(Doubling) == "Doubling"
    finally:
        del scanfit.utils.get_custom_objects()["tests>Tripling"]


@pytest.mark.parametrize("hook", ["compute_metrics", "predict_step", "make_predict_function"])
def test_overriding_a_keras_step_hook_is_refused_at_compile(hook):
    """Keras's hooks that scanfit's compiled programs never call: overriding one is a clear error, not a fit
    that silently runs without it (train_step, test_step and compute_loss are called: test_custom_steps)."""

    def hook_body(self, *args, **kwargs):
        raise AssertionError("never called")

    class Base(scanfit.Model):
        def __init__(self):
            super().__init__()
            self.dense = scanfit.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    Custom = type("Custom", (Base,), {hook: hook_body})
    with pytest.raises(NotImplementedError, match=f"Custom overrides {hook}, which scanfit does not call"):
        Custom().compile(optimizer="sgd", loss="mse")
    model = Base()
    model.compile(optimizer="sgd", loss="mse")  # scanfit's own make_predict_function is no override
    assert model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), verbose=0).history["loss"]
