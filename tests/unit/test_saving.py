"""Saving and loading: round trips, tf.keras 2 legacy files, atomic writes, and hostile or corrupt files."""
import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import h5py
import jax
import numpy as np
import pytest

import scanfit
from scanfit.saving import files
from scanfit.saving.optimizer_state import expected_variables, optimizer_variables, restore_optimizer_variables

RNG = np.random.default_rng(3)
X = RNG.normal(size=(48, 4, 3)).astype("float32")
Y = RNG.integers(0, 3, size=48)
OPTIMIZERS = {
    "adam": lambda: scanfit.optimizers.Adam(0.01),
    "sgd_momentum": lambda: scanfit.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: scanfit.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
}
FIT = dict(batch_size=16, verbose=0, shuffle=False)


def small_model(units=6, classes=3):
    L = scanfit.layers
    return scanfit.Sequential([
        scanfit.Input((4, 3)),
        L.Flatten(),
        L.Dense(units, kernel_regularizer=scanfit.regularizers.l2(0.01),
                kernel_constraint=scanfit.constraints.MaxNorm(2.0)),
        L.BatchNormalization(),
        L.PReLU(),
        L.Dense(classes, activation="softmax"),
    ])


def compiled(optimizer="adam", units=6):
    model = small_model(units)
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def as_if_trained(model, seed=0):
    """Random weights and a random optimizer state (every slot non-zero), without compiling a fit program."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.weights])
    values = [
        np.int64(5) if entry.kind == "iteration" else
        np.float32(model.optimizer.learning_rate) if entry.kind == "learning_rate" else
        rng.uniform(0.01, 1.0, size=entry.shape).astype("float32")
        for entry in expected_variables(model, None)
    ]
    restore_optimizer_variables(model, values, "the test")
    return model


def predictions(model):
    return model.predict(X, verbose=0)


def assert_same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for va, vb in zip(a.weights, b.weights):
        assert va.shape == vb.shape
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=va.name)


def assert_same_optimizer_state(a, b):
    va, vb = optimizer_variables(a), optimizer_variables(b)
    assert len(va) == len(vb)
    for (name, x), (_, y) in zip(va, vb):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y, err_msg=name)


def assert_same_optax_state(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(x, y)


# --- round trips ---------------------------------------------------------------------------


def test_fit_after_load_continues_exactly_as_the_original(tmp_path):
    original = compiled("adam")
    original.fit(X, Y, epochs=2, **FIT)
    original.save(tmp_path / "m.keras")
    original.save(tmp_path / "m.h5")
    from_keras = scanfit.models.load_model(tmp_path / "m.keras")
    from_h5 = scanfit.models.load_model(tmp_path / "m.h5")
    assert original.optimizer.iterations == from_keras.optimizer.iterations == from_h5.optimizer.iterations == 6
    assert_same_optax_state(original.trainer.opt_state, from_keras.optimizer.restored_state)
    assert_same_optax_state(original.trainer.opt_state, from_h5.optimizer.restored_state)

    history_a = original.fit(X, Y, epochs=2, **FIT).history
    history_b = from_keras.fit(X, Y, epochs=2, **FIT).history
    assert history_a == history_b
    assert_same_weights(original, from_keras)
    assert from_keras.optimizer.iterations == 12
    assert_same_optax_state(original.trainer.opt_state, from_keras.trainer.opt_state)

    original.load_weights(tmp_path / "m.keras")  # rewinds a model that trained on: weights and optimizer state
    assert original.optimizer.iterations == 6
    assert_same_optax_state(original.trainer.opt_state, from_h5.optimizer.restored_state)
    original.fit(X, Y, epochs=1, **FIT)
    from_h5.fit(X, Y, epochs=1, **FIT)
    assert_same_weights(original, from_h5)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", ["model.keras", "model.h5", "model.hdf5"])
def test_whole_model_round_trip(tmp_path, name, optimizer):
    original = as_if_trained(compiled(optimizer))
    original.save(tmp_path / name)
    loaded = scanfit.models.load_model(tmp_path / name)

    assert [type(l) for l in loaded.layers] == [type(l) for l in original.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in original.layers]
    assert_same_weights(original, loaded)
    np.testing.assert_array_equal(predictions(loaded), predictions(original))
    assert type(loaded.optimizer) is type(original.optimizer)
    assert loaded.optimizer.get_config() == original.optimizer.get_config()
    assert loaded.loss == "sparse_categorical_crossentropy" and loaded.compile_settings.metrics == ["accuracy"]
    assert loaded.optimizer.iterations == 5
    assert_same_optimizer_state(original, loaded)
    assert_same_optax_state(original.optimizer.restored_state, loaded.optimizer.restored_state)


@pytest.mark.parametrize("name", ["w.weights.h5", "model-weights.h5", "w.hdf5"])
def test_weights_round_trip(tmp_path, name):
    original = as_if_trained(compiled())
    original.save_weights(tmp_path / name)
    fresh = small_model()
    fresh.load_weights(tmp_path / name)
    assert_same_weights(original, fresh)
    np.testing.assert_array_equal(predictions(fresh), predictions(original))


def test_weights_h5_carries_the_optimizer_state_into_a_compiled_model(tmp_path):
    original = as_if_trained(compiled())
    original.save_weights(tmp_path / "w.weights.h5")
    fresh = compiled()
    fresh.load_weights(tmp_path / "w.weights.h5")
    assert_same_optimizer_state(original, fresh)
    other = compiled("sgd_momentum")
    with pytest.warns(UserWarning, match=r"Skipping the optimizer state in .*w\.weights\.h5"):
        other.load_weights(tmp_path / "w.weights.h5")
    assert_same_weights(original, other)


def test_load_weights_also_reads_the_weights_of_a_keras_file(tmp_path):
    original = as_if_trained(compiled())
    original.save(tmp_path / "m.keras")
    fresh = small_model()
    fresh.load_weights(tmp_path / "m.keras")
    assert_same_weights(original, fresh)


def test_untrained_and_uncompiled_models_round_trip(tmp_path):
    untrained = compiled()
    plain = small_model()
    for model, tag in ((untrained, "c"), (plain, "p")):
        for suffix in (".keras", ".h5"):
            model.save(tmp_path / f"{tag}{suffix}")
            loaded = scanfit.models.load_model(tmp_path / f"{tag}{suffix}")
            assert_same_weights(model, loaded)
            assert loaded.compiled == model.compiled
    loaded = scanfit.models.load_model(tmp_path / "c.keras")
    assert loaded.optimizer.iterations == 0
    assert_same_optimizer_state(untrained, loaded)
    assert not scanfit.models.load_model(tmp_path / "c.h5", compile=False).compiled


def test_compile_settings_round_trip(tmp_path):
    model = small_model()
    model.compile(
        optimizer=scanfit.optimizers.Adam(learning_rate=scanfit.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
        loss=scanfit.losses.SparseCategoricalCrossentropy(from_logits=False),
        metrics=["accuracy", scanfit.metrics.SparseTopKCategoricalAccuracy(k=2)],
        weighted_metrics=["sparse_categorical_crossentropy"],
    )
    as_if_trained(model)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = scanfit.models.load_model(tmp_path / name)
        assert loaded.optimizer.get_config() == model.optimizer.get_config()
        assert loaded.loss.get_config() == model.loss.get_config()
        assert loaded.compile_settings.metrics[0] == "accuracy"
        assert loaded.compile_settings.metrics[1].get_config() == model.compile_settings.metrics[1].get_config()
        assert loaded.compile_settings.weighted_metrics == ["sparse_categorical_crossentropy"]
        assert_same_optimizer_state(model, loaded)
        names = [name for name, _ in optimizer_variables(loaded)]
        assert names[0].endswith("/iteration") and names[1].endswith("_kernel_momentum")  # no learning_rate


def test_saving_creates_folders_for_checkpoint_paths(tmp_path):
    model = as_if_trained(compiled())
    path = tmp_path / "model" / "{epoch:02d}-{val_loss:.4f}.hdf5".format(epoch=3, val_loss=0.5)
    model.save(path)
    assert_same_weights(model, scanfit.models.load_model(path))
    model.save_weights(tmp_path / "w" / "best-model.h5")
    assert (tmp_path / "w" / "best-model.h5").exists()


def test_saving_namespace_matches_keras():
    assert scanfit.saving.load_model is scanfit.models.load_model
    assert scanfit.saving.save_model is scanfit.models.save_model


def test_custom_objects_supply_unknown_layer_classes(tmp_path):
    class Doubling(scanfit.layers.Layer):
        def pure_call(self, weights, x, *, training=False, rng=None):
            return 2 * x, {}

    model = scanfit.Sequential([scanfit.Input((3,)), Doubling(name="doubling"), scanfit.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="Unknown layer 'Doubling'"):
        scanfit.models.load_model(tmp_path / "m.keras")
    loaded = scanfit.models.load_model(tmp_path / "m.keras", custom_objects={"Doubling": Doubling})
    x = RNG.normal(size=(4, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def scaled_tanh(x):
    """A custom activation: a plain function, stored by name."""
    return 2.0 * jax.numpy.tanh(x)


class SumOfCubes(scanfit.regularizers.Regularizer):
    """A custom regularizer class with its own config."""

    def __init__(self, strength=0.1):
        self.strength = strength

    def __call__(self, x):
        return self.strength * jax.numpy.sum(jax.numpy.abs(x) ** 3)

    def get_config(self):
        return {"strength": self.strength}


def custom_model():
    model = scanfit.Sequential([
        scanfit.Input((4, 3)),
        scanfit.layers.Flatten(),
        scanfit.layers.Dense(5, activation=scaled_tanh, kernel_regularizer=SumOfCubes(0.25)),
        scanfit.layers.Dense(3, activation="softmax", bias_regularizer=SumOfCubes(0.5)),
    ])
    model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return as_if_trained(model)


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_custom_objects_reach_the_activation_and_regularizer_inside_a_layer(tmp_path, name):
    original = custom_model()
    original.save(tmp_path / name)
    loaded = scanfit.models.load_model(tmp_path / name, custom_objects={"scaled_tanh": scaled_tanh,
                                                                        "SumOfCubes": SumOfCubes})
    dense, output = loaded.layers[1:]
    assert dense.activation is scaled_tanh
    assert type(dense.kernel_regularizer) is SumOfCubes and dense.kernel_regularizer.strength == 0.25
    assert type(output.bias_regularizer) is SumOfCubes and output.bias_regularizer.strength == 0.5
    np.testing.assert_array_equal(predictions(loaded), predictions(original))
    # The loss includes both penalties, so it is the same only if the regularizers came back as they were.
    assert loaded.evaluate(X, Y, verbose=0) == pytest.approx(original.evaluate(X, Y, verbose=0), rel=1e-6)

    with pytest.raises(ValueError, match=rf"Cannot rebuild the model stored in .*{name}: Unknown activation "
                                         r"'scaled_tanh'.*Pass custom_objects=\{'scaled_tanh': \.\.\.\}"):
        scanfit.models.load_model(tmp_path / name)  # the objects of the earlier call do not linger
    with pytest.raises(ValueError, match=r"Unknown regularizer 'SumOfCubes'.*Pass custom_objects=\{'SumOfCubes'"):
        scanfit.models.load_model(tmp_path / name, custom_objects={"scaled_tanh": scaled_tanh})


def test_custom_object_scope_supplies_nested_objects_and_ends_with_the_block(tmp_path):
    original = custom_model()
    original.save(tmp_path / "m.keras")
    with scanfit.saving.custom_object_scope({"scaled_tanh": scaled_tanh}):
        with scanfit.utils.CustomObjectScope({"SumOfCubes": SumOfCubes}):  # scopes nest
            loaded = scanfit.models.load_model(tmp_path / "m.keras")
        with pytest.raises(ValueError, match="Unknown regularizer 'SumOfCubes'"):
            scanfit.models.load_model(tmp_path / "m.keras")
        assert scanfit.activations.get("scaled_tanh") is scaled_tanh  # every lookup sees the scope
    np.testing.assert_array_equal(predictions(loaded), predictions(original))
    with pytest.raises(ValueError, match="Unknown activation 'scaled_tanh'"):
        scanfit.activations.get("scaled_tanh")
    clone = scanfit.models.model_from_config(original.get_config(), custom_objects={"scaled_tanh": scaled_tanh,
                                                                                    "SumOfCubes": SumOfCubes})
    assert clone.layers[1].activation is scaled_tanh and clone.layers[2].bias_regularizer.strength == 0.5
    with pytest.raises(TypeError, match="custom_objects must be a dict"):
        scanfit.models.load_model(tmp_path / "m.keras", custom_objects=[scaled_tanh])


def test_custom_objects_reach_the_objects_inside_a_custom_object():
    """A custom regularizer whose config names a custom initializer-like helper, resolved in its from_config."""
    class Scaled(scanfit.regularizers.Regularizer):
        def __init__(self, inner):
            self.inner = scanfit.regularizers.get(inner)

        def __call__(self, x):
            return 2.0 * self.inner(x)

        def get_config(self):
            return {"inner": scanfit.regularizers.serialize(self.inner)}

    config = scanfit.regularizers.serialize(Scaled(SumOfCubes(0.3)))
    restored = scanfit.regularizers.deserialize(config, custom_objects={"Scaled": Scaled, "SumOfCubes": SumOfCubes})
    assert type(restored.inner) is SumOfCubes and restored.inner.strength == 0.3
    with pytest.raises(ValueError, match="Unknown regularizer 'SumOfCubes'"):
        scanfit.regularizers.deserialize(config, custom_objects={"Scaled": Scaled})


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_a_model_with_thousands_of_layers_round_trips(tmp_path, name):
    """Was: configs over 2000 layers were refused, as building n layers took n**2 / 2 steps."""
    layers = [scanfit.layers.Dense(2, activation="tanh") if i % 10 == 0 else scanfit.layers.Activation("tanh")
              for i in range(2500)]
    original = scanfit.Sequential([scanfit.Input((2,))] + layers)
    original.save(tmp_path / name)
    loaded = scanfit.models.load_model(tmp_path / name)
    assert len(loaded.layers) == 2500 and [l.name for l in loaded.layers] == [l.name for l in original.layers]
    x = RNG.normal(size=(5, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(original(x)))


def test_loading_infers_each_layer_shape_at_most_twice(tmp_path):
    """Once to check the weights' size with shapes only, once to build: not once per layer added after it."""
    inferences = collections.Counter()

    class Counted(scanfit.layers.Layer):
        def compute_output_shape(self, input_shape):
            inferences[self.name] += 1
            return tuple(input_shape)

        def pure_call(self, weights, x, *, training=False, rng=None):
            return x, {}

    original = scanfit.Sequential([scanfit.Input((3,))] + [Counted(name=f"counted_{i}") for i in range(300)])
    original.save(tmp_path / "m.keras")
    inferences.clear()
    loaded = scanfit.models.load_model(tmp_path / "m.keras", custom_objects={"Counted": Counted})
    assert len(loaded.layers) == 300 and set(inferences) == {f"counted_{i}" for i in range(300)}
    assert max(inferences.values()) <= 2


