"""``initial_state=`` of SimpleRNN, LSTM, GRU and Bidirectional against Keras 3: eager outputs and gradients
(weights and states), a functional encoder-decoder (predictions, fit, .keras files both ways), stateful layers,
and the errors for wrong states."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 6

CASES = [
    ("LSTM", {}),
    ("LSTM", {"return_sequences": True, "return_state": True}),
    ("LSTM", {"go_backwards": True, "return_sequences": True}),
    ("GRU", {"return_state": True}),
    ("GRU", {"reset_after": False, "return_sequences": True, "return_state": True}),
    ("GRU", {"go_backwards": True, "return_state": True}),
    ("SimpleRNN", {"return_sequences": True, "return_state": True}),
    ("SimpleRNN", {"go_backwards": True}),
    ("LSTM", {"unroll": True, "return_sequences": True, "return_state": True}),
    ("GRU", {"unroll": True, "go_backwards": True}),
]


def _flat(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def _mask():
    mask = np.ones((BATCH, STEPS), bool)
    mask[0, :2] = False  # leading padding: the initial state passes through
    mask[1, 3:] = False
    mask[2, :] = False  # a row that reads no step
    return jnp.asarray(mask)


def _gradients(call, weights, x, states, cotangents):
    """The outputs and the gradients of sum(outputs * cotangents) for (weights, states)."""
    def objective(weights, states):
        y = _flat(call(weights, x, states))
        return sum(jnp.sum(a * c) for a, c in zip(y, cotangents, strict=True)), y

    (_, y), grads = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(weights, states)
    return y, grads


@pytest.mark.parametrize("kind,options", CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_eager_initial_state_matches_keras(kind, options, masked):
    rng = np.random.default_rng(0)
    k_layer = getattr(keras.layers, kind)(UNITS, **options)
    s_layer = getattr(scanfit.layers, kind)(UNITS, **options)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    count = 2 if kind == "LSTM" else 1
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(count)]
    mask = _mask() if masked else None
    kwargs = {} if mask is None else {"mask": mask}
    k_out = _flat(k_layer(x, initial_state=states, **kwargs))
    s_layer.build((None, STEPS, FEATURES))
    s_layer.set_weights(k_layer.get_weights())
    s_out = _flat(s_layer(x, initial_state=states, **kwargs))
    for s, k in zip(s_out, k_out, strict=True):
        np.testing.assert_allclose(s, k, rtol=1e-5, atol=1e-5)

    cotangents = [rng.normal(size=a.shape).astype("float32") for a in k_out]
    k_weights = [v.value for v in k_layer.trainable_variables]
    k_fixed = [v.value for v in k_layer.non_trainable_variables]  # its dropout seed
    k_y, (k_dw, k_ds) = _gradients(
        lambda w, x, s: k_layer.stateless_call(w, k_fixed, x, initial_state=s, **kwargs)[0],
        k_weights, x, states, cotangents)
    s_y, (s_dw, s_ds) = _gradients(lambda w, x, s: s_layer.pure_call(w, x, initial_state=s, **kwargs)[0],
                                   s_layer.weight_values(), x, states, cotangents)
    for s, k in zip(s_y, k_y, strict=True):
        np.testing.assert_allclose(s, k, rtol=1e-5, atol=1e-5)
    for variable, k in zip(s_layer.weights, k_dw, strict=True):
        np.testing.assert_allclose(s_dw[variable.short_name], k, rtol=1e-4, atol=1e-5)
    for s, k in zip(s_ds, k_ds, strict=True):
        np.testing.assert_allclose(s, k, rtol=1e-4, atol=1e-5)


def test_single_state_may_be_given_unlisted():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    h = rng.normal(size=(BATCH, UNITS)).astype("float32")
    k_layer, s_layer = keras.layers.GRU(UNITS), scanfit.layers.GRU(UNITS)
    expected = k_layer(x, initial_state=h)
    s_layer.build((None, STEPS, FEATURES))
    s_layer.set_weights(k_layer.get_weights())
    np.testing.assert_allclose(s_layer(x, initial_state=h), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_splits_initial_state_like_keras(merge_mode):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(4)]

    def make(library):
        return library.layers.Bidirectional(library.layers.LSTM(UNITS, return_sequences=True, return_state=True),
                                            merge_mode=merge_mode)
    k_layer, s_layer = make(keras), make(scanfit)
    expected = k_layer(x, initial_state=states, mask=_mask())
    s_layer.build((None, STEPS, FEATURES))
    s_layer.set_weights(k_layer.get_weights())
    for s, k in zip(s_layer(x, initial_state=states, mask=_mask()), expected, strict=True):
        np.testing.assert_allclose(s, k, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="list of 4 states"):
        s_layer(x, initial_state=states[:2])


def test_bidirectional_encoder_decoder_graph_and_files_match_keras(tmp_path):
    def build(library):
        layers = library.layers
        encoder_in, decoder_in = library.Input((6,), dtype="int32"), library.Input((5,), dtype="int32")
        encoded = layers.Embedding(12, 4, mask_zero=True)(encoder_in)
        _, *states = layers.Bidirectional(layers.LSTM(8, return_state=True))(encoded)
        decoded = layers.Bidirectional(layers.GRU(8, return_sequences=True))(
            layers.Embedding(12, 4, mask_zero=True)(decoder_in), initial_state=[states[0], states[2]])
        return library.Model([encoder_in, decoder_in], layers.Dense(3)(decoded))
    source, decoder_in, _ = _sequences(n=8)
    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    expected = k_model.predict([source, decoder_in], verbose=0)
    np.testing.assert_allclose(s_model.predict([source, decoder_in], verbose=0), expected, rtol=1e-5, atol=1e-6)
    k_model.save(tmp_path / "keras.keras")
    loaded = scanfit.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict([source, decoder_in], verbose=0), expected, rtol=1e-5, atol=1e-6)
    s_model.save(tmp_path / "scanfit.keras")
    back = keras.models.load_model(tmp_path / "scanfit.keras")
    np.testing.assert_allclose(back.predict([source, decoder_in], verbose=0), expected, rtol=1e-5, atol=1e-6)


def _encoder_decoder(library, explicit_mask=False):
    """Keras 3 gives the decoder LSTM, called with initial-state tensors, no implicit mask (only `<name>_mask`s
    reach a call of several tensor arguments); with `explicit_mask` it gets the decoder's padding mask."""
    layers = library.layers
    encoder_in = library.Input((6,), dtype="int32")
    decoder_in = library.Input((5,), dtype="int32")
    encoded = layers.Embedding(12, 4, mask_zero=True)(encoder_in)
    _, state_h, state_c = layers.LSTM(8, return_state=True)(encoded)
    decoded = layers.Embedding(12, 4, mask_zero=True)(decoder_in)
    mask = {"mask": library.ops.not_equal(decoder_in, 0)} if explicit_mask else {}
    decoded = layers.LSTM(8, return_sequences=True)(decoded, initial_state=[state_h, state_c], **mask)
    outputs = layers.Dense(12, activation="softmax")(decoded)
    return library.Model([encoder_in, decoder_in], outputs)


