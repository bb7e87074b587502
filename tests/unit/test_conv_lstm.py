"""ConvLSTM1D/2D/3D against Keras 3 (outputs and gradients for the same weights, configs, weight paths, files,
training step for step), and the stateful and dropout behaviour they share with LSTM."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit
from scanfit.saving.config import deserialize_layer, serialize_layer


def _flat(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def _keras_outputs_and_gradients(layer, x, cotangents):
    """Keras's outputs and the gradients of sum(outputs * cotangents) for (trainable weights..., x)."""
    fixed = [v.value for v in layer.non_trainable_variables]

    def objective(trainable, x):
        y, _ = layer.stateless_call(trainable, fixed, x)
        y = _flat(y)
        return sum(jnp.sum(a * c) for a, c in zip(y, cotangents, strict=True)), y

    (_, y), grads = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(
        [v.value for v in layer.trainable_variables], x)
    return y, list(grads[0]) + [grads[1]]


def _our_outputs_and_gradients(layer, x, cotangents):
    names = [v.short_name for v in layer.weights]

    def objective(weights, x):
        y, _ = layer.pure_call(weights, x)
        y = _flat(y)
        return sum(jnp.sum(a * c) for a, c in zip(y, cotangents, strict=True)), y

    (_, y), (d_weights, d_x) = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(
        layer.weight_values(), x)
    return y, [d_weights[n] for n in names] + [d_x]


def _same_layers(kind, shape, seed=0, **arguments):
    """The Keras and scanfit layers `kind(**arguments)` built for `shape`, with the same random weights."""
    arguments = {"name": "conv_lstm", **arguments}
    k_layer, s_layer = getattr(keras.layers, kind)(**arguments), getattr(scanfit.layers, kind)(**arguments)
    k_layer.build(shape)
    s_layer.build_for(shape)
    assert [v.path for v in s_layer.weights] == [v.path for v in k_layer.weights]
    assert [w.shape for w in s_layer.get_weights()] == [w.shape for w in k_layer.get_weights()]
    rng = np.random.default_rng(seed)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)
    return k_layer, s_layer


def _compare(kind, shape, gradients=True, **arguments):
    """The two layers' outputs and, with `gradients`, the gradients of their weights and inputs."""
    k_layer, s_layer = _same_layers(kind, shape, **arguments)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    k_shapes = k_layer.compute_output_shape(shape)
    k_shapes = [tuple(s) for s in k_shapes] if isinstance(k_shapes[0], (tuple, list)) else [tuple(k_shapes)]
    s_shapes = s_layer.compute_output_shape(shape)
    assert (list(s_shapes) if isinstance(s_shapes[0], tuple) else [s_shapes]) == k_shapes
    if not gradients:  # one compiled call each (quicker than eager calls)
        trainable = [v.value for v in k_layer.trainable_variables]
        fixed = [v.value for v in k_layer.non_trainable_variables]
        k_y = jax.jit(lambda x: k_layer.stateless_call(trainable, fixed, x)[0])(x)
        s_y = jax.jit(lambda weights, x: s_layer.pure_call(weights, x)[0])(s_layer.weight_values(), x)
        for s, k in zip(_flat(s_y), _flat(k_y), strict=True):
            assert s.shape == k.shape
            np.testing.assert_allclose(s, k, atol=1e-5, rtol=1e-5)
        return
    cotangents = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in k_shapes]
    k_y, k_grads = _keras_outputs_and_gradients(k_layer, x, cotangents)
    s_y, s_grads = _our_outputs_and_gradients(s_layer, x, cotangents)
    for s, k in zip(s_y, k_y, strict=True):
        assert s.shape == k.shape
        np.testing.assert_allclose(s, k, atol=1e-5, rtol=1e-5)
    for s, k in zip(s_grads, k_grads, strict=True):
        assert s.shape == k.shape
        np.testing.assert_allclose(s, k, atol=1e-5 * max(1.0, float(np.abs(k).max())), rtol=1e-4)