# --- tf.keras 2 legacy files (written here as tf.keras 2.x wrote them) ------------------------


def tf2_model_config():
    def dense(name, units, activation, extra=None):
        return {"class_name": "Dense", "config": {
            "name": name, "trainable": True, "dtype": "float32", **(extra or {}), "units": units,
            "activation": activation, "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.009999999776482582}},
            "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}},
            "bias_constraint": None}}

    initializer = {"class_name": "Zeros", "config": {}}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4, 3], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "flatten_input"}},
        {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True, "batch_input_shape": [None, 4, 3],
                                             "dtype": "float32", "data_format": "channels_last"}},
        dense("dense", 6, "linear"),
        {"class_name": "BatchNormalization", "config": {
            "name": "batch_normalization", "trainable": True, "dtype": "float32", "axis": [1], "momentum": 0.99,
            "epsilon": 0.001, "center": True, "scale": True, "beta_initializer": initializer,
            "gamma_initializer": {"class_name": "Ones", "config": {}}, "moving_mean_initializer": initializer,
            "moving_variance_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": None,
            "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None}},
        {"class_name": "PReLU", "config": {"name": "p_re_lu", "trainable": True, "dtype": "float32",
                                           "alpha_initializer": initializer, "alpha_regularizer": None,
                                           "alpha_constraint": None, "shared_axes": None}},
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32", "rate": 0.2,
                                             "noise_shape": None, "seed": None}},
        {"class_name": "LeakyReLU", "config": {"name": "leaky_re_lu", "trainable": True, "dtype": "float32",
                                               "alpha": 0.30000001192092896}},
        dense("dense_1", 3, "softmax"),
    ]}}


