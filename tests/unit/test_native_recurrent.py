"""The native CPU time loops (scanfit.native) against the layers' XLA scan: outputs and gradients for every
option the kernels take, batch and unit counts that leave tails, vmap (Sweep), saturation and NaN; the
layers fall back to the scan when the kernels are off or cannot be built, with a warning for the latter."""
import itertools
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scanfit
from scanfit.native import recurrent as native_recurrent

LAYERS = {"LSTM": scanfit.layers.LSTM, "GRU": scanfit.layers.GRU, "SimpleRNN": scanfit.layers.SimpleRNN}
TARGETS = {"LSTM": "scanfit_LstmForward", "GRU": "scanfit_GruForward", "SimpleRNN": "scanfit_SimpleRnnForward"}


def _weights(layer, rng):
    """The layer's weights moved off their initial values (GRU's recurrent bias too)."""
    return {k: v + 0.3 * jnp.asarray(rng.normal(size=v.shape), v.dtype) for k, v in layer.weight_values().items()}


def _assert_close(a, b):
    """Equal to float32 rounding: gradients sum hundreds of terms in another order in the two loops, so the
    absolute tolerance grows with the largest value (measured against float64: both loops err by up to
    1e-6 of it)."""
    b = np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 + 5e-6 * float(np.max(np.abs(b), initial=0.0)))


def _run(layer, weights, x, mask, native, monkeypatch):
    """Outputs and gradients of a weighted sum of the outputs, with the native loop on or off."""
    with monkeypatch.context() as patch:
        if not native:
            patch.setattr(native_recurrent, "usable", lambda *args: False)

        def objective(weights, x):
            outputs, _ = layer.pure_call(weights, x, mask=mask)
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            return sum(jnp.sum(o * jnp.cos(jnp.arange(o.size).reshape(o.shape))) for o in outputs), outputs

        function = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))
        text = function.lower(weights, x).as_text()
        (_, outputs), grads = function(weights, x)
    return outputs, grads, text


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("batch,units", [(5, 1), (20, 7), (37, 16)])
def test_native_loop_matches_the_scan(kind, batch, units, monkeypatch):
    assert native_recurrent.usable("lstm", 8, jnp.float32), "the native kernels did not build here"
    rng = np.random.default_rng(batch * units)
    scanfit.utils.set_random_seed(batch * units)
    x = jnp.asarray(rng.normal(size=(batch, 9, 6)), jnp.float32)
    ragged = np.ones((batch, 9), bool)
    ragged[0, :3] = False  # front padding
    ragged[1 % batch, 6:] = False  # end padding
    ragged[2 % batch, 4] = False  # a hole
    # the half of the 16 option mixes with an even count of True: every pair of options meets in all 4 mixes
    mixes = [m for m in itertools.product((False, True), repeat=4) if sum(m) % 2 == 0]
    for return_sequences, go_backwards, masked, zero_output in mixes:
        layer = LAYERS[kind](units, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards,
                             zero_output_for_mask=zero_output)
        layer.build(x.shape)
        weights = _weights(layer, rng)
        mask = jnp.asarray(ragged) if masked else None
        native, native_grads, text = _run(layer, weights, x, mask, True, monkeypatch)
        scan, scan_grads, scan_text = _run(layer, weights, x, mask, False, monkeypatch)
        assert TARGETS[kind] in text and "scanfit_" not in scan_text
        for a, b in zip(jax.tree.leaves((native, native_grads)), jax.tree.leaves((scan, scan_grads)), strict=True):
            _assert_close(a, b)


def test_gru_without_bias_and_lstm_without_forget_bias(monkeypatch):
    rng = np.random.default_rng(3)
    scanfit.utils.set_random_seed(3)
    x = jnp.asarray(rng.normal(size=(16, 7, 3)), jnp.float32)
    for layer in (scanfit.layers.GRU(5, use_bias=False), scanfit.layers.LSTM(5, unit_forget_bias=False),
                  scanfit.layers.SimpleRNN(5, use_bias=False)):
        layer.build(x.shape)
        weights = _weights(layer, rng)
        native = _run(layer, weights, x, None, True, monkeypatch)
        scan = _run(layer, weights, x, None, False, monkeypatch)
        assert "scanfit_" in native[2]
        for a, b in zip(jax.tree.leaves(native[:2]), jax.tree.leaves(scan[:2]), strict=True):
            _assert_close(a, b)


def test_settings_the_kernels_do_not_compute_run_the_scan(monkeypatch):
    x = jnp.ones((4, 3, 2), jnp.float32)
    for layer in (scanfit.layers.LSTM(3, activation="relu"), scanfit.layers.GRU(3, reset_after=False),
                  scanfit.layers.SimpleRNN(3, activation="relu"), scanfit.layers.LSTM(3, unroll=True),
                  scanfit.layers.GRU(3, recurrent_activation="hard_sigmoid"), scanfit.layers.LSTM(32),
                  scanfit.layers.GRU(40), scanfit.layers.SimpleRNN(20)):
        layer.build(x.shape)
        assert "scanfit_" not in jax.jit(lambda w: layer.pure_call(w, x)[0]).lower(layer.weight_values()).as_text()
    dropped = scanfit.layers.LSTM(3, recurrent_dropout=0.5)
    dropped.build(x.shape)
    training = jax.jit(lambda w: dropped.pure_call(w, x, training=True, rng=jax.random.PRNGKey(0))[0])
    assert "scanfit_" not in training.lower(dropped.weight_values()).as_text()
    inference = jax.jit(lambda w: dropped.pure_call(w, x, training=False)[0])
    assert "scanfit_LstmForward" in inference.lower(dropped.weight_values()).as_text()