# Each option in at least one case, every rank, both data formats; gradients (Keras's take 4-5 s to compile on
# this file's budget) in the cases marked so, which between them take every option but the activations.
CASES = {
    "1d_activations_no_bias": ("ConvLSTM1D", (2, 3, 7, 2),
                               dict(filters=2, kernel_size=3, use_bias=False, activation="relu",
                                    recurrent_activation="hard_sigmoid", gradients=False)),
    "1d_sequences_state_dilated": ("ConvLSTM1D", (2, 3, 7, 2),
                                   dict(filters=2, kernel_size=2, dilation_rate=2, padding="same",
                                        return_sequences=True, return_state=True)),
    "2d_same_backwards": ("ConvLSTM2D", (2, 3, 4, 5, 2),
                          dict(filters=3, kernel_size=3, padding="same", go_backwards=True, return_sequences=True,
                               gradients=False)),
    "2d_valid_strides_state": ("ConvLSTM2D", (2, 3, 5, 6, 2),
                               dict(filters=2, kernel_size=(2, 3), strides=(2, 1), return_state=True, gradients=False)),
    "2d_channels_first": ("ConvLSTM2D", (2, 3, 2, 5, 4),
                          dict(filters=2, kernel_size=2, strides=2, data_format="channels_first",
                               return_sequences=True, return_state=True, go_backwards=True)),
    "3d_channels_first": ("ConvLSTM3D", (1, 2, 2, 3, 3, 4),
                          dict(filters=2, kernel_size=(1, 2, 2), padding="same", data_format="channels_first",
                               return_sequences=True, return_state=True)),
}


@pytest.mark.parametrize("case", CASES)
def test_outputs_and_gradients_match_keras(case):
    kind, shape, arguments = CASES[case]
    _compare(kind, shape, **arguments)


@pytest.mark.parametrize("sequences, backwards", [(True, False), (False, True)])
def test_masked_steps_keep_the_states(sequences, backwards):
    """A masked step keeps the states and repeats the last output (zeros before a row's first real step): each row
    gives what Keras's layer gives for that row's real steps alone. (Keras 3.15 masks ConvLSTMs wrongly: it
    broadcasts the (batch,) mask of a step against the states' last axes, masking spatial columns instead of
    rows, so it cannot be the oracle for masks.)"""
    shape, arguments = (3, 4, 4, 3, 2), dict(filters=2, kernel_size=2, padding="same")
    mask = np.array([[False, True, True, False], [True, True, True, True], [False, False, False, False]])
    k_layer, s_layer = _same_layers("ConvLSTM2D", shape, return_sequences=True, return_state=True, **arguments)
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype("float32")
    zeros = np.zeros(k_layer.compute_output_shape(shape)[1][1:], "float32")
    expected_sequences, expected_states = [], []
    for row in range(len(x)):
        order = list(range(shape[1]))[::-1] if backwards else list(range(shape[1]))
        real = [t for t in order if mask[row, t]]
        outputs, h, c = k_layer(x[row:row + 1, real]) if real else (None, zeros[None], zeros[None])
        last, sequence = zeros, []
        for t in order:
            if mask[row, t]:
                last = np.asarray(outputs[0, real.index(t)])
            sequence.append(last)
        expected_sequences.append(np.stack(sequence))
        expected_states.append((np.asarray(h[0]), np.asarray(c[0])))
    layer = scanfit.layers.ConvLSTM2D(return_sequences=sequences, return_state=True, go_backwards=backwards,
                                      **arguments)
    layer.build_for(shape)
    layer.set_weights(s_layer.get_weights())
    output, h, c = layer(x, mask=mask)
    expected = np.stack(expected_sequences) if sequences else np.stack(expected_sequences)[:, -1]
    np.testing.assert_allclose(np.asarray(output), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(h), np.stack([s[0] for s in expected_states]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(c), np.stack([s[1] for s in expected_states]), atol=1e-5)


def test_initial_state_matches_keras_in_a_functional_model():
    """Given (channels_first) states h and c start the scan, in a model with state inputs as in Keras."""
    def build(library):
        x = library.Input((3, 2, 4, 4))
        h, c = library.Input((2, 3, 3)), library.Input((2, 3, 3))
        layer = library.layers.ConvLSTM2D(2, 2, data_format="channels_first", return_state=True, name="conv_lstm")
        return library.Model([x, h, c], layer(x, initial_state=[h, c]))

    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=(2,) + shape).astype("float32") for shape in ((3, 2, 4, 4), (2, 3, 3), (2, 3, 3))]
    for s, k in zip(s_model(inputs), k_model(inputs), strict=True):
        np.testing.assert_allclose(np.asarray(s), np.asarray(k), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"initial state must have shape \(batch, 2, 3, 3\)"):
        s_model.layers[-1](inputs[0], initial_state=[inputs[1], inputs[2][:, :, :2]])