def tf2_reference():
    """A scanfit model with the tf.keras 2 file's architecture and trained weights."""
    L = scanfit.layers
    model = scanfit.Sequential([
        scanfit.Input((4, 3)), L.Flatten(), L.Dense(6), L.BatchNormalization(), L.PReLU(), L.Dropout(0.2),
        L.LeakyReLU(0.3), L.Dense(3, activation="softmax"),
    ])
    model.set_weights([RNG.normal(size=w.shape).astype("float32") ** 2 for w in model.weights])
    return model


def write_tf2_weights(group, model, names):
    """``model_weights`` as tf.keras 2 wrote it: layer_names, then weight_names like 'dense/kernel:0'."""
    group.attrs["layer_names"] = np.array([name.encode() for name in names])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.9.0"
    for name, layer in zip(names, model.layers):
        layer_group = group.create_group(name)
        weight_names = [f"{name}/{v.short_name}:0".encode() for v in layer.weights]
        layer_group.attrs["weight_names"] = np.array(weight_names) if weight_names else np.array([])
        for weight_name, variable in zip(weight_names, layer.weights):
            layer_group.create_dataset(weight_name.decode(), data=variable.numpy())


TF2_LAYER_NAMES = ["flatten", "dense", "batch_normalization", "p_re_lu", "dropout", "leaky_re_lu", "dense_1"]


