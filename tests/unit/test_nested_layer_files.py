"""Files of user layers that hold layers, and of subclassed models, laid out as Keras 3 lays them out: a layer held
by an attribute under ``<attribute>/``, one in a list or dict under ``<attribute>/<class>``, so that `.keras` and
`.weights.h5` files move between Keras and scanfit both ways."""
import io
import zipfile

import h5py
import keras
import numpy as np
import pytest

import scanfit

LIBS = {"keras": keras, "scanfit": scanfit}
RNG = np.random.default_rng(11)
DIRECTIONS = pytest.mark.parametrize("writer,reader", [("keras", "scanfit"), ("scanfit", "keras")])


def _classes(lib):
    package = f"nested_files_{lib.__name__}"

    @lib.saving.register_keras_serializable(package=package)
    class Block(lib.layers.Layer):
        """A layer of its own weight, one layer in an attribute and two in a list."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = lib.layers.Dense(3, name="inner")
            self.stack = [lib.layers.Dense(2, name="s0"), lib.layers.Dense(2, activation="tanh", name="s1")]

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(2,), initializer="ones", name="scale")

        def call(self, x):
            return self.stack[1](self.stack[0](self.inner(x))) * self.scale

    @lib.saving.register_keras_serializable(package=package)
    class Net(lib.Model):
        """Attributes that sort before and after ``layers``, a list holding a layer, a list and a dict."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.zeta = lib.layers.Dense(3, name="zeta")
            self.alpha = lib.layers.Dense(2, name="alpha")
            self.blocks = [lib.layers.Dense(2, name="b0"), [lib.layers.Dense(2, name="b1")],
                           {"norm": lib.layers.BatchNormalization(name="b2")}]

        def call(self, x, training=False):
            h = self.blocks[1][0](self.blocks[0](self.alpha(self.zeta(x))))
            return self.blocks[2]["norm"](h, training=training)

    return {"Block": Block, "Net": Net}


CLASSES = {name: _classes(lib) for name, lib in LIBS.items()}


def _objects(reader, writer):
    return {f"nested_files_{LIBS[writer].__name__}>{name}": cls for name, cls in CLASSES[reader].items()}


def _weight_paths(filename):
    with zipfile.ZipFile(filename) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
        names = []
        h5.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return sorted(name for name in names if not name.startswith("optimizer/"))


def _block_model(lib):
    inputs = lib.Input((4,), name="x")
    return lib.Model(inputs, CLASSES[lib.__name__]["Block"](name="block")(inputs), name="with_block")


def _randomized(model):
    model.set_weights([RNG.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


@DIRECTIONS
def test_a_layer_holding_layers_interchanges(tmp_path, writer, reader):
    original = _randomized(_block_model(LIBS[writer]))
    x = RNG.normal(size=(5, 4)).astype("float32")
    original.save(tmp_path / "block.keras")
    loaded = LIBS[reader].models.load_model(tmp_path / "block.keras", custom_objects=_objects(reader, writer))
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), np.asarray(original.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    original.save_weights(tmp_path / "block.weights.h5")
    fresh = _block_model(LIBS[reader])
    fresh.load_weights(tmp_path / "block.weights.h5")
    for ours, theirs in zip(fresh.get_weights(), original.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_the_layout_is_keras_s(tmp_path):
    layouts = {}
    for name, lib in LIBS.items():
        _block_model(lib).save(tmp_path / f"{name}-block.keras")
        net = CLASSES[name]["Net"](name="net")
        net(np.ones((2, 4), "float32"))
        net.save(tmp_path / f"{name}-net.keras")
        layouts[name] = (_weight_paths(tmp_path / f"{name}-block.keras"), _weight_paths(tmp_path / f"{name}-net.keras"))
    assert layouts["scanfit"] == layouts["keras"]
    assert "layers/block/stack/dense_1/vars/0" in layouts["keras"][0]
    assert "blocks/container_1/batch_normalization/vars/3" in layouts["keras"][1]


@DIRECTIONS
def test_a_subclassed_model_interchanges_with_its_optimizer_state(tmp_path, writer, reader):
    x = RNG.normal(size=(8, 4)).astype("float32")
    y = RNG.normal(size=(8, 2)).astype("float32")
    original = CLASSES[writer]["Net"](name="net")
    original(x[:1])
    _randomized(original)
    original.compile(LIBS[writer].optimizers.Adam(0.01), "mse")
    original.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    original.save(tmp_path / "net.keras")
    loaded = LIBS[reader].models.load_model(tmp_path / "net.keras", custom_objects=_objects(reader, writer))
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), np.asarray(original.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    # Training goes on from the saved optimizer state: the loaded model ends near the original (the libraries'
    # arithmetic differs in the last digits), far nearer than the same weights with a fresh optimizer do.
    fresh = CLASSES[reader]["Net"](name="net")
    fresh(x[:1])
    fresh.set_weights(loaded.get_weights())
    fresh.compile(LIBS[reader].optimizers.Adam(0.01), "mse")
    for model in (original, loaded, fresh):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)

    def distance(model):
        return max(np.abs(a - b).max() for a, b in zip(model.get_weights(), original.get_weights()))

    assert distance(loaded) < 1e-3 and distance(fresh) > 10 * distance(loaded)


def test_a_file_with_weights_for_a_layer_the_model_lacks_is_refused(tmp_path):
    _block_model(scanfit).save(tmp_path / "block.keras")

    class Smaller(scanfit.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = scanfit.layers.Dense(3, name="inner")

        def call(self, x):
            return self.inner(x)

    with pytest.raises(ValueError, match="does not have"):
        scanfit.models.load_model(tmp_path / "block.keras",
                                  custom_objects={"nested_files_scanfit>Block": Smaller})
