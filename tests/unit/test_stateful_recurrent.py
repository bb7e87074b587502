"""Stateful recurrent layers (``stateful=True``, Hands-on ML's stateful char-RNN): every forward pass starts from
the states the last one left, in eager calls, predict, evaluate and fit, until `reset_states`.

Oracles: a long sequence cut into consecutive chunks, one chunk per batch, gives the outputs of the whole
sequence run at once by a layer that is not stateful; training equals a hand-written JAX loop that carries the
final states into the next batch (Keras 3 on JAX does not carry them in `fit` or `predict`, so it cannot serve).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scanfit as keras
from scanfit import Sweep

BATCH, STEPS = 2, 4
RNG = np.random.default_rng(5)
SEQUENCES = RNG.normal(size=(BATCH, 3 * STEPS, 2)).astype("float32")  # two sequences, three chunks each


def _chunks(sequences):
    """The chunks as samples, in the order a stateful fit reads them: chunk 0 of every sequence, then chunk 1..."""
    return np.concatenate([sequences[:, k * STEPS:(k + 1) * STEPS] for k in range(sequences.shape[1] // STEPS)])


def _model(kind, stateful, steps=STEPS, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(batch_shape=(BATCH, steps, 2))
    layer = getattr(keras.layers, kind)(3, stateful=stateful, return_sequences=True)
    return keras.Model(inputs, keras.layers.Dense(1)(layer(inputs))), layer


def _unchunk(outputs):
    """Chunk outputs (chunk-major samples) back into whole sequences."""
    return np.concatenate(np.split(np.asarray(outputs), len(outputs) // BATCH), axis=1)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_chunks_carry_the_states_in_predict_evaluate_and_calls(kind):
    whole, _ = _model(kind, False, steps=3 * STEPS)
    expected = whole.predict(SEQUENCES, batch_size=BATCH, verbose=0)
    model, layer = _model(kind, True)
    model.set_weights(whole.get_weights())
    assert len(model.weights) == len(whole.weights) and model.count_params() == whole.count_params()
    chunks = _chunks(SEQUENCES)
    np.testing.assert_allclose(_unchunk(model.predict(chunks, batch_size=BATCH, verbose=0)), expected, atol=1e-6)
    model.reset_states()
    parts = [model.predict(chunks[i:i + BATCH], batch_size=BATCH, verbose=0) for i in range(0, len(chunks), BATCH)]
    np.testing.assert_allclose(_unchunk(np.concatenate(parts)), expected, atol=1e-6)  # one predict call per chunk
    layer.reset_states()
    called = [np.asarray(model(chunks[i:i + BATCH])) for i in range(0, len(chunks), BATCH)]
    np.testing.assert_allclose(_unchunk(np.concatenate(called)), expected, atol=1e-6)
    assert len(layer.states) == (2 if kind == "LSTM" else 1) and layer.states[0].shape == (BATCH, 3)
    layer.reset_state()
    np.testing.assert_array_equal(layer.states[0].value, 0)
    targets = RNG.normal(size=(BATCH, 3 * STEPS, 1)).astype("float32")
    whole.compile("sgd", "mse")
    model.compile("sgd", "mse")
    loss = model.evaluate(chunks, _chunks(targets), batch_size=BATCH, verbose=0)
    assert loss == pytest.approx(whole.evaluate(SEQUENCES, targets, batch_size=BATCH, verbose=0), rel=1e-5)
    model.reset_states()  # batch by batch (a callback with batch hooks) carries them too
    hooked = model.evaluate(chunks, _chunks(targets), batch_size=BATCH, verbose=0,
                            callbacks=[keras.callbacks.LambdaCallback(on_test_batch_end=lambda batch, logs: None)])
    assert hooked == pytest.approx(loss, rel=1e-6)


def _hand_written_fit(weights, x, y, epochs, learning_rate, reset_each_epoch):
    """SGD on SimpleRNN(3) + Dense(1) (mean squared error on the last output), batch by batch in order, each batch
    starting from the states the one before ended with. Returns (weights, per-epoch mean losses)."""
    def loss_of(params, xb, yb, h):
        kernel, recurrent, bias, dense, dense_bias = params
        for t in range(xb.shape[1]):
            h = jnp.tanh(xb[:, t] @ kernel + h @ recurrent + bias)
        return jnp.mean((h @ dense + dense_bias - yb) ** 2), h

    params, h, losses = [jnp.asarray(w) for w in weights], jnp.zeros((BATCH, 3)), []
    for _ in range(epochs):
        if reset_each_epoch:
            h = jnp.zeros((BATCH, 3))
        total = 0.0
        for start in range(0, len(x), BATCH):
            batch = slice(start, start + BATCH)
            (loss, h), grads = jax.value_and_grad(loss_of, has_aux=True)(params, x[batch], y[batch], h)
            params = [p - learning_rate * g for p, g in zip(params, grads)]
            total += float(loss)
        losses.append(total / (len(x) // BATCH))
    return params, losses


class ResetStatesCallback(keras.callbacks.Callback):
    """Hands-on ML's: each epoch starts from zero states."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_states()


@pytest.mark.parametrize("reset, hooks", [(False, False), (True, False), (False, True)])
def test_fit_carries_the_states_like_a_hand_written_loop(reset, hooks):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(batch_shape=(BATCH, STEPS, 2)), keras.layers.SimpleRNN(3, stateful=True),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = _chunks(SEQUENCES)
    y = RNG.normal(size=(len(x), 1)).astype("float32")
    expected_weights, expected_losses = _hand_written_fit(model.get_weights(), x, y, 3, 0.1, reset)
    callbacks = [ResetStatesCallback()] if reset else []
    if hooks:  # a callback with batch hooks: the epoch runs batch by batch
        callbacks.append(keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: None))
    history = model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, callbacks=callbacks)
    np.testing.assert_allclose(history.history["loss"], expected_losses, rtol=1e-5)
    for weight, expected in zip(model.get_weights(), expected_weights):
        np.testing.assert_allclose(weight, expected, atol=1e-5)


