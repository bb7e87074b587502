"""Small parts of Keras 3's namespace, each checked against Keras 3 (the oracle): the logging, traceback and
flash-attention switches of `keras.config`, `ProgbarLogger`, `split_dataset`, `standardize_dtype`, `Config`,
`name_scope`, `device`, `dtype_policies` and the California housing loader."""
import logging
import traceback
import types

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from absl import logging as absl_logging

import scanfit
from scanfit.datasets import _source

X = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
Y = X.sum(axis=1, keepdims=True)


# --- keras.config switches --------------------------------------------------------------------------------


def both_configs():
    return [(keras.config, scanfit.config), (keras.utils, scanfit.utils)]


def test_interactive_logging_switch_reads_as_in_keras():
    try:
        for theirs, ours in both_configs():
            assert ours.is_interactive_logging_enabled() is theirs.is_interactive_logging_enabled() is True
            theirs.disable_interactive_logging()
            ours.disable_interactive_logging()
            assert ours.is_interactive_logging_enabled() is theirs.is_interactive_logging_enabled() is False
            theirs.enable_interactive_logging()
            ours.enable_interactive_logging()
            assert ours.is_interactive_logging_enabled() is theirs.is_interactive_logging_enabled() is True
    finally:
        keras.config.enable_interactive_logging()
        scanfit.config.enable_interactive_logging()


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


@pytest.fixture
def absl_records():
    """The INFO records absl logging receives while the test runs (absl shows INFO once its verbosity allows)."""
    handler, logger, verbosity = Records(), logging.getLogger("absl"), absl_logging.get_verbosity()
    logger.addHandler(handler)
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        absl_logging.set_verbosity(verbosity)


def fit_quietly(library, capsys, records, **fit_options):
    """What `library`'s fit (2 epochs, verbose=2, EarlyStopping that stops at epoch 2) writes to stdout and
    to absl logging with interactive logging off."""
    model = library.Sequential([library.Input((3,)), library.layers.Dense(1)])
    model.compile("sgd", "mse")
    stop = library.callbacks.EarlyStopping(monitor="loss", min_delta=100.0, patience=0, verbose=1)
    library.config.disable_interactive_logging()
    try:
        capsys.readouterr()
        records.clear()
        model.fit(X, Y, epochs=2, batch_size=4, verbose=2, callbacks=[stop], **fit_options)
        return capsys.readouterr().out, [message for level, message in records if level == logging.INFO]
    finally:
        library.config.enable_interactive_logging()


def test_with_interactive_logging_off_fit_logs_its_lines_with_absl_as_keras_does(capsys, absl_records):
    theirs_out, theirs = fit_quietly(keras, capsys, absl_records)
    ours_out, ours = fit_quietly(scanfit, capsys, absl_records)
    assert theirs_out == ours_out == ""
    # The same records in the same order: each epoch's header, its line of logs, then EarlyStopping's message.
    # (The epoch lines themselves differ as the interactive ones do: scanfit prints tf.keras 2's format.)
    assert [m for m in ours if not m.startswith("2/2")] == [m for m in theirs if not m.startswith("2/2")] == [
        "Epoch 1/2", "Epoch 2/2", "Epoch 2: early stopping"]
    assert [i for i, m in enumerate(ours) if m.startswith("2/2") and "loss: " in m] == [1, 3]
    assert [i for i, m in enumerate(theirs) if m.startswith("2/2") and "loss: " in m] == [1, 3]


def test_with_interactive_logging_off_evaluate_predict_and_summary_log_instead_of_printing(capsys, absl_records):
    model = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(1, name="d")], name="net")
    model.compile("sgd", "mse")
    scanfit.config.disable_interactive_logging()
    try:
        capsys.readouterr()
        model.evaluate(X, Y, verbose=1)
        model.predict(X, verbose=1)
        model.summary()
        assert capsys.readouterr().out == ""
    finally:
        scanfit.config.enable_interactive_logging()
    assert absl_records[0][1].startswith("1/1 [") and "loss: " in absl_records[0][1]
    assert absl_records[1][1].startswith("1/1 [")
    assert absl_records[2][1] == 'Model: "net"'
    assert all("\n" not in message and "\r" not in message for _, message in absl_records)
    absl_records.clear()
    model.evaluate(X, Y, verbose=1)  # on again: the bar goes to stdout
    assert "loss: " in capsys.readouterr().out and absl_records == []