@pytest.mark.parametrize("data_format, merge_mode", [("channels_last", "concat"), ("channels_first", "sum")])
def test_bidirectional_matches_keras(data_format, merge_mode):
    """As in Keras, the two directions' outputs are merged on the last axis, also for channels_first."""
    shape = (3, 4, 4, 2) if data_format == "channels_last" else (3, 2, 4, 4)

    def build(library):
        layer = library.layers.ConvLSTM2D(2, 2, padding="same", data_format=data_format, return_sequences=True)
        return library.Sequential([library.Input(shape), library.layers.Bidirectional(layer, merge_mode=merge_mode)])

    k_model, s_model = build(keras), build(scanfit)
    rng = np.random.default_rng(5)
    s_model.set_weights([w + rng.normal(scale=0.1, size=w.shape).astype("float32") for w in k_model.get_weights()])
    k_model.set_weights(s_model.get_weights())
    x = rng.normal(size=(2,) + shape).astype("float32")
    np.testing.assert_allclose(np.asarray(s_model(x)), np.asarray(k_model(x)), atol=1e-5, rtol=1e-5)


def test_weight_paths_shapes_and_unit_forget_bias_are_keras_s():
    layer = scanfit.layers.ConvLSTM2D(3, (2, 3), name="c")
    layer.build_for((None, 4, 6, 6, 5))
    assert [(v.path, tuple(v.shape)) for v in layer.weights] == [
        ("c/conv_lstm_cell/kernel", (2, 3, 5, 12)), ("c/conv_lstm_cell/recurrent_kernel", (2, 3, 3, 12)),
        ("c/conv_lstm_cell/bias", (12,))]
    np.testing.assert_array_equal(layer.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_configs_equal_keras_and_round_trip():
    L, R, C = "layers", "regularizers", "constraints"
    makers = [
        lambda lib: getattr(lib, L).ConvLSTM1D(3, 2, name="a"),
        lambda lib: getattr(lib, L).ConvLSTM2D(
            4, (3, 2), strides=(1, 2), padding="same", data_format="channels_first", activation="relu",
            recurrent_activation="hard_sigmoid", use_bias=False, unit_forget_bias=False,
            kernel_regularizer=getattr(lib, R).L2(0.01), recurrent_constraint=getattr(lib, C).MaxNorm(2.0),
            dropout=0.25, recurrent_dropout=0.5, seed=7, return_sequences=True, return_state=True,
            go_backwards=True, name="b"),
        lambda lib: getattr(lib, L).ConvLSTM3D(2, 3, dilation_rate=2, stateful=True, unroll=True, name="c"),
    ]
    for make in makers:
        k_config, s_config = make(keras).get_config(), make(scanfit).get_config()
        k_config.pop("quantization_config", None)  # Keras-only, None: scanfit omits it
        assert s_config == k_config
        layer = make(scanfit)
        assert deserialize_layer(serialize_layer(layer)).get_config() == layer.get_config()


def _video_models(seed=0):
    def build(library):
        return library.Sequential([
            library.Input((3, 5, 5, 1)),
            library.layers.ConvLSTM2D(2, 3, strides=2),
            library.layers.Flatten(),
            library.layers.Dense(1),
        ])
    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 3, 5, 5, 1)).astype("float32")
    y = rng.normal(size=(12, 1)).astype("float32")
    return k_model, s_model, x, y


def test_a_model_trains_step_for_step_like_keras():
    k_model, s_model, x, y = _video_models()
    k_model.compile(keras.optimizers.Adam(0.01), "mse")
    s_model.compile(scanfit.optimizers.Adam(0.01), "mse")
    kwargs = dict(epochs=2, batch_size=4, shuffle=False, verbose=0)
    k_losses = k_model.fit(x, y, **kwargs).history["loss"]
    s_losses = s_model.fit(x, y, **kwargs).history["loss"]
    np.testing.assert_allclose(s_losses, k_losses, rtol=1e-4)
    for s, k in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(s, k, rtol=1e-4, atol=1e-5)


def test_keras_files_interchange_both_ways(tmp_path):
    """.keras, legacy .h5 and .weights.h5 files, written by either library, load in the other."""
    k_model, s_model, x, _ = _video_models(seed=1)
    for name in ("k.keras", "k.h5"):
        k_model.save(tmp_path / name)
        loaded = scanfit.models.load_model(tmp_path / name, compile=False)
        np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(k_model(x)), rtol=1e-5, atol=1e-6)
    s_model.set_weights([w + 0.1 for w in s_model.get_weights()])
    s_model.save_weights(tmp_path / "s.weights.h5")
    k_model.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(np.asarray(k_model(x)), np.asarray(s_model(x)), rtol=1e-5, atol=1e-6)
    for name in ("s.keras", "s.h5"):
        s_model.save(tmp_path / name)
        again = keras.models.load_model(tmp_path / name)
        np.testing.assert_allclose(np.asarray(again(x)), np.asarray(s_model(x)), rtol=1e-5, atol=1e-6)


