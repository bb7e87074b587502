"""SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed against Keras 3 (outputs, gradients, configs),
and recurrent models trained with fit against Keras step for step."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

BATCH, STEPS, FEATURES = 3, 5, 4


def _flat(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def oracle(k_layer, x, mask, cotangents):
    """Keras's outputs and the gradients of sum(outputs * cotangents) for (trainable weights..., x)."""
    trainable = [v.value for v in k_layer.trainable_variables]
    fixed = [v.value for v in k_layer.non_trainable_variables]
    kwargs = {} if mask is None else {"mask": mask}

    def objective(trainable, x):
        y, _ = k_layer.stateless_call(trainable, fixed, x, **kwargs)
        y = _flat(y)
        return sum(jnp.sum(a * c) for a, c in zip(y, cotangents, strict=True)), y

    (_, y), (d_weights, d_x) = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(trainable, x)
    return [np.asarray(a) for a in y], [np.asarray(g) for g in d_weights] + [np.asarray(d_x)]


def ours(s_layer, x, mask, cotangents):
    names = [v.short_name for v in s_layer.weights]
    kwargs = {} if mask is None else {"mask": mask}

    def objective(weights, x):
        y, _ = s_layer.pure_call(weights, x, **kwargs)
        y = _flat(y)
        return sum(jnp.sum(a * c) for a, c in zip(y, cotangents, strict=True)), y

    (_, y), (d_weights, d_x) = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(
        s_layer.weight_values(), x)
    return [np.asarray(a) for a in y], [np.asarray(d_weights[n]) for n in names] + [np.asarray(d_x)]


def _mask(rng):
    """Ragged (batch, steps) masks: padding at the front, at the end, one fully masked row... and a hole."""
    mask = np.ones((BATCH, STEPS), bool)
    mask[0, :2] = False
    mask[1, 3:] = False
    mask[2, 2] = False
    return jnp.asarray(mask)


def compare_with_keras(make, masked=False, seed=0, atol=1e-5):
    """Build `make(keras.layers)` and `make(scanfit.layers)` with the same weights; compare outputs and
    gradients of inputs and weights."""
    rng = np.random.default_rng(seed)
    shape = (BATCH, STEPS, FEATURES)
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    mask = _mask(rng) if masked else None
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    k_layer.build(shape)
    s_layer.build_for(shape)
    k_weights = k_layer.get_weights()
    assert [w.shape for w in s_layer.get_weights()] == [w.shape for w in k_weights]
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in k_weights]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)
    k_shapes = k_layer.compute_output_shape(shape)
    k_shapes = [tuple(s) for s in k_shapes] if isinstance(k_shapes[0], (tuple, list)) else [tuple(k_shapes)]
    s_shapes = s_layer.compute_output_shape(shape)
    s_shapes = list(s_shapes) if isinstance(s_shapes[0], tuple) else [s_shapes]
    assert s_shapes == k_shapes
    cotangents = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in k_shapes]
    k_y, k_grads = oracle(k_layer, x, mask, cotangents)
    s_y, s_grads = ours(s_layer, x, mask, cotangents)
    for s, k in zip(s_y, k_y, strict=True):
        np.testing.assert_allclose(s, k, atol=atol, rtol=1e-5)
    for s, k in zip(s_grads, k_grads, strict=True):
        assert s.shape == k.shape
        np.testing.assert_allclose(s, k, atol=atol * max(1.0, float(np.abs(k).max())), rtol=1e-4)
    return k_layer, s_layer


KINDS = {
    "SimpleRNN": dict(),
    "LSTM": dict(),
    "GRU": dict(),
    "GRU_reset_before": dict(reset_after=False),
    "LSTM_no_bias": dict(use_bias=False),
    "GRU_no_bias": dict(use_bias=False),
    "SimpleRNN_relu": dict(activation="relu"),
    "LSTM_hard_sigmoid": dict(recurrent_activation="hard_sigmoid"),
}
# (return_sequences, return_state, go_backwards): each flag both ways, in four runs
OPTIONS = [(False, False, False), (True, True, False), (False, True, True), (True, False, True)]


def _layer(L, kind, sequences, state, backwards, **extra):
    cls = getattr(L, kind.split("_")[0])
    return cls(5, return_sequences=sequences, return_state=state, go_backwards=backwards, **KINDS[kind], **extra)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("sequences,state,backwards", OPTIONS)
def test_layer_matches_keras(kind, sequences, state, backwards):
    compare_with_keras(lambda L: _layer(L, kind, sequences, state, backwards))


@pytest.mark.parametrize("kind", [k for k in KINDS if "_" in k])
def test_layer_variant_matches_keras(kind):
    compare_with_keras(lambda L: _layer(L, kind, True, True, True))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU", "GRU_reset_before"])
@pytest.mark.parametrize("sequences,backwards,unroll", [(True, False, False), (False, True, False), (True, True, True)])
def test_masked_layer_matches_keras(kind, sequences, backwards, unroll):
    compare_with_keras(lambda L: _layer(L, kind, sequences, False, backwards, unroll=unroll), masked=True)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_masked_return_state_and_zero_output_match_keras(kind):
    compare_with_keras(lambda L: _layer(L, kind, True, True, False, zero_output_for_mask=True), masked=True)


