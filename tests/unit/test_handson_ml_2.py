"""Code of Aurélien Géron's "Hands-On Machine Learning" (3rd edition) notebooks 13, 14 and 17, run in both
libraries on small synthetic data of the book's shapes (tf.* calls written with keras.ops). Keras 3 on JAX has no
StringLookup, IntegerLookup, Hashing or TextVectorization (they need TensorFlow): those are checked against the
outputs printed in the book's notebook (tf.keras 2.x)."""

import keras
import numpy as np
import pytest

import scanfit

LIBS = pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])
RNG = np.random.default_rng(17)
IMAGES = RNG.random((16, 28, 28)).astype("float32")  # Fashion MNIST's shape


def set_linspace_weights(model, scale=0.3):
    """The same deterministic start in both libraries (moving variances at 1)."""
    model.set_weights([np.ones(w.shape, "float32") if "moving_variance" in v.path else
                       np.linspace(-scale, scale, int(np.prod(w.shape)), dtype="float32").reshape(w.shape)
                       for w, v in zip(model.get_weights(), model.weights)])


# --- chapter 13: the Keras preprocessing layers -------------------------------------------------------------------

AGE = np.array([[10.], [93.], [57.], [18.], [37.], [5.]], "float32")
TWO_AGE_CATEGORIES = np.array([[1, 0], [2, 2], [2, 0]])


@LIBS
def test_discretization_and_category_encoding_give_the_books_outputs(lib):
    age_categories = lib.layers.Discretization(bin_boundaries=[18., 50.])(AGE)
    np.testing.assert_array_equal(age_categories, [[0], [2], [2], [1], [1], [0]])
    onehot = lib.layers.CategoryEncoding(num_tokens=3)
    np.testing.assert_array_equal(onehot(age_categories), np.eye(3)[[0, 2, 2, 1, 1, 0]])
    np.testing.assert_array_equal(onehot(TWO_AGE_CATEGORIES), [[1, 1, 0], [0, 0, 1], [1, 0, 1]])
    counts = lib.layers.CategoryEncoding(num_tokens=3, output_mode="count")(TWO_AGE_CATEGORIES)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 0, 2], [1, 0, 1]])
    expected = [[0, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 1], [0, 0, 1, 1, 0, 0]]
    np.testing.assert_array_equal(lib.layers.CategoryEncoding(num_tokens=3 + 3)(TWO_AGE_CATEGORIES + [0, 3]), expected)
    onehot = lib.layers.CategoryEncoding(num_tokens=3, output_mode="one_hot")
    np.testing.assert_array_equal(
        lib.layers.concatenate([onehot(cat) for cat in np.transpose(TWO_AGE_CATEGORIES)]), expected)
    np.testing.assert_array_equal(lib.layers.Flatten()(lib.ops.one_hot(TWO_AGE_CATEGORIES, 3)), expected)


def test_lookup_hashing_and_text_layers_print_the_books_outputs():
    """The notebook's printed outputs; one-hot and TF-IDF rows are floats as Keras's (floatx) are: scanfit gave
    StringLookup's one-hot rows as int32."""
    layers = scanfit.layers
    discretize_layer = layers.Discretization(num_bins=3)
    discretize_layer.adapt(AGE)
    np.testing.assert_array_equal(discretize_layer(AGE), [[1], [2], [2], [1], [2], [0]])
    cities = ["Auckland", "Paris", "Paris", "San Francisco"]
    str_lookup_layer = layers.StringLookup()
    str_lookup_layer.adapt(cities)
    np.testing.assert_array_equal(str_lookup_layer([["Paris"], ["Auckland"], ["Auckland"], ["Montreal"]]),
                                  [[1], [3], [3], [0]])
    str_lookup_layer = layers.StringLookup(num_oov_indices=5)
    str_lookup_layer.adapt(cities)
    np.testing.assert_array_equal(str_lookup_layer([["Paris"], ["Auckland"], ["Foo"], ["Bar"], ["Baz"]]),
                                  [[5], [7], [4], [3], [4]])
    str_lookup_layer = layers.StringLookup(output_mode="one_hot")
    str_lookup_layer.adapt(cities)
    one_hot = str_lookup_layer([["Paris"], ["Auckland"], ["Auckland"], ["Montreal"]])
    assert one_hot.dtype == np.float32
    np.testing.assert_array_equal(one_hot, np.eye(4)[[1, 3, 3, 0]])
    int_lookup_layer = layers.IntegerLookup()
    int_lookup_layer.adapt([123, 456, 789])
    np.testing.assert_array_equal(int_lookup_layer([[123], [456], [123], [111]]), [[3], [2], [3], [0]])
    hashing_layer = layers.Hashing(num_bins=10)
    np.testing.assert_array_equal(hashing_layer([["Paris"], ["Tokyo"], ["Auckland"], ["Montreal"]]),
                                  [[0], [1], [9], [1]])
    train_data = ["To be", "!(to be)", "That's the question", "Be, be, be."]
    text_vec_layer = layers.TextVectorization()
    text_vec_layer.adapt(train_data)
    np.testing.assert_array_equal(text_vec_layer(["Be good!", "Question: be or be?"]), [[2, 1, 0, 0], [6, 2, 1, 2]])
    text_vec_layer = layers.TextVectorization(output_mode="tf_idf")
    text_vec_layer.adapt(train_data)
    tf_idf = text_vec_layer(["Be good!", "Question: be or be?"])
    assert tf_idf.dtype == np.float32
    unknown = 0.96725637  # the mean of the vocabulary's weights, as Keras weighs [UNK]
    np.testing.assert_allclose(tf_idf, [[unknown, np.log(1 + 4 / (1 + 3)), 0, 0, 0, 0],
                                        [unknown, 2 * np.log(1 + 4 / (1 + 3)), 0, 0, 0, np.log(1 + 4 / (1 + 1))]],
                               rtol=1e-6)