def test_with_interactive_logging_off_a_sweep_logs_its_epoch_lines(capsys, absl_records):
    def build(units):
        model = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(units), scanfit.layers.Dense(1)])
        model.compile("sgd", "mse")
        return model

    scanfit.config.disable_interactive_logging()
    try:
        capsys.readouterr()
        scanfit.Sweep(build, [{"units": 2}, {"units": 3}]).fit(X, Y, epochs=1, verbose=1)
        assert capsys.readouterr().out == ""
    finally:
        scanfit.config.enable_interactive_logging()
    messages = [message for _, message in absl_records]
    assert messages[0].startswith("Epoch 1/1 - 2 runs - ") and messages[1].startswith("  [0] units=2: loss: ")


def test_traceback_filtering_switch_reads_as_in_keras_and_sets_jax_filtering():
    def frames_of_a_jax_error():
        try:
            jax.jit(lambda x: x.reshape(7))(jnp.ones(3))
        except TypeError as error:
            return len(traceback.extract_tb(error.__traceback__))
        raise AssertionError("the reshape should fail")

    before = jax.config.jax_traceback_filtering
    try:
        assert scanfit.config.is_traceback_filtering_enabled() is keras.config.is_traceback_filtering_enabled()
        filtered = frames_of_a_jax_error()
        keras.config.disable_traceback_filtering()
        scanfit.config.disable_traceback_filtering()
        assert scanfit.config.is_traceback_filtering_enabled() is keras.config.is_traceback_filtering_enabled() is False
        assert jax.config.jax_traceback_filtering == "off"
        assert frames_of_a_jax_error() > filtered  # JAX's own frames are shown now
        keras.config.enable_traceback_filtering()
        scanfit.config.enable_traceback_filtering()
        assert scanfit.config.is_traceback_filtering_enabled() is keras.config.is_traceback_filtering_enabled() is True
        assert frames_of_a_jax_error() == filtered
    finally:
        keras.config.enable_traceback_filtering()
        jax.config.update("jax_traceback_filtering", before)


def test_flash_attention_switch_reads_as_in_keras_and_attention_layers_accept_dropout_either_way():
    try:
        for switch in (None, "disable_flash_attention", "enable_flash_attention"):
            if switch:
                getattr(keras.config, switch)()
                getattr(scanfit.config, switch)()
            assert scanfit.config.is_flash_attention_enabled() is keras.config.is_flash_attention_enabled()
            # Keras refuses dropout only where flash attention is switched on for the layer, which neither
            # state of the global switch does (None lets the op decide; XLA's attention on this machine).
            keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
            scanfit.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
    finally:
        keras.config.enable_flash_attention()
        scanfit.config.enable_flash_attention()
    assert scanfit.config.is_nnx_enabled() is keras.config.is_nnx_enabled() is False


# --- callbacks ------------------------------------------------------------------------------------------


def fit_lines(library, capsys, callbacks, verbose=2):
    model = library.Sequential([library.Input((3,)), library.layers.Dense(1)])
    model.compile("sgd", "mse")
    capsys.readouterr()
    model.fit(X, Y, epochs=2, batch_size=4, verbose=verbose, callbacks=callbacks)
    return capsys.readouterr().out.splitlines()


