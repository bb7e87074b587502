"""Code of Keras 3's keras.io examples (keras_recipes, vision, nlp, timeseries) that scanfit got wrong, each run
in both libraries on small synthetic data of the examples' shapes (no downloads; TensorFlow-only parts left out)."""
import keras
import numpy as np
import pytest

import scanfit
from metric_oracle import keras_model_class

LIBS = pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])


def _set_weights(model, seed, scale):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") * scale for w in model.get_weights()])


def _standardized_convolution_model(lib, conv):
    """subclassing_conv_layers: a Conv2D whose convolution_op standardizes the kernel, and one whose call does."""
    ops = lib.ops

    def standardized(kernel):
        kernel = ops.convert_to_tensor(kernel)  # (Keras 3.15's ops.moments fails on a Variable with this JAX)
        mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
        return (kernel - mean) / ops.sqrt(var + 1e-10)

    class StandardizedConv2DWithOverride(conv):
        def convolution_op(self, inputs, kernel):
            return ops.conv(inputs, standardized(kernel), padding="valid", strides=list(self.strides))

    class StandardizedConv2DWithCall(conv):
        def call(self, inputs):
            result = self.convolution_op(inputs, standardized(self.kernel))
            if self.use_bias:
                result = result + self.bias
            return result

    model = lib.Sequential([
        lib.layers.InputLayer(shape=(12, 12, 1)),
        StandardizedConv2DWithCall(4, kernel_size=(3, 3), activation="relu"),
        lib.layers.MaxPooling2D(pool_size=(2, 2)),
        StandardizedConv2DWithOverride(6, kernel_size=(3, 3), activation="relu"),
        lib.layers.Flatten(),
        lib.layers.Dense(3, activation="softmax"),
    ])
    _set_weights(model, 0, 0.2)
    return model