TF2_ADAM = {"class_name": "Adam", "config": {
    "name": "Adam", "learning_rate": 0.0010000000474974513, "decay": 0.0, "beta_1": 0.8999999761581421,
    "beta_2": 0.9990000128746033, "epsilon": 1e-07, "amsgrad": False}}
TF211_ADAM = {"class_name": "Custom>Adam", "config": {  # the optimizers of tf.keras 2.11+
    "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": True,
    "is_legacy_optimizer": False, "learning_rate": 0.0010000000474974513, "beta_1": 0.9, "beta_2": 0.999,
    "epsilon": 1e-07, "amsgrad": False}}


@pytest.mark.parametrize("optimizer_config", [TF2_ADAM, TF211_ADAM], ids=["tf2.9", "tf2.11"])
def test_tf_keras_2_whole_model_h5_loads_with_compile_state(tmp_path, optimizer_config):
    reference = tf2_reference()
    trainable = [  # tf.keras 2 names: 'dense/kernel'
        (f"{name}/{v.short_name}", v)
        for name, layer in zip(TF2_LAYER_NAMES, reference.layers) for v in layer.weights if v.trainable
    ]
    slots = {(name, slot): RNG.uniform(0.0, 0.1, size=v.shape).astype("float32") for name, v in trainable for slot in "mv"}
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = b"2.9.0"
        h5.attrs["backend"] = b"tensorflow"
        h5.attrs["model_config"] = json.dumps(tf2_model_config()).encode()
        h5.attrs["training_config"] = json.dumps({
            "loss": "sparse_categorical_crossentropy",
            "metrics": [[{"class_name": "MeanMetricWrapper",
                          "config": {"name": "accuracy", "dtype": "float32", "fn": "sparse_categorical_accuracy"}}]],
            "weighted_metrics": None, "loss_weights": None,
            "optimizer_config": optimizer_config,
        }).encode()
        write_tf2_weights(h5.create_group("model_weights"), reference, TF2_LAYER_NAMES)
        optimizer = h5.create_group("optimizer_weights")
        hypers = {"Adam/iter:0": np.int64(7), "Adam/beta_1:0": np.float32(0.9), "Adam/beta_2:0": np.float32(0.999),
                  "Adam/decay:0": np.float32(0.0), "Adam/learning_rate:0": np.float32(0.001)}
        slot_names = {f"Adam/{name}/{slot}:0": slots[(name, slot)] for slot in "mv" for name, _ in trainable}
        optimizer.attrs["weight_names"] = np.array([n.encode() for n in [*hypers, *slot_names]])
        for name, value in {**hypers, **slot_names}.items():
            optimizer.create_dataset(name, data=value)

    loaded = scanfit.models.load_model(path)
    assert [l.name for l in loaded.layers] == TF2_LAYER_NAMES
    assert_same_weights(reference, loaded)
    np.testing.assert_array_equal(predictions(loaded), predictions(reference))
    assert isinstance(loaded.optimizer, scanfit.optimizers.Adam) and loaded.optimizer.iterations == 7
    state = {name.split("/", 1)[1]: value for name, value in optimizer_variables(loaded)}
    assert state["iteration"] == 7
    for name, _ in trainable:
        for slot, keras_slot in (("m", "momentum"), ("v", "velocity")):
            stored = state[f"sequential_{name.replace('/', '_')}_{keras_slot}"]
            np.testing.assert_array_equal(stored, slots[(name, slot)])
    assert loaded.loss == "sparse_categorical_crossentropy" and loaded.compile_settings.metrics == ["accuracy"]