def _sequences(n=40, seed=3):
    rng = np.random.default_rng(seed)
    source = rng.integers(1, 12, size=(n, 6))
    source[np.arange(6)[None, :] < rng.integers(0, 4, size=n)[:, None]] = 0  # 'pre' padding
    target = rng.integers(1, 12, size=(n, 6))
    target[np.arange(6)[None, :] >= rng.integers(3, 7, size=n)[:, None]] = 0  # 'post' padding
    return source.astype("int32"), target[:, :-1].astype("int32"), target[:, 1:].astype("int32")


def test_functional_encoder_decoder_predicts_and_trains_like_keras():
    source, decoder_in, target = _sequences()
    k_model, s_model = _encoder_decoder(keras), _encoder_decoder(scanfit)
    s_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(s_model.predict([source, decoder_in], verbose=0),
                               k_model.predict([source, decoder_in], verbose=0), rtol=1e-5, atol=1e-6)
    k_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    s_model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    k_hist = k_model.fit([source, decoder_in], target, **kwargs).history
    s_hist = s_model.fit([source, decoder_in], target, **kwargs).history
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
    for s_w, k_w in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("explicit_mask", [False, True])
def test_encoder_decoder_keras_files_load_both_ways(tmp_path, explicit_mask):
    source, decoder_in, _ = _sequences(n=8)
    k_model = _encoder_decoder(keras, explicit_mask)
    k_model.save(tmp_path / "keras.keras")
    loaded = scanfit.models.load_model(tmp_path / "keras.keras")
    expected = k_model.predict([source, decoder_in], verbose=0)
    np.testing.assert_allclose(loaded.predict([source, decoder_in], verbose=0), expected, rtol=1e-5, atol=1e-6)

    s_model = _encoder_decoder(scanfit, explicit_mask)
    s_model.save(tmp_path / "scanfit.keras")
    back = keras.models.load_model(tmp_path / "scanfit.keras")
    np.testing.assert_allclose(back.predict([source, decoder_in], verbose=0),
                               s_model.predict([source, decoder_in], verbose=0), rtol=1e-5, atol=1e-6)


