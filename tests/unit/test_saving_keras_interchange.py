"""Files interchange with Keras 3 (the oracle): what one writes, the other loads, optimizer state included."""
import jax
import keras
import numpy as np
import optax
import pytest

import scanfit
from scanfit.engine.programs import split_values
from scanfit.layers import LAYER_CLASSES
from scanfit.saving.optimizer_state import expected_variables, optimizer_variables, restore_optimizer_variables

RNG = np.random.default_rng(11)
X = RNG.normal(size=(16, 8, 8, 2)).astype("float32")
FORMATS = ["m.keras", "m.h5", "w.weights.h5"]
OPTIMIZER_ARGS = {
    "Adam": dict(learning_rate=0.01),
    "SGD": dict(learning_rate=0.05, momentum=0.9, nesterov=True),
    "RMSprop": dict(learning_rate=0.01, momentum=0.5, centered=True),
    "Lion": dict(learning_rate=0.01),
    "Lamb": dict(learning_rate=0.01),
    "Ftrl": dict(learning_rate=0.05, l1_regularization_strength=0.01),
    "Adafactor": dict(learning_rate=0.05),  # r and c: factored slots only for kernels, in Keras's per-weight order
    "Muon": dict(learning_rate=0.01),  # velocity only for the weights on the AdamW step (not the Dense kernels)
    "ScheduleFreeAdamW": dict(learning_rate=0.01, warmup_steps=3),
}


def every_layer_model(lib):
    """A Sequential using every layer class scanfit supports, built with `lib` (keras or scanfit)."""
    L, R, C = lib.layers, lib.regularizers, lib.constraints
    return lib.Sequential([
        lib.Input((8, 8, 2)),
        L.Rescaling(0.5, offset=0.1),
        L.RandomFlip("horizontal"),
        L.RandomRotation(0.1, fill_mode="constant"),
        L.RandomZoom(0.2, width_factor=(-0.1, 0.3)),
        L.RandomTranslation(0.1, 0.2, interpolation="nearest"),
        L.RandomContrast(0.3, value_range=(0, 1)),
        L.AutoContrast(value_range=(0, 1)),  # (applies at inference too)
        L.RandomInvert(0.5, value_range=(0, 1)),
        L.RandomColorJitter(value_range=(0, 1), brightness_factor=0.1, contrast_factor=0.2),
        L.MixUp(alpha=0.4),
        L.CutMix(0.5),
        L.RandomErasing(0.5, scale=(0.1, 0.3), value_range=(0, 1)),
        L.RandomGaussianBlur(kernel_size=(3, 5), sigma=(0.2, 0.8)),
        L.RandomPerspective(0.5, scale=0.3, interpolation="nearest"),
        L.RandomElasticTransform(0.5, scale=0.4, fill_mode="constant", value_range=(0, 1)),
        L.ContrastLimitedAdaptiveHistogramEqualization(value_range=(0, 1), clip_limit=2.0, tile_grid_size=(2, 3)),
        L.Pipeline([L.RandomFlip("vertical"), L.RandomBrightness(0.1, value_range=(0, 1))], name="augment"),
        L.Resizing(10, 10),
        L.CenterCrop(8, 8),
        L.RandomCrop(8, 8),  # (at inference Keras 3.15 returns its input; scanfit the 8 x 8 centre, the same here)
        L.Normalization(),
        L.Normalization(axis=None, mean=0.5, variance=2.0, invert=True),
        L.Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer=R.l2(0.01),
                 kernel_constraint=C.MaxNorm(3.0)),
        L.ZeroPadding2D(1),  # (10, 10, 4)
        L.DepthwiseConv2D(3, depth_multiplier=2, depthwise_regularizer=R.l2(0.01)),  # (8, 8, 8)
        L.SeparableConv2D(4, 3, padding="same", pointwise_constraint=C.NonNeg()),  # (8, 8, 4)
        L.Cropping2D(2),  # (4, 4, 4)
        L.UpSampling2D(interpolation="bilinear"),  # (8, 8, 4)
        L.LayerNormalization(),
        L.RMSNormalization(epsilon=1e-5),
        L.GaussianNoise(0.1),
        L.SpatialDropout2D(0.2),
        L.Conv2DTranspose(4, 3, padding="same"),
        L.MaxPooling2D(2),
        L.AveragePooling2D(2),  # (2, 2, 4)
        L.Reshape((4, 4)),
        L.Conv1D(6, 2, padding="same"),
        L.DepthwiseConv1D(2, padding="same"),
        L.SeparableConv1D(6, 2, padding="same"),
        L.Conv1DTranspose(6, 2, padding="same"),  # (4, 6)
        L.GroupNormalization(3, gamma_regularizer=R.l2(0.01)),
        L.ZeroPadding1D(1),  # (6, 6)
        L.Cropping1D(1),
        L.UpSampling1D(2),  # (8, 6)
        L.SpatialDropout1D(0.1),
        L.MaxPooling1D(2),
        L.AveragePooling1D(1),  # (4, 6)
        L.GlobalAveragePooling1D(),
        L.Dense(8, kernel_initializer="he_normal", kernel_regularizer=R.l1_l2(0.01, 0.01), bias_regularizer=R.l2(0.1),
                kernel_constraint=C.MaxNorm(2.0), bias_constraint=C.NonNeg()),
        L.BatchNormalization(),
        L.PReLU(),
        L.Dropout(0.25),
        L.AlphaDropout(0.1),
        L.GaussianDropout(0.1),
        L.Reshape((2, 4)),
        L.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d", activation="tanh"),  # (2, 4)
        L.GlobalMaxPooling1D(),
        L.Dense(12),
        L.Reshape((2, 2, 3)),
        L.GlobalAveragePooling2D(),
        L.Dense(8),
        L.Reshape((2, 2, 2)),
        L.GlobalMaxPooling2D(),
        L.Dense(6, activity_regularizer=R.l2(0.001)),
        L.Identity(),
        L.ActivityRegularization(l1=0.001),
        L.UnitNormalization(),
        L.ReLU(max_value=6.0),
        L.LeakyReLU(negative_slope=0.2),
        L.ELU(alpha=0.5),
        L.Activation("tanh"),
        L.Reshape((3, 2)),
        L.Masking(0.5),
        L.Bidirectional(L.LSTM(2, return_sequences=True)),
        L.TimeDistributed(L.Dense(2)),
        L.SimpleRNN(2, return_sequences=True),
        L.GRU(2, return_sequences=True),
        L.LSTM(2, return_sequences=True, go_backwards=True),
        L.Permute((2, 1)),
        L.Flatten(),
        L.Dense(3),
        L.RepeatVector(2),
        L.Flatten(),
        L.Softmax(),
    ])