def test_tf_keras_2_weights_only_h5_loads(tmp_path):
    reference = tf2_reference()
    path = tmp_path / "model-weights.h5"
    with h5py.File(path, "w") as h5:
        write_tf2_weights(h5, reference, TF2_LAYER_NAMES)
    target = tf2_reference()
    target.load_weights(path)
    assert_same_weights(reference, target)


def test_tf_keras_2_config_with_input_shape_on_the_first_layer(tmp_path):
    config = tf2_model_config()
    config["config"]["layers"].pop(0)
    path = tmp_path / "legacy.h5"
    reference = tf2_reference()
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        write_tf2_weights(h5.create_group("model_weights"), reference, TF2_LAYER_NAMES)
    loaded = scanfit.models.load_model(path)
    assert not loaded.compiled
    np.testing.assert_array_equal(predictions(loaded), predictions(reference))


# --- atomic writes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "w.weights.h5", "w.h5"])
def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch, name):
    model = as_if_trained(compiled())
    path = tmp_path / name
    save = model.save_weights if "w." in name else model.save
    save(path)
    before = path.read_bytes()
    as_if_trained(model, seed=1)

    def crash(fd):
        raise OSError("simulated crash before the data reached the disk")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


KILLED_WRITER = textwrap.dedent("""
    import contextlib, sys, time
    import numpy as np
    import scanfit
    from scanfit.saving import files

    real_atomic_output = files.atomic_output

    class SlowWriter:
        def __init__(self, out):
            self.out = out

        def write(self, data):
            self.out.write(data[: len(data) // 2])
            self.out.flush()
            print("mid-write", flush=True)
            time.sleep(60)
            self.out.write(data[len(data) // 2:])

    @contextlib.contextmanager
    def slow_atomic_output(path):
        with real_atomic_output(path) as out:
            yield SlowWriter(out)

    model = scanfit.Sequential([scanfit.Input((300,)), scanfit.layers.Dense(300), scanfit.layers.Dense(300)])
    model.compile(optimizer="adam", loss="mse")
    model.set_weights([np.full(w.shape, 1.0, "float32") for w in model.weights])
    for path in sys.argv[1:]:
        model.save(path)
    print("saved", flush=True)
    model.set_weights([np.full(w.shape, 2.0, "float32") for w in model.weights])
    files.atomic_output = slow_atomic_output
    model.save(sys.argv[1])
""")