@pytest.mark.parametrize("merge_mode,sequences,masked", [
    ("concat", False, False), ("concat", True, False), ("concat", False, True), ("concat", True, True),
    ("sum", True, True), ("mul", True, True), ("ave", False, True), (None, True, True),
])
def test_bidirectional_matches_keras(merge_mode, sequences, masked):
    compare_with_keras(lambda L: L.Bidirectional(L.LSTM(3, return_sequences=sequences), merge_mode=merge_mode),
                       masked=masked)


def test_bidirectional_return_state_and_backward_layer_match_keras():
    compare_with_keras(lambda L: L.Bidirectional(L.GRU(3, return_sequences=True, return_state=True)), masked=True)
    compare_with_keras(lambda L: L.Bidirectional(L.LSTM(3), backward_layer=L.SimpleRNN(3, go_backwards=True)))


def test_time_distributed_matches_keras():
    compare_with_keras(lambda L: L.TimeDistributed(L.Dense(2, activation="tanh")))


def test_weight_paths_and_unit_forget_bias_are_keras_s():
    for kind, cell in (("SimpleRNN", "simple_rnn_cell"), ("LSTM", "lstm_cell"), ("GRU", "gru_cell")):
        k_layer = getattr(keras.layers, kind)(4, name=f"k_{kind.lower()}")
        s_layer = getattr(scanfit.layers, kind)(4, name=f"k_{kind.lower()}")
        k_layer.build((None, 3, 2))
        s_layer.build_for((None, 3, 2))
        assert [v.path for v in s_layer.weights] == [v.path for v in k_layer.weights]
        assert all(f"/{cell}/" in v.path for v in s_layer.weights)
    lstm = scanfit.layers.LSTM(3)
    lstm.build_for((None, 2, 2))
    np.testing.assert_array_equal(lstm.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_configs_equal_keras_and_round_trip():
    from scanfit.saving.config import deserialize_layer, serialize_layer

    makers = [
        lambda L: L.SimpleRNN(4, dropout=0.1, return_sequences=True),
        lambda L: L.LSTM(4, recurrent_dropout=0.2, unit_forget_bias=False, go_backwards=True, name="l"),
        lambda L: L.GRU(4, reset_after=False, unroll=True, kernel_regularizer="l2"),
        lambda L: L.Bidirectional(L.LSTM(4, name="inner"), merge_mode="sum", name="bi"),
        lambda L: L.TimeDistributed(L.Dense(2, name="d"), name="td"),
        lambda L: L.Embedding(10, 3, mask_zero=True, name="e"),
        lambda L: L.Masking(mask_value=-1.0, name="m"),
    ]
    for make in makers:
        k_config, s_config = make(keras.layers).get_config(), make(scanfit.layers).get_config()
        for config in (k_config, s_config):
            for key in ("layer", "backward_layer"):
                if key in config:
                    config[key]["config"].pop("name")
                    config[key]["config"].pop("quantization_config", None)  # Keras-only, None: scanfit omits it
            config.pop("name")
            config.pop("quantization_config", None)
        assert s_config == k_config
        layer = make(scanfit.layers)
        again = deserialize_layer(serialize_layer(layer))
        assert again.get_config() == layer.get_config()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="dropout must be a number in"):
        scanfit.layers.GRU(3, dropout=1.5)
    with pytest.raises(TypeError, match="units must be a positive int"):
        scanfit.layers.SimpleRNN("3")
    with pytest.raises(ValueError, match="merge_mode"):
        scanfit.layers.Bidirectional(scanfit.layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match=r"\(batch, timesteps, features\)"):
        scanfit.layers.LSTM(3).build_for((None, 4))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_dropout_is_keras_dropout(kind):
    """Dropout masks are fixed over time and scale kept values by 1/(1-rate); off at inference."""
    layer = getattr(scanfit.layers, kind)(6, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    x = jnp.ones((64, 7, 3))
    layer.build_for(x.shape)
    plain, _ = layer.pure_call(layer.weight_values(), x, training=False, rng=jax.random.PRNGKey(0))
    again, _ = layer.pure_call(layer.weight_values(), x, training=True, rng=None)
    np.testing.assert_allclose(plain, again)
    a, _ = layer.pure_call(layer.weight_values(), x, training=True, rng=jax.random.PRNGKey(1))
    b, _ = layer.pure_call(layer.weight_values(), x, training=True, rng=jax.random.PRNGKey(2))
    assert not np.allclose(a, plain) and not np.allclose(a, b)
    # with all-zero recurrent and input weights but a bias, dropout changes nothing: masks multiply inputs only
    weights = {k: jnp.zeros_like(v) for k, v in layer.weight_values().items()}
    zero_in, _ = layer.pure_call(weights, x, training=True, rng=jax.random.PRNGKey(1))
    np.testing.assert_allclose(zero_in, layer.pure_call(weights, x, training=False)[0])


def _text_models(kind, mask_zero):
    def build(library):
        return library.Sequential([
            library.layers.Embedding(20, 4, mask_zero=mask_zero, input_shape=(9,)),
            getattr(library.layers, kind)(5),
            library.layers.Dense(1, activation="sigmoid"),
        ])
    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    return k_model, s_model


def _text_data(n=70, steps=9, vocab=20, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(n, steps))
    lengths = rng.integers(2, steps + 1, size=n)
    x[np.arange(steps)[None, :] < (steps - lengths)[:, None]] = 0  # 'pre' padding
    y = (x[:, -1] % 2).astype("float32")
    return x.astype("int32"), y


@pytest.mark.parametrize("kind,mask_zero", [("LSTM", False), ("LSTM", True), ("GRU", True), ("SimpleRNN", True)])
def test_text_model_trains_step_for_step_like_keras(kind, mask_zero):
    x, y = _text_data()
    k_model, s_model = _text_models(kind, mask_zero)
    for model in (k_model, s_model):
        model.compile(optimizer=keras.optimizers.Adam(0.01) if model is k_model else scanfit.optimizers.Adam(0.01),
                      loss="binary_crossentropy", metrics=["accuracy"])
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    k_hist = k_model.fit(x, y, **kwargs).history
    s_hist = s_model.fit(x, y, **kwargs).history
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights(), strict=True):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
    np.testing.assert_allclose(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_masks_flow_through_sequential_to_pooling_like_keras():
    """Embedding(mask_zero) -> Dense -> GlobalAveragePooling1D averages over real tokens only, as in Keras."""
    x, _ = _text_data(n=6)
    def build(library):
        return library.Sequential([
            library.layers.Embedding(20, 3, mask_zero=True, input_shape=(9,)),
            library.layers.Dense(4, activation="relu"),
            library.layers.Dropout(0.2),
            library.layers.GlobalAveragePooling1D(),
        ])
    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(np.asarray(s_model(x)), np.asarray(k_model(x)), rtol=1e-5, atol=1e-6)
    unmasked = scanfit.Sequential([scanfit.layers.Embedding(20, 3, input_shape=(9,)), scanfit.layers.Dense(4),
                                   scanfit.layers.GlobalAveragePooling1D()])
    unmasked.set_weights(k_model.get_weights())
    assert not np.allclose(np.asarray(unmasked(x)), np.asarray(k_model(x)))


def test_masking_layer_feeds_lstm_like_keras():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    x[0, :2] = 0.0
    x[3, 4:] = 0.0
    def build(library):
        return library.Sequential([library.layers.Masking(0.0, input_shape=(6, 3)),
                                   library.layers.LSTM(4, return_sequences=True)])
    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(np.asarray(s_model(x)), np.asarray(k_model(x)), rtol=1e-5, atol=1e-6)


def test_recurrent_model_trains_inside_sweep():
    """Two masked Bidirectional GRU models in one Sweep: each ends where it ends when trained alone."""
    x, y = _text_data(n=64)

    def build(learning_rate):
        scanfit.utils.set_random_seed(5)
        model = scanfit.Sequential([scanfit.layers.Embedding(20, 4, mask_zero=True, input_shape=(9,)),
                                    scanfit.layers.Bidirectional(scanfit.layers.GRU(3)),
                                    scanfit.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=scanfit.optimizers.Adam(learning_rate), loss="binary_crossentropy")
        return model

    params = [{"learning_rate": 0.01}, {"learning_rate": 0.003}]
    sweep = scanfit.Sweep(build, params)
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    sweep.fit(x, y, **kwargs)
    for model, options in zip(sweep.models, params):
        alone = build(**options)
        alone.fit(x, y, **kwargs)
        for a, b in zip(model.get_weights(), alone.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_keras_files_interchange_both_ways(tmp_path):
    """.keras and .weights.h5 files hold recurrent and wrapped weights where Keras 3 keeps them (cell/, forward_layer/...)."""
    def build(library):
        return library.Sequential([
            library.Input((5,)), library.layers.Embedding(10, 3, mask_zero=True),
            library.layers.Bidirectional(library.layers.LSTM(4, return_sequences=True)),
            library.layers.TimeDistributed(library.layers.Dense(3)), library.layers.GRU(2),
        ])
    x = np.random.default_rng(0).integers(0, 10, (4, 5))
    k_model, s_model = build(keras), build(scanfit)
    k_model.save(tmp_path / "k.keras")
    loaded = scanfit.models.load_model(tmp_path / "k.keras", compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(k_model(x)), rtol=1e-6, atol=1e-7)
    s_model.save_weights(tmp_path / "s.weights.h5")
    k_model.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(np.asarray(k_model(x)), np.asarray(s_model(x)), rtol=1e-6, atol=1e-7)
    s_model.save(tmp_path / "s.keras")
    again = keras.models.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(s_model(x)), rtol=1e-6, atol=1e-7)
