"""How the programs are compiled (`scanfit.engine.compiling`): for the run's length, and ahead of time."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import scanfit
from scanfit.engine import compiling


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)).astype("float32"), rng.integers(0, 3, size=n)


def _model(seed=1):
    scanfit.utils.set_random_seed(seed)
    model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(16, activation="relu"),
                                scanfit.layers.Dropout(0.2), scanfit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _compiled(program):
    """(short-run versions, default versions) compiled of a `compiling.Program`."""
    return program.short._cache_size(), program.default._cache_size()


def test_run_length_picks_the_short_run_program_up_to_the_threshold():
    program = compiling.Program(lambda x, batch_sharding: x * 2)
    assert program.short is not program.default  # on CPU, a second jit with the faster-compiling emitters
    with compiling.run_length(compiling.SHORT_RUN_SAMPLES):
        assert program.jitted is program.short
        with compiling.run_length(None):  # unknown length: taken as long
            assert program.jitted is program.default
        assert program.jitted is program.short
    with compiling.run_length(compiling.SHORT_RUN_SAMPLES + 1):
        assert program.jitted is program.default
    assert program.jitted is program.default  # outside any run
    with compiling.run_length(3):
        assert float(program(jnp.float32(2.0))) == 4.0
    assert _compiled(program) == (1, 0)


def test_a_short_fit_compiles_for_a_short_run_and_a_long_fit_for_speed():
    x, y = _data(700)
    model = _model()
    model.fit(x[:200], y[:200], epochs=2, batch_size=32, validation_data=(x[200:300], y[200:300]), verbose=0)
    model.evaluate(x[300:450], y[300:450], verbose=0)
    model.predict(x[:50], verbose=0)
    programs = model.trainer.programs
    assert _compiled(programs.train_epoch) == (1, 0)
    assert _compiled(programs.evaluate) == (2, 0)  # validation: 4 batches of 32; evaluate: 5, padded to 8
    assert _compiled(model.predict_function) == (1, 0)

    model.fit(x, y, epochs=6, batch_size=32, validation_data=(x[:100], y[:100]), verbose=0)  # 4,200 sample passes
    assert _compiled(programs.train_epoch) == (1, 1)
    assert _compiled(programs.evaluate) == (2, 0)  # 600 validation passes: still short, and compiled already
    model.evaluate(np.tile(x, (6, 1)), np.tile(y, 6), verbose=0)  # 4,200 samples
    assert _compiled(programs.evaluate) == (2, 1)


def _blocks(widths):
    """Dense-BatchNormalization-ReLU blocks of these widths on 8 inputs, then a 3-way softmax."""
    layers = [scanfit.Input((8,))]
    for width in widths:
        layers += [scanfit.layers.Dense(width), scanfit.layers.BatchNormalization(), scanfit.layers.ReLU()]
    return scanfit.Sequential(layers + [scanfit.layers.Dense(3, activation="softmax")])


def test_a_model_repeats_its_layers_when_at_most_half_of_them_are_distinct():
    assert not compiling.repeats_layers(_model().weights)  # 2 layers, both distinct
    assert not compiling.repeats_layers([])
    # Dense 8x16, Dense 16x16 four times, BatchNormalization(16) five times, Dense 16x3: 4 kinds of 11 layers
    assert compiling.repeats_layers(_blocks([16] * 5).weights)
    # 2 blocks: Dense 8x16, Dense 16x16, BatchNormalization(16) twice, Dense 16x3: 4 kinds of 5 layers
    assert not compiling.repeats_layers(_blocks([16, 16]).weights)
    assert not compiling.repeats_layers(_blocks([16, 24, 32, 40, 48]).weights)  # every layer distinct


def test_a_short_run_of_a_model_that_repeats_its_layers_compiles_with_xla_s_defaults():
    x, y = _data(200)
    model = _blocks([16] * 5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0)
    model.predict(x[:10], verbose=0)
    programs = model.trainer.programs
    assert _compiled(programs.train_epoch) == (0, 1)
    assert _compiled(programs.evaluate) == (0, 1)
    assert _compiled(model.predict_function) == (0, 1)
    program = compiling.Program(lambda x, batch_sharding: x * 2)
    with compiling.run_length(100, model):
        assert compiling.is_short_run() and program.jitted is program.default  # (short: evaluation still pads)
    with compiling.run_length(100, _model()):
        assert program.jitted is program.short


def test_both_ways_of_compiling_train_to_the_same_weights_and_logs(monkeypatch):
    x, y = _data(300)
    results = []
    for threshold in (10**9, 0):  # every program compiled for a short run, then every one for a long run
        monkeypatch.setattr(compiling, "SHORT_RUN_SAMPLES", threshold)
        model = _model()
        history = model.fit(x[:240], y[:240], epochs=3, batch_size=32, validation_data=(x[240:], y[240:]),
                            verbose=0)
        results.append((model.get_weights(), history.history, model.predict(x[240:], verbose=0)))
    (weights_short, logs_short, outputs_short), (weights_long, logs_long, outputs_long) = results
    for short, long in zip(weights_short, weights_long):
        np.testing.assert_allclose(short, long, rtol=1e-6, atol=1e-7)
    for key in logs_long:
        np.testing.assert_allclose(logs_short[key], logs_long[key], rtol=1e-6)
    np.testing.assert_allclose(outputs_short, outputs_long, rtol=1e-6, atol=1e-7)


def test_the_optimizer_state_comes_from_the_weights_the_first_epoch_starts_from():
    """The state is made ahead, on another thread; a callback that sets the weights before the first epoch
    must still get a state made from its weights (this transform's state is a copy of them)."""
    def init(params):
        return jax.tree.map(jnp.copy, params)

    def update(updates, state, params):  # moves the weights back to those the state was made from
        return jax.tree.map(lambda kept, now: kept - now, state, params), state

    class SetWeights(scanfit.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model.set_weights([np.full_like(w, 0.5) for w in self.model.get_weights()])

    x, y = _data(64)
    model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(2)])
    model.compile(optimizer=optax.GradientTransformation(init, update), loss="mse")
    model.fit(x, np.zeros((64, 2), "float32"), epochs=1, batch_size=32, verbose=0, callbacks=[SetWeights()])
    for weight in model.get_weights():
        np.testing.assert_array_equal(weight, np.full_like(weight, 0.5))