def test_a_convolution_op_override_is_what_the_layer_computes():
    images = np.random.default_rng(1).random((5, 12, 12, 1)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 1, 0]]
    results = []
    for lib in (keras, scanfit):
        model = _standardized_convolution_model(lib, lib.layers.Conv2D)
        predictions = model.predict(images, verbose=0)
        model.compile(loss="categorical_crossentropy", optimizer="adam")
        history = model.fit(images, labels, batch_size=2, epochs=2, shuffle=False, verbose=0).history
        results.append((predictions, history["loss"]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-4)


@LIBS
def test_convolution_op_is_keras_s_hook_of_conv1d_2d_3d_only(lib):
    x = np.random.default_rng(2).random((2, 6, 3)).astype("float32")

    class Doubled(lib.layers.Conv1D):  # Keras's Conv1D convolves without calling convolution_op
        def convolution_op(self, inputs, kernel):
            return 2.0 * super().convolution_op(inputs, kernel)

    plain, doubled = lib.layers.Conv1D(2, 3, use_bias=False), Doubled(2, 3, use_bias=False)
    plain(x), doubled(x)
    doubled.set_weights(plain.get_weights())
    np.testing.assert_allclose(np.asarray(doubled(x)), np.asarray(plain(x)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(plain.convolution_op(x, plain.kernel)), np.asarray(plain(x)), rtol=1e-6)
    with pytest.raises(AttributeError):
        lib.layers.Conv2DTranspose(2, 3).convolution_op  # noqa: B018 - Keras's transposed ones have none


def _embedding_encoder(lib, vocabulary_size, embedding_dim, name=None):
    return lib.Sequential([lib.layers.Embedding(vocabulary_size, embedding_dim)],
                          name=f"{name}_embedding" if name else None)


def _memory_efficient_model(lib):
    """memory_efficient_embeddings (its string lookups done beforehand: Keras's StringLookup needs TensorFlow):
    quotient-remainder user embeddings, mixed-dimension movie embeddings, `keras.activations.sigmoid` on the
    functional graph's tensor."""
    ops, layers = lib.ops, lib.layers
    movie_blocks = np.array([0] * 4 + [1] * 6 + [2] * 6, "int32")

    class QREmbedding(lib.layers.Layer):
        def __init__(self, embedding_dim, num_buckets, name=None):
            super().__init__(name=name)
            self.num_buckets = num_buckets
            self.q_embeddings = layers.Embedding(num_buckets, embedding_dim)
            self.r_embeddings = layers.Embedding(num_buckets, embedding_dim)

        def call(self, inputs):
            quotient_index = ops.floor_divide(inputs, self.num_buckets)
            remainder_index = ops.mod(inputs, self.num_buckets)
            return self.q_embeddings(quotient_index) * self.r_embeddings(remainder_index)

    class MDEmbedding(lib.layers.Layer):
        def __init__(self, blocks_embedding_dims, base_embedding_dim, name=None):
            super().__init__(name=name)
            self.base_embedding_dim = base_embedding_dim
            self.block_embedding_encoders = []
            self.block_embedding_projectors = []
            for embedding_dim in blocks_embedding_dims:
                self.block_embedding_encoders.append(_embedding_encoder(lib, len(movie_blocks) + 1, embedding_dim))
                if embedding_dim == base_embedding_dim:
                    self.block_embedding_projectors.append(layers.Lambda(lambda x: x))
                else:
                    self.block_embedding_projectors.append(layers.Dense(units=base_embedding_dim))

        def call(self, inputs):
            block_indices = ops.take(ops.convert_to_tensor(movie_blocks), inputs)
            embeddings = ops.zeros(shape=(ops.shape(inputs)[0], self.base_embedding_dim))
            for idx, (encoder, projector) in enumerate(zip(self.block_embedding_encoders,
                                                           self.block_embedding_projectors)):
                mask = ops.expand_dims(ops.cast(block_indices == idx, "float32"), 1)
                embeddings += projector(encoder(inputs)) * mask
            return embeddings

    user_input = layers.Input(name="user_id", shape=(), dtype="int32")
    user_embedding = QREmbedding(4, num_buckets=5, name="user_embedding")(user_input)
    movie_input = layers.Input(name="movie_id", shape=(), dtype="int32")
    movie_embedding = MDEmbedding([4, 3, 2], 4, name="movie_embedding")(movie_input)
    logits = layers.Dot(axes=1, name="dot_similarity")([user_embedding, movie_embedding])
    prediction = lib.activations.sigmoid(logits) * 5
    return lib.Model(inputs=[user_input, movie_input], outputs=prediction, name="memory_efficient_model")


def test_memory_efficient_embeddings_train_as_in_keras():
    rng = np.random.default_rng(3)
    data = {"user_id": rng.integers(0, 25, 48).astype("int32"), "movie_id": rng.integers(0, 16, 48).astype("int32")}
    ratings = rng.integers(1, 6, 48).astype("float32")
    results = []
    for lib in (keras, scanfit):
        model = _memory_efficient_model(lib)
        # Keras tracks the layers appended to the two lists in turn: encoder, projector, encoder, ...
        shapes = [tuple(w.shape) for w in model.get_weights()]
        _set_weights(model, 4, 0.5)
        predictions = model.predict(data, verbose=0)
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
        history = model.fit(data, ratings, batch_size=16, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
        results.append((shapes, predictions, history.history))
    assert results[1][0] == results[0][0] == [(5, 4), (5, 4), (17, 4), (17, 3), (3, 4), (4,), (17, 2), (2, 4), (4,)]
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5)
    for name in ("loss", "mae", "val_loss", "val_mae"):
        np.testing.assert_allclose(results[1][2][name], results[0][2][name], rtol=1e-5)


ACTIVATIONS = ["relu", "leaky_relu", "relu6", "sigmoid", "hard_sigmoid", "log_sigmoid", "sparse_sigmoid", "softmax",
               "log_softmax", "tanh", "hard_tanh", "tanh_shrink", "elu", "selu", "celu", "gelu", "silu", "swish",
               "softplus", "softsign", "squareplus", "sparse_plus", "soft_shrink", "hard_shrink", "glu",
               "exponential", "linear"]


def test_activations_on_symbolic_tensors_are_graph_operations():
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4).astype("float32")
    for name in ACTIVATIONS:
        outputs = []
        for lib in (keras, scanfit):
            inputs = lib.Input((3, 4))
            y = getattr(lib.activations, name)(inputs)
            assert tuple(y.shape) == (None, 3, 2 if name == "glu" else 4)
            outputs.append(lib.Model(inputs, y).predict(x, verbose=0))
        np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6, err_msg=name)