def small_model(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((8, 8, 2)), L.Flatten(), L.Dense(6), L.BatchNormalization(), L.Dense(3)])


def random_weights(model, seed):
    """Weights of order 1 (variances positive, Normalization's count an int), as a list in `model.weights` order."""
    rng = np.random.default_rng(seed)
    return [
        rng.uniform(0.5, 1.5, size=w.shape).astype("float32") if w.path.endswith("variance")
        else np.asarray(rng.integers(1, 100), "int32") if w.path.endswith("count")
        else (0.5 * rng.normal(size=w.shape)).astype("float32")
        for w in model.weights
    ]


def keras_optimizer_values(model):
    return [np.asarray(v.numpy()) for v in model.optimizer.variables]


def give_keras_optimizer_a_state(model, seed):
    """Build the Keras optimizer and fill its variables with random values (iteration 9)."""
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(seed)
    for variable in model.optimizer.variables:
        if variable.path.endswith("iteration"):
            variable.assign(9)
        elif not variable.path.endswith("learning_rate"):
            variable.assign(rng.uniform(0.01, 1.0, size=variable.shape).astype("float32"))


def give_scanfit_optimizer_a_state(model, seed):
    rng = np.random.default_rng(seed)
    values = [
        np.int64(9) if entry.kind == "iteration" else
        np.float32(model.optimizer.learning_rate) if entry.kind == "learning_rate" else
        np.float32(0) if entry.slot in ("r", "c") and entry.shape == () else  # Adafactor's placeholders (Keras: 0)
        rng.uniform(0.01, 1.0, size=entry.shape).astype("float32")
        for entry in expected_variables(model, None)
    ]
    restore_optimizer_variables(model, values, "the test")