def test_killing_a_process_mid_save_keeps_the_previous_checkpoint(tmp_path):
    """SIGKILL while the new checkpoint is half written: the previous one still loads."""
    paths = [tmp_path / "checkpoint.keras", tmp_path / "checkpoint.h5"]
    process = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, *map(str, paths)], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    try:
        assert process.stdout.readline().strip() == "saved"
        assert process.stdout.readline().strip() == "mid-write"
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        assert len(partial) == 1 and partial[0].stat().st_size > 0
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        process.kill()
        process.stdout.close()
    for path in paths:
        loaded = scanfit.models.load_model(path)
        assert all(np.all(w == 1.0) for w in loaded.get_weights())


# --- hostile and corrupt files ----------------------------------------------------------------


def saved(tmp_path, name="m.keras"):
    as_if_trained(compiled()).save(tmp_path / name)
    return tmp_path / name


def rewrite_keras(src, dst, replace=None, drop=(), add=()):
    """A copy of a .keras archive with some entries replaced, dropped or added."""
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(dst, "w") as out:
        for info in archive.infolist():
            if info.filename in drop:
                continue
            data = (replace or {}).get(info.filename, archive.read(info.filename))
            out.writestr(info.filename, data)
        for name, data in add:
            out.writestr(name, data)
    return dst