def test_rnn_of_a_cell_in_a_graph_gets_no_implicit_mask_like_keras():
    def build(library):
        layers = library.layers
        encoder_in, decoder_in = library.Input((6,), dtype="int32"), library.Input((5,), dtype="int32")
        _, state_h, state_c = layers.LSTM(8, return_state=True)(layers.Embedding(12, 4, mask_zero=True)(encoder_in))
        decoded = layers.RNN(layers.LSTMCell(8), return_sequences=True)(
            layers.Embedding(12, 4, mask_zero=True)(decoder_in), initial_state=[state_h, state_c])
        return library.Model([encoder_in, decoder_in], layers.Dense(3)(decoded))
    source, decoder_in, _ = _sequences(n=8)
    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(s_model.predict([source, decoder_in], verbose=0),
                               k_model.predict([source, decoder_in], verbose=0), rtol=1e-5, atol=1e-6)


def test_stateful_layer_uses_the_given_state_then_carries_on():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2)]
    k_layer = keras.layers.LSTM(UNITS, stateful=True)
    s_layer = scanfit.layers.LSTM(UNITS, stateful=True)
    k_first = k_layer(x, initial_state=states)
    s_layer.build((BATCH, STEPS, FEATURES))
    s_layer.set_weights(k_layer.get_weights())
    np.testing.assert_allclose(s_layer(x, initial_state=states), k_first, rtol=1e-5, atol=1e-5)
    for s, k in zip(s_layer.states, k_layer.states, strict=True):
        np.testing.assert_allclose(s.value, k.value, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s_layer(x), k_layer(x), rtol=1e-5, atol=1e-5)  # from the carried states


def test_wrong_initial_states_are_clear_errors():
    x = np.zeros((BATCH, STEPS, FEATURES), "float32")
    h = np.zeros((BATCH, UNITS), "float32")
    with pytest.raises(ValueError, match=r"takes 2 initial state\(s\)"):
        scanfit.layers.LSTM(UNITS)(x, initial_state=[h])
    with pytest.raises(ValueError, match=r"takes 1 initial state\(s\)"):
        scanfit.layers.GRU(UNITS)(x, initial_state=[h, h])
    with pytest.raises(ValueError, match=r"must have shape \(batch, 6\), got one of shape \(3, 7\)"):
        scanfit.layers.SimpleRNN(UNITS)(x, initial_state=[np.zeros((BATCH, UNITS + 1), "float32")])
    with pytest.raises(ValueError, match=r"must have shape \(3, 6\)"):
        scanfit.layers.SimpleRNN(UNITS)(x, initial_state=np.zeros((BATCH + 1, UNITS), "float32"))
    sequence = scanfit.Input((STEPS, FEATURES))
    with pytest.raises(ValueError, match=r"must have shape \(batch, 6\)"):
        scanfit.layers.LSTM(UNITS)(sequence, initial_state=[scanfit.Input((UNITS,)), scanfit.Input((UNITS - 1,))])