def assert_same_optimizer_values(scanfit_model, keras_values):
    ours = [value for _, value in optimizer_variables(scanfit_model)]
    assert len(ours) == len(keras_values)
    for mine, theirs in zip(ours, keras_values):
        assert mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, theirs)


def test_the_interchange_model_uses_every_scanfit_layer():
    used = {type(layer).__name__ for layer in every_layer_model(scanfit).layers}
    # Lambda files need safe_mode=False (test_lambda_layer.py), Embedding is in test_recurrent's interchange test
    # (ReversibleEmbedding in test_reversible_embedding's),
    # and the merge and attention layers take several inputs, so test_functional's shared-layer model and
    # test_attention's, test_multi_head_attention's and test_group_query_attention's files carry them;
    # test_rnn_cells' files carry RNN and its cells, test_category_encoding's CategoryEncoding (it takes integer
    # indices) and test_discretization's Discretization (it gives them).
    merging = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Attention",
               "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention"}
    cells = {"RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "CategoryEncoding", "Discretization",
             "RandomBrightness"}  # Keras 3.15 cannot write RandomBrightness to a legacy .h5 file (test_augmentation)
    # The 3D layers need 5-axis inputs; they and the adaptive pooling layers interchange in
    # test_volumetric_layers.py::test_new_layers_interchange_files_with_keras.
    volumetric = {"Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D",
                  "GlobalAveragePooling3D", "UpSampling3D", "ZeroPadding3D", "Cropping3D", "SpatialDropout3D",
                  "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
                  "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"}
    # The colour layers that need RGB images or that Keras 3.15 cannot write to a legacy .h5 file (or, for
    # Equalization, cannot put in a model) interchange in test_color_augmentation.py::test_keras_files_interchange
    # (Equalization's config in test_configs_equal_keras).
    colour = {"Solarization", "Equalization", "RandomGrayscale", "RandomPosterization", "RandomColorDegeneration",
              "RandomSaturation", "RandomHue", "RandomSharpness",
              "RandomShear",  # Keras 3.15 cannot load RandomShear(f)'s files (test_distortion_augmentation)
              "RandAugment", "AugMix"}  # (RGB policies: test_composite_augmentation.py::test_keras_files_interchange)
    # The ConvLSTMs take sequences of feature maps; their files interchange in
    # test_conv_lstm.py::test_keras_files_interchange_both_ways.
    conv_lstm = {"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
    # SpectralNormalization's files interchange in test_spectral_normalization.py, and the spectrograms (they take
    # signals) in test_audio_layers.py, both ::test_files_move_between_the_libraries.
    own_files = {"SpectralNormalization", "STFTSpectrogram", "MelSpectrogram"}
    missing = (set(LAYER_CLASSES) - used - {"InputLayer", "Lambda", "Embedding", "ReversibleEmbedding"} - merging
               - cells - volumetric - colour - conv_lstm - own_files)
    assert not missing, f"add {sorted(missing)} to every_layer_model"


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """A compiled Keras model with every layer, saved in each format, and its predictions."""
    folder = tmp_path_factory.mktemp("keras")
    model = every_layer_model(keras)
    model.set_weights(random_weights(model, 0))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    give_keras_optimizer_a_state(model, 1)
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    model.save_weights(folder / "w.weights.h5")
    return folder, model.predict(X, verbose=0), keras_optimizer_values(model)


@pytest.mark.parametrize("name", FORMATS)
def test_keras_files_load_in_scanfit(keras_files, name):
    folder, expected, optimizer_values = keras_files
    if name.endswith(".weights.h5"):
        model = every_layer_model(scanfit)
        model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.load_weights(folder / name)
    else:
        model = scanfit.models.load_model(folder / name)
        assert [type(l).__name__ for l in model.layers] == [type(l).__name__ for l in every_layer_model(scanfit).layers]
        assert model.loss == "sparse_categorical_crossentropy" and model.compile_settings.metrics == ["accuracy"]
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert isinstance(model.optimizer, scanfit.optimizers.Adam) and model.optimizer.iterations == 9
    assert_same_optimizer_values(model, optimizer_values)


@pytest.fixture(scope="module")
def scanfit_files(tmp_path_factory):
    """A compiled scanfit model with every layer, saved in each format, and its predictions."""
    folder = tmp_path_factory.mktemp("scanfit")
    model = every_layer_model(scanfit)
    model.set_weights(random_weights(model, 2))
    model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    give_scanfit_optimizer_a_state(model, 3)
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    model.save_weights(folder / "w.weights.h5")
    return folder, model.predict(X, verbose=0), [value for _, value in optimizer_variables(model)]


@pytest.mark.parametrize("name", FORMATS)
def test_scanfit_files_load_in_keras(scanfit_files, name):
    folder, expected, optimizer_values = scanfit_files
    if name.endswith(".weights.h5"):
        model = every_layer_model(keras)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.optimizer.build(model.trainable_variables)
        model.load_weights(folder / name)
    else:
        model = keras.models.load_model(folder / name)
        assert isinstance(model.optimizer, keras.optimizers.Adam)
        assert model.optimizer.learning_rate.numpy() == np.float32(0.01)
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    if name != "m.h5":  # Keras 3 itself does not restore optimizer slots from legacy .h5 files
        for theirs, mine in zip(keras_optimizer_values(model), optimizer_values, strict=True):
            np.testing.assert_array_equal(theirs, mine)


# Keras 3.15 cannot write Adafactor to a legacy .h5 file (its placeholder variables share names).
@pytest.mark.parametrize("optimizer, name", [(o, n) for o in sorted(OPTIMIZER_ARGS) for n in ("m.keras", "m.h5")
                                             if (o, n) != ("Adafactor", "m.h5")])
def test_keras_optimizer_state_loads_in_scanfit(tmp_path, optimizer, name):
    model = small_model(keras)
    model.compile(optimizer=getattr(keras.optimizers, optimizer)(**OPTIMIZER_ARGS[optimizer]), loss="mse")
    give_keras_optimizer_a_state(model, 4)
    model.save(tmp_path / name)
    loaded = scanfit.models.load_model(tmp_path / name)
    assert type(loaded.optimizer).__name__ == optimizer
    assert loaded.optimizer.get_config() == {**model.optimizer.get_config(), "name": loaded.optimizer.name}
    assert_same_optimizer_values(loaded, keras_optimizer_values(model))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZER_ARGS))