def config_with_layer(tmp_path, layer):
    src = saved(tmp_path)
    with zipfile.ZipFile(src) as archive:
        config = json.loads(archive.read("config.json"))
    config["config"]["layers"].insert(1, layer)
    return rewrite_keras(src, tmp_path / "evil.keras", replace={"config.json": json.dumps(config)})


def test_text_file_named_keras_and_zip_named_h5_are_refused(tmp_path):
    text = tmp_path / "m.keras"
    text.write_text("not a model\n")
    with pytest.raises(ValueError, match=r"m\.keras.*says a zip archive.*text file"):
        scanfit.models.load_model(text)
    zipped = saved(tmp_path)
    os.replace(zipped, tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"m\.h5.*says an HDF5 file.*zip archive"):
        scanfit.models.load_model(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"m\.h5.*zip archive"):
        small_model().load_weights(tmp_path / "m.h5")


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "w.weights.h5"])
def test_truncated_files_give_a_clear_error(tmp_path, name):
    path = tmp_path / name
    model = as_if_trained(compiled())
    (model.save_weights if name.endswith("weights.h5") else model.save)(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{name}.*(truncated|corrupt)"):
        if name.endswith("weights.h5"):
            small_model().load_weights(path)
        else:
            scanfit.models.load_model(path)


def test_missing_entries_and_bad_json_are_named(tmp_path):
    src = saved(tmp_path)
    no_weights = rewrite_keras(src, tmp_path / "a.keras", drop=("model.weights.h5",))
    with pytest.raises(ValueError, match=r"a\.keras is missing the entry 'model\.weights\.h5'"):
        scanfit.models.load_model(no_weights)
    bad_json = rewrite_keras(src, tmp_path / "b.keras", replace={"config.json": b"{not json"})
    with pytest.raises(ValueError, match=r"config\.json in .*b\.keras is not valid JSON"):
        scanfit.models.load_model(bad_json)
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as h5:
        h5.create_group("model_weights")
    with pytest.raises(ValueError, match=r"c\.h5 has no 'model_config' attribute"):
        scanfit.models.load_model(path)


def test_lambda_layers_and_foreign_modules_are_refused_without_importing(tmp_path):
    lam = config_with_layer(tmp_path, {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "lambda", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}}})
    with pytest.raises(ValueError, match=r"evil\.keras.*Lambda layer.*never runs code"):
        scanfit.models.load_model(lam)
    assert "antigravity" not in sys.modules
    foreign = config_with_layer(tmp_path, {"module": "antigravity", "class_name": "geohash", "config": {}})
    with pytest.raises(ValueError, match=r"evil\.keras.*Unknown layer 'geohash'"):
        scanfit.models.load_model(foreign)
    assert "antigravity" not in sys.modules
    activation = config_with_layer(tmp_path, {"module": "keras.layers", "class_name": "Activation", "config": {
        "name": "act", "activation": {"module": "os", "class_name": "function", "config": "system",
                                      "registered_name": "function"}}})
    with pytest.raises(ValueError, match=r"evil\.keras.*Unknown activation 'system'"):
        scanfit.models.load_model(activation)


def test_unknown_optimizer_broken_functional_and_unknown_model_classes_are_refused(tmp_path):
    src = saved(tmp_path)
    with zipfile.ZipFile(src) as archive:
        config = json.loads(archive.read("config.json"))
    config["compile_config"]["optimizer"]["class_name"] = "Shampoo"
    with pytest.raises(ValueError, match=r"compile settings stored in .*o\.keras.*Unknown optimizer 'Shampoo'"):
        scanfit.models.load_model(rewrite_keras(src, tmp_path / "o.keras", replace={"config.json": json.dumps(config)}))
    config["compile_config"]["optimizer"]["class_name"] = "Adam"
    config["class_name"] = "Functional"  # a functional model without its inputs and outputs
    with pytest.raises(ValueError, match=r"f\.keras.*non-empty 'input_layers'"):
        scanfit.models.load_model(rewrite_keras(src, tmp_path / "f.keras", replace={"config.json": json.dumps(config)}))
    config["class_name"] = "MyModel"  # a subclassed model whose class is nowhere to be found
    with pytest.raises(ValueError, match=r"c\.keras.*Unknown model 'MyModel'.*custom_objects"):
        scanfit.models.load_model(rewrite_keras(src, tmp_path / "c.keras", replace={"config.json": json.dumps(config)}))