def housing_data():
    rng = np.random.default_rng(3)
    scale, shift = [1, 10, 2, 0.5, 300, 3, 2, 2], [3, 28, 5, 1, 1400, 3, 35, -119]
    x = (rng.normal(size=(64, 8)) * scale + shift).astype("float32")
    return x, (x[:, :1] * 0.4 + rng.normal(size=(64, 1))).astype("float32")


def test_a_normalization_layer_adapted_after_compile_trains_as_in_keras():
    """``norm_layer.adapt(X_train)`` after ``model.compile``; then the adapted layer reused in front of a model
    trained on scaled data, and Normalization(input_shape=[28, 28]) standardizing images per column."""
    x, y = housing_data()
    results = []
    for lib in (keras, scanfit):
        norm_layer = lib.layers.Normalization()
        model = lib.models.Sequential([norm_layer, lib.layers.Dense(1)])
        model.compile(loss="mse", optimizer=lib.optimizers.SGD(learning_rate=2e-3))
        norm_layer.adapt(x)
        model.build((None, 8))
        assert [v.name for v in model.weights] == ["mean", "variance", "count", "kernel", "bias"]
        model.layers[1].set_weights([np.linspace(-0.3, 0.3, 8, dtype="float32")[:, None], np.zeros(1, "float32")])
        history = model.fit(x, y, validation_data=(x[:16] + 0.1, y[:16]), epochs=2, verbose=0, shuffle=False)
        scaled_model = lib.models.Sequential([lib.layers.Dense(1)])
        scaled_model.build((None, 8))
        scaled_model.set_weights(model.layers[1].get_weights())
        final_model = lib.Sequential([norm_layer, scaled_model])
        standardization = lib.layers.Normalization(input_shape=[28, 28])
        standardization.adapt(IMAGES * 255)
        image_model = lib.Sequential([standardization, lib.layers.Flatten(), lib.layers.Dense(3, activation="softmax")])
        results.append((history.history, np.asarray(final_model(x[:3])), np.asarray(standardization(IMAGES[:2] * 255)),
                        [tuple(w.shape) for w in image_model.weights], len(model.trainable_weights)))
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(results[1][0][key], results[0][0][key], rtol=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5)
    np.testing.assert_allclose(results[1][2], results[0][2], rtol=1e-4, atol=1e-4)
    assert results[1][3:] == results[0][3:] == ([(28,), (28,), (), (784, 3), (3,)], 2)


