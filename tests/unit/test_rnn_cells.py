"""keras.layers.RNN with the built-in cells, stacked cells and a user's cell, against Keras 3: outputs from the
same weights for every option and with masks, Hands-on ML's layer-normalized cell training step for step,
initial states from the graph, configs and files; bad uses fail clearly."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(77)
X = RNG.normal(size=(4, 6, 3)).astype("float32")
TOKENS = RNG.integers(1, 9, size=(4, 6))
TOKENS[:, 4:] = 0
TOKENS[0, 2:] = 0


def _outputs(result):
    return [np.asarray(a) for a in (result if isinstance(result, (list, tuple)) else [result])]


def _both(make, data=X, masked=False):
    """The same model in both libraries, with the same random weights; their predictions."""
    models = []
    for K in (keras, scanfit):
        inputs = K.Input(data.shape[1:], dtype="int32" if masked else "float32")
        h = K.layers.Embedding(9, 3, mask_zero=True)(inputs) if masked else inputs
        models.append(K.Model(inputs, make(K)(h)))
    k_model, s_model = models
    assert [tuple(w.shape) for w in s_model.weights] == [tuple(w.shape) for w in k_model.weights]
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    return _outputs(k_model.predict(data, verbose=0)), _outputs(s_model.predict(data, verbose=0)), s_model


@pytest.mark.parametrize("cell", ["SimpleRNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("options", [{}, {"return_sequences": True}, {"return_state": True},
                                     {"go_backwards": True, "return_sequences": True},
                                     {"zero_output_for_mask": True, "return_sequences": True},
                                     {"unroll": True}, {"unroll": True, "return_sequences": True}])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_of_a_cell_equals_keras(cell, options, masked):
    expected, got, _ = _both(lambda K: K.layers.RNN(getattr(K.layers, cell)(5), **options),
                             TOKENS if masked else X, masked)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_rnn_of_a_cell_equals_the_fused_layer():
    """RNN(LSTMCell(5)) computes what LSTM(5) does, with the same weights."""
    for cell, fused in (("SimpleRNNCell", "SimpleRNN"), ("LSTMCell", "LSTM"), ("GRUCell", "GRU")):
        generic = scanfit.layers.RNN(getattr(scanfit.layers, cell)(5), return_sequences=True)
        layer = getattr(scanfit.layers, fused)(5, return_sequences=True)
        generic(X)
        layer(X)
        layer.set_weights(generic.get_weights())
        np.testing.assert_allclose(np.asarray(generic(X)), np.asarray(layer(X)), rtol=1e-6, atol=1e-6)


def test_stacked_cells_equal_keras():
    expected, got, model = _both(lambda K: K.layers.RNN(
        [K.layers.LSTMCell(4), K.layers.GRUCell(5, reset_after=False), K.layers.SimpleRNNCell(2)],
        return_sequences=True), TOKENS, True)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)
    assert model.layers[-1].state_size == [[4, 4], 5, 2]


def test_cells_dropout_only_while_training():
    expected, got, model = _both(lambda K: K.layers.RNN(K.layers.LSTMCell(4, dropout=0.3, recurrent_dropout=0.2)))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)
    layer = model.layers[-1]
    noisy = [np.asarray(layer(X, training=True)) for _ in range(2)]
    assert not np.allclose(noisy[0], got[0]) and not np.allclose(noisy[0], noisy[1])


def _layer_norm_cell(K):
    """Hands-on ML's LNSimpleRNNCell (chapter 15)."""

    class LNSimpleRNNCell(K.layers.Layer):
        def __init__(self, units, activation="tanh", **kwargs):
            super().__init__(**kwargs)
            self.state_size = units
            self.output_size = units
            self.simple_rnn_cell = K.layers.SimpleRNNCell(units, activation=None)
            self.layer_norm = K.layers.LayerNormalization()
            self.activation = K.activations.get(activation)

        def call(self, inputs, states):
            outputs, new_states = self.simple_rnn_cell(inputs, states)
            norm_outputs = self.activation(self.layer_norm(outputs))
            return norm_outputs, [norm_outputs]

    return LNSimpleRNNCell