def test_validation_goes_on_from_the_training_states_and_the_next_epoch_from_validation():
    model, layer = _model("GRU", True)
    model.compile(keras.optimizers.SGD(0.0), "mse")  # no learning: only the states move
    x, y = _chunks(SEQUENCES), np.zeros((3 * BATCH, STEPS, 1), np.float32)
    history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, validation_data=(x[:BATCH],
                                                                                                    y[:BATCH]))
    after = np.asarray(layer.states[0].value)
    whole, _ = _model("GRU", False, steps=STEPS * 8)
    whole.set_weights(model.get_weights())
    # the states ran through: chunks 0, 1, 2 (epoch 1), chunk 0 (validation), chunks 0, 1, 2, chunk 0
    path = np.concatenate([SEQUENCES, SEQUENCES[:, :STEPS], SEQUENCES, SEQUENCES[:, :STEPS]], axis=1)
    steps = keras.Model(whole.inputs, whole.layers[1].output)
    np.testing.assert_allclose(after, steps.predict(path, batch_size=BATCH, verbose=0)[:, -1], atol=1e-5)
    assert history.history["val_loss"][0] != history.history["val_loss"][1]  # validated from other states


def test_states_are_not_weights_nor_saved_and_the_config_keeps_stateful(tmp_path):
    model, layer = _model("LSTM", True)
    model.predict(_chunks(SEQUENCES), batch_size=BATCH, verbose=0)
    assert np.abs(np.asarray(layer.states[0].value)).sum() > 0
    assert all("state" not in variable.path for variable in model.weights)
    model.save(tmp_path / "stateful.keras")
    loaded = keras.models.load_model(tmp_path / "stateful.keras")
    loaded_layer = loaded.layers[1]
    assert loaded_layer.stateful and loaded_layer.get_config()["stateful"] is True
    np.testing.assert_array_equal(loaded_layer.states[0].value, 0)  # Keras does not save states either
    model.reset_states()
    np.testing.assert_allclose(loaded.predict(_chunks(SEQUENCES), batch_size=BATCH, verbose=0),
                               model.predict(_chunks(SEQUENCES), batch_size=BATCH, verbose=0), atol=1e-6)


def test_a_backup_resumes_with_the_states(tmp_path):
    x, y = _chunks(SEQUENCES), RNG.normal(size=(3 * BATCH, STEPS, 1)).astype("float32")

    def run(folder, callbacks=()):
        model, layer = _model("SimpleRNN", True, seed=3)
        model.compile("adam", "mse")
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / folder))
        history = model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                            callbacks=[backup, *callbacks])
        return model, layer, history

    reference, reference_layer, reference_history = run("reference")

    class Crash(Exception):
        pass

    class CrashAtEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise Crash

    with pytest.raises(Crash):
        run("backup", [CrashAtEpoch2()])
    model, layer, history = run("backup")
    assert history.history["loss"] == reference_history.history["loss"]
    np.testing.assert_array_equal(layer.states[0].value, reference_layer.states[0].value)
    for weight, expected in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(weight, expected)


def test_what_a_stateful_layer_cannot_take_is_refused_clearly():
    with pytest.raises(ValueError, match="batch size must be fixed.*batch_shape"):
        keras.Sequential([keras.Input((STEPS, 2)), keras.layers.LSTM(3, stateful=True)])
    old_style = keras.Sequential([keras.layers.GRU(3, stateful=True, batch_input_shape=[BATCH, None, 2])])
    assert old_style.layers[0].states[0].shape == (BATCH, 3)
    model, _ = _model("SimpleRNN", True)
    model.compile("sgd", "mse")
    x, y = _chunks(SEQUENCES), np.zeros((3 * BATCH, STEPS, 1), np.float32)
    with pytest.raises(ValueError, match="batches of 2 samples .* fit was given 6 samples in batches of 3"):
        model.fit(x, y, batch_size=3, verbose=0)
    with pytest.raises(ValueError, match="predict was given 5 samples"):
        model.predict(x[:5], batch_size=BATCH, verbose=0)
    with pytest.raises(ValueError, match="evaluate was given 6 samples in batches of 32"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="validation was given 1 samples"):
        model.fit(x, y, batch_size=BATCH, verbose=0, validation_data=(x[:1], y[:1]))
    with pytest.raises(ValueError, match="stateful with batch size 2, but got a batch of 1"):
        model(x[:1])
    with pytest.raises(ValueError, match="Bidirectional cannot wrap the stateful layer"):
        keras.layers.Bidirectional(keras.layers.LSTM(3, stateful=True))
    with pytest.raises(ValueError, match="RNN\\(stateful=True\\) is not supported"):
        keras.layers.RNN(keras.layers.LSTMCell(3), stateful=True)
    with pytest.raises(ValueError, match="stateful layers, whose states a Sweep does not carry"):
        Sweep(lambda seed: _compiled(seed), [{"seed": 0}]).fit(x, y, batch_size=BATCH, verbose=0)


def _compiled(seed):
    model, _ = _model("SimpleRNN", True, seed=seed)
    model.compile("sgd", "mse")
    return model