def test_a_fit_with_validation_compiles_each_program_once():
    x, y = _data(300)
    model = _model()
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=0)
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=0)
    programs = model.trainer.programs
    assert sum(_compiled(programs.train_epoch)) == 1
    assert sum(_compiled(programs.evaluate)) == 1
    assert sum(_compiled(programs.train_chunk)) == 0


_FIRST_FIT = """
import jax, numpy as np
compiles = []
def record(name, seconds, **info):
    if name.endswith("backend_compile_duration"):
        compiles.append(info["fun_name"])
jax.monitoring.register_event_duration_secs_listener(record)
import scanfit
x, y = np.random.default_rng(0).normal(size=(200, 8)).astype("float32"), np.arange(200) % 3
model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=1, batch_size=32, verbose=0)
print(" ".join(compiles))
"""


def test_a_first_fit_compiles_only_the_epoch_and_the_optimizer_state():
    """In a fresh process, nothing on fit's path compiles an eager program of its own (a metric's zeros
    or the learning rate put into the optimizer state each did, before the epoch program's compile); on CPU,
    the process's first program also asks XLA once whether it knows scanfit's CPU options."""
    env = {**os.environ, "SCANFIT_COMPILATION_CACHE": "0", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", _FIRST_FIT], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.split()) == ["jit(_empty_program)", "jit(_train_epoch)", "jit(init_fn)"]


def test_cpu_programs_keep_matrix_products_out_of_library_fusions():
    """Long-run and short-run programs on CPU compile their products with XLA's own dot (YNNPACK's ran the
    seed MLP's slower); a sweep's programs too."""
    kernel, inputs = jnp.ones((784, 100)), jnp.ones((32, 784))
    program = compiling.Program(lambda x, w, batch_sharding: jax.nn.relu(x @ w))
    for sample_passes in (None, 100):
        with compiling.run_length(sample_passes):
            text = program.lower(inputs, kernel).compile().as_text()
        assert "dot(" in text or "dot_general" in text
        assert "ynn_fusion" not in text
    assert "ynn_fusion" not in compiling.jit_long(lambda x, w: x @ w).lower(inputs, kernel).compile().as_text()


def test_library_fusions_chosen_in_xla_flags_are_left_to_stand(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot")
    compiling.cpu_options.cache_clear()
    try:
        assert compiling.cpu_options() == {} and compiling.long_run_options() is None
    finally:
        monkeypatch.undo()
        compiling.cpu_options.cache_clear()
    assert compiling.cpu_options() == compiling.CPU_LIBRARY_FUSIONS


def test_a_compiler_without_the_cpu_options_compiles_with_its_defaults(monkeypatch):
    monkeypatch.setattr(compiling, "CPU_LIBRARY_FUSIONS", {"xla_cpu_no_such_option": "x"})
    compiling.cpu_options.cache_clear()
    try:
        assert compiling.cpu_options() == {}
        assert compiling.short_run_options() == compiling.SHORT_RUN_OPTIONS
        x, y = _data(64)
        model = _model()
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
    finally:
        compiling.cpu_options.cache_clear()


def test_a_compile_error_ahead_of_the_call_is_raised_by_the_call():
    def failing_compile():
        raise RuntimeError("compile failed")

    program = compiling.Program(lambda x, batch_sharding: x)
    program.compiling.append(compiling.in_background(failing_compile))
    with pytest.raises(RuntimeError, match="compile failed"):
        program(jnp.zeros(3, jnp.float32))
    assert program.compiling == []
    assert float(program(jnp.ones(1, jnp.float32))[0]) == 1.0


def test_in_a_short_run_evaluations_of_similar_size_share_one_program_and_count_only_real_samples(monkeypatch):
    x, y = _data(400)
    weights = np.linspace(0.0, 2.0, 400).astype("float32")
    scanfit.utils.set_random_seed(2)
    model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(16, activation="relu", kernel_regularizer="l2"),
                                scanfit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    history = model.fit(x[:200], y[:200], epochs=2, batch_size=32, validation_data=(x[200:300], y[200:300]),
                        verbose=0)
    short = model.evaluate(x[300:], y[300:], sample_weight=weights[300:], verbose=0)
    # 100 validation and 100 test samples are 4 batches of 32 padded to 128 samples: one program
    assert _compiled(model.trainer.programs.evaluate) == (1, 0)
    monkeypatch.setattr(compiling, "SHORT_RUN_SAMPLES", 0)
    long = model.evaluate(x[300:], y[300:], sample_weight=weights[300:], verbose=0)
    np.testing.assert_allclose(short, long, rtol=1e-6)
    validation = model.evaluate(x[200:300], y[200:300], verbose=0)
    np.testing.assert_allclose(validation[0], history.history["val_loss"][-1], rtol=1e-6)


def test_repeated_fit_calls_compile_the_epoch_ahead_once_per_shape(monkeypatch):
    lowered = []
    original = compiling.Program.lower
    monkeypatch.setattr(compiling.Program, "lower", lambda self, *a, **k: lowered.append(1) or original(self, *a, **k))
    model = _model()
    x, y = _data(64)
    for _ in range(3):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert len(lowered) == 1
    model.fit(x[:48], y[:48], batch_size=16, epochs=1, verbose=0)  # another data shape: compiled ahead anew
    assert len(lowered) == 2