def test_a_progbar_logger_passed_to_fit_does_not_add_a_second_display(capsys):
    for library in (keras, scanfit):
        plain = fit_lines(library, capsys, [])
        given = fit_lines(library, capsys, [library.callbacks.ProgbarLogger()])
        assert len(given) == len(plain) == 4
        assert [line for line in given if line.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
        assert fit_lines(library, capsys, [library.callbacks.ProgbarLogger()], verbose=0) == []
    assert isinstance(scanfit.callbacks.ProgbarLogger(), scanfit.callbacks.Callback)


# --- keras.utils ----------------------------------------------------------------------------------------


@pytest.fixture
def keras_split(monkeypatch):
    """Keras's split_dataset without TensorFlow: a stand-in for ``tf.data.Dataset.from_tensor_slices`` that hands
    back the structure Keras builds, so its choice of samples is the oracle."""
    from keras.src.utils import module_utils

    class Slices:
        def __init__(self, structure):
            self.structure = structure

        def prefetch(self, _):
            return self

    class Dataset:
        from_tensor_slices = Slices

    monkeypatch.setattr(module_utils, "tensorflow", types.SimpleNamespace(
        data=types.SimpleNamespace(Dataset=Dataset, AUTOTUNE=-1)))

    def split(dataset, **options):
        left, right = keras.utils.split_dataset(dataset, **options)
        return left.structure, right.structure

    return split


SPLITS = [dict(left_size=0.7), dict(right_size=3), dict(left_size=4, right_size=3), dict(left_size=0.25,
          right_size=0.5), dict(left_size=0.7, shuffle=True, seed=3), dict(right_size=0.35, shuffle=True, seed=11)]


@pytest.mark.parametrize("options", SPLITS)
def test_split_dataset_picks_the_samples_keras_picks(keras_split, options):
    x = np.arange(30, dtype="float32").reshape(10, 3)
    y = np.arange(10) * 10
    for ours, theirs in zip(scanfit.utils.split_dataset((x, y), **options), keras_split((x, y), **options)):
        assert isinstance(ours, tuple) and len(ours) == 2
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])
    for ours, theirs in zip(scanfit.utils.split_dataset([x, y], **options), keras_split([x, y], **options)):
        assert isinstance(ours, tuple)  # a list comes back as a tuple, as Keras's datasets yield it
        np.testing.assert_array_equal(ours[1], theirs[1])
    for ours, theirs in zip(scanfit.utils.split_dataset(x, **options), keras_split(x, **options)):
        np.testing.assert_array_equal(ours, np.stack(theirs))  # Keras slices a list of rows
    # A dict (which Keras refuses) splits each entry at the same samples as the tuple does.
    left, right = scanfit.utils.split_dataset({"a": x, "b": y}, **options)
    (_, y_left), (_, y_right) = scanfit.utils.split_dataset((x, y), **options)
    np.testing.assert_array_equal(left["b"], y_left)
    np.testing.assert_array_equal(right["a"], x[y_right // 10])


@pytest.mark.parametrize("options", [dict(), dict(left_size=0), dict(left_size=10), dict(left_size=1.5),
                                     dict(left_size=0.6, right_size=0.6), dict(left_size=6, right_size=5),
                                     dict(left_size=0.01)])
def test_split_dataset_refuses_the_sizes_keras_refuses(keras_split, options):
    x = np.arange(10)
    with pytest.raises(ValueError):
        keras_split(x, **options)
    with pytest.raises(ValueError):
        scanfit.utils.split_dataset(x, **options)
    with pytest.raises(ValueError, match="one length"):
        scanfit.utils.split_dataset((x, x[:5]), left_size=0.5)


def test_standardize_dtype_names_dtypes_as_keras_does():
    for dtype in (None, "float32", "float16", np.float64, np.dtype("int8"), int, float, bool, "int", "bool",
                  jnp.bfloat16, "uint8", "string", np.int64, "complex64"):
        assert scanfit.utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype), dtype
    for wrong in ("float", "nope"):
        with pytest.raises(ValueError):
            keras.utils.standardize_dtype(wrong)
        with pytest.raises(ValueError):
            scanfit.utils.standardize_dtype(wrong)


def test_config_behaves_as_keras_config():
    configs = [keras.utils.Config(learning_rate=0.1), scanfit.utils.Config(learning_rate=0.1)]
    seen = []
    for config in configs:
        config.momentum = 0.9
        config["seed"] = 3
        config.update(nesterov=True)
        popped = config.pop("nesterov")
        with pytest.raises(AttributeError, match="Did you mean 'momentum'"):
            config.momentun
        config.freeze()
        frozen = config.frozen
        for change in (lambda: setattr(config, "seed", 4), lambda: config.__setitem__("x", 1),
                       lambda: config.pop("seed"), lambda: config.update(seed=5), lambda: config.__delitem__("seed")):
            with pytest.raises(ValueError):
                change()
        config.unfreeze()
        del config["seed"]
        config.zeta = 1
        seen.append((config.momentum, config["learning_rate"], config.get("missing", 7), popped, frozen,
                     config.frozen, list(config), dict(config.items()), config.as_dict(), config.to_json(),
                     len(config), "zeta" in config, repr(config)))
    assert seen[0] == seen[1]


# --- top level: name_scope, device, dtype_policies ---------------------------------------------------------


def paths(library):
    found = {}
    with library.name_scope("outer"):
        found["v"] = library.Variable(1.0, name="v").path
        dense = library.layers.Dense(2, name="built_inside")
        dense.build((None, 3))
        found["dense"] = [w.path for w in dense.weights]
        later = library.layers.Dense(2, name="built_outside")
        with library.name_scope("inner"):
            found["nested"] = library.Variable(1.0, name="w").path
            with library.name_scope("b", override_parent="x/y"):
                found["override"] = library.Variable(1.0, name="u").path
        owner = object()
        with library.name_scope("same", caller=owner):
            with library.name_scope("same", caller=owner):
                found["deduplicated"] = library.Variable(1.0, name="t").path
            with library.name_scope("same", caller=owner, deduplicate=False):
                found["repeated"] = library.Variable(1.0, name="t").path
    later.build((None, 3))
    found["later"] = [w.path for w in later.weights]
    found["outside"] = library.Variable(1.0, name="o").path
    found["scope name"] = library.name_scope("s").name
    return found


def test_name_scope_prefixes_variable_paths_as_in_keras():
    assert paths(scanfit) == paths(keras)
    for library in (keras, scanfit):
        with pytest.raises(ValueError):
            library.name_scope("a/b")


def test_device_places_arrays_on_the_named_device_as_in_keras():
    cpu = jax.devices("cpu")[0]
    for name in ("cpu:0", "CPU", cpu):
        with keras.device(name):
            theirs = keras.ops.ones((2,)).devices()
        with scanfit.device(name):
            ours = scanfit.ops.ones((2,)).devices()
        assert ours == theirs == {cpu}
    for name in ("cpu:99", "nosuchdevice:0"):
        with pytest.raises((RuntimeError, ValueError)):
            with keras.device(name):
                pass
        with pytest.raises(ValueError, match="cpu:0|no such device"):
            with scanfit.device(name):
                pass


def test_dtype_policies_get_serialize_and_deserialize_as_keras():
    assert scanfit.dtype_policies.DTypePolicy is scanfit.DTypePolicy
    assert scanfit.dtype_policies.get(None).name == keras.dtype_policies.get(None).name == "float32"
    for name in ("float32", "mixed_bfloat16", "mixed_float16", "bfloat16", "float16"):
        ours, theirs = scanfit.dtype_policies.get(name), keras.dtype_policies.get(name)
        assert (ours.name, ours.compute_dtype, ours.variable_dtype) == (
            theirs.name, theirs.compute_dtype, theirs.variable_dtype)
        assert scanfit.dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
        assert scanfit.dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours
        assert keras.dtype_policies.deserialize(scanfit.dtype_policies.serialize(ours)).name == name
    keras_float = keras.dtype_policies.serialize(keras.dtype_policies.FloatDTypePolicy("float16"))
    assert scanfit.dtype_policies.deserialize(keras_float) == scanfit.FloatDTypePolicy("float16")
    assert scanfit.dtype_policies.get(keras_float).compute_dtype == "float16"
    for library in (keras, scanfit):
        with pytest.raises(ValueError):
            library.dtype_policies.get("no_such_policy")


# --- datasets -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, dict(version="small"), dict(version="large", test_split=0.3, seed=5),
                                     dict(version="small", test_split=0.0)])