def test_vmapped_loops_equal_one_at_a_time():
    """Sweep vmaps a model over its runs: each run's outputs and gradients are its own."""
    rng = np.random.default_rng(4)
    scanfit.utils.set_random_seed(4)
    x = jnp.asarray(rng.normal(size=(11, 8, 3)), jnp.float32)
    mask = jnp.asarray(rng.random((11, 8)) > 0.25)
    for kind in LAYERS:
        layer = LAYERS[kind](6, return_sequences=True)
        layer.build(x.shape)
        runs = [_weights(layer, rng) for _ in range(3)]
        stacked = jax.tree.map(lambda *v: jnp.stack(v), *runs)

        def loss(weights):
            return jnp.sum(jnp.sin(layer.pure_call(weights, x, mask=mask)[0]))

        together = jax.jit(jax.vmap(jax.value_and_grad(loss)))(stacked)
        for i, weights in enumerate(runs):
            alone = jax.jit(jax.value_and_grad(loss))(weights)
            for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(together), strict=True):
                np.testing.assert_allclose(a, b[i], rtol=1e-5, atol=1e-5)


def test_saturation_and_nan():
    """Large pre-activations saturate the gates as exactly as tanh and sigmoid do; a NaN input stays NaN."""
    layer = scanfit.layers.LSTM(2, kernel_initializer="ones", recurrent_initializer="zeros", unit_forget_bias=False)
    layer.build((3, 1, 1))
    x = jnp.asarray([[[1000.0]], [[-1000.0]], [[jnp.nan]]], jnp.float32)
    h = np.asarray(layer.pure_call(layer.weight_values(), x)[0])
    np.testing.assert_allclose(h[0], np.tanh(1.0), rtol=1e-6)  # i = o = 1, g = 1: h = tanh(c = 1)
    np.testing.assert_array_equal(h[1], 0.0)  # i = o = 0
    assert np.isnan(h[2]).all()


def test_a_text_model_trains_with_the_native_loops():
    """fit compiles the kernels into the epoch program and the model learns the memory task."""
    rng = np.random.default_rng(5)
    x = rng.integers(1, 20, size=(640, 12))
    y = (x[:, 1] > 10).astype("float32")
    scanfit.utils.set_random_seed(5)
    model = scanfit.Sequential([scanfit.layers.Input((12,)), scanfit.layers.Embedding(20, 8),
                                scanfit.layers.GRU(16), scanfit.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=12, verbose=0)
    assert history.history["accuracy"][-1] > 0.95


def _python(code, **env):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env={**os.environ, **env}, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


FALLBACK = """
    import warnings
    import numpy as np
    import jax.numpy as jnp
    import scanfit
    from scanfit.native import recurrent as native_recurrent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        usable = native_recurrent.usable("lstm", 3, jnp.float32)
    layer = scanfit.layers.LSTM(3, kernel_initializer="ones", recurrent_initializer="identity")
    layer.build((2, 4, 1))
    x = jnp.asarray(np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4, 1))
    output = np.asarray(layer.pure_call(layer.weight_values(), x)[0]).tolist()
    print(repr((usable, [str(w.message) for w in caught], output)))
"""


def _reference_output():
    layer = scanfit.layers.LSTM(3, kernel_initializer="ones", recurrent_initializer="identity")
    layer.build((2, 4, 1))
    x = jnp.asarray(np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4, 1))
    return np.asarray(layer.pure_call(layer.weight_values(), x)[0])


def test_switched_off_kernels_leave_the_scan(tmp_path):
    out = _python(FALLBACK, SCANFIT_NATIVE_KERNELS="0", SCANFIT_CACHE_DIR=str(tmp_path)).stdout
    usable, messages, output = eval(out)  # noqa: S307 - our own subprocess's printed literals
    assert usable is False and messages == []
    np.testing.assert_allclose(output, _reference_output(), rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "native").exists()


def test_a_failed_build_warns_and_leaves_the_scan(tmp_path):
    out = _python(FALLBACK, CXX="false", SCANFIT_CACHE_DIR=str(tmp_path)).stdout
    usable, messages, output = eval(out)  # noqa: S307
    assert usable is False
    assert len(messages) == 1 and "could not build its native recurrent kernels" in messages[0]
    np.testing.assert_allclose(output, _reference_output(), rtol=1e-5, atol=1e-6)


def test_the_library_is_built_once_per_cache(tmp_path):
    script = """
        import jax.numpy as jnp
        from pathlib import Path
        from scanfit.native import recurrent as native_recurrent
        assert native_recurrent.usable("lstm", 8, jnp.float32)
        [library] = Path(r"{root}").glob("native/*/recurrent.so")
        print(library.stat().st_mtime_ns)
    """.format(root=tmp_path)
    first = _python(script, SCANFIT_CACHE_DIR=str(tmp_path)).stdout
    second = _python(script, SCANFIT_CACHE_DIR=str(tmp_path)).stdout
    assert first == second