def test_layer_normalized_cell_trains_like_keras():
    series = RNG.normal(size=(32, 8, 1)).astype("float32")
    targets = RNG.normal(size=(32, 8, 3)).astype("float32")
    models = []
    for K in (keras, scanfit):
        cell = _layer_norm_cell(K)
        models.append(K.Sequential([K.Input((None, 1)), K.layers.RNN(cell(6), return_sequences=True),
                                    K.layers.TimeDistributed(K.layers.Dense(3))]))
    k_model, s_model = models
    k_model.predict(series, verbose=0)  # Keras builds the cell's inner layers at the first call
    weights = [RNG.normal(scale=0.4, size=w.shape).astype("float32") for w in k_model.get_weights()]
    assert len(weights) == len(s_model.get_weights()) == 7
    for model in models:
        model.set_weights(weights)
        model.compile(optimizer="adam", loss="mse")
    np.testing.assert_allclose(s_model.predict(series, verbose=0), k_model.predict(series, verbose=0), rtol=1e-5,
                               atol=1e-5)  # layer normalization scales up float rounding
    k_history = k_model.fit(series, targets, epochs=2, batch_size=8, shuffle=False, verbose=0)
    s_history = s_model.fit(series, targets, epochs=2, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(s_history.history["loss"], k_history.history["loss"], rtol=1e-4)
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)


def test_initial_state_from_the_graph_equals_keras():
    """An encoder's final states start the decoder, as in a sequence-to-sequence model."""
    source, target = RNG.normal(size=(4, 5, 3)).astype("float32"), RNG.normal(size=(4, 6, 2)).astype("float32")
    models = []
    for K in (keras, scanfit):
        encoder_in, decoder_in = K.Input((5, 3)), K.Input((6, 2))
        _, h, c = K.layers.RNN(K.layers.LSTMCell(4), return_state=True)(encoder_in)
        decoded = K.layers.RNN(K.layers.LSTMCell(4), return_sequences=True)(decoder_in, initial_state=[h, c])
        models.append(K.Model([encoder_in, decoder_in], decoded))
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in models[0].get_weights()]
    for model in models:
        model.set_weights(weights)
    expected, got = (model.predict([source, target], verbose=0) for model in models)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_configs_and_files(tmp_path):
    for make in (lambda K: K.layers.RNN(K.layers.GRUCell(3, reset_after=False), go_backwards=True),
                 lambda K: K.layers.RNN([K.layers.LSTMCell(4), K.layers.LSTMCell(2)])):
        expected, got, s_model = _both(make)
        k_layer, s_layer = make(keras), make(scanfit)
        k_config, s_config = k_layer.get_config(), s_layer.get_config()
        for config in (k_config, s_config):
            config.pop("name")
            cells = config["cell"]["config"].get("cells") or [config["cell"]]
            for cell in cells:
                cell["config"].pop("name")
        assert s_config == k_config
        s_model.save(tmp_path / "s.keras")
        s_model.save_weights(tmp_path / "s.weights.h5")
        for loaded in (keras.models.load_model(tmp_path / "s.keras"), scanfit.models.load_model(tmp_path / "s.keras")):
            np.testing.assert_allclose(_outputs(loaded.predict(X, verbose=0))[0], got[0], rtol=1e-5, atol=1e-6)
        k_model = keras.Model(*(lambda i: (i, make(keras)(i)))(keras.Input((6, 3))))
        k_model.load_weights(tmp_path / "s.weights.h5")
        np.testing.assert_allclose(k_model.predict(X, verbose=0), got[0], rtol=1e-5, atol=1e-6)


def test_bad_uses_fail_clearly():
    with pytest.raises(TypeError, match="belong to keras.layers.RNN"):
        scanfit.layers.LSTMCell(3, return_sequences=True)
    with pytest.raises(TypeError, match=r"wrap it: keras.layers.RNN\(LSTMCell"):
        scanfit.layers.LSTMCell(3)(scanfit.Input((4,)))
    with pytest.raises(ValueError, match=r"stateful=True\) is not supported"):
        scanfit.layers.RNN(scanfit.layers.LSTMCell(3), stateful=True)
    with pytest.raises(TypeError, match="must be a layer with a state_size"):
        scanfit.layers.RNN(scanfit.layers.Dense(3))

    class NormalizedCell(scanfit.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size = 3
            self.cell = scanfit.layers.SimpleRNNCell(3)
            self.norm = scanfit.layers.BatchNormalization()

        def call(self, inputs, states, training=None):
            output, states = self.cell(inputs, states)
            return self.norm(output, training=training), states

    model = scanfit.Sequential([scanfit.Input((6, 3)), scanfit.layers.RNN(NormalizedCell()), scanfit.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="changes layer state or adds losses"):
        model.fit(X, np.zeros((4, 1), "float32"), epochs=1, verbose=0)