def test_stateful_chunks_carry_the_states():
    """Two chunks read by a stateful (channels_first) layer give the outputs of the whole sequence at once."""
    rng = np.random.default_rng(4)
    sequence = rng.normal(size=(2, 6, 1, 4, 4)).astype("float32")
    arguments = dict(filters=2, kernel_size=2, padding="same", data_format="channels_first", return_sequences=True)
    whole = scanfit.layers.ConvLSTM2D(**arguments)
    whole.build_for(sequence.shape)
    layer = scanfit.layers.ConvLSTM2D(stateful=True, **arguments)
    inputs = scanfit.Input(batch_shape=(2, 3, 1, 4, 4))
    model = scanfit.Model(inputs, layer(inputs))
    model.set_weights(whole.get_weights())
    expected = np.asarray(whole(sequence))
    chunks = [np.asarray(model(sequence[:, :3])), np.asarray(model(sequence[:, 3:]))]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), expected, atol=1e-5)
    assert [tuple(s.shape) for s in layer.states] == [(2, 2, 4, 4)] * 2
    np.testing.assert_allclose(np.asarray(layer.states[0].value), expected[:, -1], atol=1e-5)
    layer.reset_states()
    np.testing.assert_allclose(np.asarray(model(sequence[:, :3])), expected[:, :3], atol=1e-5)


def test_dropout_masks_are_per_gate_fixed_over_time_and_off_at_inference():
    """Keras's behaviour; the masks come from scanfit's random bits, so they differ from Keras's draws."""
    shape = (4, 2, 3, 3, 2)
    k_layer, s_layer = _same_layers("ConvLSTM2D", shape, filters=2, kernel_size=2, padding="same",
                                    dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    x = jnp.ones(shape)
    weights = s_layer.weight_values()
    plain, _ = s_layer.pure_call(weights, x, training=False, rng=jax.random.PRNGKey(0))
    np.testing.assert_allclose(plain, np.asarray(k_layer(x, training=False)), atol=1e-5, rtol=1e-5)
    a, _ = s_layer.pure_call(weights, x, training=True, rng=jax.random.PRNGKey(1))
    b, _ = s_layer.pure_call(weights, x, training=True, rng=jax.random.PRNGKey(2))
    assert not np.allclose(a, plain) and not np.allclose(a, b)
    masks = s_layer._dropout_masks(True, jax.random.PRNGKey(1), (4, 3, 3, 2), (4, 3, 3, 2), jnp.float32)
    assert [m.shape for m in masks] == [(4, 4, 1, 3, 3, 2), (4, 4, 3, 3, 2)]  # one per gate, one for all steps
    assert set(np.unique(masks[0]).tolist()) == {0.0, 2.0} and not np.array_equal(masks[0][0], masks[0][1])
    # with zero kernels dropout changes nothing: the masks multiply inputs and states only
    zero_kernels = {k: (v if k.endswith("bias") else jnp.zeros_like(v)) for k, v in weights.items()}
    np.testing.assert_allclose(s_layer.pure_call(zero_kernels, x, training=True, rng=jax.random.PRNGKey(1))[0],
                               s_layer.pure_call(zero_kernels, x, training=False)[0])


def test_bad_arguments_are_refused():
    layers = scanfit.layers
    with pytest.raises(ValueError, match="filters must be a positive int"):
        layers.ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="padding must be one of"):
        layers.ConvLSTM1D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="cannot combine strides > 1 with dilation_rate > 1"):
        layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(TypeError, match="implementation"):
        layers.ConvLSTM2D(2, 3, implementation=1)
    with pytest.raises(ValueError, match="expects inputs with 5 axes"):
        layers.ConvLSTM2D(2, 3).build_for((None, 3, 8, 2))
    with pytest.raises(ValueError, match="needs known spatial dimensions"):
        layers.ConvLSTM2D(2, 3).build_for((None, 3, None, 8, 2))
    with pytest.raises(ValueError, match="too small"):
        layers.ConvLSTM1D(2, 5).build_for((None, 3, 4, 2))
