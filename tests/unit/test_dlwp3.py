"""Code of François Chollet's "Deep Learning with Python" (3rd edition, Keras 3) notebooks that scanfit got wrong,
each run in both libraries on small synthetic data of the book's shapes (chapters 7, 10, 13, 15, 17 and 18; the
JAX forms of backend-specific cells; no tf.data, KerasHub or downloads)."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

LIBS = pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])


def rng(seed=0):
    return np.random.default_rng(seed)


def set_random_weights(model, seed=3, scale=0.3):
    draw = rng(seed)
    model.set_weights([draw.normal(size=w.shape).astype("float32") * scale for w in model.get_weights()])


def ticket_data(count=32, vocabulary_size=20, num_tags=5, num_departments=4):
    draw = rng(1)
    inputs = {"title": draw.integers(0, 2, size=(count, vocabulary_size)),
              "text_body": draw.integers(0, 2, size=(count, vocabulary_size)),
              "tags": draw.integers(0, 2, size=(count, num_tags))}
    return inputs, draw.random(size=(count, 1)), draw.integers(0, num_departments, size=(count, 1))


def test_a_subclassed_model_takes_a_dict_of_inputs_in_fit_evaluate_and_predict():
    """Chapter 7's CustomerTicketModel: a subclass whose call() reads inputs["title"], ... is called, fitted,
    evaluated and predicted on a dict by input name, as in Keras (scanfit used to refuse any dict for a
    subclass). Keras keys a subclass's per-output losses and metrics by the loss and metric names alone;
    scanfit by output_1, output_2 (README), so the values are compared by that mapping."""
    inputs, priority_data, department_data = ticket_data()
    results = []
    for lib in (keras, scanfit):
        layers = lib.layers

        class CustomerTicketModel(lib.Model):
            def __init__(self, num_departments):
                super().__init__()
                self.concat_layer = layers.Concatenate()
                self.mixing_layer = layers.Dense(8, activation="relu")
                self.priority_scorer = layers.Dense(1, activation="sigmoid")
                self.department_classifier = layers.Dense(num_departments, activation="softmax")

            def call(self, inputs):
                features = self.concat_layer([inputs["title"], inputs["text_body"], inputs["tags"]])
                features = self.mixing_layer(features)
                return self.priority_scorer(features), self.department_classifier(features)

        model = CustomerTicketModel(num_departments=4)
        priority, department = model(inputs)
        assert tuple(priority.shape) == (32, 1) and tuple(department.shape) == (32, 4)
        set_random_weights(model)
        model.compile(optimizer="adam", loss=["mean_squared_error", "sparse_categorical_crossentropy"],
                      metrics=[["mean_absolute_error"], ["accuracy"]])
        history = model.fit(inputs, [priority_data, department_data], epochs=2, batch_size=8, shuffle=False,
                            verbose=0).history
        evaluation = model.evaluate(inputs, [priority_data, department_data], verbose=0, return_dict=True)
        priority_preds, department_preds = model.predict(inputs, verbose=0)
        results.append((history, evaluation, priority_preds, department_preds))
    (k_history, k_evaluation, *k_preds), (s_history, s_evaluation, *s_preds) = results
    names = {"loss": "loss", "mean_squared_error_loss": "output_1_loss", "mean_absolute_error":
             "output_1_mean_absolute_error", "sparse_categorical_crossentropy_loss": "output_2_loss",
             "accuracy": "output_2_accuracy"}
    assert sorted(k_history) == sorted(names) and sorted(s_history) == sorted(names.values())
    for keras_name, name in names.items():
        np.testing.assert_allclose(s_history[name], k_history[keras_name], rtol=1e-5)
        np.testing.assert_allclose(s_evaluation[name], k_evaluation[keras_name], rtol=1e-5)
    for got, expected in zip(s_preds, k_preds):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_subclass_fitted_on_a_dict_first_is_built_from_it():
    inputs, priority_data, _ = ticket_data()

    class Scorer(scanfit.Model):
        def __init__(self):
            super().__init__()
            self.dense = scanfit.layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs["title"]) + scanfit.ops.sum(inputs["tags"], axis=-1, keepdims=True)

    model = Scorer()
    model.compile("sgd", "mse")
    model.fit(inputs, priority_data, epochs=1, verbose=0)  # never called before: built from the dict
    assert model.input_names == ["tags", "text_body", "title"]
    assert model.predict(inputs, verbose=0).shape == (32, 1)
    with pytest.raises(ValueError, match="missing"):
        model.predict({"title": inputs["title"], "tags": inputs["tags"]}, verbose=0)


def test_filter_visualization_gradient_ascent_as_in_keras():
    """Chapter 10's gradient ascent (its JAX form): jax.jit of a step that takes jax.grad of a feature
    extractor's mean activation (a filter index traced), ops.normalize of the gradients, then the book's
    deprocess_image. scanfit's ops.normalize held the squared norm at epsilon or more where Keras holds the
    norm there, so small gradients (a norm under 3e-4) were scaled differently and the images drifted apart."""
    images = []
    for lib in (keras, scanfit):
        layers, ops = lib.layers, lib.ops
        inputs = lib.Input(shape=(None, None, 3))
        x = layers.Conv2D(4, 3, activation="relu")(inputs)
        x = layers.SeparableConv2D(5, 3, name="block3_sepconv1")(x)
        model = lib.Model(inputs, x)
        set_random_weights(model)
        feature_extractor = lib.Model(inputs=model.input, outputs=model.get_layer(name="block3_sepconv1").output)

        def compute_loss(image, filter_index):
            activation = feature_extractor(image)
            return ops.mean(activation[:, 2:-2, 2:-2, filter_index])

        grad_fn = jax.grad(compute_loss)

        @jax.jit
        def gradient_ascent_step(image, filter_index, learning_rate):
            grads = ops.normalize(grad_fn(image, filter_index))
            image += learning_rate * grads
            return image

        def deprocess_image(image):
            image -= ops.mean(image)
            image /= ops.std(image)
            image *= 64
            image += 128
            image = ops.clip(image, 0, 255)[2:-2, 2:-2, :]
            return ops.convert_to_numpy(ops.cast(image, dtype="uint8"))

        image = jnp.asarray(rng().uniform(0.4, 0.6, size=(1, 12, 12, 3)).astype("float32"))
        for _ in range(3):
            image = gradient_ascent_step(image, 2, 10.0)
        images.append((np.asarray(image), deprocess_image(image[0])))
    (k_image, k_pixels), (s_image, s_pixels) = images
    np.testing.assert_allclose(s_image, k_image, rtol=1e-4, atol=1e-4)
    assert s_pixels.dtype == np.uint8 and np.abs(s_pixels.astype(int) - k_pixels).max() <= 1
    small = np.array([[1.6e-4, 1.4e-5, -2.1e-4], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], "float32")
    np.testing.assert_allclose(scanfit.ops.normalize(small), keras.ops.normalize(small), rtol=1e-6)
    np.testing.assert_allclose(scanfit.ops.normalize(small)[0], small[0] / np.linalg.norm(small[0]), rtol=1e-5)


def test_gradcam_through_a_classifier_made_of_a_models_last_layers():
    """Chapter 10's Grad-CAM: a model from an intermediate tensor (the last conv layer's output) through the
    base model's own "pooler" and "predictions" layers, and jax.grad of the top class (found with ops.argmax
    inside the traced function) with respect to that tensor; an activation model of every conv and pooling
    layer's output."""
    results = []
    image = rng().uniform(size=(1, 10, 10, 3)).astype("float32")
    for lib in (keras, scanfit):
        layers, ops = lib.layers, lib.ops
        inputs = lib.Input(shape=(10, 10, 3))
        x = layers.MaxPooling2D(2)(layers.Conv2D(4, 3, activation="relu")(inputs))
        x = layers.Conv2D(5, 3, activation="relu", name="last_conv")(x)
        x = layers.GlobalAveragePooling2D(name="pooler")(x)
        model = lib.Model(inputs, layers.Dense(3, activation="softmax", name="predictions")(x))
        set_random_weights(model)
        layer_outputs = [layer.output for layer in model.layers if isinstance(layer, (layers.Conv2D,
                                                                                      layers.MaxPooling2D))]
        activations = lib.Model(inputs=model.input, outputs=layer_outputs).predict(image, verbose=0)
        last_conv_layer = model.get_layer("last_conv")
        last_conv_layer_model = lib.Model(model.inputs, last_conv_layer.output)
        x = classifier_input = last_conv_layer.output
        for layer_name in ["pooler", "predictions"]:
            x = model.get_layer(layer_name)(x)
        classifier_model = lib.Model(classifier_input, x)

        def loss_fn(last_conv_layer_output):
            preds = classifier_model(last_conv_layer_output)
            top_pred_index = ops.argmax(preds[0])
            return preds[:, top_pred_index][0]

        last_conv_layer_output = last_conv_layer_model(image)
        grads = ops.convert_to_numpy(jax.grad(loss_fn)(last_conv_layer_output))
        results.append((activations, grads))
    (k_activations, k_grads), (s_activations, s_grads) = results
    for got, expected in zip(s_activations, k_activations, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(k_grads).sum() > 0
    np.testing.assert_allclose(s_grads, k_grads, rtol=1e-5, atol=1e-7)


def test_abs_max_quantization_multiplies_int8_in_int32():
    """Chapter 18's abs_max_quantize: ops.matmul of two int8 matrices gives int32 in Keras (it accumulates in
    int32); scanfit's gave int8, which overflowed (6014 came out as 126), so the dequantized product was wrong."""
    results = []
    for lib in (keras, scanfit):
        ops = lib.ops
        x = ops.array([[0.1, 0.9], [1.2, -0.8]])
        kernel = ops.array([[-0.1, -2.2], [1.1, 0.7]])

        def abs_max_quantize(value):
            abs_max = ops.max(ops.abs(value), keepdims=True)
            scale = ops.divide(127, abs_max + 1e-7)
            scaled_value = ops.clip(ops.round(value * scale), -127, 127)
            return ops.cast(scaled_value, dtype="int8"), scale

        int_x, x_scale = abs_max_quantize(x)
        int_kernel, kernel_scale = abs_max_quantize(kernel)
        int_y = ops.matmul(int_x, int_kernel)
        y = ops.cast(int_y, dtype="float32") / (x_scale * kernel_scale)
        product = ops.einsum("ij,jk->ik", int_x, int_kernel)
        results.append((int_y, y, product))
    (k_int_y, k_y, k_product), (s_int_y, s_y, s_product) = results
    assert s_int_y.dtype == k_int_y.dtype == s_product.dtype == k_product.dtype == jnp.int32
    np.testing.assert_array_equal(s_int_y, k_int_y)
    np.testing.assert_array_equal(s_product, k_int_y)
    np.testing.assert_allclose(s_y, k_y, rtol=1e-6)
    np.testing.assert_allclose(s_y, np.array([[0.1, 0.9], [1.2, -0.8]]) @ np.array([[-0.1, -2.2], [1.1, 0.7]]),
                               atol=0.02)
    assert scanfit.ops.matmul(np.ones((2, 2), "int8"), np.ones((2, 2), "int32")).dtype == jnp.int32


def test_a_character_model_and_its_generation_model_with_int_inputs():
    """Chapter 15's character-level GRU language model (keras.Input(dtype="int"), which scanfit refused as an
    unknown dtype policy) and its one-step generation model: a GRU with return_state and initial_state, inputs
    and outputs as tuples (predict and calls return a tuple, as Keras), the trained model's weights set into it,
    predict fed its own state back."""
    runs = []
    vocabulary_size, embedding_dim, hidden_dim, sequence_length = 9, 4, 6, 5
    for lib in (keras, scanfit):
        layers = lib.layers
        inputs = layers.Input(shape=(sequence_length,), dtype="int", name="token_ids")
        assert inputs.dtype == "int32"
        x = layers.Embedding(vocabulary_size, embedding_dim)(inputs)
        x = layers.Dropout(0.1)(layers.GRU(hidden_dim, return_sequences=True)(x))
        model = lib.Model(inputs, layers.Dense(vocabulary_size, activation="softmax")(x))
        set_random_weights(model)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        tokens = rng().integers(0, vocabulary_size, size=(16, sequence_length + 1))
        evaluation = model.evaluate(tokens[:, :-1], tokens[:, 1:], verbose=0)

        inputs = lib.Input(shape=(1,), dtype="int", name="token_ids")
        input_state = lib.Input(shape=(hidden_dim,), name="state")
        x = layers.Embedding(vocabulary_size, embedding_dim)(inputs)
        x, output_state = layers.GRU(hidden_dim, return_state=True)(x, initial_state=input_state)
        outputs = layers.Dense(vocabulary_size, activation="softmax")(x)
        generation_model = lib.Model(inputs=(inputs, input_state), outputs=(outputs, output_state))
        generation_model.set_weights(model.get_weights())
        state = lib.ops.zeros(shape=(1, hidden_dim))
        outputs_and_state = generation_model.predict((np.array([[1]]), state), verbose=0)
        assert isinstance(outputs_and_state, tuple)  # the outputs' structure (scanfit gave a list)
        assert isinstance(generation_model.output, tuple) and isinstance(generation_model.input, tuple)
        assert isinstance(generation_model((np.array([[1]]), np.zeros((1, hidden_dim), "float32"))), tuple)
        for token_id in [1, 2, 3]:
            predictions, state = generation_model.predict((lib.ops.expand_dims([token_id], axis=0), state), verbose=0)
        generated_ids = []
        for _ in range(5):
            next_char = int(np.argmax(predictions, axis=-1)[0])
            generated_ids.append(next_char)
            predictions, state = generation_model.predict((lib.ops.expand_dims([next_char], axis=0), state),
                                                          verbose=0)
        runs.append((evaluation, generated_ids, np.asarray(state)))
    (k_evaluation, k_ids, k_state), (s_evaluation, s_ids, s_state) = runs
    np.testing.assert_allclose(s_evaluation, k_evaluation, rtol=1e-5)
    assert s_ids == k_ids
    np.testing.assert_allclose(s_state, k_state, rtol=1e-5, atol=1e-6)


def transformer_classes(lib):
    """Chapter 15's TransformerEncoder, TransformerDecoder and PositionalEmbedding, as the book writes them."""
    layers, ops = lib.layers, lib.ops

    class TransformerEncoder(lib.Layer):
        def __init__(self, hidden_dim, intermediate_dim, num_heads):
            super().__init__()
            key_dim = hidden_dim // num_heads
            self.self_attention = layers.MultiHeadAttention(num_heads, key_dim)
            self.self_attention_layernorm = layers.LayerNormalization()
            self.feed_forward_1 = layers.Dense(intermediate_dim, activation="relu")
            self.feed_forward_2 = layers.Dense(hidden_dim)
            self.feed_forward_layernorm = layers.LayerNormalization()

        def call(self, source, source_mask):
            residual = x = source
            mask = source_mask[:, None, :]
            x = self.self_attention(query=x, key=x, value=x, attention_mask=mask)
            x = self.self_attention_layernorm(x + residual)
            residual = x
            x = self.feed_forward_2(self.feed_forward_1(x))
            return self.feed_forward_layernorm(x + residual)

    class TransformerDecoder(lib.Layer):
        def __init__(self, hidden_dim, intermediate_dim, num_heads):
            super().__init__()
            key_dim = hidden_dim // num_heads
            self.self_attention = layers.MultiHeadAttention(num_heads, key_dim)
            self.self_attention_layernorm = layers.LayerNormalization()
            self.cross_attention = layers.MultiHeadAttention(num_heads, key_dim)
            self.cross_attention_layernorm = layers.LayerNormalization()
            self.feed_forward_1 = layers.Dense(intermediate_dim, activation="relu")
            self.feed_forward_2 = layers.Dense(hidden_dim)
            self.feed_forward_layernorm = layers.LayerNormalization()

        def call(self, target, source, source_mask):
            residual = x = target
            x = self.self_attention(query=x, key=x, value=x, use_causal_mask=True)
            x = self.self_attention_layernorm(x + residual)
            residual = x
            mask = source_mask[:, None, :]
            x = self.cross_attention(query=x, key=source, value=source, attention_mask=mask)
            x = self.cross_attention_layernorm(x + residual)
            residual = x
            x = self.feed_forward_2(self.feed_forward_1(x))
            return self.feed_forward_layernorm(x + residual)

    class PositionalEmbedding(lib.Layer):
        def __init__(self, sequence_length, input_dim, output_dim):
            super().__init__()
            self.token_embeddings = layers.Embedding(input_dim, output_dim)
            self.position_embeddings = layers.Embedding(sequence_length, output_dim)

        def call(self, inputs):
            positions = ops.cumsum(ops.ones_like(inputs), axis=-1) - 1
            return self.token_embeddings(inputs) + self.position_embeddings(positions)

    return TransformerEncoder, TransformerDecoder, PositionalEmbedding


def test_the_transformer_with_its_mask_from_source_not_equal_zero():
    """Chapter 15's Transformer: the source mask is ``source != 0`` on the symbolic input (scanfit's KerasTensor
    had no ``!=``, so Python compared identities and the layers got False), and the attention layers are
    called with ``query=`` by name (scanfit wanted the query first or as inputs=). Weights are set layer by
    layer: Keras lists layers called with keyword arguments alone in another order (see the report)."""
    vocab_size, hidden_dim, intermediate_dim, num_heads, sequence_length = 13, 8, 12, 2, 7
    draw = rng()
    english = draw.integers(1, vocab_size, size=(16, 6))
    english[:, 4:] = 0
    english[::3, 3:] = 0
    spanish = draw.integers(1, vocab_size, size=(16, 8))
    spanish[:, 6:] = 0
    results = []
    for lib in (keras, scanfit):
        layers = lib.layers
        TransformerEncoder, TransformerDecoder, PositionalEmbedding = transformer_classes(lib)
        source = lib.Input(shape=(None,), dtype="int32", name="english")
        source_mask = source != 0
        assert tuple(source_mask.shape) == (None, None) and source_mask.dtype == "bool"
        x = PositionalEmbedding(sequence_length, vocab_size, hidden_dim)(source)
        encoder_output = TransformerEncoder(hidden_dim, intermediate_dim, num_heads)(source=x, source_mask=source_mask)
        target = lib.Input(shape=(None,), dtype="int32", name="spanish")
        x = PositionalEmbedding(sequence_length, vocab_size, hidden_dim)(target)
        x = TransformerDecoder(hidden_dim, intermediate_dim, num_heads)(target=x, source=encoder_output,
                                                                       source_mask=source != 0)
        x = layers.Dropout(0.5)(x)
        transformer = lib.Model([source, target], layers.Dense(vocab_size, activation="softmax")(x))
        for index, layer in enumerate(sorted(transformer.layers, key=lambda layer: layer.name)):
            if layer.weights:
                set_random_weights(layer, seed=index)
        transformer.compile(optimizer="adam", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
        evaluation = transformer.evaluate({"english": english, "spanish": spanish[:, :-1]}, spanish[:, 1:],
                                          batch_size=8, verbose=0, return_dict=True)
        results.append((evaluation, transformer.predict([english, spanish[:, :-1]], verbose=0),
                        len(transformer.weights)))
    (k_evaluation, k_predictions, k_count), (s_evaluation, s_predictions, s_count) = results
    assert s_count == k_count
    assert sorted(s_evaluation) == sorted(k_evaluation)
    for name, value in k_evaluation.items():
        np.testing.assert_allclose(s_evaluation[name], value, rtol=1e-5)
    np.testing.assert_allclose(s_predictions, k_predictions, rtol=1e-4, atol=1e-6)


def translation_pairs(count, vocab_size=11):
    """Token ids of English and Spanish sentences padded with 0, as chapter 15's format_dataset gives them:
    features by input name, the labels one step on, and sample weights ``labels != 0`` (one per time step)."""
    draw = rng(count)
    english = draw.integers(1, vocab_size, size=(count, 6))
    english[:, 4:] = 0
    english[::3, 3:] = 0
    spanish = draw.integers(1, vocab_size, size=(count, 8))
    spanish[:, 6:] = 0
    spanish[::2, 5:] = 0
    labels = spanish[:, 1:]
    return {"english": english, "spanish": spanish[:, :-1]}, labels, labels != 0


@pytest.mark.parametrize("target_mask", [True, False], ids=["masked-decoder", "unmasked-decoder"])
def test_the_rnn_translator_trains_on_one_sample_weight_per_time_step(target_mask):
    """Chapter 15's sequence-to-sequence GRU: a Bidirectional GRU (merge_mode="sum") as the encoder, its output
    the decoder GRU's initial_state, trained with ``sample_weight = labels != 0`` of shape (samples, steps) and
    weighted_metrics=["accuracy"]. scanfit took one weight per sample only. With the decoder's Embedding masking
    its padding too, Keras weighs each step by weight and mask (and averages over the kept steps)."""
    vocab_size, embed_dim, hidden_dim = 11, 4, 5
    features, labels, sample_weights = translation_pairs(13)
    val_features, val_labels, val_weights = translation_pairs(7)
    results = []
    for lib in (keras, scanfit):
        layers = lib.layers
        source = lib.Input(shape=(None,), dtype="int32", name="english")
        x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(source)
        encoder_output = layers.Bidirectional(layers.GRU(hidden_dim), merge_mode="sum")(x)
        target = lib.Input(shape=(None,), dtype="int32", name="spanish")
        x = layers.Embedding(vocab_size, embed_dim, mask_zero=target_mask)(target)
        x = layers.GRU(hidden_dim, return_sequences=True)(x, initial_state=encoder_output)
        x = layers.Dropout(0.0)(x)
        seq2seq_rnn = lib.Model([source, target], layers.Dense(vocab_size, activation="softmax")(x))
        set_random_weights(seq2seq_rnn)
        seq2seq_rnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"],
                            metrics=["accuracy"])
        history = seq2seq_rnn.fit(features, labels, sample_weight=sample_weights, epochs=2, batch_size=4,
                                  shuffle=False, validation_data=(val_features, val_labels, val_weights),
                                  verbose=0).history
        evaluation = seq2seq_rnn.evaluate(features, labels, sample_weight=sample_weights, batch_size=8, verbose=0,
                                          return_dict=True)
        results.append((history, evaluation))
    (k_history, k_evaluation), (s_history, s_evaluation) = results
    assert sorted(s_history) == sorted(k_history) and sorted(s_evaluation) == sorted(k_evaluation)
    for name in k_history:
        if name == "accuracy" and target_mask:
            continue  # Keras 3.15 on JAX loses the output's mask in its training step (not in evaluate), so its
            # unweighted training metrics count the padding; scanfit masks them as Keras's evaluate does (below)
        np.testing.assert_allclose(s_history[name], k_history[name], rtol=1e-5)
    for name in k_evaluation:
        np.testing.assert_allclose(s_evaluation[name], k_evaluation[name], rtol=1e-5)


def test_a_compute_loss_override_sees_the_mask_of_a_masked_output():
    """A model that overrides compute_loss (and so runs Keras's default JAX steps) on a masked sequence output:
    Keras's compiled loss takes the mask the output tensor carries, in training and evaluation, and so do its
    metrics in evaluation (its training step loses the mask on the way to the metrics, as above). scanfit's
    default steps ignored the mask in the loss and the metrics; with per-step sample weights too."""
    features, labels, sample_weights = translation_pairs(13)
    results = []
    for lib in (keras, scanfit):
        class Translator(lib.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                return super().compute_loss(x, y, y_pred, sample_weight, training)

        layers = lib.layers
        target = lib.Input(shape=(None,), dtype="int32")
        x = layers.GRU(5, return_sequences=True)(layers.Embedding(11, 4, mask_zero=True)(target))
        model = Translator(target, layers.Dense(11, activation="softmax")(x))
        set_random_weights(model)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      weighted_metrics=[lib.metrics.SparseCategoricalAccuracy(name="weighted")])
        history = model.fit(features["spanish"], labels, epochs=2, batch_size=4, shuffle=False, verbose=0).history
        evaluation = model.evaluate(features["spanish"], labels, verbose=0, return_dict=True)
        weighted = model.evaluate(features["spanish"], labels, sample_weight=sample_weights * 0.5 + 0.25,
                                  verbose=0, return_dict=True)
        results.append((history, evaluation, weighted))
    for got, expected in zip(results[1], results[0]):
        assert sorted(got) == sorted(expected)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5)