def test_california_housing_equals_keras_on_the_same_file(tmp_path, monkeypatch, options):
    from keras.src.datasets import california_housing as keras_california

    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(2)
    np.savez(folder / "california_housing.npz", x=rng.normal(size=(650, 8)), y=rng.uniform(2e4, 5e5, 650))
    digest = _source._digest_of_file("SHA-256", folder / "california_housing.npz")  # a made file: trust it
    monkeypatch.setitem(_source.FILES, "california_housing", {"california_housing.npz": ("SHA-256", digest)})
    monkeypatch.setattr(keras_california, "get_file", lambda *args, **kwargs: args[0])
    expected = keras.datasets.california_housing.load_data(path=str(folder / "california_housing.npz"), **options)
    got = scanfit.datasets.california_housing.load_data(path=folder, **options)
    for ours, theirs in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(ours, theirs)
    assert len(got[0][0]) + len(got[1][0]) == (600 if options.get("version") == "small" else 650)


def test_california_housing_checks_its_arguments_and_file(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'small'"):
        scanfit.datasets.california_housing.load_data(version="medium")
    with pytest.raises(ValueError, match=r"test_split must be a number in \[0, 1\)"):
        scanfit.datasets.california_housing.load_data(test_split=1.0)
    np.savez(tmp_path / "california_housing.npz", x=np.zeros((3, 8)), y=np.zeros(3))
    with pytest.raises(ValueError, match="Checksum mismatch"):
        scanfit.datasets.california_housing.load_data(path=tmp_path)
    monkeypatch.setenv("SCANFIT_OFFLINE", "1")
    monkeypatch.setenv("SCANFIT_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=r"California housing \(california_housing.npz\) was not found"):
        scanfit.datasets.california_housing.load_data()