def test_unsafe_zip_entries_and_absurd_sizes_are_refused(tmp_path, monkeypatch):
    src = saved(tmp_path)
    escaping = rewrite_keras(src, tmp_path / "a.keras", add=[("../../etc/evil", b"x")])
    with pytest.raises(ValueError, match=r"a\.keras holds an entry with an unsafe name"):
        scanfit.models.load_model(escaping)
    bomb = tmp_path / "b.keras"
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for info in archive.infolist():
            out.writestr(info.filename, archive.read(info.filename))
        out.writestr("assets/padding", b"")
    monkeypatch.setattr(files, "BOMB_FLOOR_BYTES", 1000)
    monkeypatch.setattr(files, "BOMB_MAX_RATIO", 2)
    with pytest.raises(ValueError, match=r"entry '[^']+' of .*b\.keras declares \d+ bytes"):
        scanfit.models.load_model(bomb)


def test_wrong_shapes_and_counts_name_the_mismatch(tmp_path):
    model = as_if_trained(compiled())
    for name in ("w.weights.h5", "w.h5"):
        model.save_weights(tmp_path / name)
        wider = small_model(classes=4)
        with pytest.raises(ValueError, match=rf"{name}.*'(sequential_\d+/)?dense_\d+/kernel(:0)?'.*\(6, 3\).*\(6, 4\)"):
            wider.load_weights(tmp_path / name)
        before = wider.get_weights()
        with pytest.warns(UserWarning, match="Skipped"):
            wider.load_weights(tmp_path / name, skip_mismatch=True)
        for loaded, saved_layer in zip(wider.layers[:-1], model.layers[:-1]):
            assert_same_weights(loaded, saved_layer)
        np.testing.assert_array_equal(wider.layers[-1].get_weights()[0], before[-2])

        shorter = scanfit.Sequential([scanfit.Input((4, 3)), scanfit.layers.Flatten(), scanfit.layers.Dense(3)])
        with pytest.raises(ValueError, match=rf"{name}.*(4 layers|layers the model does not have)"):
            shorter.load_weights(tmp_path / name)


def test_links_and_external_data_in_hdf5_are_refused(tmp_path):
    model = as_if_trained(compiled())
    path = tmp_path / "w.h5"
    model.save_weights(path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(72, "float32").tobytes())
    kernel = f"{model.layers[1].name}/{model.layers[1].name}/kernel:0"
    with h5py.File(path, "r+") as h5:
        del h5[kernel]
        h5.create_dataset(kernel, shape=(12, 6), dtype="float32", external=[(str(secret), 0, 288)])
    with pytest.raises(ValueError, match=r"w\.h5.*outside the file"):
        small_model().load_weights(path)
    with h5py.File(path, "r+") as h5:
        del h5[kernel]
        h5[kernel] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")
    with pytest.raises(ValueError, match=r"w\.h5.*link to elsewhere"):
        small_model().load_weights(path)


def test_missing_paths_directories_and_unknown_suffixes(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        scanfit.models.load_model(tmp_path / "nothing.keras")
    with pytest.raises(IsADirectoryError, match="SavedModel"):
        scanfit.models.load_model(tmp_path)
    model = small_model()
    with pytest.raises(ValueError, match=r"'\.keras'"):
        model.save(tmp_path / "model.tf")
    with pytest.raises(ValueError, match=r"save_format='h5' contradicts the name .*m\.keras"):
        model.save(tmp_path / "m.keras", save_format="h5")
    with pytest.raises(ValueError, match=r"'\.weights\.h5'"):
        model.save_weights(tmp_path / "ckpt")
    unbuilt = scanfit.Sequential([scanfit.layers.Dense(2)])
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="not built"):
        unbuilt.load_weights(tmp_path / "w.weights.h5")