def test_sample_weights_of_a_shape_the_loss_does_not_have_are_clear_errors():
    model = scanfit.Sequential([scanfit.Input(shape=(4,)), scanfit.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = np.ones((6, 4), "float32"), np.zeros(6, "int32")
    with pytest.raises(ValueError, match="2 weights per sample, but a loss or metric gives 1 values"):
        model.fit(x, y, sample_weight=np.ones((6, 2)), verbose=0)
    with pytest.raises(ValueError, match="one weight per sample"):
        model.fit(x, y, sample_weight=np.ones((5, 2)), verbose=0)
    with pytest.raises(ValueError, match="class_weight cannot be combined"):
        model.fit(x, y, sample_weight=np.ones((6, 2)), class_weight={0: 1.0}, verbose=0)
    doubled = model.evaluate(x, y, sample_weight=np.full((6, 1), 2.0), verbose=0)  # (samples, 1): one per sample
    assert doubled == pytest.approx(2 * model.evaluate(x, y, verbose=0), rel=1e-6)


def vae_parts(lib, latent_dim=2):
    """Chapter 17's encoder and decoder (MNIST's 28 x 28 as 8 x 8) and its Sampler."""
    layers, ops = lib.layers, lib.ops
    image_inputs = lib.Input(shape=(8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu", strides=2, padding="same")(image_inputs)
    x = layers.Dense(6, activation="relu")(layers.Flatten()(x))
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = lib.Model(image_inputs, [z_mean, z_log_var], name="encoder")
    latent_inputs = lib.Input(shape=(latent_dim,))
    x = layers.Reshape((2, 2, 4))(layers.Dense(2 * 2 * 4, activation="relu")(latent_inputs))
    x = layers.Conv2DTranspose(4, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(3, 3, activation="relu", strides=2, padding="same")(x)
    decoder = lib.Model(latent_inputs, layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x), name="decoder")
    set_random_weights(encoder, seed=1)
    set_random_weights(decoder, seed=2)

    class Sampler(lib.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = lib.random.SeedGenerator()
            self.built = True

        def call(self, z_mean, z_log_var):
            batch_size, z_size = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
            epsilon = lib.random.normal((batch_size, z_size), seed=self.seed_generator)
            # (the libraries draw different numbers: the noise is scaled to 0 here, its draw kept)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon * 0.0

    return encoder, decoder, Sampler


def test_a_vae_whose_compute_loss_runs_the_decoder_and_updates_its_trackers():
    """Chapter 17's VAE: call() runs the encoder alone; compute_loss runs the sampler and the decoder on the
    predictions and updates two Mean trackers. Keras's JAX trainer runs compute_loss with the step's
    variable values, so the decoder trains and the trackers count. scanfit ran those layers outside the step's
    forward pass (a tracer error) and could not update metrics there."""
    digits = rng().uniform(size=(32, 8, 8, 1)).astype("float32")
    runs = []
    for lib in (keras, scanfit):
        ops = lib.ops
        encoder, decoder, Sampler = vae_parts(lib)

        class VAE(lib.Model):
            def __init__(self, encoder, decoder, **kwargs):
                super().__init__(**kwargs)
                self.encoder = encoder
                self.decoder = decoder
                self.sampler = Sampler()
                self.reconstruction_loss_tracker = lib.metrics.Mean(name="reconstruction_loss")
                self.kl_loss_tracker = lib.metrics.Mean(name="kl_loss")

            def call(self, inputs):
                return self.encoder(inputs)

            def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
                z_mean, z_log_var = y_pred
                reconstruction = self.decoder(self.sampler(z_mean, z_log_var))
                reconstruction_loss = ops.mean(ops.sum(lib.losses.binary_crossentropy(x, reconstruction),
                                                       axis=(1, 2)))
                kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                total_loss = reconstruction_loss + ops.mean(kl_loss)
                self.reconstruction_loss_tracker.update_state(reconstruction_loss)
                self.kl_loss_tracker.update_state(kl_loss)
                return total_loss

        vae = VAE(encoder, decoder)
        vae.compile(optimizer=lib.optimizers.Adam())
        history = vae.fit(digits, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        evaluation = vae.evaluate(digits, verbose=0, return_dict=True)
        runs.append((history, evaluation, vae.decoder.get_weights(), [m.name for m in vae.metrics],
                     vae.decoder.predict(np.array([[0.5, -0.5]]), verbose=0)))
    (k_history, k_evaluation, k_weights, k_names, k_image), (s_history, s_evaluation, s_weights, s_names,
                                                              s_image) = runs
    assert s_names == k_names == ["loss", "reconstruction_loss", "kl_loss"]
    assert sorted(s_history) == sorted(k_history)
    for name in k_history:
        np.testing.assert_allclose(s_history[name], k_history[name], rtol=1e-5)
        np.testing.assert_allclose(s_evaluation[name], k_evaluation[name], rtol=1e-5)
    for got, expected in zip(s_weights, k_weights, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(s_image, k_image, rtol=1e-5, atol=1e-6)


def test_a_diffusion_model_keeps_the_loss_it_set_itself():
    """Chapter 17's DiffusionModel sets ``self.loss = MeanAbsoluteError()`` in __init__ and compiles without a
    loss; Keras's compile leaves it (scanfit's set it to None, and compute_loss then failed). Its call() draws
    its noise with keras.random and a SeedGenerator, normalizes with an adapted Normalization and runs a U-Net
    of nearest and bilinear UpSampling2D; AdamW on an InverseTimeDecay schedule; weights-only, best-only
    checkpoints. (Here call() takes training= and passes it on: with the book's call(self, images) Keras's JAX
    trainer passes no training flag, so BatchNormalization and Dropout inside train in inference mode, unlike its
    TensorFlow backend and Keras's documentation; scanfit trains in training mode. The noise is scaled to 0.)"""
    batch_size, image_size = 4, 8
    images = rng().uniform(0, 255, size=(8, image_size, image_size, 3)).astype("float32")
    runs = []
    for lib in (keras, scanfit):
        layers, ops = lib.layers, lib.ops

        def residual_block(x, width):
            residual = x if x.shape[3] == width else layers.Conv2D(width, 1)(x)
            x = layers.BatchNormalization(center=False, scale=False)(x)
            x = layers.Conv2D(width, 3, padding="same", activation="swish")(x)
            return layers.Conv2D(width, 3, padding="same")(x) + residual

        def get_model(image_size, widths):
            noisy_images = lib.Input(shape=(image_size, image_size, 3))
            noise_rates = lib.Input(shape=(1, 1, 1))
            x = layers.Conv2D(widths[0], 1)(noisy_images)
            x = layers.Concatenate()([x, layers.UpSampling2D(image_size, interpolation="nearest")(noise_rates)])
            skip = x = residual_block(x, widths[0])
            x = residual_block(layers.AveragePooling2D(pool_size=2)(x), widths[1])
            x = layers.UpSampling2D(size=2, interpolation="bilinear")(x)
            x = residual_block(layers.Concatenate()([x, skip]), widths[0])
            return lib.Model([noisy_images, noise_rates], layers.Conv2D(3, 1, kernel_initializer="zeros")(x))

        def diffusion_schedule(diffusion_times, min_signal_rate=0.02, max_signal_rate=0.95):
            start_angle = ops.cast(ops.arccos(max_signal_rate), "float32")
            end_angle = ops.cast(ops.arccos(min_signal_rate), "float32")
            diffusion_angles = start_angle + diffusion_times * (end_angle - start_angle)
            return ops.sin(diffusion_angles), ops.cos(diffusion_angles)

        class DiffusionModel(lib.Model):
            def __init__(self, image_size, widths, **kwargs):
                super().__init__(**kwargs)
                self.image_size = image_size
                self.denoising_model = get_model(image_size, widths)
                self.seed_generator = lib.random.SeedGenerator()
                self.loss = lib.losses.MeanAbsoluteError()
                self.normalizer = lib.layers.Normalization()

            def call(self, images, training=None):
                images = self.normalizer(images)
                noise_masks = 0.3 + 0.0 * lib.random.normal((batch_size, self.image_size, self.image_size, 3),
                                                            seed=self.seed_generator)
                diffusion_times = lib.random.uniform((batch_size, 1, 1, 1), minval=0.0, maxval=1.0,
                                                     seed=self.seed_generator) * 0.0 + np.linspace(0.1, 0.9, 4)[
                                                         :, None, None, None].astype("float32")
                noise_rates, signal_rates = diffusion_schedule(diffusion_times)
                noisy_images = signal_rates * images + noise_rates * noise_masks
                pred_noise_masks = self.denoising_model([noisy_images, noise_rates], training=training)
                pred_images = (noisy_images - noise_rates * pred_noise_masks) / signal_rates
                return pred_images, pred_noise_masks, noise_masks

            def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
                _, pred_noise_masks, noise_masks = y_pred
                return self.loss(noise_masks, pred_noise_masks)

        model = DiffusionModel(image_size, widths=[4, 6])
        model.normalizer.adapt(images)
        model.compile(optimizer=lib.optimizers.AdamW(learning_rate=lib.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=1e-3, decay_steps=1000, decay_rate=0.1)))
        assert isinstance(model.loss, lib.losses.MeanAbsoluteError)
        model(images[:batch_size])
        draw = rng(5)
        for layer in model.denoising_model.layers:
            if isinstance(layer, layers.Conv2D):
                layer.set_weights([draw.normal(size=w.shape).astype("float32") * 0.3 for w in layer.get_weights()])
        history = model.fit(images, epochs=2, batch_size=batch_size, shuffle=False, verbose=0).history
        runs.append((history, model.denoising_model.get_weights()))
    (k_history, k_weights), (s_history, s_weights) = runs
    np.testing.assert_allclose(s_history["loss"], k_history["loss"], rtol=1e-5)
    for got, expected in zip(s_weights, k_weights, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@LIBS
def test_a_model_has_no_loss_before_compile_and_compile_without_one_keeps_it(lib):
    model = lib.Sequential([lib.Input(shape=(2,)), lib.layers.Dense(1)])
    assert model.loss is None
    model.compile("sgd", "mse")
    model.compile("sgd")
    assert model.loss == "mse"


def test_the_timeseries_windows_of_chapter_13():
    """Chapter 13's dummy dataset (its printed windows) and the Jena windows: sampling_rate, start and end
    indices, targets `delay` steps on. (Keras's timeseries_dataset_from_array needs TensorFlow: the oracle is
    the book's printout and the arithmetic of the windows.)"""
    int_sequence = np.arange(10)
    dummy_dataset = scanfit.utils.timeseries_dataset_from_array(
        data=int_sequence[:-3], targets=int_sequence[3:], sequence_length=3, batch_size=2)
    printed = [([int(x) for x in inputs[i]], int(targets[i]))
               for inputs, targets in dummy_dataset for i in range(inputs.shape[0])]
    assert printed == [([0, 1, 2], 3), ([1, 2, 3], 4), ([2, 3, 4], 5), ([3, 4, 5], 6), ([4, 5, 6], 7)]
    raw_data = np.arange(400, dtype="float32").reshape(200, 2)
    temperature = np.arange(200, dtype="float32") * 10
    sampling_rate, sequence_length = 2, 5
    delay = sampling_rate * (sequence_length + 3 - 1)
    dataset = scanfit.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], sampling_rate=sampling_rate, sequence_length=sequence_length,
        shuffle=True, batch_size=8, start_index=20, end_index=100)
    starts = []
    for samples, targets in dataset:
        assert samples.shape[1:] == (sequence_length, 2)
        for sample, target in zip(np.asarray(samples), np.asarray(targets)):
            start = int(sample[0, 0]) // 2
            np.testing.assert_array_equal(sample[:, 0] // 2, start + sampling_rate * np.arange(sequence_length))
            assert target == temperature[start + delay]
            starts.append(start)
    assert sorted(starts) == list(range(20, 100 - (sequence_length - 1) * sampling_rate))