def test_activations_keras_cannot_apply_symbolically_are_computed_or_refused():
    x = np.linspace(-3, 3, 8).reshape(2, 4).astype("float32")
    inputs = scanfit.Input((4,))
    for name in ("mish", "hard_silu", "sparsemax"):  # Keras 3.15 fails on a KerasTensor here
        y = scanfit.Model(inputs, getattr(scanfit.activations, name)(inputs)).predict(x, verbose=0)
        np.testing.assert_allclose(y, np.asarray(getattr(scanfit.activations, name)(x)), rtol=1e-6, atol=1e-7)
        if name != "sparsemax":  # (Keras 3.15's sparsemax is wrong on arrays too: see README, keras.ops)
            np.testing.assert_allclose(y, np.asarray(getattr(keras.activations, name)(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match="keras.layers.ReLU"):
        scanfit.activations.relu(inputs, max_value=2.0)


def _logistic_endpoint(lib):
    """endpoint_layer_pattern's LogisticEndpoint: its loss and its accuracy metric, updated inside call()."""
    class LogisticEndpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = lib.losses.BinaryCrossentropy(from_logits=True)
            self.accuracy_fn = lib.metrics.BinaryAccuracy()

        def call(self, logits, targets=None, sample_weight=None):
            if targets is not None:
                self.add_loss(self.loss_fn(targets, logits, sample_weight))
                self.accuracy_fn.update_state(targets, logits, sample_weight)
            return lib.ops.sigmoid(logits)

    return LogisticEndpoint


def test_an_endpoint_layer_called_with_its_input_by_name_trains_as_in_keras():
    # Keras 3.15 on JAX fails at the metric update inside call() ("'NoneType' object is not callable"; it runs on
    # TensorFlow): its model mixes in metric_oracle.LayerMetricsOnJax, which gives the forward pass the metric's state.
    rng = np.random.default_rng(5)
    data = (rng.random((32, 6)).astype("float32"), (rng.random((32, 1)) > 0.5).astype("float32"),
            rng.random((32, 1)).astype("float32"))
    histories = []
    for lib in (keras, scanfit):
        LogisticEndpoint = _logistic_endpoint(lib)

        class LogReg(keras_model_class(keras.Model) if lib is keras else scanfit.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(1)
                self.logistic_endpoint = LogisticEndpoint()

            def call(self, inputs):
                features, targets, sample_weight = inputs
                return self.logistic_endpoint(logits=self.dense(features), targets=targets,
                                              sample_weight=sample_weight)

        model = LogReg()
        model(data)
        _set_weights(model, 6, 0.5)
        model.compile(lib.optimizers.Adam(1e-2))
        histories.append(model.fit(data, epochs=2, batch_size=8, shuffle=False, verbose=0).history)
    assert sorted(histories[1]) == sorted(histories[0]) == ["binary_accuracy", "loss"]
    for name in histories[0]:
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-5)


@LIBS
def test_a_functional_chain_is_summarized_without_a_connected_to_column(lib):
    """bidirectional_lstm_imdb's model: Keras 3 (as tf.keras 2) lists a plain chain of calls as a Sequential."""
    lib.utils.clear_session(free_memory=False)  # (the automatic names below count from zero)
    inputs = lib.Input(shape=(None,), dtype="int32")
    x = lib.layers.Embedding(50, 4)(inputs)
    x = lib.layers.Bidirectional(lib.layers.LSTM(3, return_sequences=True))(x)
    x = lib.layers.Bidirectional(lib.layers.LSTM(3))(x)
    chain = lib.Model(inputs, lib.layers.Dense(1, activation="sigmoid")(x))
    residual = lib.Model(inputs, lib.layers.add([x, lib.layers.Dense(6)(x)]))
    texts = []
    for model in (chain, residual):
        lines = []
        model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
        texts.append("\n".join(lines))
    assert "Connected to" not in texts[0] and "bidirectional_1" in texts[0]
    assert "Connected to" in texts[1]