def test_scanfit_optimizer_state_loads_in_keras(tmp_path, optimizer):
    model = small_model(scanfit)
    model.compile(optimizer=getattr(scanfit.optimizers, optimizer)(**OPTIMIZER_ARGS[optimizer]), loss="mse")
    give_scanfit_optimizer_a_state(model, 5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == optimizer
    assert_same_optimizer_values(model, keras_optimizer_values(loaded))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZER_ARGS))
def test_the_next_update_from_a_keras_state_matches_keras(tmp_path, optimizer):
    """Keras saves a mid-training state; scanfit's next optimizer step from the file equals Keras's."""
    model = small_model(keras)
    model.set_weights(random_weights(model, 6))
    model.compile(optimizer=getattr(keras.optimizers, optimizer)(**OPTIMIZER_ARGS[optimizer]), loss="mse")
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(7)
    for variable in model.optimizer.variables:
        if variable.path.endswith("iteration"):
            variable.assign(9)
        elif not variable.path.endswith("learning_rate"):  # average gradients small enough for a real variance
            high = 0.05 if "average_gradient" in variable.path else 1.0
            variable.assign(rng.uniform(0.5 * high, high, size=variable.shape).astype("float32"))
    model.save(tmp_path / "m.keras")
    loaded = scanfit.models.load_model(tmp_path / "m.keras")

    grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
    keras_step = jax.jit(model.optimizer.stateless_apply)  # compiled: Keras's eager first step is slow
    theirs, _ = keras_step([v.value for v in model.optimizer.variables], grads,
                           [v.value for v in model.trainable_variables])
    mask = loaded.trainable_mask()
    params, _ = split_values(loaded.weight_values(), mask)
    keys = [(i, v.short_name) for i, layer in enumerate(loaded.layers) for v in layer.weights if mask[i][v.short_name]]
    grad_tree = [{} for _ in params]
    for (i, name), grad in zip(keys, grads, strict=True):
        grad_tree[i][name] = grad
    transform = loaded.optimizer.build_transform()

    @jax.jit
    def scanfit_step(grad_tree, state, params):
        updates, _ = transform.update(grad_tree, state, params)
        return optax.apply_updates(params, updates)

    stepped = scanfit_step(grad_tree, loaded.optimizer.restored_state, params)
    for (i, name), their_value in zip(keys, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(stepped[i][name]), np.asarray(their_value), rtol=1e-5, atol=1e-6)