def test_a_custom_layer_adapted_with_numpy_and_a_masked_mean_embedding_run_as_in_keras():
    """``MyNormalization`` keeps NumPy statistics; exercise 10's ``compute_mean_embedding`` in a Lambda after an
    ``Embedding(mask_zero=True)`` (the text already vectorized: Keras needs TensorFlow for TextVectorization)."""
    x = np.arange(12, dtype="float32").reshape(4, 3) ** 1.5
    tokens = np.array([[3, 5, 2, 0, 0], [4, 0, 0, 0, 0], [1, 2, 3, 4, 5], [6, 6, 0, 0, 0]])
    labels = np.array([0., 1., 1., 0.], "float32")
    results = []
    for lib in (keras, scanfit):
        ops = lib.ops

        class MyNormalization(lib.layers.Layer):
            def adapt(self, X):
                self.mean_ = np.mean(X, axis=0, keepdims=True)
                self.std_ = np.std(X, axis=0, keepdims=True)

            def call(self, inputs):
                eps = lib.backend.epsilon()
                return (inputs - self.mean_) / (self.std_ + eps)

        my_norm_layer = MyNormalization()
        my_norm_layer.adapt(x)

        def compute_mean_embedding(inputs):
            not_pad = ops.count_nonzero(inputs, axis=-1)
            n_words = ops.expand_dims(ops.count_nonzero(not_pad, axis=-1), -1)
            return ops.sum(inputs, axis=1) / ops.sqrt(ops.cast(n_words, "float32"))

        another_example = np.array([[[1., 2., 3.], [4., 5., 0.], [0., 0., 0.]],
                                    [[6., 0., 0.], [0., 0., 0.], [0., 0., 0.]]], "float32")
        np.testing.assert_allclose(compute_mean_embedding(another_example),
                                   [np.mean([[1, 2, 3], [4, 5, 0]], axis=0) * np.sqrt(2), [6, 0, 0]], rtol=1e-6)
        model = lib.Sequential([lib.Input(shape=[5], dtype="int32"),
                                lib.layers.Embedding(input_dim=10, output_dim=3, mask_zero=True),
                                lib.layers.Lambda(compute_mean_embedding),
                                lib.layers.Dense(4, activation="relu"), lib.layers.Dense(1, activation="sigmoid")])
        set_linspace_weights(model, 0.5)
        model.compile(loss="binary_crossentropy", optimizer="nadam", metrics=["accuracy"])
        history = model.fit(tokens, labels, epochs=2, verbose=0, shuffle=False).history
        results.append((np.asarray(my_norm_layer(x)), history["loss"]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5)


# --- chapter 14: CNNs ---------------------------------------------------------------------------------------------

def test_feature_maps_pooling_and_the_depth_pool_layer_as_in_keras():
    """Conv2D's feature maps of center-cropped, rescaled images, ``ops.conv`` with hand-made filters, max and
    global average pooling, and the book's ``DepthPool`` whose ``call`` reshapes to a shape it concatenates from
    ``ops.shape`` (scanfit traced the call to infer its output shape, and the concatenated shape was no longer
    concrete)."""
    sample = np.random.default_rng(5).integers(0, 256, size=(2, 80, 130, 3)).astype("float32")
    filters = np.zeros([7, 7, 3, 2], "float32")
    filters[:, 3, :, 0] = 1
    filters[3, :, :, 1] = 1
    results = []
    for lib in (keras, scanfit):
        ops = lib.ops
        images = lib.layers.CenterCrop(height=70, width=120)(sample)
        images = lib.layers.Rescaling(scale=1 / 255)(images)
        shapes = [tuple(images.shape)]
        for kwargs in ({}, {"padding": "same"}, {"padding": "same", "strides": 2}):
            conv_layer = lib.layers.Conv2D(filters=32, kernel_size=7, **kwargs)
            shapes.append(tuple(conv_layer(images).shape))
        shapes.append([w.shape for w in conv_layer.get_weights()])
        fmaps = ops.conv(images, filters, strides=1, padding="same")

        class DepthPool(lib.layers.Layer):
            def __init__(self, pool_size=2, **kwargs):
                super().__init__(**kwargs)
                self.pool_size = pool_size

            def call(self, inputs):
                shape = ops.shape(inputs)  # shape[-1] is the number of channels
                groups = shape[-1] // self.pool_size  # number of channel groups
                new_shape = ops.concatenate([shape[:-1], [groups, self.pool_size]], axis=0)
                return ops.max(ops.reshape(inputs, new_shape), axis=-1)

        depth_output = DepthPool(pool_size=3)(images)
        global_avg_pool = lib.layers.Lambda(lambda X: ops.mean(X, axis=[1, 2]))
        results.append((shapes, np.asarray(fmaps), np.asarray(lib.layers.MaxPool2D(pool_size=2)(images)),
                        np.asarray(depth_output), np.asarray(global_avg_pool(images)),
                        np.asarray(lib.layers.GlobalAvgPool2D()(images))))
    assert results[1][0] == results[0][0]
    assert results[0][0][1:4] == [(2, 64, 114, 32), (2, 70, 120, 32), (2, 35, 60, 32)]
    for ours, theirs in zip(results[1][1:], results[0][1:]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    expected = np.asarray(keras.layers.Rescaling(scale=1 / 255)(keras.layers.CenterCrop(70, 120)(sample)))
    np.testing.assert_allclose(results[1][3], expected.max(axis=-1, keepdims=True), rtol=1e-6)


def test_xception_transfer_learning_freezes_and_unfreezes_as_in_keras():
    """``Xception(weights=None, include_top=False)`` with a new head: the layer the book unfreezes from (56), the
    trainable weights with the base frozen, then with ``base_model.layers[56:]`` trainable again."""
    counts = []
    for lib in (keras, scanfit):
        base_model = lib.applications.xception.Xception(weights=None, include_top=False)
        avg = lib.layers.GlobalAveragePooling2D()(base_model.output)
        output = lib.layers.Dense(5, activation="softmax")(avg)
        model = lib.Model(inputs=base_model.input, outputs=output)
        for layer in base_model.layers:
            layer.trainable = False
        frozen = (len(model.trainable_weights), len(model.non_trainable_weights))
        for layer in base_model.layers[56:]:
            layer.trainable = True
        model.compile(loss="sparse_categorical_crossentropy", optimizer=lib.optimizers.SGD(momentum=0.9))
        counts.append((len(base_model.layers), base_model.layers[56].name, frozen, len(model.trainable_weights),
                       len(model.non_trainable_weights), model.count_params()))
    assert counts[1] == counts[0] == (132, "block7_sepconv1_act", (2, 234), 93, 143, 20871725)


def test_classification_and_localization_outputs_train_as_in_keras():
    """Two heads on one base, ``loss=[...]``, ``loss_weights=[0.8, 0.2]`` and ``metrics=["accuracy", "mse"]``:
    Keras 3 gives the first output accuracy and the second mse (a list as long as the outputs)."""
    rng = np.random.default_rng(3)
    x = rng.random((8, 12, 12, 3)).astype("float32")
    labels, bboxes = np.array([0, 1, 2, 1, 0, 2, 2, 1]), rng.random((8, 4)).astype("float32")
    results = []
    for lib in (keras, scanfit):
        inputs = lib.Input(shape=[12, 12, 3])
        base_model = lib.Model(inputs, lib.layers.Conv2D(4, 3, activation="relu")(inputs))
        avg = lib.layers.GlobalAveragePooling2D()(base_model.output)
        class_output = lib.layers.Dense(3, activation="softmax", name="class")(avg)
        loc_output = lib.layers.Dense(4, name="loc")(avg)
        model = lib.Model(inputs=base_model.input, outputs=[class_output, loc_output])
        set_linspace_weights(model)
        model.compile(loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[0.8, 0.2],
                      optimizer=lib.optimizers.SGD(learning_rate=0.01, momentum=0.9), metrics=["accuracy", "mse"])
        history = model.fit(x, (labels, bboxes), epochs=2, verbose=0, shuffle=False, batch_size=4).history
        results.append((history, model.evaluate(x, (labels, bboxes), verbose=0)))
    assert sorted(results[1][0]) == sorted(results[0][0]) == ["class_accuracy", "class_loss", "loc_loss", "loc_mse",
                                                              "loss"]
    for key, values in results[0][0].items():
        np.testing.assert_allclose(results[1][0][key], values, rtol=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5)


# --- chapter 17: autoencoders, GANs and diffusion models ----------------------------------------------------------

def dense_transpose_class(lib):
    """The book's DenseTranspose; Keras 3 layers have no ``input_shape`` (and ``add_weight`` wants a shape, not an
    int), so the bias is shaped from the tied kernel."""
    class DenseTranspose(lib.layers.Layer):
        def __init__(self, dense, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.dense = dense
            self.activation = lib.activations.get(activation)

        def build(self, batch_input_shape):
            self.biases = self.add_weight(name="bias", shape=[self.dense.kernel.shape[0]], initializer="zeros")
            super().build(batch_input_shape)

        def call(self, inputs):
            Z = lib.ops.matmul(inputs, lib.ops.transpose(self.dense.weights[0]))
            return self.activation(Z + self.biases)
    return DenseTranspose


def test_stacked_and_tied_autoencoders_train_as_in_keras(tmp_path):
    """The stacked autoencoder, and the tied one whose decoder reuses the encoder's kernels: the decoder counts
    them as its own (145 parameters), the whole model once (145); each library reads the other's weights file."""
    results, tied_models = [], []
    for lib in (keras, scanfit):
        stacked_encoder = lib.Sequential([lib.layers.Flatten(), lib.layers.Dense(10, activation="relu"),
                                          lib.layers.Dense(3, activation="relu")])
        stacked_decoder = lib.Sequential([lib.layers.Dense(10, activation="relu"), lib.layers.Dense(28 * 28),
                                          lib.layers.Reshape([28, 28])])
        stacked_ae = lib.Sequential([stacked_encoder, stacked_decoder])
        stacked_ae.compile(loss="mse", optimizer=lib.optimizers.Nadam())
        stacked_ae.build((None, 28, 28))
        set_linspace_weights(stacked_ae)
        stacked = stacked_ae.fit(IMAGES, IMAGES, epochs=2, validation_data=(IMAGES[:8], IMAGES[:8]), verbose=0,
                                 shuffle=False).history
        codings = stacked_encoder.predict(IMAGES[:8], verbose=0)
        DenseTranspose = dense_transpose_class(lib)
        dense_1 = lib.layers.Dense(6, activation="relu")
        dense_2 = lib.layers.Dense(3, activation="relu")
        tied_encoder = lib.Sequential([lib.layers.Flatten(), dense_1, dense_2])
        tied_decoder = lib.Sequential([DenseTranspose(dense_2, activation="relu"), DenseTranspose(dense_1),
                                       lib.layers.Reshape([4, 4])])
        tied_ae = lib.Sequential([tied_encoder, tied_decoder])
        tied_ae.compile(loss="mse", optimizer=lib.optimizers.Nadam())
        tied_ae.build((None, 4, 4))
        counts = (len(tied_ae.weights), len(tied_ae.trainable_weights), tied_ae.count_params(),
                  tied_decoder.count_params(), [tuple(w.shape) for w in tied_ae.weights])
        set_linspace_weights(tied_ae, 0.5)
        tied = tied_ae.fit(IMAGES[:, :4, :4], IMAGES[:, :4, :4], epochs=2, batch_size=8, verbose=0,
                           shuffle=False).history
        results.append((stacked, codings, counts, tied, tied_ae.get_weights()))
        tied_ae.save_weights(tmp_path / f"{lib.__name__}.weights.h5")
        tied_models.append(tied_ae)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(results[1][0][key], results[0][0][key], rtol=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-4, atol=1e-6)
    assert results[1][2] == results[0][2] == (6, 6, 145, 145, [(16, 6), (6,), (6, 3), (3,), (6,), (16,)])
    np.testing.assert_allclose(results[1][3]["loss"], results[0][3]["loss"], rtol=1e-5)
    for ours, theirs in zip(results[1][4], results[0][4]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    x = IMAGES[:4, :4, :4]
    expected = [np.asarray(model.predict(x, verbose=0)) for model in tied_models]
    for model, writer in zip(tied_models, ("scanfit", "keras")):
        model.set_weights([np.zeros(w.shape, "float32") for w in model.get_weights()])
        model.load_weights(tmp_path / f"{writer}.weights.h5")
    np.testing.assert_allclose(tied_models[0].predict(x, verbose=0), expected[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tied_models[1].predict(x, verbose=0), expected[0], rtol=1e-5, atol=1e-6)


def test_an_autoencoder_trained_one_layer_at_a_time_as_in_keras():
    """``train_autoencoder`` returns its trained layers and their codings (``encoder(X_train)``); a new Sequential
    stacks the four trained layers and trains on."""
    results = []
    for lib in (keras, scanfit):
        histories = []

        def train_autoencoder(n_neurons, X_train, X_valid, n_epochs=2, output_activation=None, learning_rate=1e-3):
            n_inputs = X_train.shape[-1]
            encoder = lib.layers.Dense(n_neurons, activation="relu")
            decoder = lib.layers.Dense(n_inputs, activation=output_activation)
            autoencoder = lib.Sequential([encoder, decoder])
            autoencoder.compile(loss="mse", optimizer=lib.optimizers.Nadam(learning_rate=learning_rate))
            autoencoder.build((None, n_inputs))
            set_linspace_weights(autoencoder)
            histories.append(autoencoder.fit(X_train, X_train, epochs=n_epochs, validation_data=(X_valid, X_valid),
                                             verbose=0, shuffle=False).history)
            return encoder, decoder, encoder(X_train), encoder(X_valid)

        X_train_flat = lib.layers.Flatten()(IMAGES)
        X_valid_flat = lib.layers.Flatten()(IMAGES[:8])
        enc1, dec1, X_train_enc1, X_valid_enc1 = train_autoencoder(10, X_train_flat, X_valid_flat, learning_rate=5e-4)
        enc2, dec2, _, _ = train_autoencoder(4, X_train_enc1, X_valid_enc1, output_activation="relu",
                                             learning_rate=5e-3)
        stacked_ae_1_by_1 = lib.Sequential([lib.layers.Flatten(), enc1, enc2, dec2, dec1, lib.layers.Reshape([28, 28])])
        before = stacked_ae_1_by_1.predict(IMAGES[:2], verbose=0)
        stacked_ae_1_by_1.compile(loss="mse", optimizer=lib.optimizers.Nadam())
        histories.append(stacked_ae_1_by_1.fit(IMAGES, IMAGES, epochs=2, validation_data=(IMAGES[:8], IMAGES[:8]),
                                               verbose=0, shuffle=False).history)
        results.append((histories, before))
    for ours, theirs in zip(results[1][0], results[0][0], strict=True):
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-6)


def test_convolutional_and_recurrent_autoencoders_train_as_in_keras():
    """The conv decoder's Conv2DTranspose(strides=2) from 3x3 to 7x7 ('valid'), then to 14 and 28 ('same');
    the recurrent one's RepeatVector."""
    results = []
    for lib in (keras, scanfit):
        conv_encoder = lib.Sequential([
            lib.layers.Reshape([28, 28, 1]),
            lib.layers.Conv2D(2, 3, padding="same", activation="relu"), lib.layers.MaxPool2D(pool_size=2),
            lib.layers.Conv2D(3, 3, padding="same", activation="relu"), lib.layers.MaxPool2D(pool_size=2),
            lib.layers.Conv2D(4, 3, padding="same", activation="relu"), lib.layers.MaxPool2D(pool_size=2),
            lib.layers.Conv2D(5, 3, padding="same", activation="relu"), lib.layers.GlobalAvgPool2D()])
        conv_decoder = lib.Sequential([
            lib.layers.Dense(3 * 3 * 4), lib.layers.Reshape((3, 3, 4)),
            lib.layers.Conv2DTranspose(3, 3, strides=2, activation="relu"),
            lib.layers.Conv2DTranspose(2, 3, strides=2, padding="same", activation="relu"),
            lib.layers.Conv2DTranspose(1, 3, strides=2, padding="same"), lib.layers.Reshape([28, 28])])
        conv_ae = lib.Sequential([conv_encoder, conv_decoder])
        recurrent_ae = lib.Sequential([
            lib.Sequential([lib.layers.LSTM(5, return_sequences=True), lib.layers.LSTM(3)]),
            lib.Sequential([lib.layers.RepeatVector(28), lib.layers.LSTM(5, return_sequences=True),
                            lib.layers.Dense(28)])])
        histories = []
        for model in (conv_ae, recurrent_ae):
            model.compile(loss="mse", optimizer=lib.optimizers.Nadam())
            model.build((None, 28, 28))
            set_linspace_weights(model)
            histories.append(model.fit(IMAGES, IMAGES, epochs=2, verbose=0, shuffle=False).history)
        results.append((histories, [conv_decoder.layers[i].compute_output_shape(s) for i, s in
                                    ((2, (None, 3, 3, 4)), (3, (None, 7, 7, 3)), (4, (None, 14, 14, 2)))]))
    for ours, theirs in zip(results[1][0], results[0][0]):
        np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    assert [tuple(s) for s in results[1][1]] == [tuple(s) for s in results[0][1]] == [
        (None, 7, 7, 3), (None, 14, 14, 2), (None, 28, 28, 1)]


def test_noise_layers_of_the_denoising_and_hashing_autoencoders():
    """Dropout and GaussianNoise leave inference alone (predict and a plain call); in training GaussianNoise(15.)
    adds noise of that deviation. Keras 3.15 refuses ``GaussianNoise(15.)`` (it wants a stddev in [0, 1], which
    its docs do not say), so the hashing autoencoder is checked against Keras with that layer left out."""
    with pytest.raises(ValueError, match="stddev"):
        keras.layers.GaussianNoise(15.)
    outputs = []
    for lib in (keras, scanfit):
        noise = [lib.layers.GaussianNoise(15.)] if lib is scanfit else []
        hashing_encoder = lib.Sequential([lib.layers.Flatten(), lib.layers.Dense(10, activation="relu"), *noise,
                                          lib.layers.Dense(16, activation="sigmoid")])
        dropout_encoder = lib.Sequential([lib.layers.Flatten(), lib.layers.Dropout(0.5),
                                          lib.layers.Dense(10, activation="relu")])
        for encoder in (hashing_encoder, dropout_encoder):
            encoder.build((None, 28, 28))
            set_linspace_weights(encoder)
            outputs.append(encoder.predict(IMAGES, verbose=0))
            np.testing.assert_allclose(np.asarray(encoder(IMAGES)), outputs[-1], rtol=1e-4, atol=1e-5)
        hashes = hashing_encoder.predict(IMAGES, verbose=0).round().astype(np.int32)
        hashes *= np.array([[2 ** bit for bit in range(16)]])
        outputs.append(hashes.sum(axis=1))
    for ours, theirs in zip(outputs[3:], outputs[:3]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    noisy = scanfit.layers.GaussianNoise(15.)(np.zeros((200, 50), "float32"), training=True)
    assert 14 < float(np.std(noisy)) < 16


def kl_divergence_regularizer_class(lib):
    kl_divergence = (lib.losses.kullback_leibler_divergence if lib is scanfit  # tf.keras 2's name, as in the book
                     else lib.losses.kl_divergence)  # (Keras 3 dropped it)

    class KLDivergenceRegularizer(lib.regularizers.Regularizer):
        def __init__(self, weight, target):
            self.weight = weight
            self.target = target

        def __call__(self, inputs):
            mean_activities = lib.ops.mean(inputs, axis=0)
            return self.weight * (kl_divergence(self.target, mean_activities) +
                                  kl_divergence(1. - self.target, 1. - mean_activities))
    return KLDivergenceRegularizer


@pytest.mark.parametrize("penalty", ["l1", "kl"])
def test_sparse_autoencoders_report_and_train_their_activity_penalties_as_in_keras(penalty):
    """``ActivityRegularization(l1=...)`` last in the encoder, or a Dense with a custom KL-divergence activity
    regularizer: after a call of the whole autoencoder, the nested encoder and the regularized layer report the
    penalty in ``losses`` (scanfit left the inner Sequential's ``losses`` empty), and fit adds it."""
    results = []
    for lib in (keras, scanfit):
        if penalty == "l1":
            encoder = lib.Sequential([lib.layers.Flatten(), lib.layers.Dense(6, activation="relu"),
                                      lib.layers.Dense(10, activation="sigmoid"),
                                      lib.layers.ActivityRegularization(l1=1e-2)])
        else:
            kld_reg = kl_divergence_regularizer_class(lib)(weight=5e-2, target=0.1)
            encoder = lib.Sequential([lib.layers.Flatten(), lib.layers.Dense(6, activation="relu"),
                                      lib.layers.Dense(10, activation="sigmoid", activity_regularizer=kld_reg)])
        decoder = lib.Sequential([lib.layers.Dense(6, activation="relu"), lib.layers.Dense(16),
                                  lib.layers.Reshape([4, 4])])
        sparse_ae = lib.Sequential([encoder, decoder])
        sparse_ae.compile(loss="mse", optimizer=lib.optimizers.Nadam())
        sparse_ae.build((None, 4, 4))
        set_linspace_weights(sparse_ae, 0.5)
        x = IMAGES[:, :4, :4]
        sparse_ae(x[:8])
        reported = [[float(loss) for loss in holder.losses] for holder in (sparse_ae, encoder, encoder.layers[-1],
                                                                           decoder)]
        history = sparse_ae.fit(x, x, epochs=2, batch_size=8, validation_data=(x, x), verbose=0, shuffle=False).history
        results.append((reported, history, sparse_ae.evaluate(x, x, verbose=0), sparse_ae.train_on_batch(x, x)))
    (ours, theirs) = (results[1][0], results[0][0])
    assert [len(losses) for losses in ours] == [len(losses) for losses in theirs] == [1, 1, 1, 0]
    np.testing.assert_allclose(sum(ours, []), sum(theirs, []), rtol=1e-6)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(results[1][1][key], results[0][1][key], rtol=1e-5)
    np.testing.assert_allclose(results[1][2:], results[0][2:], rtol=1e-5)


def variational_autoencoder(lib, codings_size=3):
    """The book's VAE, its latent loss added by the Sampling layer (Keras 3 cannot ``add_loss`` a symbolic tensor
    to a functional model, nor draw unseeded numbers while JAX traces)."""
    ops = lib.ops

    class Sampling(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = lib.random.SeedGenerator(42)

        def call(self, inputs):
            mean, log_var = inputs
            latent_loss = -0.5 * ops.sum(1 + log_var - ops.exp(log_var) - ops.square(mean), axis=-1)
            self.add_loss(ops.mean(latent_loss) / 784.)
            return lib.random.normal(ops.shape(log_var), seed=self.seed_generator) * ops.exp(log_var / 2) + mean

    inputs = lib.layers.Input(shape=[28, 28])
    Z = lib.layers.Flatten()(inputs)
    Z = lib.layers.Dense(8, activation="relu")(Z)
    codings_mean = lib.layers.Dense(codings_size)(Z)  # μ
    codings_log_var = lib.layers.Dense(codings_size)(Z)  # γ
    codings = Sampling()([codings_mean, codings_log_var])
    variational_encoder = lib.Model(inputs=[inputs], outputs=[codings_mean, codings_log_var, codings])
    decoder_inputs = lib.layers.Input(shape=[codings_size])
    x = lib.layers.Dense(8, activation="relu")(decoder_inputs)
    x = lib.layers.Dense(28 * 28)(x)
    outputs = lib.layers.Reshape([28, 28])(x)
    variational_decoder = lib.Model(inputs=[decoder_inputs], outputs=[outputs])
    _, _, codings = variational_encoder(inputs)
    reconstructions = variational_decoder(codings)
    variational_ae = lib.Model(inputs=[inputs], outputs=[reconstructions])
    with pytest.raises((NotImplementedError, RuntimeError)):  # the book's line, refused by both libraries
        variational_ae.add_loss(ops.mean(codings_mean))
    return variational_encoder, variational_decoder, variational_ae


def test_the_variational_autoencoder_trains_with_its_latent_loss_as_in_keras():
    """The codings' log-variance starts near -40, so the sampled noise (exp(-20) times a draw, which the two
    libraries draw differently) cannot show in the losses, while the latent loss weighs in fully. Keras 3.15 gives
    ``variational_decoder(codings)`` on symbolic tensors as a one-element list (on arrays, as the array), so the
    book's VAE predicts a list holding the images there, which the book's ``plot_reconstructions`` cannot show;
    scanfit gives the array both ways, as the book expects."""
    results = []
    for lib in (keras, scanfit):
        variational_encoder, variational_decoder, variational_ae = variational_autoencoder(lib)
        set_linspace_weights(variational_ae)
        log_var_layer = variational_encoder.layers[4]
        log_var_layer.set_weights([np.zeros((8, 3), "float32"), np.full(3, -40.0, "float32")])
        variational_ae.compile(loss="mse", optimizer=lib.optimizers.Nadam())
        reconstructions = variational_ae(IMAGES[:4])
        if lib is keras:  # Keras 3 calls the decoder on symbols as a list, so outputs=[reconstructions] nests one
            assert isinstance(reconstructions, list) and len(reconstructions) == 1
            reconstructions = reconstructions[0]
        latent = [[float(loss) for loss in model.losses] for model in (variational_ae, variational_encoder,
                                                                       variational_decoder)]
        history = variational_ae.fit(IMAGES, IMAGES, epochs=2, batch_size=8, validation_data=(IMAGES, IMAGES),
                                     verbose=0, shuffle=False).history
        codings = np.zeros([7, 3], "float32")
        codings[:, 2] = np.linspace(-0.8, 0.8, 7)
        results.append((np.asarray(reconstructions), latent, history, np.asarray(variational_decoder(codings)),
                        len(variational_ae.weights)))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    assert [len(losses) for losses in results[1][1]] == [len(losses) for losses in results[0][1]] == [1, 1, 0]
    np.testing.assert_allclose(sum(results[1][1], []), sum(results[0][1], []), rtol=1e-6)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(results[1][2][key], results[0][2][key], rtol=1e-5)
    np.testing.assert_allclose(results[1][3], results[0][3], rtol=1e-4, atol=1e-6)
    assert results[1][4] == results[0][4] == 10


def book_gan(lib, codings_size):
    Dense = lib.layers.Dense
    generator = lib.Sequential([Dense(8, activation="relu", kernel_initializer="he_normal"),
                                Dense(6 * 6, activation="sigmoid"), lib.layers.Reshape([6, 6])])
    discriminator = lib.Sequential([lib.layers.Flatten(), Dense(8, activation="relu", kernel_initializer="he_normal"),
                                    Dense(1, activation="sigmoid")])
    gan = lib.Sequential([generator, discriminator])
    discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
    discriminator.trainable = False
    gan.compile(loss="binary_crossentropy", optimizer="rmsprop")
    gan.build((None, codings_size))
    set_linspace_weights(gan, 0.5)
    return gan


def train_gan(lib, gan, batches, toggle):
    """The book's ``train_gan`` over given batches and noise; with `toggle`, the discriminator is made trainable
    for its own step and frozen again for the GAN's (what the book's compiles stand for)."""
    generator, discriminator = gan.layers
    losses = []
    for X_batch, noise, noise_2 in batches:
        batch_size = len(X_batch)
        generated_images = generator(noise)
        X_fake_and_real = lib.ops.concatenate([generated_images, X_batch], axis=0)
        y1 = np.array([[0.]] * batch_size + [[1.]] * batch_size, "float32")
        if toggle:
            discriminator.trainable = True
        losses.append(discriminator.train_on_batch(X_fake_and_real, y1))
        if toggle:
            discriminator.trainable = False
        losses.append(gan.train_on_batch(noise_2, np.array([[1.]] * batch_size, "float32")))
    return losses


def test_the_gan_freezes_its_discriminator_where_the_book_compiles_it_frozen():
    """``discriminator.compile``, then ``discriminator.trainable = False``, then ``gan.compile``: the
    discriminator learns in its own train_on_batch and stays fixed in the GAN's, as tf.keras did and as Keras 3's
    transfer-learning guide says compile does ("the trainable attribute values at the time the model is compiled
    should be preserved ... until compile is called again"). Keras 3.15 on JAX reads the flag when it first
    trains instead, so the book's code never trains its discriminator there; making the flag right before each
    train_on_batch gives the documented behaviour in Keras, and scanfit must match that with the book's code."""
    rng = np.random.default_rng(2)
    batches = [(IMAGES[i * 8:(i + 1) * 8, :6, :6], rng.normal(size=(8, 5)).astype("float32"),
                rng.normal(size=(8, 5)).astype("float32")) for i in range(2)]
    keras_verbatim = book_gan(keras, 5)
    start = keras_verbatim.get_weights()
    train_gan(keras, keras_verbatim, batches, toggle=False)
    for before, after in zip(start[4:], keras_verbatim.get_weights()[4:]):
        np.testing.assert_array_equal(before, after)  # Keras 3's surprise: the discriminator never trained
    runs = []
    for lib, toggle in ((keras, True), (scanfit, False), (scanfit, True)):
        model = book_gan(lib, 5)
        generator, discriminator = model.layers
        counts = (len(model.trainable_weights), len(discriminator.trainable_weights), len(generator.trainable_weights))
        losses = train_gan(lib, model, batches, toggle)
        runs.append((counts, losses, model.get_weights()))
    for counts, losses, weights in runs[1:]:
        assert counts == runs[0][0] == (4, 0, 4)
        np.testing.assert_allclose(losses, runs[0][1], rtol=1e-5)
        for ours, theirs in zip(weights, runs[0][2]):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert not np.allclose(runs[1][2][4], start[4])  # the discriminator did learn


def test_the_dcgan_generator_updates_its_batch_statistics_and_leaves_the_discriminator_alone():
    """The DCGAN (BatchNormalization in the generator, LeakyReLU layers as activations and Dropout in the
    discriminator): one ``gan.train_on_batch`` moves the generator's moving statistics as Keras does, changes
    only the generator's weights, and counts the same trainable weights."""
    noise = np.random.default_rng(4).normal(size=(4, 10)).astype("float32")
    results = []
    for lib in (keras, scanfit):
        generator = lib.Sequential([
            lib.layers.Dense(7 * 7 * 4), lib.layers.Reshape([7, 7, 4]), lib.layers.BatchNormalization(),
            lib.layers.Conv2DTranspose(2, kernel_size=5, strides=2, padding="same", activation="relu"),
            lib.layers.BatchNormalization(),
            lib.layers.Conv2DTranspose(1, kernel_size=5, strides=2, padding="same", activation="tanh")])
        discriminator = lib.Sequential([
            lib.layers.Conv2D(2, kernel_size=5, strides=2, padding="same", activation=lib.layers.LeakyReLU(0.2)),
            lib.layers.Dropout(0.4),
            lib.layers.Conv2D(4, kernel_size=5, strides=2, padding="same", activation=lib.layers.LeakyReLU(0.2)),
            lib.layers.Dropout(0.4), lib.layers.Flatten(), lib.layers.Dense(1, activation="sigmoid")])
        gan_model = lib.Sequential([generator, discriminator])
        discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
        discriminator.trainable = False
        gan_model.compile(loss="binary_crossentropy", optimizer="rmsprop")
        gan_model.build((None, 10))
        set_linspace_weights(gan_model, 0.1)
        start = gan_model.get_weights()
        gan_model.train_on_batch(noise, np.ones((4, 1), "float32"))
        moving = [np.asarray(v) for v in generator.weights if "moving" in v.path]
        changed = [not np.array_equal(a, b) for a, b in zip(start, gan_model.get_weights())]
        results.append(((len(gan_model.trainable_weights), len(gan_model.non_trainable_weights)), moving, changed))
    assert results[1][0] == results[0][0] == (10, 10)
    for ours, theirs in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert results[1][2] == results[0][2]
    assert not any(results[1][2][-6:])  # the discriminator's weights


def time_encoding_class(lib):
    class TimeEncoding(lib.layers.Layer):
        def __init__(self, T, embed_size, dtype="float32", **kwargs):
            super().__init__(dtype=dtype, **kwargs)
            assert embed_size % 2 == 0, "embed_size must be even"
            p, i = np.meshgrid(np.arange(T + 1), 2 * np.arange(embed_size // 2))
            t_emb = np.empty((T + 1, embed_size))
            t_emb[:, ::2] = np.sin(p / 10_000 ** (i / embed_size)).T
            t_emb[:, 1::2] = np.cos(p / 10_000 ** (i / embed_size)).T
            self.time_encodings = lib.ops.convert_to_tensor(t_emb.astype(self.dtype))

        def call(self, inputs):
            return lib.ops.take(self.time_encodings, inputs, axis=0)
    return TimeEncoding


def build_diffusion_model(lib, T=20, embed_size=8):
    """The book's U-Net with one level down and up (and narrower layers): the time encoding broadcast onto every
    pixel by indexing symbolic tensors (``time[:, None, None, :]``), the output cropped by slicing."""
    X_noisy = lib.layers.Input(shape=[28, 28, 1], name="X_noisy")
    time_input = lib.layers.Input(shape=[], dtype="int32", name="time")
    time_enc = time_encoding_class(lib)(T, embed_size)(time_input)
    dim = 4
    Z = lib.layers.ZeroPadding2D((3, 3))(X_noisy)
    Z = lib.layers.Conv2D(dim, 3)(Z)
    Z = lib.layers.BatchNormalization()(Z)
    Z = lib.layers.Activation("relu")(Z)
    time = lib.layers.Dense(dim)(time_enc)  # adapt time encoding
    Z = time[:, None, None, :] + Z  # add time data to every pixel
    skip = Z
    cross_skips = []
    for dim in (8,):
        Z = lib.layers.Activation("relu")(Z)
        Z = lib.layers.SeparableConv2D(dim, 3, padding="same")(Z)
        Z = lib.layers.BatchNormalization()(Z)
        cross_skips.append(Z)
        Z = lib.layers.MaxPooling2D(3, strides=2, padding="same")(Z)
        skip_link = lib.layers.Conv2D(dim, 1, strides=2, padding="same")(skip)
        Z = lib.layers.add([Z, skip_link])
        time = lib.layers.Dense(dim)(time_enc)
        Z = time[:, None, None, :] + Z
        skip = Z
    for dim in (4,):
        Z = lib.layers.Activation("relu")(Z)
        Z = lib.layers.Conv2DTranspose(dim, 3, padding="same")(Z)
        Z = lib.layers.BatchNormalization()(Z)
        Z = lib.layers.UpSampling2D(2)(Z)
        skip_link = lib.layers.UpSampling2D(2)(skip)
        skip_link = lib.layers.Conv2D(dim, 1, padding="same")(skip_link)
        Z = lib.layers.add([Z, skip_link])
        time = lib.layers.Dense(dim)(time_enc)
        Z = time[:, None, None, :] + Z
        Z = lib.layers.concatenate([Z, cross_skips.pop()], axis=-1)
        skip = Z
    outputs = lib.layers.Conv2D(1, 3, padding="same")(Z)[:, 2:-2, 2:-2]
    return lib.Model(inputs=[X_noisy, time_input], outputs=[outputs])


def test_the_diffusion_models_time_encoding_and_u_net_as_in_keras():
    rng = np.random.default_rng(0)
    x = {"X_noisy": rng.normal(size=(4, 28, 28, 1)).astype("float32"), "time": np.array([1, 5, 20, 7], "int32")}
    noise = rng.normal(size=(4, 28, 28, 1)).astype("float32")
    results = []
    for lib in (keras, scanfit):
        model = build_diffusion_model(lib)
        set_linspace_weights(model)
        model.compile(loss=lib.losses.Huber(), optimizer=lib.optimizers.Nadam())
        before = model({"X_noisy": x["X_noisy"][:2], "time": np.array([3, 3])})
        loss = model.train_on_batch(x, noise)
        encoding = time_encoding_class(lib)(20, 8)(np.array([0, 1, 20]))
        results.append((len(model.layers), len(model.weights), model.count_params(), tuple(model.output_shape),
                        np.asarray(before), loss, np.asarray(encoding),
                        [np.asarray(v) for v in model.weights if "moving" in v.path]))
    assert results[1][:4] == results[0][:4]
    for ours, theirs in zip(results[1][4:7], results[0][4:7]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    for ours, theirs in zip(results[1][7], results[0][7], strict=True):  # the step's batch statistics
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