# --- custom objects inside layer configs ------------------------------------------------------


def custom_objects(lib):
    """A custom activation function and a custom regularizer class, written for `lib` (keras or scanfit)."""
    ops = keras.ops if lib is keras else jax.numpy

    def scaled_tanh(x):
        return 2.0 * ops.tanh(x)

    class SumOfCubes(lib.regularizers.Regularizer):
        def __init__(self, strength=0.1):
            self.strength = strength

        def __call__(self, x):
            return self.strength * ops.sum(ops.abs(x) ** 3)

        def get_config(self):
            return {"strength": self.strength}

    return {"scaled_tanh": scaled_tanh, "SumOfCubes": SumOfCubes}


def custom_model(lib, objects):
    L = lib.layers
    model = lib.Sequential([
        lib.Input((8, 8, 2)), L.Flatten(),
        L.Dense(5, activation=objects["scaled_tanh"], kernel_regularizer=objects["SumOfCubes"](0.25)),
        L.Dense(3, bias_regularizer=objects["SumOfCubes"](0.5)),
    ])
    model.set_weights(random_weights(model, 8))
    model.compile(optimizer=lib.optimizers.SGD(0.01), loss="mean_squared_error")  # Keras 3 misreads "mse" in .h5
    return model


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
@pytest.mark.parametrize("writer", ["keras", "scanfit"])
def test_custom_objects_inside_layers_interchange_with_keras(tmp_path, writer, name):
    """Each library loads the other's file given its own custom objects: same predictions and regularized loss."""
    libraries = {"keras": keras, "scanfit": scanfit}
    reader = libraries["scanfit" if writer == "keras" else "keras"]
    writer = libraries[writer]
    original = custom_model(writer, custom_objects(writer))
    original.save(tmp_path / name)
    loaded = reader.models.load_model(tmp_path / name, custom_objects=custom_objects(reader))
    y = np.zeros((len(X), 3), "float32")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), original.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.evaluate(X, y, verbose=0), original.evaluate(X, y, verbose=0), rtol=1e-5)
    assert loaded.layers[-1].bias_regularizer.strength == 0.5
    if reader is scanfit:
        with pytest.raises(ValueError, match=rf"{name}: Unknown activation 'scaled_tanh'.*Pass custom_objects="):
            scanfit.models.load_model(tmp_path / name)


@pytest.mark.parametrize("name", ["m.h5", "w.weights.h5"])
@pytest.mark.parametrize("writer", ["keras", "scanfit"])
def test_a_nested_model_interchanges_in_legacy_h5_files(tmp_path, writer, name):
    """A legacy .h5 file lists a nested model's weights trainable first (its BatchNormalization's moving
    statistics last), not in the order of model.weights."""
    def nested(lib):
        inner = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3), lib.layers.BatchNormalization(),
                                lib.layers.Dense(2)])
        return lib.Sequential([lib.Input((4,)), inner, lib.layers.Dense(1)])

    libraries = {"keras": keras, "scanfit": scanfit}
    reader = libraries["scanfit" if writer == "keras" else "keras"]
    original = nested(libraries[writer])
    original.set_weights(random_weights(original, 5))
    if name == "m.h5":
        original.save(tmp_path / name)
        loaded = reader.models.load_model(tmp_path / name)
    else:
        original.save_weights(tmp_path / name)
        loaded = nested(reader)
        loaded.load_weights(tmp_path / name)
    x = RNG.normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
